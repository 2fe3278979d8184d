//! `SuffixAutomaton`: conversions and locking around [`crate::SuffixAutomaton`].

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};

use super::args;
use super::convert::{token_arg, token_batch, tokens_arg};
use super::cursor::PyCursor;
use super::draft_tree::{draft_list, PyDraftTree};
use super::errors::map_err;
use super::shared::{draft_work, guarded, Shared, Work};
use super::{map_batch, reduce_via_from_bytes, BytesReduce};
use crate::SuffixAutomaton;

/// A generalized suffix automaton over token sequences, growing one token at a time.
///
/// Thread-safe: any number of threads may draft, query and save at once; a change (`extend`,
/// `push`, removal, capacity) waits for the reads in flight and runs alone. Waiting happens with
/// the GIL released, and no call fails because another thread is busy.
#[pyclass(name = "SuffixAutomaton", module = "specscale._core", frozen)]
pub struct PySuffixAutomaton {
    pub(crate) inner: Shared<SuffixAutomaton>,
}

const KIND: &str = "SuffixAutomaton";

impl PySuffixAutomaton {
    fn wrap(sam: SuffixAutomaton) -> Self {
        PySuffixAutomaton {
            inner: Shared::new(KIND, sam),
        }
    }
}

#[pymethods]
impl PySuffixAutomaton {
    #[new]
    #[pyo3(signature = (*, counts=false, capacity_tokens=None, capacity_bytes=None))]
    fn new(
        py: Python<'_>,
        counts: bool,
        #[pyo3(from_py_with = args::capacity_tokens)] capacity_tokens: Option<usize>,
        #[pyo3(from_py_with = args::capacity_bytes)] capacity_bytes: Option<usize>,
    ) -> PyResult<Self> {
        let sam = guarded(py, KIND, Work::Small, || {
            let mut sam = SuffixAutomaton::with_options(counts);
            sam.set_capacity(capacity_tokens, capacity_bytes)
                .map(|()| sam)
        })?
        .map_err(map_err)?;
        Ok(Self::wrap(sam))
    }

    /// Starts a new sequence and returns its id.
    fn begin_sequence(&self, py: Python<'_>) -> PyResult<u64> {
        self.inner
            .write(py, Work::Small, |sam| sam.begin_sequence())?
            .map_err(map_err)
    }

    /// Appends one token to the open sequence.
    fn push(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = token_arg(token, "token")?;
        self.inner
            .write(py, Work::Small, |sam| sam.push(t))?
            .map_err(map_err)
    }

    /// Appends tokens (list, 1-D numpy int array or torch CPU tensor) to the open sequence.
    fn extend(&self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        self.inner
            .write(py, Work::Data, |sam| sam.extend(&tokens))?
            .map_err(map_err)
    }

    /// Number of stored tokens.
    #[getter]
    fn num_tokens(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.read(py, Work::Small, |sam| sam.num_tokens())
    }

    /// Number of states, including the root.
    #[getter]
    fn num_states(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.read(py, Work::Small, |sam| sam.num_states())
    }

    /// Whether the automaton keeps occurrence counts (built with `counts=True`).
    #[getter]
    fn has_counts(&self, py: Python<'_>) -> PyResult<bool> {
        self.inner.read(py, Work::Small, |sam| sam.has_counts())
    }

    /// Ids of the live sequences, oldest first.
    fn sequence_ids(&self, py: Python<'_>) -> PyResult<Vec<u64>> {
        self.inner.read(py, Work::Small, |sam| {
            sam.log().sequences().iter().map(|s| s.id).collect()
        })
    }

    /// Tokens of the live sequence `seq_id`.
    fn sequence(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::seq_id)] seq_id: u64,
    ) -> PyResult<Vec<u32>> {
        self.inner
            .read(py, Work::Data, |sam| {
                let log = sam.log();
                log.index_of(seq_id)
                    .map(|i| log.sequence_tokens(i).to_vec())
            })?
            .map_err(map_err)
    }

    /// Heap bytes used.
    fn memory_bytes(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.read(py, Work::Small, |sam| sam.memory_bytes())
    }

    /// Releases the spare capacity arrays keep while they grow (about a third of `memory_bytes()`
    /// right after a bulk build); worth it once a store stops growing.
    fn shrink_to_fit(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.write(py, Work::Data, |sam| sam.shrink_to_fit())
    }

    /// Removes a live sequence (the automaton is rebuilt from the others).
    fn remove_sequence(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::seq_id)] seq_id: u64,
    ) -> PyResult<()> {
        self.inner
            .write(py, Work::Data, |sam| sam.remove_sequence(seq_id))?
            .map_err(map_err)
    }

    /// Removes every sequence.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.write(py, Work::Data, |sam| sam.clear())
    }

    /// Bounds the stored tokens and/or bytes; the oldest sequences are evicted past the bound.
    #[pyo3(signature = (tokens=None, bytes=None))]
    fn set_capacity(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::tokens)] tokens: Option<usize>,
        #[pyo3(from_py_with = args::bytes)] bytes: Option<usize>,
    ) -> PyResult<()> {
        self.inner
            .write(py, Work::Data, |sam| sam.set_capacity(tokens, bytes))?
            .map_err(map_err)
    }

    /// `(tokens, bytes)` bounds, None where unbounded.
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<(Option<usize>, Option<usize>)> {
        self.inner.read(py, Work::Small, |sam| sam.capacity())
    }

    /// Whether `pattern` occurs inside one stored sequence.
    fn contains(&self, py: Python<'_>, pattern: &Bound<'_, PyAny>) -> PyResult<bool> {
        let pattern = tokens_arg(pattern, "pattern")?;
        self.inner
            .read(py, draft_work(pattern.len()), |sam| sam.contains(&pattern))
    }

    fn __contains__(&self, py: Python<'_>, pattern: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.contains(py, pattern)
    }

    /// Number of occurrences of `pattern` (needs `counts=True`).
    fn occurrences(&self, py: Python<'_>, pattern: &Bound<'_, PyAny>) -> PyResult<u64> {
        let pattern = tokens_arg(pattern, "pattern")?;
        // The core brings its counts up to date first: a write, sized by the data.
        self.inner
            .write(py, Work::Data, |sam| sam.occurrences(&pattern))?
            .map_err(map_err)
    }

    /// A cursor that follows a live context through this automaton.
    fn cursor(slf: &Bound<'_, Self>) -> PyResult<PyCursor> {
        let cursor = slf
            .get()
            .inner
            .read(slf.py(), Work::Small, |sam| sam.cursor())?;
        Ok(PyCursor::new(cursor, slf.clone().unbind()))
    }

    /// Stateless draft for one context (reads at most its last `window` tokens).
    #[pyo3(signature = (context, max_tokens=8, min_match=1, window=1024))]
    fn draft(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = args::max_tokens)] max_tokens: usize,
        #[pyo3(from_py_with = args::min_match)] min_match: u32,
        #[pyo3(from_py_with = args::window)] window: usize,
    ) -> PyResult<PyDraftTree> {
        let context = tokens_arg(context, "context")?;
        self.inner
            .read(py, Work::Data, |sam| {
                sam.draft_for(&context, max_tokens, min_match, window)
            })
            .map(Into::into)
    }

    /// Drafts for many contexts in one call (a list of token sequences or a 2-D int array, with
    /// optional per-row `lengths` for padded arrays). The GIL is released and large batches run in
    /// parallel.
    #[pyo3(signature = (contexts, max_tokens=8, min_match=1, window=1024, lengths=None))]
    fn draft_batch(
        &self,
        py: Python<'_>,
        contexts: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = args::max_tokens)] max_tokens: usize,
        #[pyo3(from_py_with = args::min_match)] min_match: u32,
        #[pyo3(from_py_with = args::window)] window: usize,
        lengths: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyDraftTree>> {
        let batch = token_batch(contexts, lengths)?;
        self.inner
            .read(py, Work::Data, |sam| {
                map_batch(&batch, |c| sam.draft_for(c, max_tokens, min_match, window))
            })
            .map(draft_list)
    }

    /// Compact bytes (sequences and settings) that `from_bytes` restores.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.inner.read(py, Work::Data, |sam| sam.to_bytes())?;
        Ok(PyBytes::new(py, &data))
    }

    /// Restores an automaton from `to_bytes` output; raises CorruptDataError on bad bytes.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let sam = guarded(py, KIND, Work::Data, || SuffixAutomaton::from_bytes(data))?
            .map_err(map_err)?;
        Ok(Self::wrap(sam))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<BytesReduce<'py>> {
        reduce_via_from_bytes(slf, slf.get().to_bytes(py)?)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.num_tokens(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.read(py, Work::Small, |sam| {
            format!(
                "SuffixAutomaton(num_tokens={}, num_sequences={}, num_states={}, memory_bytes={})",
                sam.num_tokens(),
                sam.num_sequences(),
                sam.num_states(),
                sam.memory_bytes()
            )
        })
    }
}
