//! Bindings of [`crate::family::BatchStore`] as `BatchDrafter`: conversions and GIL release only.
//!
//! `step` reads the engine's token array in place (no copy of the batch): a C-contiguous 2-D numpy
//! array of int32 (vLLM's `token_ids_cpu`), int64 or uint32 is borrowed, each row is sliced to its
//! length, and the core only reads the tokens it needs with the GIL released.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList};

use super::args::in_range;
use super::errors::{invalid_arg, map_err};

/// A count argument: an int from 0 up.
fn non_negative(name: &str, value: i64) -> PyResult<usize> {
    in_range(name, value, 0, i128::from(i64::MAX)).map(|v| v as usize)
}
use crate::family::{BatchConfig, BatchStore, DraftLength, DraftMethod, Row, TokenRow};

/// Registers the classes of this file on the extension module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBatchDrafter>()
}

/// Drafts for every row of an inference engine's batch (vLLM's proposer interface), tracking requests
/// from the rows' content, with the samples of a prompt sharing a family store.
#[pyclass(name = "BatchDrafter", module = "specscale._core")]
pub struct PyBatchDrafter {
    inner: BatchStore,
}

/// The engine's token array, borrowed for one step.
enum Batch<'py> {
    I32(numpy::PyReadonlyArray2<'py, i32>),
    I64(numpy::PyReadonlyArray2<'py, i64>),
    U32(numpy::PyReadonlyArray2<'py, u32>),
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

impl<'py> Batch<'py> {
    fn borrow(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        let py = obj.py();
        let mut arr = obj.clone();
        if !arr.is_instance_of::<PyUntypedArray>() {
            // A torch CPU tensor shares its memory with .numpy(); anything else is converted.
            arr = if arr.hasattr("numpy")? && arr.hasattr("detach")? {
                arr.call_method0("detach")?.call_method0("numpy")?
            } else {
                return Err(PyTypeError::new_err(format!(
                    "token_ids has type {}; expected a 2-D integer numpy array (or torch CPU tensor)",
                    type_name(obj)
                )));
            };
        }
        let (shape, contiguous, dtype) = {
            let untyped = arr
                .cast::<PyUntypedArray>()
                .map_err(|e| PyTypeError::new_err(e.to_string()))?;
            let dtype = untyped
                .dtype()
                .str()
                .map(|s| s.to_string())
                .unwrap_or_default();
            (untyped.shape().to_vec(), untyped.is_c_contiguous(), dtype)
        };
        if shape.len() != 2 {
            return Err(invalid_arg(format!(
                "token_ids has shape {shape:?}; expected a 2-D array (rows, tokens)"
            )));
        }
        if !contiguous {
            arr = py
                .import("numpy")?
                .call_method1("ascontiguousarray", (arr,))?;
        }
        if let Ok(a) = arr.cast::<PyArray2<i32>>() {
            return Ok(Batch::I32(a.readonly()));
        }
        if let Ok(a) = arr.cast::<PyArray2<i64>>() {
            return Ok(Batch::I64(a.readonly()));
        }
        if let Ok(a) = arr.cast::<PyArray2<u32>>() {
            return Ok(Batch::U32(a.readonly()));
        }
        Err(PyTypeError::new_err(format!(
            "token_ids has dtype {dtype}; expected int32, int64 or uint32"
        )))
    }

    fn shape(&self) -> (usize, usize) {
        let s = match self {
            Batch::I32(a) => a.shape(),
            Batch::I64(a) => a.shape(),
            Batch::U32(a) => a.shape(),
        };
        (s[0], s[1])
    }

    /// Row `r` cut to its first `n` tokens.
    fn row(&self, r: usize, n: usize) -> TokenRow<'_> {
        let cols = self.shape().1;
        let span = r * cols..r * cols + n;
        let flat = "token_ids is C-contiguous (made so in borrow)";
        match self {
            Batch::I32(a) => TokenRow::I32(&a.as_slice().expect(flat)[span]),
            Batch::I64(a) => TokenRow::I64(&a.as_slice().expect(flat)[span]),
            Batch::U32(a) => TokenRow::U32(&a.as_slice().expect(flat)[span]),
        }
    }
}

/// The first `count` entries of a 1-D integer sequence (numpy array, tensor or list).
fn int_prefix(obj: &Bound<'_, PyAny>, name: &str, count: usize) -> PyResult<Vec<i64>> {
    if let Ok(a) = obj.cast::<PyArray1<i32>>() {
        let ro = a.readonly();
        let v = ro.as_array();
        return check_len(name, v.len(), count)
            .map(|_| v.iter().take(count).map(|&x| i64::from(x)).collect());
    }
    if let Ok(a) = obj.cast::<PyArray1<i64>>() {
        let ro = a.readonly();
        let v = ro.as_array();
        return check_len(name, v.len(), count).map(|_| v.iter().take(count).copied().collect());
    }
    let len = obj.len().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} has type {}; expected a 1-D sequence of integers",
            type_name(obj)
        ))
    })?;
    check_len(name, len, count)?;
    (0..count)
        .map(|i| {
            obj.get_item(i)?
                .extract::<i64>()
                .map_err(|_| PyTypeError::new_err(format!("{name}[{i}] is not an integer")))
        })
        .collect()
}

fn check_len(name: &str, len: usize, count: usize) -> PyResult<()> {
    if len < count {
        return Err(invalid_arg(format!(
            "{name} has {len} entries for a batch of {count} rows"
        )));
    }
    Ok(())
}

/// Tokens sampled per row: each item is a count, or the list of sampled tokens (its length counts).
fn sampled_counts(obj: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let iter = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "sampled has type {}; expected a list of per-row sampled token lists (or counts)",
            type_name(obj)
        ))
    })?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item?;
        let n = if item.is_instance_of::<PyInt>() {
            non_negative(&format!("sampled[{i}]"), item.extract::<i64>()?)?
        } else {
            item.len().map_err(|_| {
                PyTypeError::new_err(format!(
                    "sampled[{i}] has type {}; expected a list of token ids or a count",
                    type_name(&item)
                ))
            })?
        };
        out.push(n);
    }
    Ok(out)
}

#[pymethods]
impl PyBatchDrafter {
    #[new]
    #[pyo3(signature = (
        *, method="sam", max_tokens=8, min_match=1, max_order=4, hybrid_threshold=5, adaptive=true,
        min_tokens=1, grow=8, shrink_to_accepted=4, match_factor=4, share_family=true,
        family_capacity_tokens=4194304, global_capacity_tokens=1048576, grace_steps=8
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        method: &str,
        max_tokens: i64,
        min_match: i64,
        max_order: i64,
        hybrid_threshold: i64,
        adaptive: bool,
        min_tokens: i64,
        grow: i64,
        shrink_to_accepted: i64,
        match_factor: i64,
        share_family: bool,
        family_capacity_tokens: i64,
        global_capacity_tokens: i64,
        grace_steps: i64,
    ) -> PyResult<Self> {
        let small = |name: &str, v: i64| -> PyResult<u32> {
            in_range(name, v, 0, i128::from(u32::MAX)).map(|v| v as u32)
        };
        let config = BatchConfig {
            method: DraftMethod::from_name(method).map_err(map_err)?,
            max_tokens: non_negative("max_tokens", max_tokens)?,
            min_match: small("min_match", min_match)?,
            max_order: small("max_order", max_order)?,
            hybrid_threshold: small("hybrid_threshold", hybrid_threshold)?,
            length: DraftLength {
                adaptive,
                min_tokens: non_negative("min_tokens", min_tokens)?,
                grow: non_negative("grow", grow)?,
                shrink_to_accepted: non_negative("shrink_to_accepted", shrink_to_accepted)?,
                match_factor: non_negative("match_factor", match_factor)?,
            },
            share_family,
            family_capacity_tokens: non_negative("family_capacity_tokens", family_capacity_tokens)?,
            global_capacity_tokens: non_negative("global_capacity_tokens", global_capacity_tokens)?,
            grace_steps: non_negative("grace_steps", grace_steps)? as u64,
        };
        Ok(PyBatchDrafter {
            inner: BatchStore::new(config).map_err(map_err)?,
        })
    }

    /// One engine step: drafts (lists of token ids, possibly empty) for the first `len(sampled)` rows.
    #[pyo3(signature = (sampled, num_tokens, token_ids, max_tokens=None))]
    fn step(
        &mut self,
        py: Python<'_>,
        sampled: &Bound<'_, PyAny>,
        num_tokens: &Bound<'_, PyAny>,
        token_ids: &Bound<'_, PyAny>,
        max_tokens: Option<i64>,
    ) -> PyResult<Vec<Vec<u32>>> {
        let sampled = sampled_counts(sampled)?;
        let batch = Batch::borrow(token_ids)?;
        let (rows, cols) = batch.shape();
        if sampled.len() > rows {
            return Err(invalid_arg(format!(
                "sampled has {} rows but token_ids has only {rows}",
                sampled.len()
            )));
        }
        let lengths = int_prefix(num_tokens, "num_tokens", sampled.len())?;
        let limit = match max_tokens {
            None => usize::MAX,
            Some(k) => non_negative("max_tokens", k)?,
        };
        let mut view = Vec::with_capacity(sampled.len());
        for (i, (&n, &s)) in lengths.iter().zip(&sampled).enumerate() {
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n <= cols)
                .ok_or_else(|| {
                    invalid_arg(format!(
                        "num_tokens[{i}] = {n}; expected 0..={cols} (the width of token_ids)"
                    ))
                })?;
            view.push(Row {
                tokens: batch.row(i, n),
                sampled: s,
            });
        }
        let inner = &mut self.inner;
        py.detach(|| inner.step(&view, limit)).map_err(map_err)
    }

    /// Ends every tracked request: its text moves into its family and the global scope.
    fn finish_all(&mut self, py: Python<'_>) {
        let inner = &mut self.inner;
        py.detach(|| inner.finish_all())
    }

    /// Tracked (live) requests.
    #[getter]
    fn num_requests(&self) -> usize {
        self.inner.num_requests()
    }

    /// Families held, with or without live members.
    #[getter]
    fn num_families(&self) -> usize {
        self.inner.num_families()
    }

    /// Tokens held by the families (prompts and finished members' text).
    #[getter]
    fn family_tokens(&self) -> usize {
        self.inner.family_tokens()
    }

    /// Tokens held by the live requests' own texts.
    #[getter]
    fn request_tokens(&self) -> usize {
        self.inner.request_tokens()
    }

    /// Tokens in the global scope.
    #[getter]
    fn global_tokens(&self) -> usize {
        self.inner.global_tokens()
    }

    /// Heap bytes of the stored text and structures.
    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    /// `(family, rank, tokens)` of every tracked request.
    fn requests(&self) -> Vec<(usize, u32, usize)> {
        self.inner.requests()
    }

    /// Counters since creation: steps, requests started/finished, families created/evicted/joined, and
    /// per family rank (0 = the first request of its family) steps, tokens, drafts, drafted, accepted.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("steps", s.steps)?;
        d.set_item("requests_started", s.requests_started)?;
        d.set_item("requests_finished", s.requests_finished)?;
        d.set_item("families_created", s.families_created)?;
        d.set_item("families_evicted", s.families_evicted)?;
        d.set_item("family_joins", s.family_joins)?;
        let used = s
            .by_rank
            .iter()
            .rposition(|r| r.steps > 0)
            .map_or(0, |i| i + 1);
        let ranks = PyList::empty(py);
        for r in &s.by_rank[..used] {
            let e = PyDict::new(py);
            e.set_item("steps", r.steps)?;
            e.set_item("tokens", r.tokens)?;
            e.set_item("drafts", r.drafts)?;
            e.set_item("drafted", r.drafted)?;
            e.set_item("accepted", r.accepted)?;
            ranks.append(e)?;
        }
        d.set_item("by_rank", ranks)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "BatchDrafter(method={:?}, max_tokens={}, requests={}, families={})",
            match c.method {
                DraftMethod::Automaton => "sam",
                DraftMethod::Trie => "trie",
                DraftMethod::Hybrid => "hybrid",
            },
            c.max_tokens,
            self.inner.num_requests(),
            self.inner.num_families()
        )
    }
}
