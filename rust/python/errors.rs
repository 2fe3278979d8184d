//! The one map from failures to Python exceptions: core [`Error`]s, argument errors, size limits and
//! panics. The exception classes are defined in Python (`specscale/errors.py`, so that they pickle and
//! document like any Python class) and imported once as typed handles.
//!
//! Message style, everywhere: `<what> must be <expected>, got <value>`, naming the argument (and the
//! index inside it) so that a user can act without reading the code.

use std::any::Any;

use pyo3::prelude::*;

use crate::error::Error;

pyo3::import_exception!(specscale.errors, InvalidTokenError);
pyo3::import_exception!(specscale.errors, TokenOverflowError);
pyo3::import_exception!(specscale.errors, InvalidArgumentError);
pyo3::import_exception!(specscale.errors, UnknownSequenceError);
pyo3::import_exception!(specscale.errors, CorruptDataError);
pyo3::import_exception!(specscale.errors, SizeLimitError);
pyo3::import_exception!(specscale.errors, InternalError);

/// Maps a core error to its exception class. The match has no catch-all arm on purpose: a new core
/// variant does not compile until it is given a class here.
pub fn map_err(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::UnknownSequence { .. } => UnknownSequenceError::new_err(message),
        Error::InvalidArgument { .. } => InvalidArgumentError::new_err(message),
        Error::Truncated { .. } | Error::Version { .. } | Error::Corrupt { .. } => {
            CorruptDataError::new_err(message)
        }
    }
}

/// An `InvalidArgumentError` (also a `ValueError`).
pub fn invalid_arg(message: String) -> PyErr {
    InvalidArgumentError::new_err(message)
}

/// A `SizeLimitError` (also a `MemoryError`): a size that cannot be honoured, refused before allocating.
pub fn size_limit(message: String) -> PyErr {
    SizeLimitError::new_err(message)
}

/// A negative token id.
pub fn invalid_token(message: String) -> PyErr {
    InvalidTokenError::new_err(message)
}

/// A token id of `2**32` or more.
pub fn token_overflow(message: String) -> PyErr {
    TokenOverflowError::new_err(message)
}

/// An `InternalError` for a caught panic of the core, with the panic's message.
pub fn internal(payload: &(dyn Any + Send), what: &str) -> PyErr {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    InternalError::new_err(format!(
        "internal error in specscale ({what}): {detail}; please report it"
    ))
}

/// The `InternalError` of a structure that an earlier panic left half-changed.
pub fn damaged(kind: &str) -> PyErr {
    InternalError::new_err(format!(
        "this {kind} is unusable: an internal error interrupted an earlier change to it, so its \
         contents can no longer be trusted; build it again, or load it from bytes saved before"
    ))
}
