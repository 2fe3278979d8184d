//! `NgramTrie`: conversions and locking around [`crate::NgramTrie`].

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};

use super::args;
use super::convert::{token_arg, token_batch, tokens_arg};
use super::draft_tree::{draft_list, PyDraftTree};
use super::errors::map_err;
use super::shared::{draft_work, guarded, Shared, Work};
use super::{map_batch, reduce_via_from_bytes, BytesReduce};
use crate::NgramTrie;

/// Continuation counts for contexts of up to `max_order` tokens, with scored draft trees.
///
/// Thread-safe: any number of threads may query and save at once; a change (`extend`, `push`,
/// removal, capacity) waits for the reads in flight and runs alone. Waiting happens with the GIL
/// released, and no call fails because another thread is busy.
#[pyclass(name = "NgramTrie", module = "specscale._core", frozen)]
pub struct PyNgramTrie {
    inner: Shared<NgramTrie>,
}

const KIND: &str = "NgramTrie";

impl PyNgramTrie {
    fn wrap(trie: NgramTrie) -> Self {
        PyNgramTrie {
            inner: Shared::new(KIND, trie),
        }
    }
}

#[pymethods]
impl PyNgramTrie {
    #[new]
    #[pyo3(signature = (max_order=4, *, capacity_tokens=None))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = args::max_order)] max_order: u32,
        #[pyo3(from_py_with = args::capacity_tokens)] capacity_tokens: Option<usize>,
    ) -> PyResult<Self> {
        let trie = guarded(py, KIND, Work::Small, || {
            let mut trie = NgramTrie::new(max_order)?;
            trie.set_capacity(capacity_tokens).map(|()| trie)
        })?
        .map_err(map_err)?;
        Ok(Self::wrap(trie))
    }

    /// Longest context counted.
    #[getter]
    fn max_order(&self, py: Python<'_>) -> PyResult<u32> {
        self.inner.read(py, Work::Small, |trie| trie.max_order())
    }

    /// Starts a new sequence and returns its id.
    fn begin_sequence(&self, py: Python<'_>) -> PyResult<u64> {
        self.inner
            .write(py, Work::Small, |trie| trie.begin_sequence())?
            .map_err(map_err)
    }

    /// Appends one token to the open sequence.
    fn push(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = token_arg(token, "token")?;
        self.inner
            .write(py, Work::Small, |trie| trie.push(t))?
            .map_err(map_err)
    }

    /// Appends tokens to the open sequence.
    fn extend(&self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        self.inner
            .write(py, Work::Data, |trie| trie.extend(&tokens))?
            .map_err(map_err)
    }

    /// Times `token` followed `context` (at most `max_order` tokens).
    fn count(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
        token: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let context = tokens_arg(context, "context")?;
        let token = token_arg(token, "token")?;
        self.inner
            .read(py, Work::Small, |trie| trie.count(&context, token))?
            .map_err(map_err)
    }

    /// `(token, count)` continuations of `context`, most frequent first.
    fn continuations(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<(u32, u64)>> {
        let context = tokens_arg(context, "context")?;
        self.inner
            .read(py, Work::Data, |trie| trie.continuations(&context))?
            .map_err(map_err)
    }

    /// A best-first draft tree of at most `budget` nodes and `depth` levels, `k` children per node.
    #[pyo3(signature = (context, k=3, depth=4, budget=16))]
    fn top_continuations(
        &self,
        py: Python<'_>,
        context: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = args::k)] k: usize,
        #[pyo3(from_py_with = args::depth)] depth: usize,
        #[pyo3(from_py_with = args::budget)] budget: usize,
    ) -> PyResult<PyDraftTree> {
        let context = tokens_arg(context, "context")?;
        self.inner
            .read(py, draft_work(budget), |trie| {
                trie.top_continuations(&context, k, depth, budget)
            })?
            .map(Into::into)
            .map_err(map_err)
    }

    /// `top_continuations` for many contexts in one call (GIL released, parallel when large).
    #[pyo3(signature = (contexts, k=3, depth=4, budget=16, lengths=None))]
    fn top_continuations_batch(
        &self,
        py: Python<'_>,
        contexts: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = args::k)] k: usize,
        #[pyo3(from_py_with = args::depth)] depth: usize,
        #[pyo3(from_py_with = args::budget)] budget: usize,
        lengths: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyDraftTree>> {
        let batch = token_batch(contexts, lengths)?;
        self.inner
            .read(py, Work::Data, |trie| {
                map_batch(&batch, |c| trie.top_continuations(c, k, depth, budget))
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
            })?
            .map(draft_list)
            .map_err(map_err)
    }

    /// Number of stored tokens.
    #[getter]
    fn num_tokens(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.read(py, Work::Small, |trie| trie.num_tokens())
    }

    /// Number of trie nodes.
    #[getter]
    fn num_nodes(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.read(py, Work::Small, |trie| trie.num_nodes())
    }

    /// Ids of the live sequences, oldest first.
    fn sequence_ids(&self, py: Python<'_>) -> PyResult<Vec<u64>> {
        self.inner.read(py, Work::Small, |trie| {
            trie.log().sequences().iter().map(|s| s.id).collect()
        })
    }

    /// Heap bytes used.
    fn memory_bytes(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.read(py, Work::Small, |trie| trie.memory_bytes())
    }

    /// Releases the spare capacity arrays keep while they grow.
    fn shrink_to_fit(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .write(py, Work::Data, |trie| trie.shrink_to_fit())
    }

    /// Removes a live sequence, subtracting its counts exactly.
    fn remove_sequence(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::seq_id)] seq_id: u64,
    ) -> PyResult<()> {
        self.inner
            .write(py, Work::Data, |trie| trie.remove_sequence(seq_id))?
            .map_err(map_err)
    }

    /// Removes every sequence.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.write(py, Work::Data, |trie| trie.clear())
    }

    /// Bounds the stored tokens; the oldest sequences are evicted past the bound.
    #[pyo3(signature = (tokens=None))]
    fn set_capacity(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::tokens)] tokens: Option<usize>,
    ) -> PyResult<()> {
        self.inner
            .write(py, Work::Data, |trie| trie.set_capacity(tokens))?
            .map_err(map_err)
    }

    /// Compact bytes that `from_bytes` restores.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.inner.read(py, Work::Data, |trie| trie.to_bytes())?;
        Ok(PyBytes::new(py, &data))
    }

    /// Restores a trie from `to_bytes` output; raises CorruptDataError on bad bytes.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let trie =
            guarded(py, KIND, Work::Data, || NgramTrie::from_bytes(data))?.map_err(map_err)?;
        Ok(Self::wrap(trie))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<BytesReduce<'py>> {
        reduce_via_from_bytes(slf, slf.get().to_bytes(py)?)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.num_tokens(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.read(py, Work::Small, |trie| {
            format!(
                "NgramTrie(max_order={}, num_tokens={}, num_nodes={}, memory_bytes={})",
                trie.max_order(),
                trie.num_tokens(),
                trie.num_nodes(),
                trie.memory_bytes()
            )
        })
    }
}
