//! [`Capacity`]: token and byte bounds on a structure, and the one eviction rule every structure
//! follows (a standalone automaton or trie, and each scope of a store for its automaton and trie
//! together).
//!
//! The rule: once a structure holds more than its bound, the oldest sequences go first, down to
//! [`EVICT_TO`] (half) of the bound. If the open sequence alone is still over, its oldest tokens go
//! too: it keeps its most recent window, so memory stays bounded under a single endless sequence.
//!
//! Why half: an automaton cannot forget a sequence, it rebuilds from what stays (the trie subtracts
//! exactly what goes). Evicting down to a fraction `f` of the bound replays `f / (1 - f)` tokens per
//! pushed token: 1 at a half, 3 at three quarters (the rule before, which made a capped push cost
//! about 4 plain pushes; now about 2), so a structure holds between half and all of its bound.

use crate::error::{invalid, Result};
use crate::log::SequenceLog;

/// After an eviction a structure holds at most this share of its capacity, so that rebuilds amortize
/// to one replayed token per pushed token.
pub const EVICT_TO: f64 = 0.5;

/// What one eviction removes: the oldest `sequences` sequences, then the first `open_head` tokens of
/// the open sequence (only when nothing older is left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eviction {
    /// Number of oldest sequences dropped.
    pub sequences: usize,
    /// Tokens cut from the start of the open sequence, which keeps its id and its most recent tokens.
    pub open_head: usize,
}

/// Token and byte bounds (`None`: unbounded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    tokens: Option<usize>,
    bytes: Option<usize>,
}

impl Capacity {
    /// Bounds of `tokens` tokens and `bytes` heap bytes; each must be positive when given.
    pub fn new(tokens: Option<usize>, bytes: Option<usize>) -> Result<Self> {
        for (name, v) in [("tokens", tokens), ("bytes", bytes)] {
            if v == Some(0) {
                return Err(invalid(
                    name,
                    "a capacity must be positive (or None for no bound), got 0",
                ));
            }
        }
        Ok(Capacity { tokens, bytes })
    }

    /// The token bound.
    pub fn tokens(&self) -> Option<usize> {
        self.tokens
    }

    /// The byte bound.
    pub fn bytes(&self) -> Option<usize> {
        self.bytes
    }

    /// Whether no bound is set.
    pub fn is_unbounded(&self) -> bool {
        self.tokens.is_none() && self.bytes.is_none()
    }

    /// The eviction due for a structure holding `log` in `memory_bytes()` bytes, if it is over a
    /// bound. O(1) when within bounds (one comparison, plus `memory_bytes()` under a byte bound);
    /// O(sequences evicted) otherwise.
    pub fn plan(
        &self,
        log: &SequenceLog,
        memory_bytes: impl FnOnce() -> usize,
    ) -> Option<Eviction> {
        let tokens = log.tokens().len();
        let over_tokens = self.tokens.is_some_and(|c| tokens > c);
        let memory = if self.bytes.is_some() {
            memory_bytes()
        } else {
            0
        };
        let over_bytes = self.bytes.is_some_and(|c| memory > c);
        if !(over_tokens || over_bytes) {
            return None;
        }
        // A byte bound becomes a token bound at the structure's current bytes per token.
        let mut keep = f64::INFINITY;
        if let Some(c) = self.tokens {
            keep = keep.min(c as f64 * EVICT_TO);
        }
        if let Some(c) = self.bytes {
            let per_token = (memory as f64 / tokens.max(1) as f64).max(1.0);
            keep = keep.min(c as f64 * EVICT_TO / per_token);
        }
        let keep = keep.floor() as usize;
        let closed = log.sequences().len() - usize::from(log.is_open());
        let (mut remaining, mut sequences) = (tokens, 0);
        while sequences < closed && remaining > keep {
            remaining -= log.sequence_tokens(sequences).len();
            sequences += 1;
        }
        let open_head = remaining.saturating_sub(keep);
        Some(Eviction {
            sequences,
            open_head,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(lens: &[usize], open: bool) -> SequenceLog {
        let mut log = SequenceLog::default();
        for &n in lens {
            log.begin().unwrap();
            for t in 0..n {
                log.push(t as u32);
            }
        }
        if !open {
            log.close();
        }
        log
    }

    #[test]
    fn evicts_oldest_first_then_the_open_head() {
        let cap = Capacity::new(Some(100), None).unwrap();
        assert_eq!(cap.plan(&log_of(&[50, 50], true), || 0), None);
        // Down to 50 tokens: 120 -> 80 -> 40.
        assert_eq!(
            cap.plan(&log_of(&[40, 40, 40], true), || 0),
            Some(Eviction {
                sequences: 2,
                open_head: 0
            })
        );
        // A closed last sequence goes like any other: 110 -> 100 -> 0.
        assert_eq!(
            cap.plan(&log_of(&[10, 100], false), || 0),
            Some(Eviction {
                sequences: 2,
                open_head: 0
            })
        );
        // The open sequence alone over the bound keeps its last 50 tokens.
        assert_eq!(
            cap.plan(&log_of(&[10, 200], true), || 0),
            Some(Eviction {
                sequences: 1,
                open_head: 150
            })
        );
        let bytes = Capacity::new(None, Some(1000)).unwrap();
        // 2000 bytes for 100 tokens: 20 bytes a token, keep 500 / 20 = 25 tokens.
        assert_eq!(
            bytes.plan(&log_of(&[100], true), || 2000),
            Some(Eviction {
                sequences: 0,
                open_head: 75
            })
        );
        assert!(Capacity::new(Some(0), None).is_err());
        assert!(Capacity::new(None, Some(0)).is_err());
    }
}
