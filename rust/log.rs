//! [`SequenceLog`]: the token sequences a structure was built from, in insertion order, and the one
//! replay loop that rebuilds a structure from them.
//!
//! Every structure keeps its own log: drafts read continuations straight out of it, removal and
//! eviction rebuild from it, and save/load writes only it (4 bytes a token), because the automaton and
//! the trie are deterministic functions of their sequences in order.

use crate::capacity::Eviction;
use crate::codec::{Reader, Writer};
use crate::error::{invalid, Error, Result};

/// Most tokens one structure holds: 2**28 (268,435,456). Positions, states and edges are `u32`
/// indices: a suffix automaton has at most about 4 states and 6 transitions per token (plus up to 8
/// unused list edges per spilled state), which this bound keeps below `u32::MAX`. Such an automaton
/// takes some 15 GB; a push past the bound fails with [`Error::InvalidArgument`], changing nothing.
pub const MAX_TOKENS: usize = 1 << 28;

/// Sequence ids are below 2**56, so that a [`crate::Store`] can carry a scope in an id's top byte and
/// no id issued by one scope can ever read as another scope's.
pub const MAX_SEQUENCE_IDS: u64 = 1 << 56;

/// One live sequence: its id and where its tokens start in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceInfo {
    /// Id returned by `begin_sequence`, never reused by the structure.
    pub id: u64,
    /// Index of its first token in [`SequenceLog::tokens`].
    pub start: u32,
}

/// Token sequences stored back to back, with the id and start of each.
///
/// Invariants (checked on load): ids strictly increase and are below `next_id`, which is at most
/// [`MAX_SEQUENCE_IDS`]; starts never decrease; at most [`MAX_TOKENS`] tokens; `open` only with a
/// sequence to write to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

    /// Starts a new sequence and returns its id. The previous one is closed for good. Fails, changing
    /// nothing, once every id below [`MAX_SEQUENCE_IDS`] has been issued.
    pub(crate) fn begin(&mut self) -> Result<u64> {
        let id = self.next_id;
        if id >= MAX_SEQUENCE_IDS {
            return Err(invalid(
                "sequence",
                format!(
                    "every sequence id below 2**56 has been issued ({MAX_SEQUENCE_IDS} sequences); \
                     start a new structure"
                ),
            ));
        }
        self.begin_with_id(id);
        Ok(id)
    }

    /// Starts a sequence with a given id, which must be at least `next_id` (replays only).
    pub(crate) fn begin_with_id(&mut self, id: u64) {
        debug_assert!(id < MAX_SEQUENCE_IDS && self.seqs.last().is_none_or(|s| s.id < id));
        self.seqs.push(SequenceInfo {
            id,
            start: self.tokens.len() as u32,
        });
        self.next_id = self.next_id.max(id + 1);
        self.open = true;
    }

    /// Closes the open sequence, if any: later pushes need a new `begin`.
    pub(crate) fn close(&mut self) {
        self.open = false;
    }

    pub(crate) fn set_next_id(&mut self, next_id: u64) {
        self.next_id = self.next_id.max(next_id);
    }

    /// Fails, changing nothing, unless `more` tokens fit under [`MAX_TOKENS`]. Structures call it
    /// before a push or an extend so that a failed call stores nothing.
    pub(crate) fn check_room(&self, more: usize) -> Result<()> {
        if more > MAX_TOKENS - self.tokens.len() {
            return Err(invalid(
                "tokens",
                format!(
                    "a structure holds at most {MAX_TOKENS} tokens; it holds {} and {more} more \
                     were given",
                    self.tokens.len()
                ),
            ));
        }
        Ok(())
    }

    /// Reserves room for at least `tokens` more tokens, growing by no more than asked when it must.
    pub(crate) fn reserve_exact(&mut self, tokens: usize) {
        if self.tokens.capacity() - self.tokens.len() < tokens {
            self.tokens.reserve_exact(tokens);
        }
    }

    /// Appends a token to the open sequence and returns its position. The caller opens a sequence
    /// and checks room ([`Self::check_room`]) first.
    #[inline]
    pub(crate) fn push(&mut self, token: u32) -> u32 {
        debug_assert!(self.open && self.tokens.len() < MAX_TOKENS);
        self.tokens.push(token);
        (self.tokens.len() - 1) as u32
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

    /// Drops the sequences at the given indices (sorted, unique), compacting the tokens.
    /// If the open sequence is dropped, no sequence is open afterwards. O(tokens).
    pub(crate) fn remove_indices(&mut self, indices: &[usize]) {
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

    /// Applies an eviction planned by [`crate::capacity::Capacity::plan`]: drops the oldest
    /// `e.sequences` sequences and the first `e.open_head` tokens of the open one, which keeps its id.
    /// O(tokens kept) to move them down.
    pub(crate) fn evict(&mut self, e: &Eviction) {
        let cut = match self.seqs.get(e.sequences) {
            Some(s) => s.start as usize + e.open_head,
            None => self.tokens.len(),
        };
        self.tokens.drain(..cut);
        self.seqs.drain(..e.sequences);
        if let Some(first) = self.seqs.first_mut() {
            first.start += e.open_head as u32;
        }
        for s in &mut self.seqs {
            s.start -= cut as u32;
        }
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

    /// Reads what [`Self::write`] wrote, checking every invariant of the type before allocating the
    /// tokens: ids strictly increasing and below `next_id` (at most [`MAX_SEQUENCE_IDS`]), lengths
    /// summing (without overflow) to at most [`MAX_TOKENS`], the open flag 0 or 1 and only with a
    /// sequence. Anything else is [`Error::Corrupt`] naming the field.
    pub fn read(r: &mut Reader) -> Result<SequenceLog> {
        let corrupt = |reason: String| Error::Corrupt { reason };
        let next_id = r.u64()?;
        if next_id > MAX_SEQUENCE_IDS {
            return Err(corrupt(format!(
                "next sequence id {next_id} is above the id limit 2**56"
            )));
        }
        let open = match r.u8()? {
            0 => false,
            1 => true,
            b => return Err(corrupt(format!("open flag is {b}, expected 0 or 1"))),
        };
        let n = r.len_prefix(16)?;
        let mut seqs = Vec::with_capacity(n);
        let mut total: usize = 0;
        for i in 0..n {
            let id = r.u64()?;
            let len = r.u64()?;
            if let Some(prev) = seqs.last().map(|s: &SequenceInfo| s.id) {
                if id <= prev {
                    return Err(corrupt(format!(
                        "sequence {i} has id {id}, not above the previous id {prev}"
                    )));
                }
            }
            if id >= next_id {
                return Err(corrupt(format!(
                    "sequence {i} has id {id}, not below the next id {next_id}"
                )));
            }
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| total.checked_add(len))
                .filter(|&end| end <= MAX_TOKENS)
                .ok_or_else(|| {
                    corrupt(format!(
                        "sequence {i} has {len} tokens after {total}: more than a structure holds \
                         ({MAX_TOKENS})"
                    ))
                })?;
            seqs.push(SequenceInfo {
                id,
                start: total as u32,
            });
            total = end;
        }
        if open && seqs.is_empty() {
            return Err(corrupt("open flag set with no sequence".into()));
        }
        let tokens = r.u32_vec(total)?;
        Ok(SequenceLog {
            tokens,
            seqs,
            next_id,
            open,
        })
    }
}

/// A structure that is a deterministic function of its log: rebuilds and loads replay the log into
/// an empty one through these calls, the one replay loop ([`replay`]) serving every structure.
pub(crate) trait Replay {
    /// Starts sequence `id` (ids come in increasing order).
    fn replay_begin(&mut self, id: u64);
    /// Appends a token to the sequence begun last.
    fn replay_push(&mut self, token: u32);
    /// Ends the replay: `next_id` and whether the last sequence stays open come from the log.
    fn replay_end(&mut self, next_id: u64, open: bool);
    /// Heap bytes held so far (O(1): checked as the replay goes).
    fn memory_bytes(&self) -> usize;
}

/// Tokens replayed between two checks of the memory a load may take.
const REPLAY_CHECK_EVERY: usize = 1 << 14;

/// Replays every sequence of `log` (ids, tokens, the open flag) into the empty `target`. Fails with
/// [`Error::InvalidArgument`] as soon as `target` takes more than `limit` bytes (checked every
/// 16,384 tokens, so it never takes much more), leaving `target` half built: callers discard it.
pub(crate) fn replay<T: Replay>(target: &mut T, log: &SequenceLog, limit: usize) -> Result<()> {
    let check = |target: &T| {
        if target.memory_bytes() > limit {
            return Err(invalid(
                "data",
                format!(
                    "loading it takes more than {limit} bytes (the limit for data of this size; \
                     see from_bytes_with_limit)"
                ),
            ));
        }
        Ok(())
    };
    for (i, info) in log.sequences().iter().enumerate() {
        target.replay_begin(info.id);
        for chunk in log.sequence_tokens(i).chunks(REPLAY_CHECK_EVERY) {
            for &t in chunk {
                target.replay_push(t);
            }
            check(target)?;
        }
    }
    target.replay_end(log.next_id(), log.is_open());
    check(target)
}

/// Replays `log` into `target` with no memory limit: rebuilds of a structure already in memory.
pub(crate) fn rebuild_from<T: Replay>(target: &mut T, log: &SequenceLog) {
    // Nothing holds more than usize::MAX bytes, so this replay cannot stop early.
    let _ = replay(target, log, usize::MAX);
}

/// Most bytes a structure loaded from `data_len` bytes may take by default: 64 bytes per byte of
/// data, and at least 1 GiB. A suffix automaton takes at most about 20 bytes per byte of its data;
/// an n-gram trie up to `5 * (max_order + 1)`, so only tries of high order over varied text can
/// exceed it (an order-32 trie of 16 MB of tokens expands to 2.7 GB). `from_bytes_with_limit` takes
/// an explicit bound.
pub fn default_load_limit(data_len: usize) -> usize {
    data_len.saturating_mul(64).max(1 << 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(seqs: &[&[u32]], open: bool) -> SequenceLog {
        let mut log = SequenceLog::default();
        for s in seqs {
            log.begin().unwrap();
            for &t in *s {
                log.push(t);
            }
        }
        if !open {
            log.close();
        }
        log
    }

    #[test]
    fn evict_drops_the_oldest_and_cuts_the_open_head() {
        let mut log = log_of(&[&[1, 2], &[3], &[4, 5, 6, 7]], true);
        log.evict(&Eviction {
            sequences: 2,
            open_head: 1,
        });
        assert_eq!(log.tokens(), &[5, 6, 7]);
        assert_eq!(log.sequences(), &[SequenceInfo { id: 2, start: 0 }]);
        assert!(log.is_open());
        let mut log = log_of(&[&[1, 2], &[3], &[4]], false);
        log.evict(&Eviction {
            sequences: 1,
            open_head: 0,
        });
        assert_eq!(log.tokens(), &[3, 4]);
        assert_eq!(
            log.sequences(),
            &[
                SequenceInfo { id: 1, start: 0 },
                SequenceInfo { id: 2, start: 1 }
            ]
        );
    }

    #[test]
    fn ids_stop_at_the_limit_instead_of_repeating() {
        let mut log = SequenceLog::default();
        log.set_next_id(MAX_SEQUENCE_IDS - 1);
        assert_eq!(log.begin().unwrap(), MAX_SEQUENCE_IDS - 1);
        assert!(log.begin().is_err());
        assert_eq!(log.sequences().len(), 1);
    }
}
