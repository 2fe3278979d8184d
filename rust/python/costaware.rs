//! Bindings of the cost-aware trees (`crate::costaware`): `CostAwareTrees`, `TreeCursor` and
//! `best_prefix`. Conversions and error mapping only.

use pyo3::prelude::*;

use super::convert::{invalid_arg, map_err, tokens_arg};
use super::{PyDraftTree, PyStore};
use crate::costaware::{
    best_prefix, AcceptanceModel, CostAwareTrees, Costs, TreeCursor, TreeSettings,
};
use crate::occurrence::GatherLimits;
use crate::store::Store;

/// The one place this file reads a `Store` out of its Python object.
fn store_of<'a>(store: &'a PyRef<'_, PyStore>) -> &'a Store {
    &store.inner
}

fn count(name: &str, value: i64, min: i64) -> PyResult<usize> {
    if value < min {
        return Err(invalid_arg(format!(
            "{name}={value}; expected an integer >= {min}"
        )));
    }
    usize::try_from(value).map_err(|_| invalid_arg(format!("{name}={value} is too large")))
}

/// A cost-aware tree run over a Store: the occurrence index, the acceptance statistics and the
/// throughput learned so far, shared by every generation of the run.
#[pyclass(name = "CostAwareTrees", module = "specscale._core")]
pub struct PyCostAwareTrees {
    inner: CostAwareTrees,
    /// The Store the index follows (set by the first draft; held, so its identity cannot be reused).
    store: Option<Py<PyStore>>,
}

impl PyCostAwareTrees {
    /// Binds the run to `store` on first use; refuses any other store afterwards (the index holds
    /// positions in one store's logs).
    fn bind(&mut self, store: &Bound<'_, PyStore>) -> PyResult<()> {
        match &self.store {
            None => self.store = Some(store.clone().unbind()),
            Some(bound) if bound.as_ptr() != store.as_ptr() => {
                return Err(invalid_arg(
                    "store: this CostAwareTrees indexes another Store; use one CostAwareTrees per store".into(),
                ))
            }
            Some(_) => {}
        }
        Ok(())
    }
}

#[pymethods]
impl PyCostAwareTrees {
    #[new]
    #[pyo3(signature = (
        *, max_candidates=48, max_depth=64, min_probability=0.002, prior=8.0, unigram_max=16, unigram_below=4
    ))]
    fn new(
        max_candidates: i64,
        max_depth: i64,
        min_probability: f64,
        prior: f64,
        unigram_max: i64,
        unigram_below: i64,
    ) -> PyResult<Self> {
        let settings = TreeSettings {
            limits: GatherLimits {
                max_candidates: count("max_candidates", max_candidates, 1)?,
                unigram_max: count("unigram_max", unigram_max, 0)?,
                unigram_below: count("unigram_below", unigram_below, 0)?,
            },
            max_depth: u32::try_from(count("max_depth", max_depth, 1)?)
                .map_err(|_| invalid_arg(format!("max_depth={max_depth} is too large")))?,
            min_probability: min_probability as f32,
        };
        Ok(PyCostAwareTrees {
            inner: CostAwareTrees::new(settings, prior as f32).map_err(map_err)?,
            store: None,
        })
    }

    /// A cursor for one generation of this run.
    fn cursor(slf: &Bound<'_, Self>) -> PyTreeCursor {
        PyTreeCursor {
            inner: TreeCursor::new(),
            run: slf.clone().unbind(),
        }
    }

    /// Committed tokens per unit of relative verification cost over the run's recent steps.
    #[getter]
    fn rate(&self) -> f64 {
        self.inner.throughput.rate()
    }

    /// Tree edges whose outcome was learned.
    #[getter]
    fn observations(&self) -> u64 {
        self.inner.model.observations()
    }

    /// Store tokens indexed so far.
    #[getter]
    fn indexed_tokens(&self) -> usize {
        self.inner.index.num_indexed()
    }

    /// Heap bytes of the occurrence index.
    fn memory_bytes(&self) -> usize {
        self.inner.index.memory_bytes()
    }

    /// The learned probability that an edge is accepted given its parent was: its candidates' best
    /// match length (plus the depth agreed), their share of the parent's candidates, alignment, and
    /// whether any lies in the request or family scope.
    fn acceptance(&self, matched: u32, depth: u32, share: f32, aligned: bool, inner: bool) -> f64 {
        f64::from(
            self.inner
                .model
                .probability(AcceptanceModel::cell(matched, depth, share, aligned, inner)),
        )
    }

    /// Forgets the acceptance statistics and the throughput (the index stays).
    fn reset_statistics(&mut self) {
        self.inner.model.reset();
        self.inner.throughput = Default::default();
    }

    fn __repr__(&self) -> String {
        format!(
            "CostAwareTrees(indexed_tokens={}, observations={}, rate={:.3})",
            self.inner.index.num_indexed(),
            self.inner.model.observations(),
            self.inner.throughput.rate()
        )
    }
}

/// One generation's side of a cost-aware run.
#[pyclass(name = "TreeCursor", module = "specscale._core")]
pub struct PyTreeCursor {
    inner: TreeCursor,
    run: Py<PyCostAwareTrees>,
}

#[pymethods]
impl PyTreeCursor {
    /// Appends context tokens that no draft preceded (the prompt).
    fn extend(&mut self, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        self.inner.extend(&tokens);
        Ok(())
    }

    /// Sizes later drafts for these verification costs: `costs[n]` is the price of verifying `n`
    /// draft nodes relative to a plain step (`costs[0]`, usually 1), or, without `costs`, a linear
    /// `1 + node_cost * n`.
    #[pyo3(signature = (costs=None, node_cost=0.0))]
    fn set_costs(&mut self, costs: Option<Vec<f32>>, node_cost: f32) -> PyResult<()> {
        let costs = match costs {
            Some(table) => Costs::table(table),
            None => Costs::linear(node_cost),
        }
        .map_err(map_err)?;
        self.inner.set_costs(costs);
        Ok(())
    }

    /// Drafts at most `max_nodes` nodes from the occurrences in `store`; node scores are their
    /// probabilities of acceptance.
    fn draft(
        &mut self,
        py: Python<'_>,
        store: &Bound<'_, PyStore>,
        max_nodes: i64,
    ) -> PyResult<PyDraftTree> {
        let max_nodes = count("max_nodes", max_nodes, 0)?;
        let mut run = self.run.try_borrow_mut(py)?;
        run.bind(store)?;
        let store = store.try_borrow()?;
        let (cursor, run, store) = (&mut self.inner, &mut run.inner, store_of(&store));
        Ok(py.detach(|| cursor.draft(run, store, max_nodes)).into())
    }

    /// `tokens` were committed after the last draft: learns from its outcome.
    fn observe(
        &mut self,
        py: Python<'_>,
        store: &Bound<'_, PyStore>,
        tokens: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        let mut run = self.run.try_borrow_mut(py)?;
        run.bind(store)?;
        let store = store.try_borrow()?;
        self.inner
            .observe(&mut run.inner, store_of(&store), &tokens);
        Ok(())
    }

    /// Alignment pointers held (earlier sequences the generation is aligned with).
    #[getter]
    fn pointers(&self) -> usize {
        self.inner.pointers().len()
    }

    /// Candidates (earlier occurrences) the last draft was built from.
    #[getter]
    fn last_candidates(&self) -> usize {
        self.inner.last_candidates()
    }

    fn __repr__(&self) -> String {
        format!(
            "TreeCursor(pointers={}, last_candidates={})",
            self.inner.pointers().len(),
            self.inner.last_candidates()
        )
    }
}

/// The number of leading nodes worth verifying: the `n` maximizing
/// `1 + sum(probs[:n]) - rate * costs[n]` (`probs` best first, `costs[n]` relative to a plain step).
#[pyfunction(name = "best_prefix")]
fn py_best_prefix(probs: Vec<f32>, costs: Vec<f32>, rate: f64) -> PyResult<usize> {
    if !(rate.is_finite() && rate >= 0.0) {
        return Err(invalid_arg(format!("rate={rate}; expected a number >= 0")));
    }
    if let Some((i, p)) = probs
        .iter()
        .enumerate()
        .find(|(_, p)| !(p.is_finite() && (0.0..=1.0).contains(*p)))
    {
        return Err(invalid_arg(format!(
            "probs[{i}] = {p}; expected a probability in [0, 1]"
        )));
    }
    let costs = Costs::table(costs).map_err(map_err)?;
    Ok(best_prefix(&probs, &costs, rate))
}

/// Adds the classes and functions of this file to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCostAwareTrees>()?;
    m.add_class::<PyTreeCursor>()?;
    m.add_function(wrap_pyfunction!(py_best_prefix, m)?)?;
    Ok(())
}
