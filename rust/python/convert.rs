//! Python -> core conversion of token ids: the one path every token-taking call goes through.
//!
//! A token sequence is exactly one of:
//! - a Python sequence or iterable of ints (`list`, `tuple`, `range`, a generator, ...): each item an
//!   `int` (not a `bool`) or a numpy integer scalar;
//! - a 1-D numpy array of any integer dtype, any byte order, any strides (not a masked array);
//! - a 1-D torch CPU tensor of an integer dtype (found by duck typing: torch is never imported).
//!
//! Everything else is a `TypeError` naming the type: 0-d arrays and tensors, bool values and arrays,
//! float values and arrays, `str`, bytes-likes (`bytes`, `bytearray`, `memoryview`), sets and mappings
//! (their order is not the caller's), single ints. A token id below 0 is an `InvalidTokenError`, one of
//! `2**32` or more a `TokenOverflowError`, each naming the index. One call takes at most
//! [`MAX_TOKENS_PER_CALL`] tokens (`SizeLimitError` otherwise), checked before anything is allocated:
//! the length of a list, tuple, range or array is trusted, that of any other iterable is never read
//! (it may lie); such iterables are read item by item, and an exception they raise propagates as is.
//!
//! Conversion always finishes before a structure is touched, so a call that fails here changes
//! nothing.

use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyByteArray, PyBytes, PyDict, PyFrozenSet, PyInt, PyList, PyMemoryView, PyRange, PySet,
    PyString, PyTuple, PyType,
};

use super::args::{describe, describe_bound, int_value};
use super::errors::{invalid_arg, invalid_token, size_limit, token_overflow};

/// The most token ids one call takes. A structure addresses its tokens with `u32` positions, so no
/// call could store more; refusing earlier means no input can make the conversion allocate without
/// bound (`SuffixAutomaton().extend(range(2**40))` is a `SizeLimitError`, not an abort).
pub const MAX_TOKENS_PER_CALL: usize = 1 << 32;

/// What the items of an integer sequence must be.
#[derive(Clone, Copy)]
pub enum Ints {
    /// Token ids: `0..2**32`, bad ones raise `InvalidTokenError`/`TokenOverflowError`.
    Tokens,
    /// Integers in `lo..=hi`; others raise `InvalidArgumentError`.
    Range(i128, i128),
}

impl Ints {
    fn bounds(self) -> (i128, i128) {
        match self {
            Ints::Tokens => (0, u32::MAX as i128),
            Ints::Range(lo, hi) => (lo, hi),
        }
    }

    /// Converts one value (`shown` is how the message prints it), naming `place` on failure.
    #[inline]
    fn check<T: TryFrom<i128>>(
        self,
        v: i128,
        place: impl FnOnce() -> String,
        shown: impl FnOnce() -> String,
    ) -> PyResult<T> {
        let (lo, hi) = self.bounds();
        if (lo..=hi).contains(&v) {
            if let Ok(t) = T::try_from(v) {
                return Ok(t);
            }
        }
        let expected = format!("between {} and {}", describe_bound(lo), describe_bound(hi));
        let (place, shown) = (place(), shown());
        Err(match self {
            Ints::Tokens if v < lo => invalid_token(format!(
                "{place} must be a token id {expected}, got {shown}"
            )),
            Ints::Tokens => token_overflow(format!(
                "{place} must be a token id {expected}, got {shown} (does not fit in 32 bits)"
            )),
            Ints::Range(..) => invalid_arg(format!("{place} must be {expected}, got {shown}")),
        })
    }

    fn what(self) -> &'static str {
        match self {
            Ints::Tokens => "an int token id",
            Ints::Range(..) => "an int",
        }
    }

    /// One Python item: an `int` (not a `bool`) or a numpy integer scalar.
    fn item<T: TryFrom<i128>>(
        self,
        item: &Bound<'_, PyAny>,
        place: impl FnOnce() -> String,
    ) -> PyResult<T> {
        match int_value(item) {
            Some(Ok(Some(v))) => self.check(v, place, || v.to_string()),
            // Beyond i128: out of every range, on the side of its sign.
            Some(Ok(None)) => {
                let negative = item.lt(0).unwrap_or(false);
                let v = if negative { i128::MIN } else { i128::MAX };
                self.check(v, place, || repr(item))
            }
            Some(Err(e)) => Err(e),
            None => Err(PyTypeError::new_err(format!(
                "{} must be {}, got {}",
                place(),
                self.what(),
                describe(item)
            ))),
        }
    }
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr().map(|r| r.to_string()).unwrap_or_default()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    let t = obj.get_type();
    let name = t
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    match t.module().map(|m| m.to_string()) {
        Ok(m) if m != "builtins" => format!("{}.{name}", m.split('.').next().unwrap_or(&m)),
        _ => name,
    }
}

/// One token id argument (`push`, `advance`, `count`).
pub fn token_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u32> {
    Ints::Tokens.item(obj, || name.to_string())
}

fn too_many(name: &str, n: impl std::fmt::Display) -> PyErr {
    size_limit(format!(
        "{name} must hold at most 2**32 items per call, got {n}"
    ))
}

// --------------------------------------------------------------------------------------- arrays

/// An array argument after its checks: native byte order, aligned, integer dtype.
struct IntArray<'py> {
    array: Bound<'py, PyUntypedArray>,
    shape: Vec<usize>,
}

fn masked_array_type(py: Python<'_>) -> Option<&Bound<'_, PyType>> {
    static MASKED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    MASKED.import(py, "numpy.ma", "MaskedArray").ok()
}

/// Whether `obj` looks like a torch tensor (checked without importing torch).
fn is_torch_tensor(obj: &Bound<'_, PyAny>) -> bool {
    obj.get_type().module().is_ok_and(|m| {
        m.to_str()
            .is_ok_and(|m| m == "torch" || m.starts_with("torch."))
    }) && obj.hasattr("numpy").unwrap_or(false)
        && obj.hasattr("device").unwrap_or(false)
}

/// `obj` as an integer array of `ndim` dimensions, if it is a numpy array or a torch tensor;
/// `Ok(None)` if it is neither. `expected` says what the argument takes, for messages.
fn int_array<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    ndim: usize,
    expected: &str,
) -> PyResult<Option<IntArray<'py>>> {
    let py = obj.py();
    let source = || type_name(obj);
    let array = if let Ok(a) = obj.cast::<PyUntypedArray>() {
        // Subclasses are rare; the one that would read wrongly is a masked array.
        if !a.is_exact_instance_of::<PyUntypedArray>()
            && masked_array_type(py).is_some_and(|t| obj.is_instance(t).unwrap_or(false))
        {
            return Err(PyTypeError::new_err(format!(
                "{name} must be {expected}, got a numpy masked array (its mask would be \
                 ignored: pass arr.compressed() or arr.filled(...))"
            )));
        }
        a.clone()
    } else if is_torch_tensor(obj) {
        let device = obj.getattr("device")?.getattr("type")?;
        if device.to_string() != "cpu" {
            return Err(PyTypeError::new_err(format!(
                "{name} must be {expected}, got a torch tensor on {} (move it with .cpu() first)",
                obj.getattr("device")?
            )));
        }
        let dtype = obj.getattr("dtype")?;
        let is_float = dtype.getattr("is_floating_point")?.is_truthy()?;
        let is_complex = dtype.getattr("is_complex")?.is_truthy()?;
        if is_float || is_complex || dtype.to_string() == "torch.bool" {
            return Err(PyTypeError::new_err(format!(
                "{name} must be {expected}, got a torch tensor of dtype {dtype}"
            )));
        }
        obj.call_method0("detach")?
            .call_method0("numpy")?
            .cast_into::<PyUntypedArray>()
            .map_err(|e| PyTypeError::new_err(e.to_string()))?
    } else {
        return Ok(None);
    };
    let dtype = array.dtype();
    let kind = dtype.kind();
    if kind != b'i' && kind != b'u' {
        return Err(PyTypeError::new_err(format!(
            "{name} must be {expected}, got a {} of dtype {}",
            source(),
            dtype.str().map(|s| s.to_string()).unwrap_or_default()
        )));
    }
    if array.ndim() != ndim {
        let shape = match array.shape() {
            [] => "() (a single value: wrap it in a list)".to_string(),
            [n] => format!("({n},)"),
            dims => format!(
                "({})",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(PyTypeError::new_err(format!(
            "{name} must be {expected}, got a {}-d {} of shape {shape}",
            array.ndim(),
            source(),
        )));
    }
    if array.len() > MAX_TOKENS_PER_CALL {
        return Err(too_many(name, array.len()));
    }
    // Typed reads need native byte order and aligned items: copy the rare array that is not.
    let array = if dtype.is_native_byteorder() == Some(false) || !array.is_aligned() {
        let native = dtype.call_method1("newbyteorder", ("=",))?;
        array
            .call_method1("astype", (native,))?
            .cast_into::<PyUntypedArray>()
            .map_err(|e| PyTypeError::new_err(e.to_string()))?
    } else {
        array
    };
    Ok(Some(IntArray {
        shape: array.shape().to_vec(),
        array,
    }))
}

/// Reads an array of item type `D` in logical (row-major) order, or `None` if it is not one.
fn read_typed<D, T>(
    array: &Bound<'_, PyUntypedArray>,
    rule: Ints,
    place: &impl Fn(usize) -> String,
) -> Option<PyResult<Vec<T>>>
where
    D: Element + Copy + Into<i128>,
    T: TryFrom<i128>,
{
    let typed = array.cast::<PyArrayDyn<D>>().ok()?;
    let read = || -> PyResult<Vec<T>> {
        let ro = typed.try_readonly()?;
        let view = ro.as_array();
        let mut out = Vec::with_capacity(view.len());
        let mut push = |i: usize, d: D| -> PyResult<()> {
            let v: i128 = d.into();
            out.push(rule.check(v, || place(i), || v.to_string())?);
            Ok(())
        };
        match view.as_slice() {
            Some(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, &d)| push(i, d))?,
            None => view.iter().enumerate().try_for_each(|(i, &d)| push(i, d))?,
        }
        Ok(out)
    };
    Some(read())
}

impl IntArray<'_> {
    /// Every item in row-major order, checked by `rule`; `place(i)` names item `i`.
    fn values<T: TryFrom<i128>>(
        &self,
        rule: Ints,
        place: impl Fn(usize) -> String,
    ) -> PyResult<Vec<T>> {
        let a = &self.array;
        read_typed::<i64, T>(a, rule, &place)
            .or_else(|| read_typed::<i32, T>(a, rule, &place))
            .or_else(|| read_typed::<u32, T>(a, rule, &place))
            .or_else(|| read_typed::<u64, T>(a, rule, &place))
            .or_else(|| read_typed::<i16, T>(a, rule, &place))
            .or_else(|| read_typed::<u16, T>(a, rule, &place))
            .or_else(|| read_typed::<i8, T>(a, rule, &place))
            .or_else(|| read_typed::<u8, T>(a, rule, &place))
            .unwrap_or_else(|| {
                // Integer kinds numpy may add later (or platform aliases the casts above miss).
                Err(PyTypeError::new_err(format!(
                    "unsupported integer dtype {}",
                    a.dtype().str().map(|s| s.to_string()).unwrap_or_default()
                )))
            })
    }
}

// ------------------------------------------------------------------------------------- sequences

fn abc<'py>(py: Python<'py>, name: &str) -> Option<Bound<'py, PyType>> {
    static SET: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static MAPPING: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let cell = if name == "Set" { &SET } else { &MAPPING };
    cell.import(py, "collections.abc", name).ok().cloned()
}

/// The `TypeError` for an object that is not a token sequence, if `obj` is one of the refused kinds.
fn refused(obj: &Bound<'_, PyAny>, name: &str, expected: &str) -> Option<PyErr> {
    let py = obj.py();
    let is_a =
        |abc_name: &str| abc(py, abc_name).is_some_and(|t| obj.is_instance(&t).unwrap_or(false));
    let (shown, why) = if obj.is_instance_of::<PyString>() {
        (type_name(obj), "tokenize the text first")
    } else if obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyMemoryView>()
    {
        (
            type_name(obj),
            "bytes are not token ids: tokenize the text first",
        )
    } else if obj.is_instance_of::<PyInt>() {
        (describe(obj), "wrap a single token in a list")
    } else if obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>() || is_a("Set") {
        (type_name(obj), "a set's order is arbitrary: pass a list")
    } else if obj.is_instance_of::<PyDict>() || is_a("Mapping") {
        (type_name(obj), "a mapping: pass a list of its values")
    } else {
        return None;
    };
    Some(PyTypeError::new_err(format!(
        "{name} must be {expected}, got {shown} ({why})"
    )))
}

const SEQUENCE: &str =
    "a sequence of token ids (a list, a 1-D integer numpy array or torch CPU tensor)";

/// Reads every item of an iterable whose length is not trusted, one at a time.
fn read_iterable<T: TryFrom<i128>>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    rule: Ints,
    expected: &str,
) -> PyResult<Vec<T>> {
    let iter = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!("{name} must be {expected}, got {}", describe(obj)))
    })?;
    let mut out: Vec<T> = Vec::new();
    for (i, item) in iter.enumerate() {
        if out.len() == out.capacity() {
            if out.len() >= MAX_TOKENS_PER_CALL {
                return Err(too_many(name, "more"));
            }
            out.try_reserve(out.len().clamp(64, 1 << 24))
                .map_err(|_| size_limit(format!("{name}: out of memory after {i} items")))?;
        }
        out.push(rule.item(&item?, || format!("{name}[{i}]"))?);
    }
    Ok(out)
}

/// A sequence of integers checked by `rule` (token ids, parents, lengths): see the module doc.
pub fn ints_arg<T: TryFrom<i128>>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    rule: Ints,
) -> PyResult<Vec<T>> {
    let expected = match rule {
        Ints::Tokens => SEQUENCE,
        Ints::Range(..) => "a sequence of ints (a list or a 1-D integer array)",
    };
    // Lists and tuples first: the common case, and their length is real.
    if let Ok(list) = obj.cast::<PyList>() {
        if list.len() > MAX_TOKENS_PER_CALL {
            return Err(too_many(name, list.len()));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            out.push(rule.item(&item, || format!("{name}[{i}]"))?);
        }
        return Ok(out);
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        if tuple.len() > MAX_TOKENS_PER_CALL {
            return Err(too_many(name, tuple.len()));
        }
        return tuple
            .iter()
            .enumerate()
            .map(|(i, item)| rule.item(&item, || format!("{name}[{i}]")))
            .collect();
    }
    if let Some(array) = int_array(obj, name, 1, expected)? {
        return array.values(rule, |i| format!("{name}[{i}]"));
    }
    if let Some(e) = refused(obj, name, expected) {
        return Err(e);
    }
    if obj.is_instance_of::<PyRange>() {
        // A range knows its length exactly; one too long for a C ssize_t is over the limit too.
        match obj.len() {
            Ok(n) if n <= MAX_TOKENS_PER_CALL => {}
            Ok(n) => return Err(too_many(name, n)),
            Err(_) => return Err(too_many(name, "more than 2**63")),
        }
    }
    read_iterable(obj, name, rule, expected)
}

/// A sequence of token ids.
pub fn tokens_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u32>> {
    ints_arg(obj, name, Ints::Tokens)
}

// ----------------------------------------------------------------------------------------- batches

const BATCH: &str = "a 2-D integer array (batch, tokens) or a list of token sequences";

/// Many contexts: a list of token sequences, or a 2-D integer array (with optional per-row
/// `lengths` cutting padded rows).
pub fn token_batch(
    obj: &Bound<'_, PyAny>,
    lengths: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<Vec<u32>>> {
    let mut rows: Vec<Vec<u32>> = if let Some(array) = int_array(obj, "contexts", 2, BATCH)? {
        let (nrows, ncols) = (array.shape[0], array.shape[1]);
        let flat: Vec<u32> = array.values(Ints::Tokens, |i| {
            format!("contexts[{}][{}]", i / ncols.max(1), i % ncols.max(1))
        })?;
        if ncols == 0 {
            vec![Vec::new(); nrows]
        } else {
            flat.chunks(ncols).map(<[u32]>::to_vec).collect()
        }
    } else {
        if let Some(e) = refused(obj, "contexts", BATCH) {
            return Err(e);
        }
        let iter = obj.try_iter().map_err(|_| {
            PyTypeError::new_err(format!("contexts must be {BATCH}, got {}", describe(obj)))
        })?;
        let (mut rows, mut total) = (Vec::new(), 0usize);
        for (i, item) in iter.enumerate() {
            let row = tokens_arg(&item?, &format!("contexts[{i}]"))?;
            // Rows count too (an empty row still costs its Vec): one batch holds what one call may.
            total += row.len().max(1);
            if total > MAX_TOKENS_PER_CALL {
                return Err(too_many("contexts", "more"));
            }
            rows.push(row);
        }
        rows
    };
    if let Some(lengths) = lengths {
        let lengths: Vec<usize> = ints_arg(lengths, "lengths", Ints::Range(0, i64::MAX as i128))?;
        if lengths.len() != rows.len() {
            return Err(invalid_arg(format!(
                "lengths must have one entry per context ({}), got {}",
                rows.len(),
                lengths.len()
            )));
        }
        for (i, (row, &n)) in rows.iter_mut().zip(&lengths).enumerate() {
            if n > row.len() {
                return Err(invalid_arg(format!(
                    "lengths[{i}] must be between 0 and {} (the row's width), got {n}",
                    row.len()
                )));
            }
            row.truncate(n);
        }
    }
    Ok(rows)
}
