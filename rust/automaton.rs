//! [`SuffixAutomaton`]: a generalized suffix automaton over many token sequences, built online. The
//! [`Cursor`] that follows a live context through it and drafts lives in [`crate::cursor`].
//!
//! The automaton recognizes exactly the substrings of its sequences; a substring never spans two
//! sequences because every sequence restarts from the root (the online generalized construction).
//! `push` is amortized O(1). Each state remembers where its most recent occurrence ends (`end`),
//! where a different, earlier one ends (`prev_end`) and where its first occurrence ends (`first`), so
//! a draft is a slice of the stored tokens, read without walking the automaton, and the occurrence the
//! live sequence is writing right now (which has no continuation yet) never hides an earlier one that
//! does.
//!
//! Memory: five `u32` fields and a 4-byte transition head per state (at most `2n` states for `n`
//! tokens, about `1.3n` on text), 12 bytes per transition (at most `3n`), and the 4-byte token log:
//! 40-65 bytes per stored token in practice. [`SuffixAutomaton::memory_bytes`] reports it exactly.

use crate::capacity::{Capacity, Eviction};
use crate::codec::{Kind, Reader, Writer};
use crate::draft::DraftTree;
use crate::error::{invalid, Error, Result};
use crate::log::{default_load_limit, rebuild_from, replay, Replay, SequenceLog};
use crate::transitions::{Transitions, NONE};

pub use crate::cursor::{Cursor, DraftPolicy, DEFAULT_HISTORY};

/// The state of the empty string.
pub(crate) const ROOT: u32 = 0;

/// Occurrence counts per state, kept when the automaton is built `with_counts`.
///
/// `own[s]` counts the positions whose longest suffix is exactly state `s` (bumped on each push);
/// `total[s]` is the number of occurrences of `s` (its own count summed over its suffix-link subtree).
/// Totals are recomputed in O(states) whenever the automaton has grown by half since the last time,
/// so their cost amortizes to O(1) per token; between refreshes, states created since have
/// approximate totals.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) own: Vec<u32>,
    pub(crate) total: Vec<u32>,
    refreshed_at: usize,
}

/// A generalized suffix automaton over token sequences, growing one token at a time.
///
/// ```
/// use specscale::SuffixAutomaton;
/// let mut sam = SuffixAutomaton::new();
/// sam.begin_sequence().unwrap();
/// sam.extend(&[5, 6, 7, 5, 6, 8]).unwrap();
/// assert!(sam.contains(&[6, 7, 5]));
/// let mut cur = sam.cursor();
/// cur.extend(&sam, &[1, 5, 6]);
/// assert_eq!(cur.match_length(), 2);
/// // Most recent occurrence of [5, 6] with a continuation: followed by 8.
/// assert_eq!(cur.draft(&sam, 4, 1).tokens(), &[8]);
/// ```
#[derive(Clone, Debug)]
pub struct SuffixAutomaton {
    // The cursor (crate::cursor) reads states, links, occurrences and edges directly.
    pub(crate) len: Vec<u32>,
    pub(crate) link: Vec<u32>,
    pub(crate) end: Vec<u32>,
    pub(crate) prev_end: Vec<u32>,
    /// End of the state's first occurrence (its smallest end position), for
    /// [`DraftPolicy::Earliest`]: exact, since a new state first occurs where it is created and a
    /// clone where the state it was split from first did.
    pub(crate) first: Vec<u32>,
    pub(crate) trans: Transitions,
    pub(crate) log: SequenceLog,
    /// State of the whole open sequence so far (ROOT right after `begin_sequence`).
    last: u32,
    /// Bumped whenever states are renumbered (rebuild after removal or eviction); cursors resync.
    generation: u64,
    pub(crate) counts: Option<Counts>,
    capacity: Capacity,
}

impl Default for SuffixAutomaton {
    fn default() -> Self {
        Self::new()
    }
}

impl SuffixAutomaton {
    /// An empty automaton without occurrence counts.
    pub fn new() -> Self {
        Self::with_options(false)
    }

    /// An empty automaton; `counts` keeps occurrence counts for [`DraftPolicy::MostFrequent`]
    /// (8 more bytes per state and about 30% more push time).
    pub fn with_options(counts: bool) -> Self {
        let mut sam = SuffixAutomaton {
            len: Vec::new(),
            link: Vec::new(),
            end: Vec::new(),
            prev_end: Vec::new(),
            first: Vec::new(),
            trans: Transitions::default(),
            log: SequenceLog::default(),
            last: ROOT,
            generation: 0,
            counts: counts.then(Counts::default),
            capacity: Capacity::default(),
        };
        sam.add_state(0, NONE, NONE, NONE, NONE);
        sam
    }

    fn add_state(&mut self, len: u32, link: u32, end: u32, prev_end: u32, first: u32) -> u32 {
        self.len.push(len);
        self.link.push(link);
        self.end.push(end);
        self.prev_end.push(prev_end);
        self.first.push(first);
        if let Some(c) = &mut self.counts {
            c.own.push(0);
            c.total.push(0);
        }
        self.trans.add_node()
    }

    /// Records that state `s` also occurs ending at `pos` (just pushed). The previous end moves to
    /// `prev_end` only if a token follows it, so `prev_end` always names an occurrence with a
    /// continuation: the one `pos` (whose continuation is not written yet) must not hide.
    #[inline]
    fn touch(&mut self, s: u32, pos: u32) {
        let s = s as usize;
        let old = self.end[s];
        if old == pos {
            return;
        }
        if old != NONE && self.log.sequence_end(old) > old + 1 {
            self.prev_end[s] = old;
        }
        self.end[s] = pos;
    }

    /// Starts a new sequence (a sample, a round, a prompt) and returns its id. Matches never run
    /// across the boundary: the previous sequence is closed for good. Ids increase and are never
    /// reused; fails, changing nothing, once all [`crate::log::MAX_SEQUENCE_IDS`] have been issued.
    pub fn begin_sequence(&mut self) -> Result<u64> {
        let id = self.log.begin()?;
        self.last = ROOT;
        self.enforce_capacity();
        Ok(id)
    }

    /// Closes the open sequence, if any: the next push starts a new one.
    pub fn close_sequence(&mut self) {
        self.log.close();
    }

    /// Appends `token` to the open sequence (opening one if there is none). Amortized O(1), plus an
    /// eviction when a capacity is exceeded (see [`Self::set_capacity`]). Fails, changing nothing,
    /// past [`crate::log::MAX_TOKENS`] tokens.
    pub fn push(&mut self, token: u32) -> Result<()> {
        self.extend(std::slice::from_ref(&token))
    }

    /// Appends `tokens` to the open sequence (opening one if there is none). Fails, storing none of
    /// them, if they would take the automaton past [`crate::log::MAX_TOKENS`] tokens.
    pub fn extend(&mut self, tokens: &[u32]) -> Result<()> {
        self.check_extend(tokens.len())?;
        if !self.log.is_open() {
            self.begin_sequence()?;
        }
        self.reserve_tokens(tokens.len());
        for &t in tokens {
            self.append(t);
        }
        Ok(())
    }

    /// Fails unless `n` more tokens fit (see [`Self::extend`]).
    pub(crate) fn check_extend(&self, n: usize) -> Result<()> {
        self.log.check_room(n)
    }

    /// Makes room ahead of a bulk extend of `n` tokens (about 1.3 states and 1.6 edges per token on
    /// text), no more than a token capacity lets stay.
    pub(crate) fn reserve_tokens(&mut self, n: usize) {
        let kept = self.capacity.tokens().map_or(n, |c| c.min(n));
        self.reserve(kept.max(2) + kept / 3);
    }

    /// Appends one token to the open sequence (room checked, a sequence open) and applies the
    /// capacity. Amortized O(1).
    #[inline]
    pub(crate) fn append(&mut self, token: u32) {
        self.reserve(2);
        let pos = self.log.push(token);
        self.extend_state(token, pos);
        if let Some(c) = &mut self.counts {
            c.own[self.last as usize] += 1;
            if self.len.len() >= c.refreshed_at + c.refreshed_at / 2 + 64 {
                self.refresh_counts();
            }
        }
        self.enforce_capacity();
    }

    /// Makes room for `states` more states, growing by half (not doubling, as `Vec::push` would) so
    /// that spare capacity stays under a third of the arrays: memory is what bounds a long run.
    fn reserve(&mut self, states: usize) {
        let len = self.len.len();
        if self.len.capacity() - len >= states {
            return;
        }
        let grow = states.max(len / 2).max(64);
        for v in [
            &mut self.len,
            &mut self.link,
            &mut self.end,
            &mut self.prev_end,
            &mut self.first,
        ] {
            v.reserve_exact(grow);
        }
        self.trans.reserve_exact(grow, grow + grow / 4);
        self.log.reserve_exact(grow);
    }

    /// The online generalized suffix automaton step for `token` stored at global position `pos`.
    fn extend_state(&mut self, token: u32, pos: u32) {
        let last = self.last;
        // A sequence that repeats the start of an earlier one walks existing states.
        if let Some(q) = self.trans.get(last, token) {
            if self.len[q as usize] == self.len[last as usize] + 1 {
                self.touch(q, pos);
                self.last = q;
            } else {
                let clone = self.split(last, token, q);
                self.touch(clone, pos);
                self.last = clone;
            }
            return;
        }
        let cur = self.add_state(self.len[last as usize] + 1, NONE, pos, NONE, pos);
        let mut p = last;
        // Walk up the suffix path adding `token -> cur` until a state already has a `token` edge.
        let mut found = None;
        while p != NONE {
            if let Some(q) = self.trans.get_or_insert(p, token, cur) {
                found = Some(q);
                break;
            }
            p = self.link[p as usize];
        }
        let link = match found {
            None => ROOT,
            Some(q) => {
                let target = if self.len[q as usize] == self.len[p as usize] + 1 {
                    q
                } else {
                    self.split(p, token, q)
                };
                self.touch(target, pos);
                target
            }
        };
        self.link[cur as usize] = link;
        self.last = cur;
    }

    /// Clones `q` into a state of length `len(p) + 1` and redirects `p`'s suffix path to it.
    fn split(&mut self, mut p: u32, token: u32, q: u32) -> u32 {
        let qi = q as usize;
        let clone = self.add_state(
            self.len[p as usize] + 1,
            self.link[qi],
            self.end[qi],
            self.prev_end[qi],
            self.first[qi],
        );
        self.trans.copy_edges(q, clone);
        if let Some(c) = &mut self.counts {
            c.total[clone as usize] = c.total[qi];
        }
        while p != NONE && self.trans.get(p, token) == Some(q) {
            self.trans.set(p, token, clone);
            p = self.link[p as usize];
        }
        self.link[qi] = clone;
        clone
    }

    /// Recomputes occurrence totals from own counts: a counting sort by length, then each state adds
    /// its total to its suffix link's (children before parents). O(states).
    fn refresh_counts(&mut self) {
        let Some(c) = &mut self.counts else { return };
        let n = self.len.len();
        let max_len = self.len.iter().copied().max().unwrap_or(0) as usize;
        let mut bucket = vec![0u32; max_len + 2];
        for &l in &self.len {
            bucket[l as usize + 1] += 1;
        }
        for i in 1..bucket.len() {
            bucket[i] += bucket[i - 1];
        }
        let mut order = vec![0u32; n];
        for s in 0..n {
            let l = self.len[s] as usize;
            order[bucket[l] as usize] = s as u32;
            bucket[l] += 1;
        }
        c.total.copy_from_slice(&c.own);
        for &s in order.iter().rev() {
            let link = self.link[s as usize];
            if link != NONE {
                c.total[link as usize] += c.total[s as usize];
            }
        }
        c.refreshed_at = n;
    }

    /// Number of tokens stored (all live sequences).
    pub fn num_tokens(&self) -> usize {
        self.log.tokens().len()
    }

    /// Number of automaton states, including the root.
    pub fn num_states(&self) -> usize {
        self.len.len()
    }

    /// Number of live sequences.
    pub fn num_sequences(&self) -> usize {
        self.log.sequences().len()
    }

    /// The stored sequences.
    pub fn log(&self) -> &SequenceLog {
        &self.log
    }

    /// Whether occurrence counts are kept.
    pub fn has_counts(&self) -> bool {
        self.counts.is_some()
    }

    /// Changes every time states are renumbered (by a removal or an eviction).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether `pattern` occurs inside one stored sequence. O(pattern length).
    pub fn contains(&self, pattern: &[u32]) -> bool {
        self.walk(pattern).is_some()
    }

    /// The state reached by reading `pattern` from the root.
    fn walk(&self, pattern: &[u32]) -> Option<u32> {
        pattern.iter().try_fold(ROOT, |s, &t| self.trans.get(s, t))
    }

    /// Number of occurrences of `pattern` (exact after a count refresh; needs counts).
    pub fn occurrences(&mut self, pattern: &[u32]) -> Result<u64> {
        if self.counts.is_none() {
            return Err(invalid(
                "policy",
                "occurrence counts need an automaton built with counts",
            ));
        }
        if pattern.is_empty() {
            return Ok(self.num_tokens() as u64);
        }
        self.refresh_counts();
        let counts = self.counts.as_ref().expect("checked above");
        Ok(self
            .walk(pattern)
            .map_or(0, |s| u64::from(counts.total[s as usize])))
    }

    /// Removes the live sequence `id`. Rebuilds the automaton from the remaining sequences:
    /// O(remaining tokens). Cursors notice and resync on their next use.
    pub fn remove_sequence(&mut self, id: u64) -> Result<()> {
        self.remove_sequences(&[id])
    }

    /// Removes several live sequences with one rebuild. Fails, removing nothing, if any id is unknown.
    pub fn remove_sequences(&mut self, ids: &[u64]) -> Result<()> {
        let mut indices = ids
            .iter()
            .map(|&id| self.log.index_of(id))
            .collect::<Result<Vec<_>>>()?;
        indices.sort_unstable();
        indices.dedup();
        self.remove_indices(&indices);
        Ok(())
    }

    /// Removes the sequences at `indices` of the log (sorted, unique) with one rebuild.
    pub(crate) fn remove_indices(&mut self, indices: &[usize]) {
        self.log.remove_indices(indices);
        self.rebuild();
    }

    /// Removes every sequence (ids keep counting up).
    pub fn clear(&mut self) {
        let all: Vec<usize> = (0..self.log.sequences().len()).collect();
        self.remove_indices(&all);
    }

    /// Bounds the automaton to `tokens` tokens and/or `bytes` heap bytes (`None` lifts a bound) by
    /// the rule of [`crate::capacity`]: past a bound the oldest sequences are evicted down to half of
    /// it, and an open sequence that alone exceeds it keeps its most recent tokens. Each eviction
    /// rebuilds what stays: O(capacity), one replayed token per pushed token amortized.
    /// Fails, changing nothing, if a bound is 0.
    pub fn set_capacity(&mut self, tokens: Option<usize>, bytes: Option<usize>) -> Result<()> {
        self.capacity = Capacity::new(tokens, bytes)?;
        self.enforce_capacity();
        Ok(())
    }

    /// The bounds set by [`Self::set_capacity`].
    pub fn capacity(&self) -> (Option<usize>, Option<usize>) {
        (self.capacity.tokens(), self.capacity.bytes())
    }

    #[inline]
    fn enforce_capacity(&mut self) {
        if let Some(e) = self.capacity.plan(&self.log, || self.memory_bytes()) {
            self.evict(&e);
        }
    }

    /// Applies an eviction (planned by this automaton's capacity or its store scope's) with one
    /// rebuild of what stays. O(tokens kept).
    pub(crate) fn evict(&mut self, e: &Eviction) {
        self.log.evict(e);
        self.rebuild();
    }

    /// Rebuilds all states from the log, keeping sequence ids and the open sequence; cursors resync.
    fn rebuild(&mut self) {
        let log = std::mem::take(&mut self.log);
        let mut fresh = SuffixAutomaton::with_options(self.counts.is_some());
        fresh.generation = self.generation + 1;
        rebuild_from(&mut fresh, &log);
        fresh.capacity = self.capacity;
        *self = fresh;
    }

    /// Releases spare capacity of every array.
    pub fn shrink_to_fit(&mut self) {
        self.len.shrink_to_fit();
        self.link.shrink_to_fit();
        self.end.shrink_to_fit();
        self.prev_end.shrink_to_fit();
        self.first.shrink_to_fit();
        self.trans.shrink_to_fit();
        self.log.shrink_to_fit();
        if let Some(c) = &mut self.counts {
            c.own.shrink_to_fit();
            c.total.shrink_to_fit();
        }
    }

    /// Heap bytes held by the automaton and its token log.
    pub fn memory_bytes(&self) -> usize {
        let counts = self
            .counts
            .as_ref()
            .map_or(0, |c| (c.own.capacity() + c.total.capacity()) * 4);
        (self.len.capacity()
            + self.link.capacity()
            + self.end.capacity()
            + self.prev_end.capacity()
            + self.first.capacity())
            * 4
            + self.trans.memory_bytes()
            + self.log.memory_bytes()
            + counts
    }

    /// A cursor at the empty context.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(self)
    }

    /// The chain of up to `max_tokens` tokens that followed the most recent occurrence (with a
    /// continuation) of the longest suffix of `context` of at least `min_match` tokens; looks at the
    /// last `window` tokens of the context at most. Stateless: O(window + max_tokens).
    pub fn draft_for(
        &self,
        context: &[u32],
        max_tokens: usize,
        min_match: u32,
        window: usize,
    ) -> DraftTree {
        let mut cur = self.cursor();
        let start = context.len().saturating_sub(window);
        cur.extend(self, &context[start..]);
        cur.draft(self, max_tokens, min_match)
    }

    /// Serializes the automaton (its sequences and settings; states are rebuilt on load).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::Automaton);
        self.write(&mut w);
        w.finish()
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.u8(self.counts.is_some() as u8);
        write_capacity(w, &self.capacity, true);
        self.log.write(w);
    }

    /// Restores an automaton written by [`Self::to_bytes`]. Fails with [`Error::Corrupt`] (or
    /// `Truncated`, `Version`) on bytes that are not such an automaton, and with
    /// [`Error::InvalidArgument`] if it would take more than [`crate::log::default_load_limit`] bytes.
    /// O(tokens).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with_limit(bytes, default_load_limit(bytes.len()))
    }

    /// [`Self::from_bytes`] with an explicit bound on the memory the loaded automaton may take.
    pub fn from_bytes_with_limit(bytes: &[u8], max_bytes: usize) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::Automaton)?;
        let sam = Self::read(&mut r, max_bytes)?;
        r.finish()?;
        Ok(sam)
    }

    /// Reads what [`Self::write`] wrote, checking the counts flag, the capacities (the stored tokens
    /// fit the token bound) and the log before building anything.
    pub(crate) fn read(r: &mut Reader, max_bytes: usize) -> Result<Self> {
        let (counts, capacity, log) = Self::read_parts(r)?;
        check_within_capacity(&capacity, &log)?;
        Self::from_parts(counts, capacity, &log, max_bytes)
    }

    /// The counts flag, capacity and log [`Self::write`] wrote, each checked on its own.
    pub(crate) fn read_parts(r: &mut Reader) -> Result<(bool, Capacity, SequenceLog)> {
        let counts = match r.u8()? {
            0 => false,
            1 => true,
            b => {
                return Err(Error::Corrupt {
                    reason: format!("counts flag is {b}, expected 0 or 1"),
                })
            }
        };
        let capacity = read_capacity(r, true)?;
        let log = SequenceLog::read(r)?;
        Ok((counts, capacity, log))
    }

    /// Builds the automaton of a checked log, failing once it takes more than `max_bytes`.
    pub(crate) fn from_parts(
        counts: bool,
        capacity: Capacity,
        log: &SequenceLog,
        max_bytes: usize,
    ) -> Result<Self> {
        let mut sam = SuffixAutomaton::with_options(counts);
        replay(&mut sam, log, max_bytes)?;
        sam.capacity = capacity;
        Ok(sam)
    }
}

impl Replay for SuffixAutomaton {
    fn replay_begin(&mut self, id: u64) {
        self.last = ROOT;
        self.log.begin_with_id(id);
    }

    fn replay_push(&mut self, token: u32) {
        let pos = self.log.push(token);
        self.extend_state(token, pos);
        if let Some(c) = &mut self.counts {
            c.own[self.last as usize] += 1;
        }
    }

    fn replay_end(&mut self, next_id: u64, open: bool) {
        // Ids are never reused, even those of sequences removed at the end.
        self.log.set_next_id(next_id);
        if !open {
            self.log.close();
            self.last = ROOT;
        }
        self.refresh_counts();
        self.shrink_to_fit();
    }

    fn memory_bytes(&self) -> usize {
        SuffixAutomaton::memory_bytes(self)
    }
}

/// Reads a token bound and, if `with_bytes`, a byte bound, as written by [`write_capacity`] (0 = none).
pub(crate) fn read_capacity(r: &mut Reader, with_bytes: bool) -> Result<Capacity> {
    let mut bound = |what: &str| -> Result<Option<usize>> {
        let v = r.u64()?;
        let v = usize::try_from(v).map_err(|_| Error::Corrupt {
            reason: format!("{what} capacity {v} does not fit this machine's address space"),
        })?;
        Ok((v != 0).then_some(v))
    };
    let tokens = bound("token")?;
    let bytes = if with_bytes { bound("byte")? } else { None };
    Capacity::new(tokens, bytes)
}

/// Writes the bounds [`read_capacity`] reads.
pub(crate) fn write_capacity(w: &mut Writer, capacity: &Capacity, with_bytes: bool) {
    w.u64(capacity.tokens().map_or(0, |c| c as u64));
    if with_bytes {
        w.u64(capacity.bytes().map_or(0, |c| c as u64));
    }
}

/// A structure never holds more tokens than its token bound (evictions run on every push), so a
/// saved one that does was altered.
pub(crate) fn check_within_capacity(capacity: &Capacity, log: &SequenceLog) -> Result<()> {
    match capacity.tokens() {
        Some(c) if log.tokens().len() > c => Err(Error::Corrupt {
            reason: format!(
                "holds {} tokens, more than its token capacity {c}",
                log.tokens().len()
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Brute force: does `pat` occur inside one of `seqs`?
    fn occurs(seqs: &[Vec<u32>], pat: &[u32]) -> bool {
        pat.is_empty() || seqs.iter().any(|s| s.windows(pat.len()).any(|w| w == pat))
    }

    fn build(seqs: &[Vec<u32>], counts: bool) -> SuffixAutomaton {
        let mut sam = SuffixAutomaton::with_options(counts);
        for s in seqs {
            sam.begin_sequence().unwrap();
            sam.extend(s).unwrap();
        }
        sam
    }

    /// Longest suffix of `ctx` occurring in `seqs`.
    fn longest_suffix_match(seqs: &[Vec<u32>], ctx: &[u32]) -> usize {
        (0..=ctx.len())
            .rev()
            .find(|&l| occurs(seqs, &ctx[ctx.len() - l..]))
            .unwrap()
    }

    fn seqs_strategy() -> impl Strategy<Value = Vec<Vec<u32>>> {
        prop::collection::vec(prop::collection::vec(0u32..4, 0..30), 1..5)
    }

    proptest! {
        #[test]
        fn recognizes_exactly_the_substrings(seqs in seqs_strategy(), pat in prop::collection::vec(0u32..4, 0..7)) {
            let sam = build(&seqs, false);
            prop_assert_eq!(sam.contains(&pat), occurs(&seqs, &pat));
            // Every substring of every sequence is recognized.
            for s in &seqs {
                for i in 0..s.len() {
                    for j in i..=s.len().min(i + 8) {
                        prop_assert!(sam.contains(&s[i..j]));
                    }
                }
            }
            // Nothing spans a boundary unless it occurs inside a sequence.
            for w in seqs.windows(2) {
                if let (Some(&a), Some(&b)) = (w[0].last(), w[1].first()) {
                    prop_assert_eq!(sam.contains(&[a, b]), occurs(&seqs, &[a, b]));
                }
            }
            prop_assert!(sam.num_states() <= 2 * sam.num_tokens().max(1) + 1);
        }

        #[test]
        fn cursor_tracks_the_longest_suffix_and_drafts_real_continuations(
            seqs in seqs_strategy(),
            ctx in prop::collection::vec(0u32..4, 0..40),
            k in 1usize..10,
            min_match in 1u32..4,
        ) {
            let sam = build(&seqs, true);
            let mut cur = sam.cursor();
            for i in 0..ctx.len() {
                cur.advance(&sam, ctx[i]);
                let seen = &ctx[..=i];
                prop_assert_eq!(cur.match_length() as usize, longest_suffix_match(&seqs, seen));
                for policy in [DraftPolicy::MostRecent, DraftPolicy::MostFrequent] {
                    let d = cur.draft_with(&sam, k, min_match, policy).unwrap();
                    prop_assert!(d.len() <= k);
                    prop_assert!(d.is_chain());
                    if d.is_empty() {
                        continue;
                    }
                    let m = d.match_length as usize;
                    prop_assert!(m >= min_match as usize && m <= cur.match_length() as usize);
                    let mut whole = seen[seen.len() - m..].to_vec();
                    whole.extend_from_slice(d.tokens());
                    prop_assert!(occurs(&seqs, &whole), "draft {:?} after {:?} is not stored", d.tokens(), &seen[seen.len() - m..]);
                }
            }
        }

        #[test]
        fn drafts_continue_a_suffix_no_longer_than_the_best(seqs in seqs_strategy(), ctx in prop::collection::vec(0u32..4, 1..20)) {
            // The draft continues a suffix that occurs with a token after it, no longer than the
            // longest such suffix. (Exactly the longest only where no closed sequence ends inside the
            // match: an occurrence at a sequence's very end is recorded, the others may not be.)
            let sam = build(&seqs, false);
            let mut cur = sam.cursor();
            cur.extend(&sam, &ctx);
            let d = cur.draft(&sam, 4, 1);
            let continued = |l: usize| {
                let pat = &ctx[ctx.len() - l..];
                seqs.iter().any(|s| s.len() > l && s.windows(l + 1).any(|w| &w[..l] == pat))
            };
            let best = (1..=ctx.len()).rev().find(|&l| continued(l)).unwrap_or(0);
            prop_assert!(d.match_length as usize <= best);
            prop_assert_eq!(d.is_empty(), d.match_length == 0);
            if best == 0 {
                prop_assert!(d.is_empty());
            }
        }

        #[test]
        fn live_sequence_drafts_from_its_own_earlier_text(
            prefix in prop::collection::vec(0u32..3, 0..30),
            live in prop::collection::vec(0u32..3, 1..40),
        ) {
            // The generated text is pushed into the automaton the cursor follows: the draft must still
            // continue an earlier occurrence, never the context's own end.
            let mut sam = SuffixAutomaton::new();
            sam.begin_sequence().unwrap();
            sam.extend(&prefix).unwrap();
            sam.begin_sequence().unwrap();
            let mut cur = sam.cursor();
            let mut written = Vec::new();
            for &t in &live {
                sam.push(t).unwrap();
                cur.advance(&sam, t);
                written.push(t);
                let d = cur.draft(&sam, 5, 1);
                let seqs = vec![prefix.clone(), written.clone()];
                let continued = |l: usize| {
                    let pat = &written[written.len() - l..];
                    seqs.iter().any(|s| s.len() > l && s.windows(l + 1).any(|w| &w[..l] == pat))
                };
                let best = (1..=written.len()).rev().find(|&l| continued(l)).unwrap_or(0);
                prop_assert_eq!(d.match_length as usize, best);
                if !d.is_empty() {
                    let mut whole = written[written.len() - best..].to_vec();
                    whole.extend_from_slice(d.tokens());
                    prop_assert!(occurs(&seqs, &whole));
                }
            }
        }

        #[test]
        fn removal_and_save_load_match_a_fresh_build(seqs in seqs_strategy(), victim in 0usize..5, cut in 0usize..64) {
            let mut sam = build(&seqs, true);
            let ids: Vec<u64> = sam.log().sequences().iter().map(|s| s.id).collect();
            let victim = victim % ids.len();
            let mut cur = sam.cursor();
            cur.extend(&sam, &seqs[victim]);
            sam.remove_sequence(ids[victim]).unwrap();
            let rest: Vec<Vec<u32>> = seqs.iter().enumerate().filter(|&(i, _)| i != victim).map(|(_, s)| s.clone()).collect();
            for s in &seqs {
                for i in 0..s.len() {
                    let pat = &s[i..s.len().min(i + 5)];
                    prop_assert_eq!(sam.contains(pat), occurs(&rest, pat));
                }
            }
            // The cursor resyncs to the rebuilt automaton.
            cur.advance(&sam, 0);
            let mut ctx = seqs[victim].clone();
            ctx.push(0);
            prop_assert_eq!(cur.match_length() as usize, longest_suffix_match(&rest, &ctx));
            let gone = matches!(sam.remove_sequence(ids[victim]), Err(Error::UnknownSequence { .. }));
            prop_assert!(gone);
            let bytes = sam.to_bytes();
            let back = SuffixAutomaton::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back.log().tokens(), sam.log().tokens());
            prop_assert_eq!(back.log().sequences(), sam.log().sequences());
            prop_assert_eq!(back.num_states(), sam.num_states());
            let cut = cut % bytes.len();
            prop_assert!(SuffixAutomaton::from_bytes(&bytes[..cut]).is_err());
        }
    }

    proptest! {
        #[test]
        fn draft_trees_hold_real_continuations(
            seqs in seqs_strategy(),
            ctx in prop::collection::vec(0u32..4, 1..12),
            k in 1usize..4, depth in 1usize..6, budget in 0usize..24,
        ) {
            let sam = build(&seqs, true);
            let mut cur = sam.cursor();
            cur.extend(&sam, &ctx);
            let tree = cur.draft_tree(&sam, k, depth, budget, 1).unwrap();
            prop_assert!(tree.len() <= budget);
            prop_assert!(tree.depths().iter().all(|&d| d as usize <= depth));
            let mut kids = vec![0usize; tree.len() + 1];
            for &p in tree.parents() {
                kids[(p + 1) as usize] += 1;
            }
            prop_assert!(kids.iter().all(|&c| c <= k));
            let m = tree.match_length as usize;
            for path in tree.paths() {
                let mut whole = ctx[ctx.len() - m..].to_vec();
                whole.extend(path.iter().map(|&n| tree.tokens()[n]));
                prop_assert!(occurs(&seqs, &whole), "{:?} is not stored", whole);
            }
        }
    }

    #[test]
    fn most_recent_occurrence_wins() {
        let mut sam = SuffixAutomaton::new();
        sam.begin_sequence().unwrap();
        sam.extend(&[1, 2, 3, 9, 1, 2, 4]).unwrap();
        let mut cur = sam.cursor();
        cur.extend(&sam, &[1, 2]);
        assert_eq!(cur.draft(&sam, 3, 1).tokens(), &[4]);
        sam.begin_sequence().unwrap();
        sam.extend(&[7, 1, 2, 5, 5]).unwrap();
        assert_eq!(cur.draft(&sam, 3, 1).tokens(), &[5, 5]);
    }

    #[test]
    fn most_frequent_continuation_wins() {
        let mut sam = SuffixAutomaton::with_options(true);
        for tail in [[3, 3], [3, 3], [4, 4]] {
            sam.begin_sequence().unwrap();
            sam.extend(&[1, 2]).unwrap();
            sam.extend(&tail).unwrap();
        }
        let mut cur = sam.cursor();
        cur.extend(&sam, &[1, 2]);
        assert_eq!(cur.draft(&sam, 2, 1).tokens(), &[4, 4]);
        assert_eq!(
            cur.draft_with(&sam, 2, 1, DraftPolicy::MostFrequent)
                .unwrap()
                .tokens(),
            &[3, 3]
        );
        assert_eq!(sam.occurrences(&[1, 2, 3]).unwrap(), 2);
        let tree = cur.draft_tree(&sam, 2, 2, 8, 1).unwrap();
        assert_eq!(tree.tokens(), &[3, 3, 4, 4]);
        assert_eq!(tree.parents(), &[-1, 0, -1, 2]);
        assert!(tree.scores()[0] > tree.scores()[2]);
        // The policy is checked whatever the context: an automaton without counts refuses it even
        // where nothing matches (it used to answer an empty draft there and fail elsewhere).
        assert!(SuffixAutomaton::new()
            .cursor()
            .draft_with(&SuffixAutomaton::new(), 1, 1, DraftPolicy::MostFrequent)
            .is_err());
    }

    #[test]
    fn capacity_evicts_oldest_sequences() {
        let mut sam = SuffixAutomaton::new();
        sam.set_capacity(Some(100), None).unwrap();
        let mut ids = Vec::new();
        for i in 0..20u32 {
            ids.push(sam.begin_sequence().unwrap());
            sam.extend(&[i; 10]).unwrap();
            assert!(sam.num_tokens() <= 100 + 10);
        }
        assert!(!sam.contains(&[0]));
        assert!(sam.contains(&[19, 19]));
        assert!(sam.remove_sequence(ids[0]).is_err());
        sam.set_capacity(None, Some(4096)).unwrap();
        for _ in 0..50 {
            sam.begin_sequence().unwrap();
            sam.extend(&(0..100).collect::<Vec<u32>>()).unwrap();
        }
        assert!(
            sam.memory_bytes() < 3 * 4096,
            "{} bytes",
            sam.memory_bytes()
        );
    }

    #[test]
    fn an_open_sequence_over_capacity_keeps_its_most_recent_window() {
        // It used to stay whole: memory grew without bound and every push rescanned the maps.
        let mut sam = SuffixAutomaton::with_options(true);
        sam.set_capacity(Some(1000), None).unwrap();
        let id = sam.begin_sequence().unwrap();
        let seq: Vec<u32> = (0..20_000u32).map(|i| i % 1500).collect();
        sam.extend(&seq).unwrap();
        assert!(sam.num_tokens() <= 1000);
        assert_eq!(sam.log().sequences()[0].id, id);
        let kept = sam.log().sequence_tokens(0).to_vec();
        assert_eq!(kept, seq[seq.len() - kept.len()..]);
        assert!(sam.contains(&seq[seq.len() - 700..]));
        assert!(!sam.contains(&[0, 1, 2, 3]) || kept.windows(4).any(|w| w == [0, 1, 2, 3]));
        // The cursor drafts the window's continuation.
        let mut cur = sam.cursor();
        cur.extend(&sam, &seq[seq.len() - 700..seq.len() - 5]);
        assert_eq!(cur.draft(&sam, 5, 1).tokens(), &seq[seq.len() - 5..]);
        assert!(sam.memory_bytes() < 200 * 1000);
        // A byte bound cuts the window too.
        let mut sam = SuffixAutomaton::new();
        sam.set_capacity(None, Some(50_000)).unwrap();
        sam.extend(&seq).unwrap();
        assert!(sam.memory_bytes() <= 2 * 50_000, "{}", sam.memory_bytes());
    }

    #[test]
    fn a_zero_token_draft_reports_the_cursor_match() {
        let sam = build(&[vec![1, 2, 3]], true);
        let mut cur = sam.cursor();
        cur.extend(&sam, &[1, 2]);
        for policy in [
            DraftPolicy::MostRecent,
            DraftPolicy::MostFrequent,
            DraftPolicy::Earliest,
        ] {
            let d = cur.draft_with(&sam, 0, 1, policy).unwrap();
            assert!(d.is_empty());
            assert_eq!(d.match_length, cur.match_length());
        }
        assert_eq!(cur.draft_tree(&sam, 2, 3, 0, 1).unwrap().match_length, 2);
    }
}
