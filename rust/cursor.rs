//! [`Cursor`]: follows a live context through a [`SuffixAutomaton`] and drafts from it, by a
//! [`DraftPolicy`] (chains) or best first by occurrence counts (trees).
//!
//! The cursor knows the longest suffix of its context that occurs in the automaton (its state and
//! length). A draft continues the longest such suffix that has a continuation: the policy picks which
//! stored occurrence is copied (most recent, earliest) or walks the most frequent transitions.

use std::collections::VecDeque;

use crate::automaton::{Counts, SuffixAutomaton, ROOT};
use crate::draft::{best_first, check_tree_args, Child, DraftTree};
use crate::error::{invalid, Result};
use crate::transitions::NONE;

/// Which stored occurrence a draft continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DraftPolicy {
    /// Copy the tokens that followed the most recent occurrence of the matched suffix.
    #[default]
    MostRecent,
    /// Walk the automaton, at each step taking the continuation seen most often after the current
    /// suffix. Needs an automaton built with occurrence counts (`with_counts`).
    MostFrequent,
    /// Copy the tokens that followed the earliest stored occurrence of the matched suffix that has a
    /// continuation (SAM-Decoding's reference copies from the first end position of the state).
    /// Exact, and unchanged by removals and evictions (they rebuild the first positions).
    Earliest,
}

/// A [`DraftPolicy`] with what it reads, once checked.
#[derive(Clone, Copy)]
enum Chain<'a> {
    MostRecent,
    MostFrequent(&'a Counts),
    Earliest,
}

/// Tokens of context a cursor keeps to resync after its automaton is rebuilt.
pub const DEFAULT_HISTORY: usize = 1 << 14;

/// Follows a live context through a [`SuffixAutomaton`], one token at a time, always knowing the
/// longest suffix of the context that occurs in the automaton (`match_length`) and its state.
///
/// Advancing is amortized O(1) per token. A cursor holds no reference to its automaton: pass the same
/// automaton to every call. If the automaton grows between calls the cursor stays valid; if it is
/// rebuilt (removal, eviction) the cursor re-reads the last `history_limit` tokens of its context.
#[derive(Clone, Debug)]
pub struct Cursor {
    state: u32,
    length: u32,
    generation: u64,
    history: VecDeque<u32>,
    history_limit: usize,
}

impl Cursor {
    /// A cursor at the empty context of `sam`.
    pub fn new(sam: &SuffixAutomaton) -> Self {
        Cursor {
            state: ROOT,
            length: 0,
            generation: sam.generation(),
            history: Default::default(),
            history_limit: DEFAULT_HISTORY,
        }
    }

    /// Length of the longest suffix of the context that occurs in the automaton.
    pub fn match_length(&self) -> u32 {
        self.length
    }

    /// Forgets the context.
    pub fn reset(&mut self, sam: &SuffixAutomaton) {
        *self = Cursor {
            history_limit: self.history_limit,
            ..Cursor::new(sam)
        };
    }

    /// Brings the cursor's state up to date with changes of `sam` since the last call.
    #[inline]
    fn sync(&mut self, sam: &SuffixAutomaton) {
        if self.generation != sam.generation() {
            let history: Vec<u32> = self.history.drain(..).collect();
            self.reset(sam);
            for t in history {
                self.advance(sam, t);
            }
            return;
        }
        // A split may have moved the shorter strings of our state to a new clone: follow links while
        // the match is no longer than the link's longest string.
        while self.state != ROOT && sam.len[sam.link[self.state as usize] as usize] >= self.length {
            self.state = sam.link[self.state as usize];
        }
    }

    /// Appends `token` to the context. Amortized O(1).
    pub fn advance(&mut self, sam: &SuffixAutomaton, token: u32) {
        self.sync(sam);
        if self.history.len() == self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(token);
        let (mut s, mut l) = (self.state, self.length);
        loop {
            if let Some(next) = sam.trans.get(s, token) {
                s = next;
                l += 1;
                break;
            }
            if s == ROOT {
                l = 0;
                break;
            }
            s = sam.link[s as usize];
            l = sam.len[s as usize];
        }
        self.state = s;
        self.length = l;
    }

    /// Appends `tokens` to the context.
    pub fn extend(&mut self, sam: &SuffixAutomaton, tokens: &[u32]) {
        for &t in tokens {
            self.advance(sam, t);
        }
    }

    /// Drafts up to `max_tokens` tokens with [`DraftPolicy::MostRecent`]; see [`Self::draft_with`].
    pub fn draft(&mut self, sam: &SuffixAutomaton, max_tokens: usize, min_match: u32) -> DraftTree {
        self.sync(sam);
        self.chain(sam, max_tokens, min_match, Chain::MostRecent)
    }

    /// Drafts a chain of up to `max_tokens` tokens that continue the longest suffix of the context
    /// that has a continuation in the automaton and is at least `min_match` long (empty draft
    /// otherwise). The draft's `match_length` is that suffix's length; a zero-token draft reports the
    /// cursor's [`Self::match_length`] (nothing was looked up). O(max_tokens) plus, rarely, a walk up
    /// suffix links past occurrences that end their sequence.
    ///
    /// Any `max_tokens` is safe: a chain is read out of one stored sequence (or walks the acyclic
    /// automaton, which ends within the longest one), so it never holds more than what is stored.
    /// Fails, whatever the context, if the policy needs occurrence counts the automaton does not
    /// keep.
    pub fn draft_with(
        &mut self,
        sam: &SuffixAutomaton,
        max_tokens: usize,
        min_match: u32,
        policy: DraftPolicy,
    ) -> Result<DraftTree> {
        let how = match policy {
            DraftPolicy::MostRecent => Chain::MostRecent,
            DraftPolicy::Earliest => Chain::Earliest,
            DraftPolicy::MostFrequent => {
                Chain::MostFrequent(sam.counts.as_ref().ok_or_else(|| {
                    invalid(
                        "policy",
                        "'frequent' drafting needs an automaton built with counts=True",
                    )
                })?)
            }
        };
        self.sync(sam);
        Ok(self.chain(sam, max_tokens, min_match, how))
    }

    /// The chain draft of [`Self::draft_with`], arguments checked and the cursor in sync.
    fn chain(
        &self,
        sam: &SuffixAutomaton,
        max_tokens: usize,
        min_match: u32,
        how: Chain<'_>,
    ) -> DraftTree {
        if max_tokens == 0 {
            let mut d = DraftTree::empty();
            d.match_length = self.length;
            return d;
        }
        let (mut s, mut l) = (self.state, self.length);
        while s != ROOT && l >= min_match.max(1) {
            let draft = match how {
                Chain::MostRecent => read_continuation(sam, s, max_tokens),
                Chain::Earliest => read_earliest(sam, s, max_tokens),
                Chain::MostFrequent(counts) => walk_most_frequent(sam, counts, s, max_tokens),
            };
            if let Some(mut d) = draft {
                d.match_length = l;
                return d;
            }
            s = sam.link[s as usize];
            l = sam.len[s as usize];
        }
        DraftTree::empty()
    }

    /// A draft tree of at most `budget` nodes, `depth` levels and `k` children per node, continuing
    /// the longest suffix of the context (at least `min_match` long) that has a continuation: each
    /// node's score is the product of the conditional frequencies of the transitions on its path, and
    /// nodes are taken best first (REST-style retrieval drafting). Needs an automaton built with
    /// counts; without them the tree is the most-recent chain. An empty tree (`budget` or `depth` 0)
    /// reports the cursor's match length.
    ///
    /// Fails if `k` is 0 or `depth`/`budget` exceed [`crate::draft::MAX_DRAFT_NODES`].
    /// O(budget * (k + log budget)) plus the out-degree of the visited states.
    pub fn draft_tree(
        &mut self,
        sam: &SuffixAutomaton,
        k: usize,
        depth: usize,
        budget: usize,
        min_match: u32,
    ) -> Result<DraftTree> {
        check_tree_args(k, depth, budget)?;
        self.sync(sam);
        let Some(counts) = sam.counts.as_ref() else {
            return Ok(self.chain(sam, budget.min(depth), min_match, Chain::MostRecent));
        };
        if budget == 0 || depth == 0 {
            let mut d = DraftTree::empty();
            d.match_length = self.length;
            return Ok(d);
        }
        let (mut s, mut l) = (self.state, self.length);
        while s != ROOT && l >= min_match.max(1) && sam.trans.is_leaf(s) {
            s = sam.link[s as usize];
            l = sam.len[s as usize];
        }
        if s == ROOT || l < min_match.max(1) {
            return Ok(DraftTree::empty());
        }
        // A node never has more than `budget` children in the tree: offering more is wasted work.
        let k = k.min(budget);
        let mut branches: Vec<(u32, u32, u32)> = Vec::new();
        let mut tree = best_first(depth, budget, s, |_, _, &state, out| {
            most_frequent_branches(sam, counts, state, k, &mut branches, out)
        });
        tree.match_length = l;
        Ok(tree)
    }
}

/// Tokens after the most recent recorded occurrence of `s` that has any, if one does.
fn read_continuation(sam: &SuffixAutomaton, s: u32, max_tokens: usize) -> Option<DraftTree> {
    let tokens = sam.log.tokens();
    for e in [sam.end[s as usize], sam.prev_end[s as usize]] {
        if e == NONE {
            continue;
        }
        let stop = sam.log.sequence_end(e) as usize;
        let from = e as usize + 1;
        if from < stop {
            let to = stop.min(from.saturating_add(max_tokens));
            return Some(DraftTree::chain(tokens[from..to].to_vec()));
        }
    }
    None
}

/// Tokens after the earliest occurrence of `s` that has a continuation, if one does. Its first
/// occurrence, unless that one ends its sequence (or is the live sequence's last token): then the
/// earliest occurrence followed by some token `t` is one before the first occurrence of `s t`, the
/// state `s` reaches on `t`, minimized over its transitions. O(max_tokens), plus O(out-degree of `s`)
/// in that rare case.
fn read_earliest(sam: &SuffixAutomaton, s: u32, max_tokens: usize) -> Option<DraftTree> {
    let has_next = |e: u32| sam.log.sequence_end(e) > e + 1;
    let mut from = sam.first[s as usize];
    if from == NONE || !has_next(from) {
        from = NONE;
        sam.trans.for_each(s, |_, target| {
            from = from.min(sam.first[target as usize] - 1);
        });
        if from == NONE {
            return None;
        }
    }
    let stop = sam.log.sequence_end(from) as usize;
    let start = from as usize + 1;
    let to = stop.min(start.saturating_add(max_tokens));
    Some(DraftTree::chain(sam.log.tokens()[start..to].to_vec()))
}

/// Occurrences of the string ending in `target` (at least 1, even between count refreshes).
#[inline]
fn occurrences(counts: &Counts, target: u32) -> u32 {
    counts.total[target as usize]
        .max(counts.own[target as usize])
        .max(1)
}

/// The `k` most frequent transitions of `state` as tree children, scored by their share of the
/// state's continuations (ties: smaller token first). `scratch` is reused across calls.
fn most_frequent_branches(
    sam: &SuffixAutomaton,
    counts: &Counts,
    state: u32,
    k: usize,
    scratch: &mut Vec<(u32, u32, u32)>,
    out: &mut Vec<Child<u32>>,
) {
    scratch.clear();
    sam.trans.for_each(state, |token, target| {
        scratch.push((occurrences(counts, target), token, target));
    });
    let total: u64 = scratch.iter().map(|&(c, _, _)| u64::from(c)).sum();
    scratch.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    out.extend(scratch.iter().take(k).map(|&(c, token, target)| Child {
        token,
        score: c as f32 / total as f32,
        state: target,
    }));
}

/// Greedy walk from `s` along the most frequent transition; `None` if `s` has no transition.
fn walk_most_frequent(
    sam: &SuffixAutomaton,
    counts: &Counts,
    mut s: u32,
    max_tokens: usize,
) -> Option<DraftTree> {
    let mut out = Vec::new();
    let mut scores = Vec::new();
    while out.len() < max_tokens {
        let mut best: Option<(u32, u32, u32)> = None; // (count, token, target)
        let mut sum = 0u64;
        sam.trans.for_each(s, |token, target| {
            let c = occurrences(counts, target);
            sum += u64::from(c);
            let better = match best {
                None => true,
                Some((bc, bt, _)) => c > bc || (c == bc && token < bt),
            };
            if better {
                best = Some((c, token, target));
            }
        });
        let Some((c, token, target)) = best else {
            break;
        };
        out.push(token);
        scores.push(c as f32 / sum as f32);
        s = target;
    }
    if out.is_empty() {
        return None;
    }
    let n = out.len();
    Some(
        DraftTree::new(out, (0..n as i32).map(|i| i - 1).collect(), Some(scores))
            .expect("a chain is a tree"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The stored sequences, read back from the automaton's log (what evictions left).
    fn stored(sam: &SuffixAutomaton) -> Vec<Vec<u32>> {
        let log = sam.log();
        (0..log.sequences().len())
            .map(|i| log.sequence_tokens(i).to_vec())
            .collect()
    }

    /// Brute force for [`DraftPolicy::Earliest`]: the longest suffix of `ctx` (at least `min_match`)
    /// that occurs with a token after it, and up to `k` tokens after its first such occurrence in
    /// log order; `(draft, match_length)`.
    fn earliest_oracle(
        seqs: &[Vec<u32>],
        ctx: &[u32],
        k: usize,
        min_match: usize,
    ) -> (Vec<u32>, usize) {
        for l in (min_match.max(1)..=ctx.len()).rev() {
            let pat = &ctx[ctx.len() - l..];
            for s in seqs {
                if let Some(j) = (0..s.len().saturating_sub(l)).find(|&j| &s[j..j + l] == pat) {
                    return (s[j + l..s.len().min(j + l + k)].to_vec(), l);
                }
            }
        }
        (Vec::new(), 0)
    }

    fn check_earliest(
        sam: &SuffixAutomaton,
        cur: &mut Cursor,
        ctx: &[u32],
        k: usize,
        min_match: u32,
    ) -> std::result::Result<(), TestCaseError> {
        let d = cur
            .draft_with(sam, k, min_match, DraftPolicy::Earliest)
            .unwrap();
        let (tokens, m) = earliest_oracle(&stored(sam), ctx, k, min_match as usize);
        prop_assert_eq!(d.tokens(), &tokens[..], "context {:?}", ctx);
        prop_assert_eq!(d.match_length as usize, m);
        prop_assert!(d.is_chain());
        Ok(())
    }

    proptest! {
        #[test]
        fn earliest_copies_the_first_continued_occurrence(
            seqs in prop::collection::vec(prop::collection::vec(0u32..4, 0..30), 1..5),
            ctx in prop::collection::vec(0u32..4, 1..20),
            live in prop::collection::vec(0u32..4, 0..25),
            victim in 0usize..6,
            capacity in prop::option::of(5usize..60),
            k in 1usize..8,
            min_match in 1u32..3,
        ) {
            let mut sam = SuffixAutomaton::new();
            let mut ids = Vec::new();
            for s in &seqs {
                ids.push(sam.begin_sequence().unwrap());
                sam.extend(s).unwrap();
            }
            let mut cur = sam.cursor();
            for i in 0..ctx.len() {
                cur.advance(&sam, ctx[i]);
                check_earliest(&sam, &mut cur, &ctx[..=i], k, min_match)?;
            }
            // A removal and an eviction rebuild the automaton; the cursor resyncs.
            if let Some(&id) = ids.get(victim) {
                sam.remove_sequence(id).unwrap();
            }
            sam.set_capacity(capacity, None).unwrap();
            check_earliest(&sam, &mut cur, &ctx, k, min_match)?;
            // The live sequence is pushed into the automaton the cursor follows; with a capacity it
            // evicts as it goes and, alone over the bound, keeps its most recent window.
            sam.begin_sequence().unwrap();
            let mut context = ctx.clone();
            for &t in &live {
                sam.push(t).unwrap();
                cur.advance(&sam, t);
                context.push(t);
                let keep = context.len().min(DEFAULT_HISTORY);
                check_earliest(&sam, &mut cur, &context[context.len() - keep..], k, min_match)?;
                if let Some(c) = capacity {
                    prop_assert!(sam.num_tokens() <= c);
                }
            }
        }
    }

    #[test]
    fn earliest_skips_a_first_occurrence_that_ends_its_sequence() {
        let mut sam = SuffixAutomaton::new();
        for s in [&[7, 1, 2][..], &[1, 2, 5, 6], &[1, 2, 9]] {
            sam.begin_sequence().unwrap();
            sam.extend(s).unwrap();
        }
        let mut cur = sam.cursor();
        cur.extend(&sam, &[1, 2]);
        let d = cur.draft_with(&sam, 4, 1, DraftPolicy::Earliest).unwrap();
        assert_eq!((d.tokens(), d.match_length), (&[5, 6][..], 2));
        assert_eq!(cur.draft(&sam, 4, 1).tokens(), &[9]);
        // A zero-token draft reports the cursor's match.
        assert_eq!(cur.draft(&sam, 0, 1).match_length, 2);
        // Chains are bounded by what is stored, whatever is asked.
        let d = cur
            .draft_with(&sam, usize::MAX, 1, DraftPolicy::Earliest)
            .unwrap();
        assert_eq!(d.tokens(), &[5, 6]);
    }
}
