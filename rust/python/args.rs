//! The one validation path of every non-token argument: integers (`max_tokens`, `min_match`, `k`,
//! `seq_id`, capacities, ...), the drafting policy and the scope names.
//!
//! Each integer argument is read by a function named after it (used as `#[pyo3(from_py_with =
//! args::max_tokens)]`), and all of them go through [`int_in`]: a bool or a non-integer is a
//! `TypeError`, an integer outside the argument's range is an `InvalidArgumentError` that names the
//! argument, the accepted range and the value given, e.g. `min_match must be between 0 and
//! 2**32 - 1, got -1`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyInt, PyType};

use super::errors::invalid_arg;
use crate::ngram::MAX_ORDER_LIMIT;
use crate::{DraftPolicy, Scope};

/// The most nodes a draft can have: a `DraftTree` indexes parents with `i32`.
pub const MAX_DRAFT_NODES: i128 = i32::MAX as i128;

/// `2**n - 1` for the big powers-of-two bounds, the number otherwise: `2**32 - 1` reads better than
/// `4294967295`.
pub fn describe_bound(v: i128) -> String {
    let n = (v + 1).unsigned_abs();
    if v > 1 << 16 && n.is_power_of_two() {
        format!("2**{} - 1", n.trailing_zeros())
    } else {
        v.to_string()
    }
}

/// An already-extracted integer in `[lo, hi]`, with the same message as [`int_in`].
pub fn in_range(name: &str, value: i64, lo: i128, hi: i128) -> PyResult<i64> {
    let v = i128::from(value);
    if v < lo || v > hi {
        return Err(invalid_arg(format!(
            "{name} must be between {} and {}, got {value}",
            describe_bound(lo),
            describe_bound(hi)
        )));
    }
    Ok(value)
}

/// Name and value of an object for a message: `bool True`, `float 2.5`, `str 'abc'`.
pub fn describe(obj: &Bound<'_, PyAny>) -> String {
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    let repr = obj.repr().map(|r| r.to_string()).unwrap_or_default();
    if repr.len() <= 40 && !repr.starts_with('<') {
        format!("{type_name} {repr}")
    } else {
        type_name
    }
}

/// How Python prints a short string: `'abc'`.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `numpy.integer`, when numpy is importable (it always is beside the extension).
fn numpy_integer(py: Python<'_>) -> Option<&Bound<'_, PyType>> {
    static NP_INTEGER: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    NP_INTEGER.import(py, "numpy", "integer").ok()
}

/// The value of an integer argument: a Python `int` (not a `bool`) or a numpy integer scalar.
/// `Ok(None)`: an integer too large for `i128`, out of every range.
pub fn int_value(obj: &Bound<'_, PyAny>) -> Option<PyResult<Option<i128>>> {
    let is_int = (obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>())
        || numpy_integer(obj.py()).is_some_and(|t| obj.is_instance(t).unwrap_or(false));
    if !is_int {
        return None;
    }
    Some(match obj.extract::<i64>() {
        Ok(v) => Ok(Some(i128::from(v))),
        Err(_) => Ok(obj.extract::<i128>().ok()),
    })
}

/// Reads an integer argument `name` that must lie in `lo..=hi`.
pub fn int_in(obj: &Bound<'_, PyAny>, name: &str, lo: i128, hi: i128) -> PyResult<i128> {
    let Some(value) = int_value(obj) else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, got {}",
            describe(obj)
        )));
    };
    match value? {
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(invalid_arg(format!(
            "{name} must be between {} and {}, got {}",
            describe_bound(lo),
            describe_bound(hi),
            obj.repr().map(|r| r.to_string()).unwrap_or_default()
        ))),
    }
}

/// An optional bound (`None` = unbounded) that must otherwise be a positive integer.
fn optional_positive(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<usize>> {
    if obj.is_none() {
        return Ok(None);
    }
    let Some(value) = int_value(obj) else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int or None, got {}",
            describe(obj)
        )));
    };
    match value? {
        Some(v) if (1..=i64::MAX as i128).contains(&v) => Ok(Some(v as usize)),
        _ => Err(invalid_arg(format!(
            "{name} must be between 1 and {} or None (no bound), got {}",
            describe_bound(i64::MAX as i128),
            obj.repr().map(|r| r.to_string()).unwrap_or_default()
        ))),
    }
}

/// Declares one reader per integer argument, named after it, with its range.
macro_rules! int_args {
    ($($(#[$doc:meta])* $name:ident: $t:ty = $lo:expr, $hi:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(obj: &Bound<'_, PyAny>) -> PyResult<$t> {
            // The ranges lie inside `$t`, so the conversion is exact.
            int_in(obj, stringify!($name), $lo as i128, $hi as i128).map(|v| v as $t)
        }
    )*};
}

int_args! {
    /// Tokens in a chain draft (a chain never holds more than what is stored, so no tree limit).
    max_tokens: usize = 0, i64::MAX;
    /// Children per node of a tree draft (the core's tree limit).
    k: usize = 1, crate::draft::MAX_DRAFT_NODES;
    /// Levels of a tree draft.
    depth: usize = 0, crate::draft::MAX_DRAFT_NODES;
    /// Nodes of a tree draft.
    budget: usize = 0, crate::draft::MAX_DRAFT_NODES;
    /// Shortest matched suffix a draft may continue.
    min_match: u32 = 0, u32::MAX;
    /// How many tokens a global-scope draft's match must beat the others' by.
    global_bias: u32 = 0, u32::MAX;
    /// Context tokens a stateless draft reads.
    window: usize = 0, i64::MAX;
    /// Matched suffix length recorded in a draft tree.
    match_length: u32 = 0, u32::MAX;
    /// A sequence id.
    seq_id: u64 = 0, u64::MAX;
    /// Longest context an n-gram trie counts.
    max_order: u32 = 1, MAX_ORDER_LIMIT;
    /// Earlier occurrences a cost-aware draft is built from (the core's 16-bit candidate index).
    max_candidates: usize = 1, u16::MAX;
    /// Occurrences of the last token alone a cost-aware draft may add ...
    unigram_max: usize = 0, u16::MAX;
    /// ... when the longer contexts gave fewer than this many.
    unigram_below: usize = 0, u16::MAX;
    /// Levels of a cost-aware tree.
    max_depth: u32 = 1, crate::draft::MAX_DRAFT_NODES;
    /// Nodes of a cost-aware draft.
    max_nodes: usize = 0, crate::draft::MAX_DRAFT_NODES;
}

/// A finite number in `[lo, hi]` (`hi` itself excluded when `open_hi`), or an
/// `InvalidArgumentError` naming the argument, the range and the value given.
pub fn number_in(name: &str, value: f64, lo: f64, hi: f64, open_hi: bool) -> PyResult<f64> {
    let above = if open_hi { value >= hi } else { value > hi };
    if !value.is_finite() || value < lo || above {
        let close = if open_hi { ")" } else { "]" };
        return Err(invalid_arg(format!(
            "{name} must be a number in [{lo}, {hi}{close}, got {value}"
        )));
    }
    Ok(value)
}

/// Declares one reader per optional capacity argument.
macro_rules! capacity_args {
    ($($name:ident),*) => {$(
        /// A capacity: a positive integer, or None for no bound.
        pub fn $name(obj: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
            optional_positive(obj, stringify!($name))
        }
    )*};
}

capacity_args!(tokens, bytes, capacity_tokens, capacity_bytes);

/// The drafting policy: 'recent' (most recent occurrence) or 'frequent' (most frequent continuation).
pub fn policy(policy: &str) -> PyResult<DraftPolicy> {
    match policy {
        "recent" | "most_recent" => Ok(DraftPolicy::MostRecent),
        "frequent" | "most_frequent" => Ok(DraftPolicy::MostFrequent),
        "earliest" => Ok(DraftPolicy::Earliest),
        other => Err(invalid_arg(format!(
            "policy must be 'recent', 'frequent' or 'earliest', got {}",
            quoted(other)
        ))),
    }
}

/// A scope name: 'request', 'family' (or 'problem') or 'global'.
pub fn scope(name: &str) -> PyResult<Scope> {
    Scope::from_name(name).map_err(|_| {
        invalid_arg(format!(
            "scope must be 'request', 'family' or 'global', got {}",
            quoted(name)
        ))
    })
}
