//! # specscale core
//!
//! Structures over token ids (`u32`) that remember what a model already wrote, across Best-of-N
//! samples and thinking rounds, and draft continuations from it in microseconds:
//!
//! - [`SuffixAutomaton`] + [`Cursor`]: longest suffix match of a live context, amortized O(1) per token,
//!   and drafts read straight out of the stored tokens.
//! - [`NgramTrie`]: continuation counts for contexts up to a fixed order; scored draft trees.
//! - [`Store`]: request, family and global scopes of both, with capacities and eviction.
//! - [`DraftTree`]: the one draft type (a chain is a tree with one branch).
//!
//! All of it is plain Rust; the PyO3 bindings live in `python/` behind the `python` feature.
#![deny(missing_docs)]

pub mod automaton;
pub mod capacity;
pub mod codec;
pub mod costaware;
pub mod cursor;
pub mod draft;
pub mod error;
pub mod family;
#[cfg(test)]
mod fuzz;
pub mod log;
pub mod ngram;
pub mod occurrence;
pub mod store;
pub mod transitions;

#[cfg(feature = "python")]
mod python;

pub use automaton::{Cursor, DraftPolicy, SuffixAutomaton};
pub use draft::DraftTree;
pub use error::{Error, Result};
pub use ngram::NgramTrie;
pub use store::{Scope, Store, StoreCursor};
