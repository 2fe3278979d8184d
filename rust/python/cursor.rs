//! `Cursor` and `StoreCursor`: a live context followed through a shared structure.
//!
//! A cursor's position is its own (behind a mutex: one call at a time per cursor); the structure it
//! follows is read under the structure's lock, so a cursor advances and drafts while other threads
//! read the same structure, and waits (GIL released) while one writes to it.

use std::sync::Mutex;

use pyo3::prelude::*;

use super::args;
use super::automaton::PySuffixAutomaton;
use super::convert::{token_arg, tokens_arg};
use super::draft_tree::PyDraftTree;
use super::errors::map_err;
use super::shared::{draft_work, Work};
use super::store::PyStore;
use crate::{Cursor, StoreCursor};

/// Follows a live context through a SuffixAutomaton, one token at a time.
///
/// Thread-safe: calls on one cursor run one at a time; they read the automaton alongside other
/// readers and wait (GIL released) while another thread changes it.
#[pyclass(name = "Cursor", module = "specscale._core", frozen)]
pub struct PyCursor {
    cursor: Mutex<Cursor>,
    sam: Py<PySuffixAutomaton>,
}

impl PyCursor {
    pub(crate) fn new(cursor: Cursor, sam: Py<PySuffixAutomaton>) -> Self {
        PyCursor {
            cursor: Mutex::new(cursor),
            sam,
        }
    }

    /// Runs `f` on this cursor and its automaton (see `Shared::read_with`).
    fn with<R: Send>(
        &self,
        py: Python<'_>,
        work: Work,
        f: impl FnOnce(&mut Cursor, &crate::SuffixAutomaton) -> R + Send,
    ) -> PyResult<R> {
        self.sam.get().inner.read_with(py, &self.cursor, work, f)
    }
}

#[pymethods]
impl PyCursor {
    /// Appends one token to the context. Amortized O(1).
    fn advance(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = token_arg(token, "token")?;
        self.with(py, Work::Small, |c, sam| c.advance(sam, t))
    }

    /// Appends tokens to the context.
    fn extend(&self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        self.with(py, Work::Data, |c, sam| c.extend(sam, &tokens))
    }

    /// Length of the longest suffix of the context that occurs in the automaton.
    #[getter]
    fn match_length(&self, py: Python<'_>) -> PyResult<u32> {
        self.with(py, Work::Small, |c, _| c.match_length())
    }

    /// Forgets the context.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, Work::Small, |c, sam| c.reset(sam))
    }

    /// A chain of up to `max_tokens` tokens continuing the longest matched suffix that has a
    /// continuation (at least `min_match` long), by `policy`: 'recent' (the most recent occurrence),
    /// 'frequent' (the most frequent continuation, needs counts) or 'earliest' (the first occurrence).
    #[pyo3(signature = (max_tokens=8, min_match=1, policy="recent"))]
    fn draft(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::max_tokens)] max_tokens: usize,
        #[pyo3(from_py_with = args::min_match)] min_match: u32,
        policy: &str,
    ) -> PyResult<PyDraftTree> {
        let policy = args::policy(policy)?;
        self.with(py, draft_work(max_tokens), |c, sam| {
            c.draft_with(sam, max_tokens, min_match, policy)
        })?
        .map(Into::into)
        .map_err(map_err)
    }

    /// A best-first draft tree (at most `budget` nodes, `depth` levels, `k` children per node) over the
    /// continuations of the longest matched suffix, scored by occurrence counts (needs an automaton built
    /// with `counts=True`; otherwise the most-recent chain).
    #[pyo3(signature = (k=3, depth=8, budget=32, min_match=1))]
    fn draft_tree(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::k)] k: usize,
        #[pyo3(from_py_with = args::depth)] depth: usize,
        #[pyo3(from_py_with = args::budget)] budget: usize,
        #[pyo3(from_py_with = args::min_match)] min_match: u32,
    ) -> PyResult<PyDraftTree> {
        self.with(py, draft_work(budget), |c, sam| {
            c.draft_tree(sam, k, depth, budget, min_match)
        })?
        .map(Into::into)
        .map_err(map_err)
    }

    /// The automaton this cursor follows.
    #[getter]
    fn automaton(&self, py: Python<'_>) -> Py<PySuffixAutomaton> {
        self.sam.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Cursor(match_length={})", self.match_length(py)?))
    }
}

/// Follows one context through every scope of a Store.
///
/// Thread-safe like `Cursor`: calls on one cursor run one at a time, reading the store alongside
/// other readers and waiting (GIL released) while another thread changes it.
#[pyclass(name = "StoreCursor", module = "specscale._core", frozen)]
pub struct PyStoreCursor {
    cursor: Mutex<StoreCursor>,
    store: Py<PyStore>,
}

impl PyStoreCursor {
    pub(crate) fn new(cursor: StoreCursor, store: Py<PyStore>) -> Self {
        PyStoreCursor {
            cursor: Mutex::new(cursor),
            store,
        }
    }

    fn with<R: Send>(
        &self,
        py: Python<'_>,
        work: Work,
        f: impl FnOnce(&mut StoreCursor, &crate::Store) -> R + Send,
    ) -> PyResult<R> {
        self.store.get().inner.read_with(py, &self.cursor, work, f)
    }
}

#[pymethods]
impl PyStoreCursor {
    /// Appends one token to the context.
    fn advance(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = token_arg(token, "token")?;
        self.with(py, Work::Small, |c, store| c.advance(store, t))
    }

    /// Appends tokens to the context.
    fn extend(&self, py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<()> {
        let tokens = tokens_arg(tokens, "tokens")?;
        self.with(py, Work::Data, |c, store| c.extend(store, &tokens))
    }

    /// Longest suffix of the context found in any scope.
    #[getter]
    fn match_length(&self, py: Python<'_>) -> PyResult<u32> {
        self.with(py, Work::Small, |c, _| c.match_length())
    }

    /// The scope ('request', 'family' or 'global') the last `draft` came from; None after an empty one.
    #[getter]
    fn last_draft_scope(&self, py: Python<'_>) -> PyResult<Option<&'static str>> {
        self.with(py, Work::Small, |c, _| {
            c.last_draft_scope().map(crate::store::Scope::name)
        })
    }

    /// The automaton chain draft with the longest continued match across scopes; a global-scope
    /// draft must beat the others' match by more than `global_bias` tokens.
    #[pyo3(signature = (max_tokens=8, min_match=1, policy="recent", global_bias=0))]
    fn draft(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::max_tokens)] max_tokens: usize,
        #[pyo3(from_py_with = args::min_match)] min_match: u32,
        policy: &str,
        #[pyo3(from_py_with = args::global_bias)] global_bias: u32,
    ) -> PyResult<PyDraftTree> {
        let policy = args::policy(policy)?;
        self.with(py, draft_work(max_tokens), |c, store| {
            c.draft_biased(store, max_tokens, min_match, policy, global_bias)
        })?
        .map(Into::into)
        .map_err(map_err)
    }

    /// A frequency-scored draft tree from the scope whose continued match is longest (a store
    /// built with counts).
    #[pyo3(signature = (k=3, depth=8, budget=32, min_match=1))]
    fn frequency_tree(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::k)] k: usize,
        #[pyo3(from_py_with = args::depth)] depth: usize,
        #[pyo3(from_py_with = args::budget)] budget: usize,
        #[pyo3(from_py_with = args::min_match)] min_match: u32,
    ) -> PyResult<PyDraftTree> {
        self.with(py, draft_work(budget), |c, store| {
            c.frequency_tree(store, k, depth, budget, min_match)
        })?
        .map(Into::into)
        .map_err(map_err)
    }

    /// A draft tree from the trie counts of all scopes summed.
    #[pyo3(signature = (k=3, depth=4, budget=16))]
    fn draft_tree(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = args::k)] k: usize,
        #[pyo3(from_py_with = args::depth)] depth: usize,
        #[pyo3(from_py_with = args::budget)] budget: usize,
    ) -> PyResult<PyDraftTree> {
        self.with(py, draft_work(budget), |c, store| {
            c.draft_tree(store, k, depth, budget)
        })?
        .map(Into::into)
        .map_err(map_err)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "StoreCursor(match_length={})",
            self.match_length(py)?
        ))
    }
}
