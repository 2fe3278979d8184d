//! [`SequenceLog`]: the token sequences a structure was built from, in insertion order.
//!
//! Every structure keeps its own log: drafts read continuations straight out of it, removal and
//! eviction rebuild from it, and save/load writes only it (4 bytes a token), because the automaton and
//! the trie are deterministic functions of their sequences in order.

use crate::codec::{Reader, Writer};
use crate::error::{invalid, Error, Result};

/// Check a byte capacity every this many pushes: summing hash-map capacities is O(spilled states).
pub const BYTE_CHECK_INTERVAL: u32 = 4096;

/// After an eviction a structure holds at most this share of its capacity, so that rebuilds amortize.
pub const EVICT_TO: f64 = 0.75;

/// The token count to evict down to under a token and/or byte capacity, given the structure's current
/// bytes per token (a byte bound is turned into tokens with it).
pub fn eviction_budget(
    capacity_tokens: Option<usize>,
    capacity_bytes: Option<usize>,
    memory_bytes: usize,
    num_tokens: usize,
) -> f64 {
    let per_token = memory_bytes as f64 / num_tokens.max(1) as f64;
    let mut budget = f64::INFINITY;
    if let Some(c) = capacity_tokens {
        budget = budget.min(c as f64 * EVICT_TO);
    }
    if let Some(c) = capacity_bytes {
        budget = budget.min(c as f64 * EVICT_TO / per_token.max(1.0));
    }
    budget
}

/// One live sequence: its id and where its tokens start in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceInfo {
    /// Id returned by `begin_sequence`, never reused by the structure.
    pub id: u64,
    /// Index of its first token in [`SequenceLog::tokens`].
    pub start: u32,
}

/// Token sequences stored back to back, with the id and start of each.
#[derive(Clone, Debug, Default)]
pub struct SequenceLog {
    tokens: Vec<u32>,
    seqs: Vec<SequenceInfo>,
    next_id: u64,
    /// Whether the last sequence is still being written (pushes go to it).
    open: bool,
}

impl SequenceLog {
    /// All tokens of all live sequences, back to back.
    #[inline]
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Live sequences in insertion order.
    pub fn sequences(&self) -> &[SequenceInfo] {
        &self.seqs
    }

    /// Whether the last sequence accepts pushes.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The id the next `begin_sequence` will return.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Starts a new sequence and returns its id. The previous one is closed for good.
    pub fn begin(&mut self) -> u64 {
        let id = self.next_id;
        self.begin_with_id(id);
        id
    }

    pub(crate) fn begin_with_id(&mut self, id: u64) {
        self.seqs.push(SequenceInfo {
            id,
            start: self.tokens.len() as u32,
        });
        self.next_id = self.next_id.max(id + 1);
        self.open = true;
    }

    /// Closes the open sequence, if any: later pushes need a new `begin`.
    pub fn close(&mut self) {
        self.open = false;
    }

    pub(crate) fn set_next_id(&mut self, next_id: u64) {
        self.next_id = self.next_id.max(next_id);
    }

    /// Reserves room for at least `tokens` more tokens, growing by no more than asked when it must.
    pub fn reserve_exact(&mut self, tokens: usize) {
        if self.tokens.capacity() - self.tokens.len() < tokens {
            self.tokens.reserve_exact(tokens);
        }
    }

    /// Appends a token to the open sequence. The caller opens one first.
    #[inline]
    pub fn push(&mut self, token: u32) -> Result<u32> {
        debug_assert!(self.open);
        let pos = self.tokens.len();
        if pos >= u32::MAX as usize - 1 {
            return Err(invalid(
                "tokens",
                "a structure holds at most 2**32 - 2 tokens",
            ));
        }
        self.tokens.push(token);
        Ok(pos as u32)
    }

    /// End (exclusive) of the sequence holding global position `pos`. O(log sequences).
    #[inline]
    pub fn sequence_end(&self, pos: u32) -> u32 {
        let i = self.seqs.partition_point(|s| s.start <= pos);
        if i < self.seqs.len() {
            self.seqs[i].start
        } else {
            self.tokens.len() as u32
        }
    }

    /// Index in [`Self::sequences`] of the live sequence `id`.
    pub fn index_of(&self, id: u64) -> Result<usize> {
        // Ids increase with insertion order, so the live ones are sorted.
        self.seqs
            .binary_search_by_key(&id, |s| s.id)
            .map_err(|_| Error::UnknownSequence { id })
    }

    /// Tokens of the `i`-th live sequence.
    pub fn sequence_tokens(&self, i: usize) -> &[u32] {
        let start = self.seqs[i].start as usize;
        let end = self
            .seqs
            .get(i + 1)
            .map_or(self.tokens.len(), |s| s.start as usize);
        &self.tokens[start..end]
    }

    /// Indices of the oldest sequences to evict so that at most `budget` tokens remain. The open
    /// sequence is never chosen, so a single sequence larger than the budget stays.
    pub fn oldest_over_budget(&self, budget: f64) -> Vec<usize> {
        let candidates = self.seqs.len().saturating_sub(usize::from(self.open));
        let mut remaining = self.tokens.len();
        let mut evict = Vec::new();
        for i in 0..candidates {
            if remaining as f64 <= budget {
                break;
            }
            remaining -= self.sequence_tokens(i).len();
            evict.push(i);
        }
        evict
    }

    /// Drops the sequences at the given indices (sorted, unique), compacting the tokens.
    /// If the open sequence is dropped, no sequence is open afterwards.
    pub fn remove_indices(&mut self, indices: &[usize]) {
        let last = self.seqs.len().saturating_sub(1);
        if indices.last() == Some(&last) {
            self.open = false;
        }
        let mut tokens = Vec::with_capacity(self.tokens.len());
        let mut seqs = Vec::with_capacity(self.seqs.len() - indices.len());
        let mut drop = indices.iter().peekable();
        for i in 0..self.seqs.len() {
            if drop.peek() == Some(&&i) {
                drop.next();
                continue;
            }
            let start = tokens.len() as u32;
            tokens.extend_from_slice(self.sequence_tokens(i));
            seqs.push(SequenceInfo {
                id: self.seqs[i].id,
                start,
            });
        }
        self.tokens = tokens;
        self.seqs = seqs;
    }

    /// Heap bytes used.
    pub fn memory_bytes(&self) -> usize {
        self.tokens.capacity() * 4 + self.seqs.capacity() * std::mem::size_of::<SequenceInfo>()
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.tokens.shrink_to_fit();
        self.seqs.shrink_to_fit();
    }

    /// Writes ids, lengths and tokens.
    pub fn write(&self, w: &mut Writer) {
        w.u64(self.next_id);
        w.u8(self.open as u8);
        w.u64(self.seqs.len() as u64);
        for i in 0..self.seqs.len() {
            w.u64(self.seqs[i].id);
            w.u64(self.sequence_tokens(i).len() as u64);
        }
        w.u32_slice(&self.tokens);
    }

    /// Reads what [`Self::write`] wrote, validating ids and lengths.
    pub fn read(r: &mut Reader) -> Result<SequenceLog> {
        let next_id = r.u64()?;
        let open = match r.u8()? {
            0 => false,
            1 => true,
            b => {
                return Err(Error::Corrupt {
                    reason: format!("open flag is {b}, expected 0 or 1"),
                })
            }
        };
        let n = r.len_prefix(16)?;
        let mut seqs = Vec::with_capacity(n);
        let mut total: u64 = 0;
        for _ in 0..n {
            let id = r.u64()?;
            let len = r.u64()?;
            if seqs.last().is_some_and(|s: &SequenceInfo| s.id >= id) || id >= next_id {
                return Err(Error::Corrupt {
                    reason: format!("sequence id {id} out of order"),
                });
            }
            if total + len >= u32::MAX as u64 - 1 {
                return Err(Error::Corrupt {
                    reason: "more tokens than a structure can hold".into(),
                });
            }
            seqs.push(SequenceInfo {
                id,
                start: total as u32,
            });
            total += len;
        }
        if open && seqs.is_empty() {
            return Err(Error::Corrupt {
                reason: "open flag set with no sequence".into(),
            });
        }
        let tokens = r.u32_vec(total as usize)?;
        Ok(SequenceLog {
            tokens,
            seqs,
            next_id,
            open,
        })
    }
}
