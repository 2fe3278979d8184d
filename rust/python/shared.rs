//! Sharing a core structure between Python threads: the threading model of the bindings.
//!
//! Every structure (`SuffixAutomaton`, `NgramTrie`, `Store`) sits behind a readers-writer lock: any
//! number of threads read at once (drafts, queries, `to_bytes`), a write (`extend`, `push`, removal,
//! capacity, ...) waits until the readers in flight finish and runs alone. A cursor has its own lock
//! for its position and reads its structure under the structure's lock. No call fails because
//! another thread is busy: it waits its turn.
//!
//! Two rules keep this free of deadlocks and cheap:
//! - A thread never *waits* for a lock while it holds the GIL. A call first tries the lock without
//!   waiting; only if it is taken does the call release the GIL and wait (`py.detach`). Work runs
//!   without calling back into Python, so a lock holder never waits for the GIL either.
//! - Work proportional to data (bulk `extend`, tree drafts, batches, `to_bytes`, loading, removal,
//!   capacity changes) always runs with the GIL released, so other Python threads run meanwhile;
//!   O(1)-sized calls (`push`, `advance`, a chain draft) keep the GIL when the lock is free, because
//!   releasing and taking back the GIL costs more than they do.
//!
//! A Rust panic inside the core (a bug) is caught here and raised as `InternalError`, never as
//! `PanicException`. A panic in the middle of a write may leave the structure half-changed, so
//! every later call on that structure raises `InternalError` too, rather than answer from it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use pyo3::prelude::*;

use super::errors::{damaged, internal};

/// How much work a call does, which decides whether it releases the GIL (see the module doc).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Bounded by a small constant: keeps the GIL unless it has to wait for the lock.
    Small,
    /// Grows with the data or with a size argument: always releases the GIL.
    Data,
}

/// Drafts of at most this many nodes count as [`Work::Small`]; bigger ones release the GIL.
pub const SMALL_DRAFT: usize = 64;

/// [`Work::Small`] for a draft of at most [`SMALL_DRAFT`] nodes, [`Work::Data`] otherwise.
pub fn draft_work(nodes: usize) -> Work {
    if nodes <= SMALL_DRAFT {
        Work::Small
    } else {
        Work::Data
    }
}

/// A core structure shared by Python threads: readers run together, writers run alone, waiting
/// happens with the GIL released, and panics become `InternalError`.
pub struct Shared<T> {
    lock: RwLock<T>,
    damaged: AtomicBool,
    kind: &'static str,
}

fn read_guard<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // Panics are caught inside the guard's scope, so the lock is never poisoned; the `damaged` flag
    // records what a poison would have meant.
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_guard<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `lock`; a poison (a panic caught elsewhere while it was held) does not fail the call.
pub fn mutex_guard<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Send + Sync> Shared<T> {
    /// Wraps `value`; `kind` names the structure in error messages.
    pub fn new(kind: &'static str, value: T) -> Self {
        Shared {
            lock: RwLock::new(value),
            damaged: AtomicBool::new(false),
            kind,
        }
    }

    fn check(&self) -> PyResult<()> {
        if self.damaged.load(Ordering::Relaxed) {
            Err(damaged(self.kind))
        } else {
            Ok(())
        }
    }

    /// Runs `f`, turning a panic into `InternalError` (and, for a write, marking the structure
    /// unusable).
    fn guarded<R>(&self, writes: bool, f: impl FnOnce() -> R) -> PyResult<R> {
        catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            if writes {
                self.damaged.store(true, Ordering::Relaxed);
            }
            internal(payload.as_ref(), self.kind)
        })
    }

    /// Runs `f` on the structure alongside other readers.
    pub fn read<R: Send>(
        &self,
        py: Python<'_>,
        work: Work,
        f: impl FnOnce(&T) -> R + Send,
    ) -> PyResult<R> {
        self.check()?;
        if work == Work::Small {
            match self.lock.try_read() {
                Ok(guard) => return self.guarded(false, || f(&guard)),
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    return self.guarded(false, || f(&p.into_inner()))
                }
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        py.detach(|| self.read_released(f))
    }

    /// Runs `f` on the structure alone (after the readers and writers before it).
    pub fn write<R: Send>(
        &self,
        py: Python<'_>,
        work: Work,
        f: impl FnOnce(&mut T) -> R + Send,
    ) -> PyResult<R> {
        self.check()?;
        if work == Work::Small {
            match self.lock.try_write() {
                Ok(mut guard) => return self.guarded(true, || f(&mut guard)),
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    return self.guarded(true, || f(&mut p.into_inner()))
                }
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        py.detach(|| self.write_released(f))
    }

    /// As [`Shared::read`], for a caller that has already released the GIL (work that spans
    /// structures, each under its own lock).
    pub fn read_released<R>(&self, f: impl FnOnce(&T) -> R) -> PyResult<R> {
        self.check()?;
        self.guarded(false, || f(&read_guard(&self.lock)))
    }

    /// As [`Shared::write`], for a caller that has already released the GIL.
    pub fn write_released<R>(&self, f: impl FnOnce(&mut T) -> R) -> PyResult<R> {
        self.check()?;
        self.guarded(true, || f(&mut write_guard(&self.lock)))
    }

    /// Runs `f` on a cursor's own state (`cursor`, one caller at a time) and on this structure
    /// (alongside other readers). Lock order, everywhere: the cursor, then the structure.
    pub fn read_with<C: Send, R: Send>(
        &self,
        py: Python<'_>,
        cursor: &Mutex<C>,
        work: Work,
        f: impl FnOnce(&mut C, &T) -> R + Send,
    ) -> PyResult<R> {
        self.check()?;
        if work == Work::Small {
            if let Ok(mut c) = cursor.try_lock() {
                if let Ok(guard) = self.lock.try_read() {
                    return self.guarded(false, || f(&mut c, &guard));
                }
            }
        }
        py.detach(|| {
            let mut c = mutex_guard(cursor);
            self.guarded(false, || f(&mut c, &read_guard(&self.lock)))
        })
    }
}

/// Runs core work that touches no shared structure (loading bytes, building a draft tree), with the
/// GIL released for [`Work::Data`], turning a panic into `InternalError`.
pub fn guarded<R: Send>(
    py: Python<'_>,
    what: &'static str,
    work: Work,
    f: impl FnOnce() -> R + Send,
) -> PyResult<R> {
    let run = || catch_unwind(AssertUnwindSafe(f)).map_err(|p| internal(p.as_ref(), what));
    match work {
        Work::Small => run(),
        Work::Data => py.detach(run),
    }
}
