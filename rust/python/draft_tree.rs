//! `DraftTree`: the one draft type, immutable once built (so threads share it freely).

use numpy::PyArray1;
use pyo3::prelude::*;

use super::args::{self, MAX_DRAFT_NODES};
use super::convert::{ints_arg, tokens_arg, Ints};
use super::errors::{invalid_arg, map_err};
use super::shared::{guarded, Work};
use crate::DraftTree;

/// What `DraftTree.__reduce__` returns: the class and its constructor arguments.
type DraftTreeReduce<'py> = (Bound<'py, PyAny>, (Vec<u32>, Vec<i32>, Vec<f32>, u32));

/// Draft tokens arranged as a tree hanging off the last context token (a chain is one branch).
///
/// Immutable: any number of threads may read one.
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

/// Wraps the drafts of a batch.
pub fn draft_list(drafts: Vec<DraftTree>) -> Vec<PyDraftTree> {
    drafts.into_iter().map(Into::into).collect()
}

#[pymethods]
impl PyDraftTree {
    #[new]
    #[pyo3(signature = (tokens, parents=None, scores=None, match_length=0))]
    fn new(
        py: Python<'_>,
        tokens: &Bound<'_, PyAny>,
        parents: Option<&Bound<'_, PyAny>>,
        scores: Option<Vec<f32>>,
        #[pyo3(from_py_with = args::match_length)] match_length: u32,
    ) -> PyResult<Self> {
        let tokens = tokens_arg(tokens, "tokens")?;
        if tokens.len() as i128 > MAX_DRAFT_NODES {
            return Err(invalid_arg(format!(
                "tokens must hold at most 2**31 - 1 draft nodes, got {}",
                tokens.len()
            )));
        }
        let parents: Vec<i32> = match parents {
            Some(p) => ints_arg(p, "parents", Ints::Range(-1, MAX_DRAFT_NODES - 1))?,
            None => (-1..tokens.len() as i32 - 1).collect(),
        };
        let mut inner = guarded(py, "DraftTree", Work::Small, || {
            DraftTree::new(tokens, parents, scores)
        })?
        .map_err(map_err)?;
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
    fn chain(py: Python<'_>, tokens: &Bound<'_, PyAny>) -> PyResult<Self> {
        Self::new(py, tokens, None, None, 0)
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
