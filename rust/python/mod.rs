//! PyO3 bindings: conversions, GIL release and error mapping only. The algorithms live in the core.

mod convert;
mod costaware;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use rayon::prelude::*;

use crate::automaton::{Cursor, DraftPolicy, SuffixAutomaton};
use crate::draft::DraftTree;
use crate::ngram::NgramTrie;
use crate::store::{Scope, Store, StoreCursor};
use convert::{invalid_arg, map_err, token_batch, tokens_arg};

/// Batches at least this long are drafted in parallel; below it thread hand-off costs more than it saves.
const PARALLEL_BATCH: usize = 16;

/// What `DraftTree.__reduce__` returns: the class and its constructor arguments.
type DraftTreeReduce<'py> = (Bound<'py, PyAny>, (Vec<u32>, Vec<i32>, Vec<f32>, u32));

/// What `__reduce__` returns for the structures pickled through their compact bytes.
type BytesReduce<'py> = (Bound<'py, PyAny>, (Bound<'py, PyBytes>,));

/// Pickles as `cls.from_bytes(data)`: one format for files and pickles, checked the same way.
fn reduce_via_from_bytes<'py, T: pyo3::PyClass>(
    slf: &Bound<'py, T>,
    data: Bound<'py, PyBytes>,
) -> PyResult<BytesReduce<'py>> {
    Ok((slf.as_any().get_type().getattr("from_bytes")?, (data,)))
}

fn parse_policy(policy: &str) -> PyResult<DraftPolicy> {
    match policy {
        "recent" | "most_recent" => Ok(DraftPolicy::MostRecent),
        "frequent" | "most_frequent" => Ok(DraftPolicy::MostFrequent),
        other => Err(invalid_arg(format!(
            "policy={other:?}; expected 'recent' or 'frequent'"
        ))),
    }
}

fn parse_scope(scope: &str) -> PyResult<Scope> {
    Scope::from_name(scope).map_err(map_err)
}

fn positive(name: &str, value: Option<i64>) -> PyResult<Option<usize>> {
    match value {
        None => Ok(None),
        Some(v) if v > 0 => Ok(Some(v as usize)),
        Some(v) => Err(invalid_arg(format!(
            "{name}={v}; expected a positive number or None"
        ))),
    }
}

fn non_negative(name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value)
        .map_err(|_| invalid_arg(format!("{name}={value}; expected a non-negative integer")))
}

// ----------------------------------------------------------------------------------------------
// DraftTree

/// Draft tokens arranged as a tree hanging off the last context token (a chain is one branch).
#[pyclass(name = "DraftTree", module = "specscale._core", eq, frozen)]
#[derive(Clone, PartialEq)]
pub struct PyDraftTree {
    pub(crate) inner: DraftTree,
}

impl From<DraftTree> for PyDraftTree {
    fn from(inner: DraftTree) -> Self {
        PyDraftTree { inner }
    }
}

#[pymethods]
impl PyDraftTree {
    #[new]
    #[pyo3(signature = (tokens, parents=None, scores=None, match_length=0))]
    fn new(
        tokens: &Bound<'_, PyAny>,
        parents: Option<Vec<i64>>,
        scores: Option<Vec<f32>>,
        match_length: i64,
    ) -> PyResult<Self> {
        let tokens = tokens_arg(tokens, "tokens")?;
        let match_length = u32::try_from(match_length).map_err(|_| {
            invalid_arg(format!(
                "match_length={match_length}; expected a non-negative integer"
            ))
        })?;
        let mut inner = match parents {
            None => {
                let n = tokens.len();
                let chain = DraftTree::chain(tokens);
                match scores {
                    Some(s) => {
                        DraftTree::new(chain.tokens().to_vec(), chain.parents().to_vec(), Some(s))
                            .map_err(map_err)?
                    }
                    None => {
                        debug_assert_eq!(chain.len(), n);
                        chain
                    }
                }
            }
            Some(p) => {
                let parents = p
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        i32::try_from(v)
                            .map_err(|_| invalid_arg(format!("parents[{i}] = {v} is out of range")))
                    })
                    .collect::<PyResult<Vec<i32>>>()?;
                DraftTree::new(tokens, parents, scores).map_err(map_err)?
            }
        };
        inner.match_length = match_length;
        Ok(inner.into())
    }

    /// The empty draft.
    #[staticmethod]
    fn empty() -> Self {
        DraftTree::empty().into()
    }

    /// A chain: each token follows the previous one.
    #[staticmethod]
    fn chain(tokens: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(DraftTree::chain(tokens_arg(tokens, "tokens")?).into())
    }

    /// Draft token per node.
    #[getter]
    fn tokens(&self) -> Vec<u32> {
        self.inner.tokens().to_vec()
    }

    /// Parent index per node (-1 = the context's last token).
    #[getter]
    fn parents(&self) -> Vec<i32> {
        self.inner.parents().to_vec()
    }

    /// Score per node (higher ranks first among siblings).
    #[getter]
    fn scores(&self) -> Vec<f32> {
        self.inner.scores().to_vec()
    }

    /// Length of the context suffix the draft continues (0 if unknown).
    #[getter]
    fn match_length(&self) -> u32 {
        self.inner.match_length
    }

    /// Whether the draft is a single branch.
    #[getter]
    fn is_chain(&self) -> bool {
        self.inner.is_chain()
    }

    /// Depth of each node (children of the context have depth 1).
    fn depths(&self) -> Vec<u32> {
        self.inner.depths()
    }

    /// Every root-to-leaf path as a list of node indices.
    fn paths(&self) -> Vec<Vec<usize>> {
        self.inner.paths()
    }

    /// Token ids as a numpy int64 array.
    fn tokens_array<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_iter(py, self.inner.tokens().iter().map(|&t| i64::from(t)))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __bool__(&self) -> bool {
        !self.inner.is_empty()
    }

    fn __repr__(&self) -> String {
        if self.inner.is_chain() {
            format!(
                "DraftTree.chain({:?}, match_length={})",
                self.inner.tokens(),
                self.inner.match_length
            )
        } else {
            format!(
                "DraftTree(tokens={:?}, parents={:?}, match_length={})",
                self.inner.tokens(),
                self.inner.parents(),
                self.inner.match_length
            )
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<DraftTreeReduce<'py>> {
        let me = slf.get();
        Ok((
            slf.get_type().into_any(),
            (
                me.inner.tokens().to_vec(),
                me.inner.parents().to_vec(),
                me.inner.scores().to_vec(),
                me.inner.match_length,
            ),
        ))
    }
}

// ----------------------------------------------------------------------------------------------
// SuffixAutomaton + Cursor

/// A generalized suffix automaton over token sequences, growing one token at a time.
#[pyclass(name = "SuffixAutomaton", module = "specscale._core")]
pub struct PySuffixAutomaton {
    inner: SuffixAutomaton,
}

#[pymethods]
impl PySuffixAutomaton {
    #[new]
    #[pyo3(signature = (*, counts=false, capacity_tokens=None, capacity_bytes=None))]
    fn new(
        counts: bool,
        capacity_tokens: Option<i64>,
        capacity_bytes: Option<i64>,
    ) -> PyResult<Self> {
        let mut inner = SuffixAutomaton::with_options(counts);
        inner
            .set_capacity(
                positive("capacity_tokens", capacity_tokens)?,
                positive("capacity_bytes", capacity_bytes)?,
            )
            .map_err(map_err)?;
        Ok(PySuffixAutomaton { inner })
    }

    /// Starts a new sequence and returns its id.
    fn begin_sequence(&mut self) -> u64 {
        self.inner.begin_sequence()
    }

    /// Appends one token to the open sequence.
    fn push(&mut self, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = convert::token_arg(token, "token")?;
        self.inner.push(t).map_err(map_err)
    }

    /// Appends tokens (list, numpy int array or torch CPU tensor) to the open sequence.
    fn extend(&mut self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        let inner = &mut self.inner;
        py.detach(|| inner.extend(&tokens)).map_err(map_err)
    }

    /// Number of stored tokens.
    #[getter]
    fn num_tokens(&self) -> usize {
        self.inner.num_tokens()
    }

    /// Number of states, including the root.
    #[getter]
    fn num_states(&self) -> usize {
        self.inner.num_states()
    }

    /// Whether the automaton keeps occurrence counts (built with `counts=True`).
    #[getter]
    fn has_counts(&self) -> bool {
        self.inner.has_counts()
    }

    /// Ids of the live sequences, oldest first.
    fn sequence_ids(&self) -> Vec<u64> {
        self.inner.log().sequences().iter().map(|s| s.id).collect()
    }

    /// Tokens of the live sequence `seq_id`.
    fn sequence(&self, seq_id: u64) -> PyResult<Vec<u32>> {
        let i = self.inner.log().index_of(seq_id).map_err(map_err)?;
        Ok(self.inner.log().sequence_tokens(i).to_vec())
    }

    /// Heap bytes used.
    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    /// Releases the spare capacity arrays keep while they grow (about a third of `memory_bytes()`
    /// right after a bulk build); worth it once a store stops growing.
    fn shrink_to_fit(&mut self) {
        self.inner.shrink_to_fit()
    }

    /// Removes a live sequence (the automaton is rebuilt from the others).
    fn remove_sequence(&mut self, py: Python<'_>, seq_id: u64) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| inner.remove_sequence(seq_id)).map_err(map_err)
    }

    /// Removes every sequence.
    fn clear(&mut self) {
        self.inner.clear()
    }

    /// Bounds the stored tokens and/or bytes; the oldest sequences are evicted past the bound.
    #[pyo3(signature = (tokens=None, bytes=None))]
    fn set_capacity(
        &mut self,
        py: Python<'_>,
        tokens: Option<i64>,
        bytes: Option<i64>,
    ) -> PyResult<()> {
        let (t, b) = (positive("tokens", tokens)?, positive("bytes", bytes)?);
        let inner = &mut self.inner;
        py.detach(|| inner.set_capacity(t, b)).map_err(map_err)
    }

    /// `(tokens, bytes)` bounds, None where unbounded.
    #[getter]
    fn capacity(&self) -> (Option<usize>, Option<usize>) {
        self.inner.capacity()
    }

    /// Whether `pattern` occurs inside one stored sequence.
    fn contains(&self, pattern: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.contains(&tokens_arg(pattern, "pattern")?))
    }

    fn __contains__(&self, pattern: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.contains(pattern)
    }

    /// Number of occurrences of `pattern` (needs `counts=True`).
    fn occurrences(&mut self, pattern: &Bound<'_, PyAny>) -> PyResult<u64> {
        let pattern = tokens_arg(pattern, "pattern")?;
        self.inner.occurrences(&pattern).map_err(map_err)
    }

    /// A cursor that follows a live context through this automaton.
    fn cursor(slf: &Bound<'_, Self>) -> PyResult<PyCursor> {
        Ok(PyCursor {
            cursor: slf.try_borrow()?.inner.cursor(),
            sam: slf.clone().unbind(),
        })
    }

    /// Stateless draft for one context (reads at most its last `window` tokens).
    #[pyo3(signature = (context, max_tokens=8, min_match=1, window=1024))]
    fn draft(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
        max_tokens: i64,
        min_match: u32,
        window: i64,
    ) -> PyResult<PyDraftTree> {
        let context = tokens_arg(context, "context")?;
        let (k, w) = (
            non_negative("max_tokens", max_tokens)?,
            non_negative("window", window)?,
        );
        let inner = &self.inner;
        Ok(py
            .detach(|| inner.draft_for(&context, k, min_match, w))
            .into())
    }

    /// Drafts for many contexts in one call (a list of token sequences or a 2-D int array, with
    /// optional per-row `lengths` for padded arrays). The GIL is released and large batches run in
    /// parallel.
    #[pyo3(signature = (contexts, max_tokens=8, min_match=1, window=1024, lengths=None))]
    fn draft_batch(
        &self,
        py: Python<'_>,
        contexts: &Bound<'_, PyAny>,
        max_tokens: i64,
        min_match: u32,
        window: i64,
        lengths: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyDraftTree>> {
        let batch = token_batch(contexts, lengths)?;
        let (k, w) = (
            non_negative("max_tokens", max_tokens)?,
            non_negative("window", window)?,
        );
        let inner = &self.inner;
        let drafts: Vec<DraftTree> = py.detach(|| {
            if batch.len() >= PARALLEL_BATCH {
                batch
                    .par_iter()
                    .map(|c| inner.draft_for(c, k, min_match, w))
                    .collect()
            } else {
                batch
                    .iter()
                    .map(|c| inner.draft_for(c, k, min_match, w))
                    .collect()
            }
        });
        Ok(drafts.into_iter().map(Into::into).collect())
    }

    /// Compact bytes (sequences and settings) that `from_bytes` restores.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let inner = &self.inner;
        PyBytes::new(py, &py.detach(|| inner.to_bytes()))
    }

    /// Restores an automaton from `to_bytes` output; raises CorruptDataError on bad bytes.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let inner = py
            .detach(|| SuffixAutomaton::from_bytes(data))
            .map_err(map_err)?;
        Ok(PySuffixAutomaton { inner })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<BytesReduce<'py>> {
        reduce_via_from_bytes(slf, slf.try_borrow()?.to_bytes(py))
    }

    fn __len__(&self) -> usize {
        self.inner.num_tokens()
    }

    fn __repr__(&self) -> String {
        format!(
            "SuffixAutomaton(num_tokens={}, num_sequences={}, num_states={}, memory_bytes={})",
            self.inner.num_tokens(),
            self.inner.num_sequences(),
            self.inner.num_states(),
            self.inner.memory_bytes()
        )
    }
}

/// Follows a live context through a SuffixAutomaton, one token at a time.
#[pyclass(name = "Cursor", module = "specscale._core")]
pub struct PyCursor {
    cursor: Cursor,
    sam: Py<PySuffixAutomaton>,
}

#[pymethods]
impl PyCursor {
    /// Appends one token to the context. Amortized O(1).
    fn advance(&mut self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = convert::token_arg(token, "token")?;
        let sam = self.sam.try_borrow(py)?;
        self.cursor.advance(&sam.inner, t);
        Ok(())
    }

    /// Appends tokens to the context.
    fn extend(&mut self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        let sam = self.sam.try_borrow(py)?;
        let (cursor, inner) = (&mut self.cursor, &sam.inner);
        py.detach(|| cursor.extend(inner, &tokens));
        Ok(())
    }

    /// Length of the longest suffix of the context that occurs in the automaton.
    #[getter]
    fn match_length(&self) -> u32 {
        self.cursor.match_length()
    }

    /// Forgets the context.
    fn reset(&mut self, py: Python<'_>) -> PyResult<()> {
        let sam = self.sam.try_borrow(py)?;
        self.cursor.reset(&sam.inner);
        Ok(())
    }

    /// A chain of up to `max_tokens` tokens continuing the longest matched suffix that has a
    /// continuation (at least `min_match` long), by `policy` 'recent' or 'frequent'.
    #[pyo3(signature = (max_tokens=8, min_match=1, policy="recent"))]
    fn draft(
        &mut self,
        py: Python<'_>,
        max_tokens: i64,
        min_match: u32,
        policy: &str,
    ) -> PyResult<PyDraftTree> {
        let policy = parse_policy(policy)?;
        let k = non_negative("max_tokens", max_tokens)?;
        let sam = self.sam.try_borrow(py)?;
        self.cursor
            .draft_with(&sam.inner, k, min_match, policy)
            .map(Into::into)
            .map_err(map_err)
    }

    /// A best-first draft tree (at most `budget` nodes, `depth` levels, `k` children per node) over the
    /// continuations of the longest matched suffix, scored by occurrence counts (needs an automaton built
    /// with `counts=True`; otherwise the most-recent chain).
    #[pyo3(signature = (k=3, depth=8, budget=32, min_match=1))]
    fn draft_tree(
        &mut self,
        py: Python<'_>,
        k: i64,
        depth: i64,
        budget: i64,
        min_match: u32,
    ) -> PyResult<PyDraftTree> {
        let (k, depth, budget) = (
            non_negative("k", k)?,
            non_negative("depth", depth)?,
            non_negative("budget", budget)?,
        );
        let sam = self.sam.try_borrow(py)?;
        self.cursor
            .draft_tree(&sam.inner, k, depth, budget, min_match)
            .map(Into::into)
            .map_err(map_err)
    }

    /// The automaton this cursor follows.
    #[getter]
    fn automaton(&self, py: Python<'_>) -> Py<PySuffixAutomaton> {
        self.sam.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        format!("Cursor(match_length={})", self.cursor.match_length())
    }
}

// ----------------------------------------------------------------------------------------------
// NgramTrie

/// Continuation counts for contexts of up to `max_order` tokens, with scored draft trees.
#[pyclass(name = "NgramTrie", module = "specscale._core")]
pub struct PyNgramTrie {
    inner: NgramTrie,
}

#[pymethods]
impl PyNgramTrie {
    #[new]
    #[pyo3(signature = (max_order=4, *, capacity_tokens=None))]
    fn new(max_order: i64, capacity_tokens: Option<i64>) -> PyResult<Self> {
        let order = u32::try_from(max_order)
            .map_err(|_| invalid_arg(format!("max_order={max_order} is outside 1..=32")))?;
        let mut inner = NgramTrie::new(order).map_err(map_err)?;
        inner
            .set_capacity(positive("capacity_tokens", capacity_tokens)?)
            .map_err(map_err)?;
        Ok(PyNgramTrie { inner })
    }

    /// Longest context counted.
    #[getter]
    fn max_order(&self) -> u32 {
        self.inner.max_order()
    }

    /// Starts a new sequence and returns its id.
    fn begin_sequence(&mut self) -> u64 {
        self.inner.begin_sequence()
    }

    /// Appends one token to the open sequence.
    fn push(&mut self, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = convert::token_arg(token, "token")?;
        self.inner.push(t).map_err(map_err)
    }

    /// Appends tokens to the open sequence.
    fn extend(&mut self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        let inner = &mut self.inner;
        py.detach(|| inner.extend(&tokens)).map_err(map_err)
    }

    /// Times `token` followed `context` (at most `max_order` tokens).
    fn count(&self, context: &Bound<'_, PyAny>, token: &Bound<'_, PyAny>) -> PyResult<u64> {
        let context = tokens_arg(context, "context")?;
        let token = convert::token_arg(token, "token")?;
        self.inner.count(&context, token).map_err(map_err)
    }

    /// `(token, count)` continuations of `context`, most frequent first.
    fn continuations(&self, context: &Bound<'_, PyAny>) -> PyResult<Vec<(u32, u64)>> {
        let context = tokens_arg(context, "context")?;
        self.inner.continuations(&context).map_err(map_err)
    }

    /// A best-first draft tree of at most `budget` nodes and `depth` levels, `k` children per node.
    #[pyo3(signature = (context, k=3, depth=4, budget=16))]
    fn top_continuations(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
        k: i64,
        depth: i64,
        budget: i64,
    ) -> PyResult<PyDraftTree> {
        let context = tokens_arg(context, "context")?;
        let (k, depth, budget) = (
            non_negative("k", k)?,
            non_negative("depth", depth)?,
            non_negative("budget", budget)?,
        );
        let inner = &self.inner;
        py.detach(|| inner.top_continuations(&context, k, depth, budget))
            .map(Into::into)
            .map_err(map_err)
    }

    /// `top_continuations` for many contexts in one call (GIL released, parallel when large).
    #[pyo3(signature = (contexts, k=3, depth=4, budget=16, lengths=None))]
    fn top_continuations_batch(
        &self,
        py: Python<'_>,
        contexts: &Bound<'_, PyAny>,
        k: i64,
        depth: i64,
        budget: i64,
        lengths: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyDraftTree>> {
        let batch = token_batch(contexts, lengths)?;
        let (k, depth, budget) = (
            non_negative("k", k)?,
            non_negative("depth", depth)?,
            non_negative("budget", budget)?,
        );
        let inner = &self.inner;
        let drafts: Result<Vec<DraftTree>, _> = py.detach(|| {
            if batch.len() >= PARALLEL_BATCH {
                batch
                    .par_iter()
                    .map(|c| inner.top_continuations(c, k, depth, budget))
                    .collect()
            } else {
                batch
                    .iter()
                    .map(|c| inner.top_continuations(c, k, depth, budget))
                    .collect()
            }
        });
        Ok(drafts
            .map_err(map_err)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Number of stored tokens.
    #[getter]
    fn num_tokens(&self) -> usize {
        self.inner.num_tokens()
    }

    /// Number of trie nodes.
    #[getter]
    fn num_nodes(&self) -> usize {
        self.inner.num_nodes()
    }

    /// Ids of the live sequences, oldest first.
    fn sequence_ids(&self) -> Vec<u64> {
        self.inner.log().sequences().iter().map(|s| s.id).collect()
    }

    /// Heap bytes used.
    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    /// Releases the spare capacity arrays keep while they grow.
    fn shrink_to_fit(&mut self) {
        self.inner.shrink_to_fit()
    }

    /// Removes a live sequence, subtracting its counts exactly.
    fn remove_sequence(&mut self, seq_id: u64) -> PyResult<()> {
        self.inner.remove_sequence(seq_id).map_err(map_err)
    }

    /// Removes every sequence.
    fn clear(&mut self) {
        self.inner.clear()
    }

    /// Bounds the stored tokens; the oldest sequences are evicted past the bound.
    #[pyo3(signature = (tokens=None))]
    fn set_capacity(&mut self, tokens: Option<i64>) -> PyResult<()> {
        self.inner
            .set_capacity(positive("tokens", tokens)?)
            .map_err(map_err)
    }

    /// Compact bytes that `from_bytes` restores.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// Restores a trie from `to_bytes` output; raises CorruptDataError on bad bytes.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let inner = py.detach(|| NgramTrie::from_bytes(data)).map_err(map_err)?;
        Ok(PyNgramTrie { inner })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<BytesReduce<'py>> {
        reduce_via_from_bytes(slf, slf.try_borrow()?.to_bytes(py))
    }

    fn __len__(&self) -> usize {
        self.inner.num_tokens()
    }

    fn __repr__(&self) -> String {
        format!(
            "NgramTrie(max_order={}, num_tokens={}, num_nodes={}, memory_bytes={})",
            self.inner.max_order(),
            self.inner.num_tokens(),
            self.inner.num_nodes(),
            self.inner.memory_bytes()
        )
    }
}

// ----------------------------------------------------------------------------------------------
// Store + StoreCursor

/// Request, family and global scopes, each a suffix automaton and an n-gram trie.
#[pyclass(name = "Store", module = "specscale._core")]
pub struct PyStore {
    inner: Store,
}

#[pymethods]
impl PyStore {
    #[new]
    #[pyo3(signature = (max_order=4, *, counts=false))]
    fn new(max_order: i64, counts: bool) -> PyResult<Self> {
        let order = u32::try_from(max_order)
            .map_err(|_| invalid_arg(format!("max_order={max_order} is outside 1..=32")))?;
        Ok(PyStore {
            inner: Store::new(order, counts).map_err(map_err)?,
        })
    }

    /// Starts a sequence in `scope` ('request', 'family' or 'global') and returns its id.
    #[pyo3(signature = (scope="request"))]
    fn begin_sequence(&mut self, scope: &str) -> PyResult<u64> {
        Ok(self.inner.begin_sequence(parse_scope(scope)?))
    }

    /// Appends one token to the open sequence of `scope`.
    #[pyo3(signature = (token, scope="request"))]
    fn push(&mut self, token: &Bound<'_, PyAny>, scope: &str) -> PyResult<()> {
        let t = convert::token_arg(token, "token")?;
        self.inner.push(parse_scope(scope)?, t).map_err(map_err)
    }

    /// Appends tokens to the open sequence of `scope`.
    #[pyo3(signature = (tokens, scope="request"))]
    fn extend(&mut self, py: Python<'_>, tokens: &Bound<'_, PyAny>, scope: &str) -> PyResult<()> {
        let scope = parse_scope(scope)?;
        let tokens = tokens_arg(tokens, "tokens")?;
        let inner = &mut self.inner;
        py.detach(|| inner.extend(scope, &tokens)).map_err(map_err)
    }

    /// Removes the sequence `seq_id` (its scope is part of the id).
    fn remove_sequence(&mut self, py: Python<'_>, seq_id: u64) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| inner.remove_sequence(seq_id)).map_err(map_err)
    }

    /// Removes every sequence of `scope`.
    fn clear(&mut self, scope: &str) -> PyResult<()> {
        self.inner.clear(parse_scope(scope)?);
        Ok(())
    }

    /// Bounds `scope` to `tokens` tokens and/or `bytes` bytes, evicting its oldest sequences.
    #[pyo3(signature = (scope, tokens=None, bytes=None))]
    fn set_capacity(
        &mut self,
        scope: &str,
        tokens: Option<i64>,
        bytes: Option<i64>,
    ) -> PyResult<()> {
        let scope = parse_scope(scope)?;
        self.inner
            .set_capacity(
                scope,
                positive("tokens", tokens)?,
                positive("bytes", bytes)?,
            )
            .map_err(map_err)
    }

    /// Tokens stored in `scope`, or in all scopes.
    #[pyo3(signature = (scope=None))]
    fn num_tokens(&self, scope: Option<&str>) -> PyResult<usize> {
        Ok(match scope {
            Some(s) => self.inner.num_tokens(parse_scope(s)?),
            None => Scope::ALL.iter().map(|&s| self.inner.num_tokens(s)).sum(),
        })
    }

    /// Heap bytes of `scope`, or of all scopes.
    #[pyo3(signature = (scope=None))]
    fn memory_bytes(&self, scope: Option<&str>) -> PyResult<usize> {
        Ok(match scope {
            Some(s) => self.inner.scope_memory_bytes(parse_scope(s)?),
            None => self.inner.memory_bytes(),
        })
    }

    /// The longest context the tries count continuations of.
    #[getter]
    fn max_order(&self) -> u32 {
        self.inner.max_order()
    }

    /// Whether the automata keep occurrence counts (needed by `StoreCursor.frequency_tree`).
    #[getter]
    fn has_counts(&self) -> bool {
        self.inner.has_counts()
    }

    /// Ids of the sequences of `scope`, oldest first.
    fn sequence_ids(&self, scope: &str) -> PyResult<Vec<u64>> {
        Ok(self.inner.sequence_ids(parse_scope(scope)?))
    }

    /// The tokens of sequence `seq_id`.
    fn sequence(&self, seq_id: u64) -> PyResult<Vec<u32>> {
        self.inner
            .sequence(seq_id)
            .map(<[u32]>::to_vec)
            .map_err(map_err)
    }

    /// Moves every sequence of `from_scope` into `to_scope` (under its capacity); `from_scope` ends empty.
    fn promote(&mut self, py: Python<'_>, from_scope: &str, to_scope: &str) -> PyResult<()> {
        let (from, to) = (parse_scope(from_scope)?, parse_scope(to_scope)?);
        let inner = &mut self.inner;
        py.detach(|| inner.promote(from, to)).map_err(map_err)
    }

    /// Closes the open sequence of `scope`: the next `extend` starts a new one.
    fn close_sequence(&mut self, scope: &str) -> PyResult<()> {
        self.inner.close_sequence(parse_scope(scope)?);
        Ok(())
    }

    /// A scored draft tree continuing `context` from the tries of every scope, counts summed.
    #[pyo3(signature = (context, k=3, depth=4, budget=16))]
    fn top_continuations(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
        k: i64,
        depth: i64,
        budget: i64,
    ) -> PyResult<PyDraftTree> {
        let context = tokens_arg(context, "context")?;
        let (k, depth, budget) = (
            non_negative("k", k)?,
            non_negative("depth", depth)?,
            non_negative("budget", budget)?,
        );
        let inner = &self.inner;
        py.detach(|| inner.top_continuations(&context, k, depth, budget))
            .map(Into::into)
            .map_err(map_err)
    }

    /// A cursor following one context through every scope.
    fn cursor(slf: &Bound<'_, Self>) -> PyResult<PyStoreCursor> {
        Ok(PyStoreCursor {
            cursor: slf.try_borrow()?.inner.cursor(),
            store: slf.clone().unbind(),
        })
    }

    /// Compact bytes that `from_bytes` restores.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// Restores a store from `to_bytes` output; raises CorruptDataError on bad bytes.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let inner = py.detach(|| Store::from_bytes(data)).map_err(map_err)?;
        Ok(PyStore { inner })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<BytesReduce<'py>> {
        reduce_via_from_bytes(slf, slf.try_borrow()?.to_bytes(py))
    }

    fn __repr__(&self) -> String {
        let sizes: Vec<String> = Scope::ALL
            .iter()
            .map(|&s| format!("{}={}", s.name(), self.inner.num_tokens(s)))
            .collect();
        format!(
            "Store({}, memory_bytes={})",
            sizes.join(", "),
            self.inner.memory_bytes()
        )
    }
}

/// Follows one context through every scope of a Store.
#[pyclass(name = "StoreCursor", module = "specscale._core")]
pub struct PyStoreCursor {
    cursor: StoreCursor,
    store: Py<PyStore>,
}

#[pymethods]
impl PyStoreCursor {
    /// Appends one token to the context.
    fn advance(&mut self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = convert::token_arg(token, "token")?;
        let store = self.store.try_borrow(py)?;
        self.cursor.advance(&store.inner, t);
        Ok(())
    }

    /// Appends tokens to the context.
    fn extend(&mut self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        let store = self.store.try_borrow(py)?;
        let (cursor, inner) = (&mut self.cursor, &store.inner);
        py.detach(|| cursor.extend(inner, &tokens));
        Ok(())
    }

    /// Longest suffix of the context found in any scope.
    #[getter]
    fn match_length(&self) -> u32 {
        self.cursor.match_length()
    }

    /// The scope ('request', 'family' or 'global') the last `draft` came from; None after an empty one.
    #[getter]
    fn last_draft_scope(&self) -> Option<&'static str> {
        self.cursor.last_draft_scope().map(Scope::name)
    }

    /// The automaton chain draft with the longest continued match across scopes; a global-scope
    /// draft must beat the others' match by more than `global_bias` tokens.
    #[pyo3(signature = (max_tokens=8, min_match=1, policy="recent", global_bias=0))]
    fn draft(
        &mut self,
        py: Python<'_>,
        max_tokens: i64,
        min_match: u32,
        policy: &str,
        global_bias: u32,
    ) -> PyResult<PyDraftTree> {
        let policy = parse_policy(policy)?;
        let k = non_negative("max_tokens", max_tokens)?;
        let store = self.store.try_borrow(py)?;
        self.cursor
            .draft_biased(&store.inner, k, min_match, policy, global_bias)
            .map(Into::into)
            .map_err(map_err)
    }

    /// A frequency-scored draft tree from the scope whose continued match is longest (a store
    /// built with counts).
    #[pyo3(signature = (k=3, depth=8, budget=32, min_match=1))]
    fn frequency_tree(
        &mut self,
        py: Python<'_>,
        k: i64,
        depth: i64,
        budget: i64,
        min_match: u32,
    ) -> PyResult<PyDraftTree> {
        let (k, depth, budget) = (
            non_negative("k", k)?,
            non_negative("depth", depth)?,
            non_negative("budget", budget)?,
        );
        let store = self.store.try_borrow(py)?;
        self.cursor
            .frequency_tree(&store.inner, k, depth, budget, min_match)
            .map(Into::into)
            .map_err(map_err)
    }

    /// A draft tree from the trie counts of all scopes summed.
    #[pyo3(signature = (k=3, depth=4, budget=16))]
    fn draft_tree(&self, py: Python<'_>, k: i64, depth: i64, budget: i64) -> PyResult<PyDraftTree> {
        let (k, depth, budget) = (
            non_negative("k", k)?,
            non_negative("depth", depth)?,
            non_negative("budget", budget)?,
        );
        let store = self.store.try_borrow(py)?;
        self.cursor
            .draft_tree(&store.inner, k, depth, budget)
            .map(Into::into)
            .map_err(map_err)
    }

    fn __repr__(&self) -> String {
        format!("StoreCursor(match_length={})", self.cursor.match_length())
    }
}

/// The native core of specscale.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FORMAT_VERSION", crate::codec::FORMAT_VERSION)?;
    m.add_class::<PyDraftTree>()?;
    m.add_class::<PySuffixAutomaton>()?;
    m.add_class::<PyCursor>()?;
    m.add_class::<PyNgramTrie>()?;
    m.add_class::<PyStore>()?;
    m.add_class::<PyStoreCursor>()?;
    costaware::register(m)?;
    Ok(())
}
