//! Python -> core conversions of token ids, and core errors -> specscale exceptions.
//!
//! Token arguments accept a list (or any iterable) of ints, a numpy integer array, or a torch tensor
//! of integers. Every bad value is named in the exception: which argument, which index, what value.

use numpy::{
    PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString};

use crate::error::Error;

/// Raises `specscale.errors.<class_name>(message)`.
fn specscale_error(class_name: &str, message: String) -> PyErr {
    Python::attach(|py| {
        match py
            .import("specscale.errors")
            .and_then(|m| m.getattr(class_name))
        {
            Ok(cls) => match cls.cast_into::<pyo3::types::PyType>() {
                Ok(t) => PyErr::from_type(t, message),
                Err(_) => pyo3::exceptions::PyValueError::new_err(message),
            },
            // Only if the Python half of the package is missing: still a clear error.
            Err(_) => pyo3::exceptions::PyValueError::new_err(message),
        }
    })
}

/// An `InvalidArgumentError` (a `ValueError`).
pub fn invalid_arg(message: String) -> PyErr {
    specscale_error("InvalidArgumentError", message)
}

/// Maps a core error to its exception class.
pub fn map_err(e: Error) -> PyErr {
    let class = match &e {
        Error::UnknownSequence { .. } => "UnknownSequenceError",
        Error::InvalidArgument { .. } => "InvalidArgumentError",
        Error::Truncated { .. } | Error::Version { .. } | Error::Corrupt { .. } => {
            "CorruptDataError"
        }
    };
    specscale_error(class, e.to_string())
}

fn negative(name: &str, at: Option<usize>, v: i128) -> PyErr {
    let place = at.map_or(name.to_string(), |i| format!("{name}[{i}]"));
    specscale_error(
        "InvalidTokenError",
        format!("{place} = {v} is negative; token ids are integers in [0, 2**32)"),
    )
}

fn overflow(name: &str, at: Option<usize>, v: impl std::fmt::Display) -> PyErr {
    let place = at.map_or(name.to_string(), |i| format!("{name}[{i}]"));
    specscale_error(
        "TokenOverflowError",
        format!("{place} = {v} does not fit in 32 bits; token ids are integers in [0, 2**32)"),
    )
}

fn check(v: i128, name: &str, at: Option<usize>) -> PyResult<u32> {
    if v < 0 {
        Err(negative(name, at, v))
    } else if v > u32::MAX as i128 {
        Err(overflow(name, at, v))
    } else {
        Ok(v as u32)
    }
}

/// One token id from a Python int (or numpy integer scalar).
fn token_at(item: &Bound<'_, PyAny>, name: &str, at: Option<usize>) -> PyResult<u32> {
    let place = || at.map_or(name.to_string(), |i| format!("{name}[{i}]"));
    if item.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{} is a bool; token ids are integers",
            place()
        )));
    }
    if item.is_instance_of::<PyFloat>() {
        return Err(PyTypeError::new_err(format!(
            "{} = {} is a float; token ids are integers",
            place(),
            item.repr().map(|r| r.to_string()).unwrap_or_default()
        )));
    }
    match item.extract::<i64>() {
        Ok(v) => check(i128::from(v), name, at),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(item.py()) => {
            Err(overflow(
                name,
                at,
                item.repr().map(|r| r.to_string()).unwrap_or_default(),
            ))
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{} has type {}; token ids are integers",
            place(),
            item.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))),
    }
}

/// A single token id argument.
pub fn token_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u32> {
    token_at(obj, name, None)
}

fn is_torch_tensor(obj: &Bound<'_, PyAny>) -> bool {
    obj.get_type()
        .module()
        .map(|m| m.to_string().starts_with("torch"))
        .unwrap_or(false)
}

/// Converts a numpy integer array of any shape to `(values, shape)`.
fn array_values(arr: &Bound<'_, PyUntypedArray>, name: &str) -> PyResult<(Vec<u32>, Vec<usize>)> {
    let shape = arr.shape().to_vec();
    let dtype = arr.dtype();
    let kind = dtype.kind();
    if kind != b'i' && kind != b'u' {
        return Err(PyTypeError::new_err(format!(
            "{name} has dtype {}; token ids must be an integer array",
            dtype
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "?".into())
        )));
    }
    // Work on a flat, C-ordered view; the typed fast paths avoid copies for the common dtypes.
    let flat = arr.call_method0("ravel")?;
    macro_rules! read {
        ($t:ty) => {
            if let Ok(a) = flat.cast::<PyArray1<$t>>() {
                let ro = a.readonly();
                let values = ro.as_array();
                let mut out = Vec::with_capacity(values.len());
                for (i, &v) in values.iter().enumerate() {
                    out.push(check(v as i128, name, Some(i))?);
                }
                return Ok((out, shape));
            }
        };
    }
    read!(i64);
    read!(i32);
    read!(u32);
    read!(u64);
    read!(i16);
    read!(u16);
    read!(i8);
    read!(u8);
    let as_i64 = flat.call_method1("astype", ("int64",))?;
    let a = as_i64
        .cast::<PyArray1<i64>>()
        .map_err(|e| PyTypeError::new_err(e.to_string()))?;
    let ro = a.readonly();
    let out = ro
        .as_array()
        .iter()
        .enumerate()
        .map(|(i, &v)| check(i128::from(v), name, Some(i)))
        .collect::<PyResult<_>>()?;
    Ok((out, shape))
}

fn to_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyUntypedArray>>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(Some(a.clone()));
    }
    if is_torch_tensor(obj) {
        let arr = obj
            .call_method0("detach")?
            .call_method0("cpu")?
            .call_method0("numpy")?;
        return Ok(Some(
            arr.cast_into::<PyUntypedArray>()
                .map_err(|e| PyTypeError::new_err(e.to_string()))?,
        ));
    }
    Ok(None)
}

/// A 1-D sequence of token ids: list/tuple/iterable of ints, numpy integer array, torch tensor.
pub fn tokens_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u32>> {
    if let Some(arr) = to_array(obj)? {
        let (values, shape) = array_values(&arr, name)?;
        if shape.len() > 1 && shape.iter().filter(|&&d| d != 1).count() > 1 {
            return Err(invalid_arg(format!(
                "{name} has shape {shape:?}; expected a 1-D sequence of token ids"
            )));
        }
        return Ok(values);
    }
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{name} is a string; expected token ids (tokenize the text first)"
        )));
    }
    if obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} is a single int; expected a sequence of token ids (wrap it in a list)"
        )));
    }
    let iter = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} has type {}; expected a list, numpy array or tensor of token ids",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in iter.enumerate() {
        out.push(token_at(&item?, name, Some(i))?);
    }
    Ok(out)
}

/// Many contexts: a list of token sequences, or a 2-D integer array (with optional per-row lengths).
pub fn token_batch(
    obj: &Bound<'_, PyAny>,
    lengths: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<Vec<u32>>> {
    let lengths: Option<Vec<usize>> = match lengths {
        None => None,
        Some(l) => Some(
            tokens_arg(l, "lengths")?
                .into_iter()
                .map(|v| v as usize)
                .collect(),
        ),
    };
    let mut rows: Vec<Vec<u32>> = if let Some(arr) = to_array(obj)? {
        if arr.ndim() != 2 {
            return Err(invalid_arg(format!(
                "contexts has shape {:?}; expected a 2-D array (batch, tokens) or a list of sequences",
                arr.shape()
            )));
        }
        if let Ok(a) = arr.cast::<PyArray2<i64>>() {
            // Common case: row views of an int64 batch without a flat copy first.
            let ro = a.readonly();
            let view = ro.as_array();
            let mut rows = Vec::with_capacity(view.nrows());
            for (r, row) in view.outer_iter().enumerate() {
                let name = format!("contexts[{r}]");
                rows.push(
                    row.iter()
                        .enumerate()
                        .map(|(i, &v)| check(i128::from(v), &name, Some(i)))
                        .collect::<PyResult<_>>()?,
                );
            }
            rows
        } else {
            let (values, shape) = array_values(&arr, "contexts")?;
            values
                .chunks(shape[1].max(1))
                .map(<[u32]>::to_vec)
                .take(shape[0])
                .collect()
        }
    } else {
        let iter = obj.try_iter().map_err(|_| {
            PyTypeError::new_err("contexts must be a list of token sequences or a 2-D array")
        })?;
        let mut rows = Vec::new();
        for (i, item) in iter.enumerate() {
            rows.push(tokens_arg(&item?, &format!("contexts[{i}]"))?);
        }
        rows
    };
    if let Some(lengths) = lengths {
        if lengths.len() != rows.len() {
            return Err(invalid_arg(format!(
                "lengths has {} entries for {} contexts",
                lengths.len(),
                rows.len()
            )));
        }
        for (i, (row, &n)) in rows.iter_mut().zip(&lengths).enumerate() {
            if n > row.len() {
                return Err(invalid_arg(format!(
                    "lengths[{i}] = {n} exceeds the row's {} tokens",
                    row.len()
                )));
            }
            row.truncate(n);
        }
    }
    Ok(rows)
}
