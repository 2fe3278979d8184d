//! PyO3 bindings: conversions, locking, GIL release and error mapping only. The algorithms live in
//! the core.
//!
//! One file per class (`draft_tree`, `automaton`, `cursor`, `trie`, `store`) over four shared
//! pieces: `convert` (the one token-conversion path), `args` (the one validation path of every other
//! argument), `errors` (the one map to Python exceptions) and `shared` (the threading model: a
//! readers-writer lock per structure, waits with the GIL released, panics as `InternalError`).

mod args;
mod automaton;
mod convert;
mod costaware;
mod cursor;
mod draft_tree;
mod errors;
mod family;
mod shared;
mod store;
mod trie;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;

/// Batches at least this long are drafted in parallel; below it thread hand-off costs more than it saves.
const PARALLEL_BATCH: usize = 16;

/// What `__reduce__` returns for the structures pickled through their compact bytes.
type BytesReduce<'py> = (Bound<'py, PyAny>, (Bound<'py, PyBytes>,));

/// Pickles as `cls.from_bytes(data)`: one format for files and pickles, checked the same way.
fn reduce_via_from_bytes<'py, T: pyo3::PyClass>(
    slf: &Bound<'py, T>,
    data: Bound<'py, PyBytes>,
) -> PyResult<BytesReduce<'py>> {
    Ok((slf.as_any().get_type().getattr("from_bytes")?, (data,)))
}

/// `f` over every context of a batch, in parallel when the batch is large.
fn map_batch<R: Send>(batch: &[Vec<u32>], f: impl Fn(&[u32]) -> R + Sync) -> Vec<R> {
    if batch.len() >= PARALLEL_BATCH {
        batch.par_iter().map(|c| f(c)).collect()
    } else {
        batch.iter().map(|c| f(c)).collect()
    }
}

/// Panics inside the guarded core path: in a write to `automaton` if one is given. It exists so that
/// the tests can prove a Rust panic reaches Python as `specscale.errors.InternalError` rather than
/// `PanicException`, and that a structure a panic interrupted refuses later calls.
#[pyfunction]
#[pyo3(signature = (message, automaton=None))]
fn _panic_for_tests(
    py: Python<'_>,
    message: String,
    automaton: Option<&Bound<'_, automaton::PySuffixAutomaton>>,
) -> PyResult<()> {
    let fail = move || -> () { panic!("{message}") };
    match automaton {
        Some(sam) => sam.get().inner.write(py, shared::Work::Small, |_| fail()),
        None => shared::guarded(py, "test", shared::Work::Data, fail),
    }
}

/// The native core of specscale.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FORMAT_VERSION", crate::codec::FORMAT_VERSION)?;
    m.add("MAX_TOKENS_PER_CALL", convert::MAX_TOKENS_PER_CALL as u64)?;
    m.add_class::<draft_tree::PyDraftTree>()?;
    m.add_class::<automaton::PySuffixAutomaton>()?;
    m.add_class::<cursor::PyCursor>()?;
    m.add_class::<trie::PyNgramTrie>()?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<cursor::PyStoreCursor>()?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    family::register(m)?;
    costaware::register(m)?;
    Ok(())
}
