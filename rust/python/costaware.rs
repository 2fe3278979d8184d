//! `CostAwareTrees`, `TreeCursor` and `best_prefix`: conversions and locking around
//! [`crate::costaware`].
//!
//! A run (`CostAwareTrees`: the occurrence index, the acceptance statistics, the throughput) is
//! shared by the cursors of its generations, which may live on different threads. Each sits behind
//! its own lock (`Shared`, see `shared.rs`); a draft or an observation takes, in this order, the
//! cursor, the run (alone: it indexes and learns) and the store (alongside other readers), always
//! with the GIL released, so no thread waits for a lock while holding the GIL.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;

use super::args;
use super::convert::tokens_arg;
use super::draft_tree::PyDraftTree;
use super::errors::{invalid_arg, map_err};
use super::shared::{guarded, mutex_guard, Shared, Work};
use super::store::PyStore;
use crate::costaware::{
    best_prefix, AcceptanceModel, CostAwareTrees, Costs, Streak, Throughput, TreeCursor,
    TreeSettings,
};
use crate::occurrence::GatherLimits;

/// The streaks by the names Python sees.
const STREAKS: [(&str, Streak); Streak::COUNT] = [
    ("undrafted", Streak::Undrafted),
    ("rejected", Streak::Rejected),
    ("partial", Streak::Partial),
    ("complete", Streak::Complete),
];

const RUN: &str = "CostAwareTrees";
const CURSOR: &str = "TreeCursor";

/// A cost-aware tree run over one Store: the occurrence index, the acceptance statistics and the
/// throughput learned so far, shared by the run's generations.
///
/// Thread-safe: drafts and observations of its cursors run one at a time on the run, with the GIL
/// released; the store they read may be read by other threads meanwhile.
#[pyclass(name = "CostAwareTrees", module = "specscale._core", frozen)]
pub struct PyCostAwareTrees {
    inner: Shared<CostAwareTrees>,
    /// The Store the index follows (set by the first draft or observation; held, so its identity
    /// cannot be reused by another object).
    store: OnceLock<Py<PyStore>>,
}

impl PyCostAwareTrees {
    /// Binds the run to `store` on first use; refuses any other store afterwards (the index holds
    /// positions in one store's logs).
    fn bind(&self, store: &Bound<'_, PyStore>) -> PyResult<()> {
        let bound = self.store.get_or_init(|| store.clone().unbind());
        if bound.as_ptr() != store.as_ptr() {
            return Err(invalid_arg(
                "store: this CostAwareTrees indexes another Store; use one CostAwareTrees per store"
                    .into(),
            ));
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
        py: Python<'_>,
        #[pyo3(from_py_with = args::max_candidates)] max_candidates: usize,
        #[pyo3(from_py_with = args::max_depth)] max_depth: u32,
        min_probability: f64,
        prior: f64,
        #[pyo3(from_py_with = args::unigram_max)] unigram_max: usize,
        #[pyo3(from_py_with = args::unigram_below)] unigram_below: usize,
    ) -> PyResult<Self> {
        let settings = TreeSettings {
            limits: GatherLimits {
                max_candidates,
                unigram_max,
                unigram_below,
            },
            max_depth,
            min_probability: args::number_in("min_probability", min_probability, 0.0, 1.0, true)?
                as f32,
        };
        let prior = args::number_in("prior", prior, 0.0, 1e9, false)? as f32;
        let run = guarded(py, RUN, Work::Small, || {
            CostAwareTrees::new(settings, prior)
        })?
        .map_err(map_err)?;
        Ok(PyCostAwareTrees {
            inner: Shared::new(RUN, run),
            store: OnceLock::new(),
        })
    }

    /// A cursor for one generation of this run.
    fn cursor(slf: &Bound<'_, Self>) -> PyTreeCursor {
        PyTreeCursor {
            inner: Mutex::new(TreeCursor::new()),
            run: slf.clone().unbind(),
        }
    }

    /// Committed tokens per unit of relative verification cost over the run's recent steps.
    #[getter]
    fn rate(&self, py: Python<'_>) -> PyResult<f64> {
        self.inner
            .read(py, Work::Small, |run| run.throughput.rate())
    }

    /// Tree edges whose outcome was learned.
    #[getter]
    fn observations(&self, py: Python<'_>) -> PyResult<u64> {
        self.inner
            .read(py, Work::Small, |run| run.model.observations())
    }

    /// Store tokens indexed so far.
    #[getter]
    fn indexed_tokens(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner
            .read(py, Work::Small, |run| run.index.num_indexed())
    }

    /// Heap bytes of the occurrence index.
    fn memory_bytes(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner
            .read(py, Work::Small, |run| run.index.memory_bytes())
    }

    /// The learned probability that an edge is accepted given its parent was: its candidates' best
    /// match length (plus the depth agreed), their share of the parent's candidates, alignment, and
    /// whether any lies in the request or family scope.
    fn acceptance(
        &self,
        py: Python<'_>,
        matched: u32,
        depth: u32,
        share: f64,
        aligned: bool,
        inner: bool,
    ) -> PyResult<f64> {
        let share = args::number_in("share", share, 0.0, 1.0, false)? as f32;
        let cell = AcceptanceModel::cell(matched, depth, share, aligned, inner);
        self.inner.read(py, Work::Small, |run| {
            f64::from(run.model.probability(cell))
        })
    }

    /// The factor each streak (how the generation's previous step went) gives its edges over their
    /// cell's probability, learned over the run: a dict from ``"undrafted"``, ``"rejected"``,
    /// ``"partial"`` and ``"complete"`` to the factor (1.0 before any observation).
    fn streak_factors(&self, py: Python<'_>) -> PyResult<BTreeMap<&'static str, f64>> {
        self.inner.read(py, Work::Small, |run| {
            STREAKS
                .iter()
                .map(|&(name, s)| (name, f64::from(run.model.streak_factor(s))))
                .collect()
        })
    }

    /// Forgets the acceptance statistics and the throughput (the index stays).
    fn reset_statistics(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.write(py, Work::Small, |run| {
            run.model.reset();
            run.throughput = Throughput::default();
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.read(py, Work::Small, |run| {
            format!(
                "CostAwareTrees(indexed_tokens={}, observations={}, rate={:.3})",
                run.index.num_indexed(),
                run.model.observations(),
                run.throughput.rate()
            )
        })
    }
}

/// One generation's side of a cost-aware run.
///
/// Thread-safe: calls on one cursor run one at a time.
#[pyclass(name = "TreeCursor", module = "specscale._core", frozen)]
pub struct PyTreeCursor {
    inner: Mutex<TreeCursor>,
    run: Py<PyCostAwareTrees>,
}

impl PyTreeCursor {
    /// Runs `f` on this cursor alone (GIL released while waiting), a panic as `InternalError`.
    fn with<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut TreeCursor) -> R + Send,
    ) -> PyResult<R> {
        guarded(py, CURSOR, Work::Data, || f(&mut mutex_guard(&self.inner)))
    }

    /// Runs `f` on this cursor, its run (alone) and `store` (alongside other readers), in that lock
    /// order, with the GIL released.
    fn with_run<R: Send>(
        &self,
        py: Python<'_>,
        store: &Bound<'_, PyStore>,
        f: impl FnOnce(&mut TreeCursor, &mut CostAwareTrees, &crate::Store) -> R + Send,
    ) -> PyResult<R> {
        let run = self.run.get();
        run.bind(store)?;
        let store = &store.get().inner;
        py.detach(|| {
            let mut cursor = mutex_guard(&self.inner);
            run.inner
                .write_released(|run| store.read_released(|store| f(&mut cursor, run, store)))?
        })
    }
}

#[pymethods]
impl PyTreeCursor {
    /// Appends context tokens that no draft preceded (the prompt).
    fn extend(&self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        self.with(py, |c| c.extend(&tokens))
    }

    /// Sizes later drafts for these verification costs: `costs[n]` is the price of verifying `n`
    /// draft nodes relative to a plain step (`costs[0]`, usually 1), or, without `costs`, a linear
    /// `1 + node_cost * n`.
    #[pyo3(signature = (costs=None, node_cost=0.0))]
    fn set_costs(&self, py: Python<'_>, costs: Option<Vec<f32>>, node_cost: f32) -> PyResult<()> {
        let costs = match costs {
            Some(table) => Costs::table(table),
            None => Costs::linear(node_cost),
        }
        .map_err(map_err)?;
        self.with(py, |c| c.set_costs(costs))
    }

    /// Drafts at most `max_nodes` nodes from the occurrences in `store`; node scores are their
    /// probabilities of acceptance.
    fn draft(
        &self,
        py: Python<'_>,
        store: &Bound<'_, PyStore>,
        #[pyo3(from_py_with = args::max_nodes)] max_nodes: usize,
    ) -> PyResult<PyDraftTree> {
        let tree = self.with_run(py, store, |cursor, run, store| {
            cursor.draft(run, store, max_nodes)
        })?;
        Ok(tree.into())
    }

    /// `tokens` were committed after the last draft: learns from its outcome.
    fn observe(
        &self,
        py: Python<'_>,
        store: &Bound<'_, PyStore>,
        tokens: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        self.with_run(py, store, |cursor, run, store| {
            cursor.observe(run, store, &tokens)
        })
    }

    /// Alignment pointers held (earlier sequences the generation is aligned with).
    #[getter]
    fn pointers(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |c| c.pointers().len())
    }

    /// How the last observed step went, which scales the next draft's probabilities: ``"undrafted"``,
    /// ``"rejected"``, ``"partial"`` or ``"complete"`` (see ``CostAwareTrees.streak_factors``).
    #[getter]
    fn streak(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.with(py, |c| {
            STREAKS
                .iter()
                .find(|(_, s)| *s == c.streak())
                .map_or("undrafted", |(name, _)| name)
        })
    }

    /// Candidates (earlier occurrences) the last draft was built from.
    #[getter]
    fn last_candidates(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |c| c.last_candidates())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |c| {
            format!(
                "TreeCursor(pointers={}, last_candidates={})",
                c.pointers().len(),
                c.last_candidates()
            )
        })
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
