//! The one error type of the core. Variants carry the data a caller needs to act on them; the Python
//! bindings map each to a specscale exception class.

use std::fmt;

/// Everything that can go wrong in the core on bad input. The core never panics on user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A sequence id that is not live in the structure (never issued, or already removed).
    UnknownSequence {
        /// The id that was asked for.
        id: u64,
    },
    /// An argument outside the range the call accepts.
    InvalidArgument {
        /// Which argument.
        name: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// Serialized bytes end before the structure they describe does.
    Truncated {
        /// Bytes the format needed at least.
        needed: usize,
        /// Bytes that were there.
        got: usize,
    },
    /// Serialized bytes were written by another format version.
    Version {
        /// The version this build reads.
        expected: u16,
        /// The version found in the header.
        got: u16,
    },
    /// Serialized bytes are not a specscale structure of the expected kind, or fail their checksum.
    Corrupt {
        /// What was found wrong.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownSequence { id } => write!(f, "no live sequence with id {id}"),
            Error::InvalidArgument { name, reason } => write!(f, "invalid {name}: {reason}"),
            Error::Truncated { needed, got } => {
                write!(
                    f,
                    "truncated data: needed at least {needed} bytes, got {got}"
                )
            }
            Error::Version { expected, got } => {
                write!(
                    f,
                    "unsupported format version {got} (this build reads version {expected})"
                )
            }
            Error::Corrupt { reason } => write!(f, "corrupt data: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias of the core.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name,
        reason: reason.into(),
    }
}
