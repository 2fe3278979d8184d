//! [`OccurrenceIndex`]: where the context's last tokens occurred before, in every scope of a
//! [`Store`], and the [`Candidate`]s (earlier occurrences with a continuation) a tree is drafted from.
//!
//! The suffix automaton names one or two occurrences of the longest match; a tree that hedges needs
//! all of them, and the occurrences of shorter suffixes where the longest has few. The index keeps,
//! per scope, three hash chains over the scope's token log (the classic LZ77 match finder): for the
//! 1-, 2- and 4-grams ending at each position, the previous position where the same n-gram ended. A
//! query walks a chain from its most recent entry, so the occurrences come newest first and a walk of
//! `m` entries costs O(m) whatever the store's size.
//!
//! The index reads the store's own logs ([`crate::log::SequenceLog`]) and follows them lazily: before
//! a query, [`OccurrenceIndex::sync`] indexes the tokens appended since the last query (O(new
//! tokens)), and re-indexes a scope from scratch when its automaton was rebuilt (a removal, an
//! eviction, a cleared or promoted scope: the automaton's `generation` changes). It holds no copy of
//! the text.
//!
//! Memory: 12 bytes per stored token (three `u32` chain links) plus one hash entry per distinct 1-,
//! 2- and 4-gram (about 16 bytes each, at most three per token).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::automaton::SuffixAutomaton;
use crate::store::{Scope, Store};

/// "No position" in a chain.
const NONE: u32 = u32::MAX;

/// The n-gram orders indexed. A candidate found through order `n` matches at least `n` tokens (up to
/// a hash collision of 4-grams, which only yields a shorter, still real, match).
const ORDERS: [usize; 3] = [1, 2, 4];

/// Longest backward match measured per candidate: longer matches predict no better (and the
/// acceptance statistics bucket them together).
pub const MAX_MATCH: usize = 64;

/// An alignment pointer's window: positions from `next - ALIGN_BEFORE` to `next + ALIGN_AFTER - 1`
/// count as "where the generation is in that sequence" (a sample that skipped or inserted a few
/// tokens stays aligned).
const ALIGN_BEFORE: u32 = 3;
const ALIGN_AFTER: u32 = 2;

/// Multiplicative hashing of `u64` keys (the keys are token ids or mixes of them, not adversarial
/// strings; SipHash would cost more than the chain walk).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type KeyMap = HashMap<u64, u32, BuildHasherDefault<KeyHasher>>;

/// The key of the n-gram `gram` (1, 2 or 4 tokens): exact for 1- and 2-grams, mixed for 4-grams.
fn key(gram: &[u32]) -> u64 {
    match gram.len() {
        1 => u64::from(gram[0]),
        2 => u64::from(gram[0]) << 32 | u64::from(gram[1]),
        _ => gram.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &t| {
            (h ^ u64::from(t))
                .wrapping_mul(0x0000_0100_0000_01B3)
                .rotate_left(17)
        }),
    }
}

/// One hash chain: the newest position of each key and, per position, the previous one.
#[derive(Clone, Debug, Default)]
struct Chain {
    head: KeyMap,
    prev: Vec<u32>,
}

impl Chain {
    /// Records position `prev.len()` under `key` (`None`: no n-gram ends there).
    fn push(&mut self, key: Option<u64>, pos: u32) {
        debug_assert_eq!(self.prev.len(), pos as usize);
        let prev = key.map_or(NONE, |k| self.head.insert(k, pos).unwrap_or(NONE));
        self.prev.push(prev);
    }

    /// Positions where `key` ended, newest first.
    fn walk(&self, key: u64) -> impl Iterator<Item = u32> + '_ {
        let mut at = self.head.get(&key).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let here = at;
            at = self.prev[here as usize];
            Some(here)
        })
    }

    fn memory_bytes(&self) -> usize {
        self.prev.capacity() * 4 + self.head.capacity() * 16
    }
}

/// The chains of one scope, and how far they follow its log.
#[derive(Clone, Debug, Default)]
struct ScopeIndex {
    /// The automaton generation the chains were built for.
    generation: u64,
    /// Tokens of the log indexed so far.
    indexed: usize,
    /// Index (in the log's sequences) of the sequence holding position `indexed - 1`.
    seq: usize,
    chains: [Chain; 3],
}

impl ScopeIndex {
    fn sync(&mut self, sam: &SuffixAutomaton) {
        let log = sam.log();
        let tokens = log.tokens();
        if sam.generation() != self.generation || tokens.len() < self.indexed {
            *self = ScopeIndex {
                generation: sam.generation(),
                ..ScopeIndex::default()
            };
        }
        let seqs = log.sequences();
        for pos in self.indexed..tokens.len() {
            while self.seq + 1 < seqs.len() && seqs[self.seq + 1].start as usize <= pos {
                self.seq += 1;
            }
            let start = seqs.get(self.seq).map_or(0, |s| s.start as usize);
            for (chain, &n) in self.chains.iter_mut().zip(ORDERS.iter()) {
                let k = (pos + 1 >= start + n).then(|| key(&tokens[pos + 1 - n..=pos]));
                chain.push(k, pos as u32);
            }
        }
        self.indexed = tokens.len();
    }
}

/// Hash chains over the 1-, 2- and 4-grams of every scope of a [`Store`], following its logs lazily.
#[derive(Clone, Debug, Default)]
pub struct OccurrenceIndex {
    scopes: [ScopeIndex; 3],
}

/// An earlier occurrence of a suffix of the context, whose continuation a draft can copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The scope whose log holds it.
    pub scope: Scope,
    /// Position (in the scope's log) of the last matched token; the continuation starts after it.
    pub pos: u32,
    /// End (exclusive) of its sequence: the continuation stops there.
    pub end: u32,
    /// Start of its sequence (names the sequence for alignment pointers).
    pub start: u32,
    /// How many context tokens it matches, backwards from the last (at most [`MAX_MATCH`]).
    pub matched: u32,
    /// Whether it lies where the generation is aligned with its sequence (see [`Pointer`]).
    pub aligned: bool,
}

impl Candidate {
    /// The `d`-th token of its continuation (0 = the next token), if its sequence goes on that far.
    #[inline]
    pub fn next_token(&self, tokens: &[u32], d: u32) -> Option<u32> {
        let at = self.pos as u64 + 1 + u64::from(d);
        (at < u64::from(self.end)).then(|| tokens[at as usize])
    }
}

/// Where a generation is in an earlier sequence: the position its next token would copy. Moved
/// forward by every committed token; re-anchored whenever an occurrence in that sequence agreed with
/// what was committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pointer {
    /// The scope of the sequence.
    pub scope: Scope,
    /// Start of the sequence in the scope's log.
    pub start: u32,
    /// Position of the token the generation's next token would copy.
    pub next: u32,
    /// The scope's automaton generation when set (a rebuild renumbers positions: the pointer dies).
    pub generation: u64,
    /// Step of the last re-anchoring (the oldest pointers give way to new ones).
    pub anchored_at: u64,
}

/// How many candidates to gather and from which chains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatherLimits {
    /// Most candidates kept (the best by match length and alignment).
    pub max_candidates: usize,
    /// Most occurrences taken from the 1-gram chains when the longer chains gave fewer than
    /// `unigram_below`.
    pub unigram_max: usize,
    /// See `unigram_max`.
    pub unigram_below: usize,
}

impl Default for GatherLimits {
    fn default() -> Self {
        GatherLimits {
            max_candidates: 48,
            unigram_max: 16,
            unigram_below: 4,
        }
    }
}

impl OccurrenceIndex {
    /// An empty index; the first [`Self::sync`] indexes the store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes what the store's scopes gained since the last call (and re-indexes rebuilt scopes).
    pub fn sync(&mut self, store: &Store) {
        for (ix, s) in self.scopes.iter_mut().zip(Scope::ALL) {
            ix.sync(store.automaton(s));
        }
    }

    /// Tokens indexed, over all scopes.
    pub fn num_indexed(&self) -> usize {
        self.scopes.iter().map(|s| s.indexed).sum()
    }

    /// Heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.scopes
            .iter()
            .flat_map(|s| s.chains.iter())
            .map(Chain::memory_bytes)
            .sum()
    }

    /// The earlier occurrences (with a continuation) of suffixes of `tail` (the context's last
    /// tokens, oldest first) in every scope of `store`: newest first from the 4-gram chains, then the
    /// 2-gram chains, the positions `pointers` say the generation is aligned with, and, when fewer
    /// than `limits.unigram_below` were found, the newest 1-gram occurrences. Each gets its backward
    /// match length; the best `limits.max_candidates` are kept, ordered by match length (aligned ones
    /// counting [`ALIGN_BONUS`] tokens more), inner scopes and recency breaking ties.
    ///
    /// Call [`Self::sync`] after the store changed. Cost: O(chain entries walked x match length),
    /// bounded by a few times `max_candidates x` [`MAX_MATCH`], independent of the store's size.
    pub fn gather(
        &self,
        store: &Store,
        tail: &[u32],
        pointers: &[Pointer],
        limits: GatherLimits,
        out: &mut Vec<Candidate>,
    ) {
        out.clear();
        let Some(&last) = tail.last() else { return };
        let m = limits.max_candidates;
        let mut found: Vec<(Scope, u32)> = Vec::with_capacity(2 * m + 8);
        for (order_index, &n) in ORDERS.iter().enumerate().rev() {
            if tail.len() < n {
                continue;
            }
            let (quota, enough) = if n == 1 {
                if found.len() >= limits.unigram_below {
                    continue;
                }
                (limits.unigram_max, usize::MAX)
            } else {
                (m, m)
            };
            if found.len() >= enough {
                continue;
            }
            let k = key(&tail[tail.len() - n..]);
            let mut taken = 0;
            for (ix, s) in self.scopes.iter().zip(Scope::ALL) {
                let log = store.automaton(s).log();
                for pos in ix.chains[order_index].walk(k) {
                    if taken >= quota {
                        break;
                    }
                    if (pos as usize) < ix.indexed && pos + 1 < log.sequence_end(pos) {
                        found.push((s, pos));
                        taken += 1;
                    }
                }
            }
        }
        for p in pointers {
            let log = store.automaton(p.scope).log();
            if store.automaton(p.scope).generation() != p.generation {
                continue;
            }
            let tokens = log.tokens();
            // Continuations starting in [next - BEFORE, next + AFTER): matched tokens just before.
            let lo = p.next.saturating_sub(ALIGN_BEFORE + 1).max(p.start);
            let hi = (p.next + ALIGN_AFTER - 1).min(tokens.len() as u32);
            for pos in lo..hi {
                if tokens[pos as usize] == last && pos + 1 < log.sequence_end(pos) {
                    found.push((p.scope, pos));
                }
            }
        }
        found.sort_unstable_by_key(|&(s, pos)| (s as u8, pos));
        found.dedup();
        for (s, pos) in found {
            let log = store.automaton(s).log();
            let tokens = log.tokens();
            let end = log.sequence_end(pos);
            let seqs = log.sequences();
            let start = seqs[seqs.partition_point(|q| q.start <= pos) - 1].start;
            let reach = (pos - start + 1) as usize;
            let limit = MAX_MATCH.min(tail.len()).min(reach);
            let matched = (0..limit)
                .take_while(|&j| tokens[pos as usize - j] == tail[tail.len() - 1 - j])
                .count() as u32;
            if matched == 0 {
                continue; // a 4-gram hash collision with another last token
            }
            let aligned = pointers.iter().any(|p| {
                p.scope == s
                    && p.start == start
                    && pos + 1 + ALIGN_BEFORE >= p.next
                    && pos + 1 < p.next + ALIGN_AFTER
            });
            out.push(Candidate {
                scope: s,
                pos,
                end,
                start,
                matched,
                aligned,
            });
        }
        out.sort_unstable_by(|a, b| {
            rank(b)
                .cmp(&rank(a))
                .then((a.scope as u8).cmp(&(b.scope as u8)))
                .then(b.pos.cmp(&a.pos))
        });
        out.truncate(m);
    }
}

/// Match tokens an aligned candidate counts extra when candidates are ranked: an occurrence where
/// the generation is aligned with its sequence continues it far more often than one elsewhere with
/// the same match (Best-of-8 traces: 6.3 vs 0.6 tokens agreed on average at 1-7 matched tokens).
pub const ALIGN_BONUS: u32 = 8;

fn rank(c: &Candidate) -> u32 {
    c.matched + if c.aligned { ALIGN_BONUS } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn store_of(family: &[Vec<u32>], global: &[Vec<u32>]) -> Store {
        let mut store = Store::new(4, false).unwrap();
        for (scope, seqs) in [(Scope::Family, family), (Scope::Global, global)] {
            for s in seqs {
                store.begin_sequence(scope);
                store.extend(scope, s).unwrap();
            }
        }
        store
    }

    /// Brute force: every (scope, pos) whose token equals the context's last, with a continuation
    /// inside its sequence, and its backward match length.
    fn all_occurrences(seqs: &[(Scope, &[Vec<u32>])], tail: &[u32]) -> Vec<(Scope, u32, u32)> {
        let mut out = Vec::new();
        for &(scope, list) in seqs {
            let mut offset = 0u32;
            for s in list {
                for i in 0..s.len().saturating_sub(1) {
                    let m = (0..MAX_MATCH.min(tail.len()).min(i + 1))
                        .take_while(|&j| s[i - j] == tail[tail.len() - 1 - j])
                        .count() as u32;
                    if m > 0 {
                        out.push((scope, offset + i as u32, m));
                    }
                }
                offset += s.len() as u32;
            }
        }
        out
    }

    #[test]
    fn finds_every_occurrence_with_its_match_length() {
        let fam = vec![vec![1, 2, 3, 4, 5, 9], vec![7, 3, 4, 5, 6, 3, 4, 5, 8]];
        let glob = vec![vec![2, 3, 4, 5, 1]];
        let store = store_of(&fam, &glob);
        let mut ix = OccurrenceIndex::new();
        ix.sync(&store);
        let tail = [2, 3, 4, 5];
        let mut out = Vec::new();
        ix.gather(&store, &tail, &[], GatherLimits::default(), &mut out);
        let got: Vec<(Scope, u32, u32)> = out.iter().map(|c| (c.scope, c.pos, c.matched)).collect();
        // Longest first (the family before the global scope on ties), then the 3-token matches of the
        // second family sequence.
        assert_eq!(got[0], (Scope::Family, 4, 4));
        assert_eq!(got[1], (Scope::Global, 3, 4));
        assert_eq!(got.len(), 4);
        assert!(got.contains(&(Scope::Family, 9, 3)));
        assert!(got.contains(&(Scope::Family, 13, 3)));
        // The continuation of the first: 9.
        assert_eq!(
            out[0].next_token(store.automaton(Scope::Family).log().tokens(), 0),
            Some(9)
        );
        assert_eq!(
            out[0].next_token(store.automaton(Scope::Family).log().tokens(), 1),
            None
        );
    }

    #[test]
    fn follows_appends_and_rebuilds() {
        let mut store = store_of(&[vec![1, 2, 3]], &[]);
        let mut ix = OccurrenceIndex::new();
        ix.sync(&store);
        store.extend(Scope::Family, &[1, 2]).unwrap();
        ix.sync(&store);
        let mut out = Vec::new();
        ix.gather(&store, &[1, 2], &[], GatherLimits::default(), &mut out);
        // The live end (position 4) has no continuation yet.
        assert_eq!(out.iter().map(|c| c.pos).collect::<Vec<_>>(), vec![1]);
        store.begin_sequence(Scope::Family);
        store.extend(Scope::Family, &[1, 2, 5]).unwrap();
        store.promote(Scope::Family, Scope::Global).unwrap();
        ix.sync(&store);
        ix.gather(&store, &[1, 2], &[], GatherLimits::default(), &mut out);
        let got: Vec<(Scope, u32)> = out.iter().map(|c| (c.scope, c.pos)).collect();
        assert_eq!(got, vec![(Scope::Global, 6), (Scope::Global, 1)]);
        assert_eq!(ix.num_indexed(), 8);
    }

    #[test]
    fn aligned_positions_are_found_and_marked() {
        // The last token 7 occurs many times; the pointer says the generation is at position 10.
        let seq: Vec<u32> = (0..20)
            .map(|i| if i % 3 == 0 { 7 } else { 100 + i })
            .collect();
        let store = store_of(&[seq], &[]);
        let mut ix = OccurrenceIndex::new();
        ix.sync(&store);
        let ptr = Pointer {
            scope: Scope::Family,
            start: 0,
            next: 10,
            generation: store.automaton(Scope::Family).generation(),
            anchored_at: 0,
        };
        let mut out = Vec::new();
        let limits = GatherLimits {
            max_candidates: 3,
            ..GatherLimits::default()
        };
        ix.gather(&store, &[55, 7], &[ptr], limits, &mut out);
        // 7 ends at 0, 3, ..., 18; continuations starting in [7, 12) are aligned: after 6 and 9.
        let got: Vec<(u32, bool)> = out.iter().map(|c| (c.pos, c.aligned)).collect();
        assert_eq!(got, vec![(9, true), (6, true), (18, false)]);
    }

    proptest! {
        #[test]
        fn gather_matches_brute_force(
            fam in prop::collection::vec(prop::collection::vec(0u32..4, 0..30), 0..4),
            glob in prop::collection::vec(prop::collection::vec(0u32..4, 0..30), 0..3),
            tail in prop::collection::vec(0u32..4, 1..12),
        ) {
            let store = store_of(&fam, &glob);
            let mut ix = OccurrenceIndex::new();
            ix.sync(&store);
            let limits = GatherLimits { max_candidates: 1000, unigram_max: 1000, unigram_below: 1000 };
            let mut out = Vec::new();
            ix.gather(&store, &tail, &[], limits, &mut out);
            let mut got: Vec<(Scope, u32, u32)> = out.iter().map(|c| (c.scope, c.pos, c.matched)).collect();
            got.sort_unstable_by_key(|&(s, p, _)| (s as u8, p));
            let want = all_occurrences(&[(Scope::Family, &fam), (Scope::Global, &glob)], &tail);
            prop_assert_eq!(got, want);
            // Ranked by match length.
            prop_assert!(out.windows(2).all(|w| w[0].matched >= w[1].matched));
        }
    }
}
