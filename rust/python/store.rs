//! `Store`: conversions and locking around [`crate::Store`] (request, family and global scopes).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};

use super::args;
use super::convert::{token_arg, tokens_arg};
use super::cursor::PyStoreCursor;
use super::draft_tree::PyDraftTree;
use super::errors::map_err;
use super::shared::{draft_work, guarded, Shared, Work};
use super::{reduce_via_from_bytes, BytesReduce};
use crate::{Scope, Store};

/// Request, family and global scopes, each a suffix automaton and an n-gram trie.
///
/// Thread-safe, as one unit: any number of threads (a serving engine's workers) may draft, query and
/// save at once; a change to any scope waits for the reads in flight and runs alone. Waiting
/// happens with the GIL released, and no call fails because another thread is busy.
#[pyclass(name = "Store", module = "specscale._core", frozen)]
pub struct PyStore {
    pub(crate) inner: Shared<Store>,
}

const KIND: &str = "Store";

impl PyStore {
    fn wrap(store: Store) -> Self {
        PyStore {
            inner: Shared::new(KIND, store),
        }
    }
}

#[pymethods]
impl PyStore {
    #[new]
    #[pyo3(signature = (max_order=4, *, counts=false))]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = args::max_order)] max_order: u32,
        counts: bool,
    ) -> PyResult<Self> {
        let store =
            guarded(py, KIND, Work::Small, || Store::new(max_order, counts))?.map_err(map_err)?;
        Ok(Self::wrap(store))
    }

    /// Starts a sequence in `scope` ('request', 'family' or 'global') and returns its id.
    #[pyo3(signature = (scope="request"))]
    fn begin_sequence(&self, py: Python<'_>, scope: &str) -> PyResult<u64> {
        let scope = args::scope(scope)?;
        self.inner
            .write(py, Work::Small, |store| store.begin_sequence(scope))?
            .map_err(map_err)
    }

    /// Appends one token to the open sequence of `scope`.
    #[pyo3(signature = (token, scope="request"))]
    fn push(&self, py: Python<'_>, token: &Bound<'_, PyAny>, scope: &str) -> PyResult<()> {
        let t = token_arg(token, "token")?;
        let scope = args::scope(scope)?;
        self.inner
            .write(py, Work::Small, |store| store.push(scope, t))?
            .map_err(map_err)
    }

    /// Appends tokens to the open sequence of `scope`.
    #[pyo3(signature = (tokens, scope="request"))]
    fn extend(&self, py: Python<'_>, tokens: &Bound<'_, PyAny>, scope: &str) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        let scope = args::scope(scope)?;
        self.inner
            .write(py, Work::Data, |store| store.extend(scope, &tokens))?
            .map_err(map_err)
    }

    /// Removes the sequence `seq_id` (its scope is part of the id).
    fn remove_sequence(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::seq_id)] seq_id: u64,
    ) -> PyResult<()> {
        self.inner
            .write(py, Work::Data, |store| store.remove_sequence(seq_id))?
            .map_err(map_err)
    }

    /// Removes every sequence of `scope`.
    fn clear(&self, py: Python<'_>, scope: &str) -> PyResult<()> {
        let scope = args::scope(scope)?;
        self.inner.write(py, Work::Data, |store| store.clear(scope))
    }

    /// Bounds `scope` to `tokens` tokens and/or `bytes` bytes, evicting its oldest sequences.
    #[pyo3(signature = (scope, tokens=None, bytes=None))]
    fn set_capacity(
        &self,
        py: Python<'_>,
        scope: &str,
        #[pyo3(from_py_with = args::tokens)] tokens: Option<usize>,
        #[pyo3(from_py_with = args::bytes)] bytes: Option<usize>,
    ) -> PyResult<()> {
        let scope = args::scope(scope)?;
        self.inner
            .write(py, Work::Data, |store| {
                store.set_capacity(scope, tokens, bytes)
            })?
            .map_err(map_err)
    }

    /// Tokens stored in `scope`, or in all scopes.
    #[pyo3(signature = (scope=None))]
    fn num_tokens(&self, py: Python<'_>, scope: Option<&str>) -> PyResult<usize> {
        let scope = scope.map(args::scope).transpose()?;
        self.inner.read(py, Work::Small, |store| match scope {
            Some(s) => store.num_tokens(s),
            None => Scope::ALL.iter().map(|&s| store.num_tokens(s)).sum(),
        })
    }

    /// Heap bytes of `scope`, or of all scopes.
    #[pyo3(signature = (scope=None))]
    fn memory_bytes(&self, py: Python<'_>, scope: Option<&str>) -> PyResult<usize> {
        let scope = scope.map(args::scope).transpose()?;
        self.inner.read(py, Work::Small, |store| match scope {
            Some(s) => store.scope_memory_bytes(s),
            None => store.memory_bytes(),
        })
    }

    /// The longest context the tries count continuations of.
    #[getter]
    fn max_order(&self, py: Python<'_>) -> PyResult<u32> {
        self.inner.read(py, Work::Small, |store| store.max_order())
    }

    /// Whether the automata keep occurrence counts (needed by `StoreCursor.frequency_tree`).
    #[getter]
    fn has_counts(&self, py: Python<'_>) -> PyResult<bool> {
        self.inner.read(py, Work::Small, |store| store.has_counts())
    }

    /// Ids of the sequences of `scope`, oldest first.
    fn sequence_ids(&self, py: Python<'_>, scope: &str) -> PyResult<Vec<u64>> {
        let scope = args::scope(scope)?;
        self.inner
            .read(py, Work::Small, |store| store.sequence_ids(scope))
    }

    /// The tokens of sequence `seq_id`.
    fn sequence(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::seq_id)] seq_id: u64,
    ) -> PyResult<Vec<u32>> {
        self.inner
            .read(py, Work::Data, |store| {
                store.sequence(seq_id).map(<[u32]>::to_vec)
            })?
            .map_err(map_err)
    }

    /// Moves every sequence of `from_scope` into `to_scope` (under its capacity); `from_scope` ends empty.
    fn promote(&self, py: Python<'_>, from_scope: &str, to_scope: &str) -> PyResult<()> {
        let (from, to) = (args::scope(from_scope)?, args::scope(to_scope)?);
        self.inner
            .write(py, Work::Data, |store| store.promote(from, to))?
            .map_err(map_err)
    }

    /// Closes the open sequence of `scope`: the next `extend` starts a new one.
    fn close_sequence(&self, py: Python<'_>, scope: &str) -> PyResult<()> {
        let scope = args::scope(scope)?;
        self.inner
            .write(py, Work::Small, |store| store.close_sequence(scope))
    }

    /// A scored draft tree continuing `context` from the tries of every scope, counts summed.
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
            .read(py, draft_work(budget), |store| {
                store.top_continuations(&context, k, depth, budget)
            })?
            .map(Into::into)
            .map_err(map_err)
    }

    /// A cursor following one context through every scope.
    fn cursor(slf: &Bound<'_, Self>) -> PyResult<PyStoreCursor> {
        let cursor = slf
            .get()
            .inner
            .read(slf.py(), Work::Small, |store| store.cursor())?;
        Ok(PyStoreCursor::new(cursor, slf.clone().unbind()))
    }

    /// Compact bytes that `from_bytes` restores.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.inner.read(py, Work::Data, |store| store.to_bytes())?;
        Ok(PyBytes::new(py, &data))
    }

    /// Restores a store from `to_bytes` output; raises CorruptDataError on bad bytes.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let store = guarded(py, KIND, Work::Data, || Store::from_bytes(data))?.map_err(map_err)?;
        Ok(Self::wrap(store))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<BytesReduce<'py>> {
        reduce_via_from_bytes(slf, slf.get().to_bytes(py)?)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.read(py, Work::Small, |store| {
            let sizes: Vec<String> = Scope::ALL
                .iter()
                .map(|&s| format!("{}={}", s.name(), store.num_tokens(s)))
                .collect();
            format!(
                "Store({}, memory_bytes={})",
                sizes.join(", "),
                store.memory_bytes()
            )
        })
    }
}
