//! [`Store`]: the structures a generation drafts from, grouped in explicit scopes with their own lives.
//!
//! - [`Scope::Request`]: one generation's prompt and output; cleared when the request ends.
//! - [`Scope::Family`]: every Best-of-N sample and thinking round of one problem, visible to its
//!   siblings as they are written; cleared when the problem is done.
//! - [`Scope::Global`]: long-lived text across problems, bounded by a capacity.
//!
//! Each scope holds a [`SuffixAutomaton`] and an [`NgramTrie`] over the same sequences. A
//! [`StoreCursor`] follows one context through all three and drafts from whichever matches longest.

use std::collections::VecDeque;

use crate::automaton::{read_capacity, write_capacity, Cursor, DraftPolicy, SuffixAutomaton};
use crate::capacity::Capacity;
use crate::codec::{Kind, Reader, Writer};
use crate::draft::DraftTree;
use crate::error::{invalid, Error, Result};
use crate::log::{default_load_limit, SequenceLog, MAX_SEQUENCE_IDS};
use crate::ngram::{top_continuations_multi, NgramTrie};

/// Where a sequence lives, and so how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Scope {
    /// One generation's prompt and output.
    Request = 0,
    /// All samples and rounds of one problem.
    Family = 1,
    /// Long-lived text across problems.
    Global = 2,
}

impl Scope {
    /// All scopes, innermost first (the order ties are broken in).
    pub const ALL: [Scope; 3] = [Scope::Request, Scope::Family, Scope::Global];

    /// The scope's name: "request", "family" or "global".
    pub fn name(self) -> &'static str {
        match self {
            Scope::Request => "request",
            Scope::Family => "family",
            Scope::Global => "global",
        }
    }

    /// The scope called `name`.
    pub fn from_name(name: &str) -> Result<Scope> {
        match name {
            "request" => Ok(Scope::Request),
            "family" | "problem" => Ok(Scope::Family),
            "global" => Ok(Scope::Global),
            other => Err(invalid(
                "scope",
                format!("{other:?}; expected 'request', 'family' or 'global'"),
            )),
        }
    }
}

/// Store sequence ids carry their scope in the top byte, so `remove_sequence(id)` needs nothing else.
/// Scope-local ids stay below [`MAX_SEQUENCE_IDS`] = 2**56, so the byte never collides.
const SCOPE_SHIFT: u32 = 56;

/// The store-wide id of sequence `local` of `scope`.
fn scope_id(scope: Scope, local: u64) -> u64 {
    debug_assert!(local < MAX_SEQUENCE_IDS);
    (scope as u64) << SCOPE_SHIFT | local
}

/// The scope and the scope-local id of a store-wide sequence id.
fn split_id(id: u64) -> Result<(Scope, u64)> {
    let scope = match id >> SCOPE_SHIFT {
        0 => Scope::Request,
        1 => Scope::Family,
        2 => Scope::Global,
        _ => return Err(Error::UnknownSequence { id }),
    };
    Ok((scope, id & (MAX_SEQUENCE_IDS - 1)))
}

/// One scope: an automaton and a trie over the same sequences (same ids, same tokens, same open
/// sequence), kept in step by every write, and one capacity over both. The structures carry no
/// capacity of their own: the scope evicts from both at once.
#[derive(Clone, Debug)]
struct ScopeData {
    automaton: SuffixAutomaton,
    trie: NgramTrie,
    capacity: Capacity,
}

impl ScopeData {
    fn memory_bytes(&self) -> usize {
        self.automaton.memory_bytes() + self.trie.memory_bytes()
    }

    fn log(&self) -> &SequenceLog {
        self.automaton.log()
    }

    /// Fails, changing nothing, unless `tokens` more tokens in `sequences` new sequences fit both
    /// structures.
    fn check_room(&self, tokens: usize, sequences: u64) -> Result<()> {
        self.automaton.check_extend(tokens)?;
        self.trie.check_extend(tokens)?;
        if sequences > MAX_SEQUENCE_IDS - self.log().next_id() {
            return Err(invalid(
                "sequence",
                format!("{sequences} more sequences would take this scope past the id limit 2**56"),
            ));
        }
        Ok(())
    }

    fn begin_sequence(&mut self) -> Result<u64> {
        let id = self.automaton.begin_sequence()?;
        // Same log, same next id: the trie's begin cannot fail where the automaton's did not.
        let trie_id = self.trie.begin_sequence()?;
        debug_assert_eq!(id, trie_id, "a scope's structures issue ids in step");
        self.enforce_capacity();
        Ok(id)
    }

    /// Appends `tokens` (room checked) to the open sequence, opening one if there is none; the
    /// capacity applies after every token, so a long extend never holds more than the bound.
    fn append(&mut self, tokens: &[u32]) -> Result<()> {
        if !self.log().is_open() {
            self.begin_sequence()?;
        }
        let kept = self
            .capacity
            .tokens()
            .map_or(tokens.len(), |c| c.min(tokens.len()));
        self.automaton.reserve_tokens(kept);
        for &t in tokens {
            self.automaton.append(t);
            self.trie.append(t);
            self.enforce_capacity();
        }
        Ok(())
    }

    fn enforce_capacity(&mut self) {
        let plan = self.capacity.plan(self.automaton.log(), || {
            self.automaton.memory_bytes() + self.trie.memory_bytes()
        });
        if let Some(e) = plan {
            self.automaton.evict(&e);
            self.trie.evict(&e);
        }
    }
}

/// Request, family and global scopes, each an automaton and a trie over the same sequences.
#[derive(Clone, Debug)]
pub struct Store {
    scopes: [ScopeData; 3],
}

impl Store {
    /// An empty store whose tries count contexts of up to `max_order` tokens; `counts` keeps
    /// occurrence counts in the automata (for most-frequent drafting).
    pub fn new(max_order: u32, counts: bool) -> Result<Self> {
        let make = || -> Result<ScopeData> {
            Ok(ScopeData {
                automaton: SuffixAutomaton::with_options(counts),
                trie: NgramTrie::new(max_order)?,
                capacity: Capacity::default(),
            })
        };
        Ok(Store {
            scopes: [make()?, make()?, make()?],
        })
    }

    fn scope(&self, scope: Scope) -> &ScopeData {
        &self.scopes[scope as usize]
    }

    fn scope_mut(&mut self, scope: Scope) -> &mut ScopeData {
        &mut self.scopes[scope as usize]
    }

    /// The automaton of `scope`.
    pub fn automaton(&self, scope: Scope) -> &SuffixAutomaton {
        &self.scope(scope).automaton
    }

    /// The trie of `scope`.
    pub fn trie(&self, scope: Scope) -> &NgramTrie {
        &self.scope(scope).trie
    }

    /// Starts a sequence in `scope` and returns its store-wide id. Fails, changing nothing, once the
    /// scope has issued 2**56 ids.
    pub fn begin_sequence(&mut self, scope: Scope) -> Result<u64> {
        let local = self.scope_mut(scope).begin_sequence()?;
        Ok(scope_id(scope, local))
    }

    /// Appends `token` to the open sequence of `scope`.
    pub fn push(&mut self, scope: Scope, token: u32) -> Result<()> {
        self.extend(scope, &[token])
    }

    /// Appends `tokens` to the open sequence of `scope` (opening one if there is none). Fails,
    /// storing none of them, if they do not fit (see [`SuffixAutomaton::extend`],
    /// [`NgramTrie::extend`]).
    pub fn extend(&mut self, scope: Scope, tokens: &[u32]) -> Result<()> {
        let s = self.scope_mut(scope);
        s.check_room(tokens.len(), u64::from(!s.log().is_open()))?;
        s.append(tokens)
    }

    /// Removes the sequence `id` (as returned by [`Self::begin_sequence`]) from both structures of
    /// its scope: one automaton rebuild.
    pub fn remove_sequence(&mut self, id: u64) -> Result<()> {
        let (scope, local) = split_id(id)?;
        let s = self.scope_mut(scope);
        let index = s
            .log()
            .index_of(local)
            .map_err(|_| Error::UnknownSequence { id })?;
        s.automaton.remove_indices(&[index]);
        s.trie.remove_indices(&[index]);
        Ok(())
    }

    /// Removes every sequence of `scope` (when a request or a problem is done).
    pub fn clear(&mut self, scope: Scope) {
        let s = self.scope_mut(scope);
        s.automaton.clear();
        s.trie.clear();
    }

    /// Bounds `scope` to `tokens` tokens and/or `bytes` bytes (automaton + trie), by the rule of
    /// [`crate::capacity`] applied to both structures at once: the oldest sequences are evicted
    /// down to half the bound, and an open sequence that alone exceeds it keeps its most recent
    /// tokens. Fails, changing nothing, if a bound is 0.
    pub fn set_capacity(
        &mut self,
        scope: Scope,
        tokens: Option<usize>,
        bytes: Option<usize>,
    ) -> Result<()> {
        let s = self.scope_mut(scope);
        s.capacity = Capacity::new(tokens, bytes)?;
        s.enforce_capacity();
        Ok(())
    }

    /// The bounds of `scope`.
    pub fn capacity(&self, scope: Scope) -> (Option<usize>, Option<usize>) {
        let c = self.scope(scope).capacity;
        (c.tokens(), c.bytes())
    }

    /// Tokens stored in `scope`.
    pub fn num_tokens(&self, scope: Scope) -> usize {
        self.scope(scope).automaton.num_tokens()
    }

    /// Heap bytes of every scope.
    pub fn memory_bytes(&self) -> usize {
        self.scopes.iter().map(ScopeData::memory_bytes).sum()
    }

    /// Heap bytes of one scope.
    pub fn scope_memory_bytes(&self, scope: Scope) -> usize {
        self.scope(scope).memory_bytes()
    }

    /// The longest context the tries count continuations of.
    pub fn max_order(&self) -> u32 {
        self.trie(Scope::Request).max_order()
    }

    /// Whether the automata keep occurrence counts (needed by frequency trees).
    pub fn has_counts(&self) -> bool {
        self.automaton(Scope::Request).has_counts()
    }

    /// Store-wide ids of the sequences of `scope`, oldest first.
    pub fn sequence_ids(&self, scope: Scope) -> Vec<u64> {
        self.scope(scope)
            .log()
            .sequences()
            .iter()
            .map(|s| scope_id(scope, s.id))
            .collect()
    }

    /// The tokens of sequence `id` (as returned by [`Self::begin_sequence`]).
    pub fn sequence(&self, id: u64) -> Result<&[u32]> {
        let (scope, local) = split_id(id)?;
        let log = self.scope(scope).log();
        let index = log
            .index_of(local)
            .map_err(|_| Error::UnknownSequence { id })?;
        Ok(log.sequence_tokens(index))
    }

    /// Moves every sequence of `from` into `to` (as new sequences there, oldest first, under `to`'s
    /// capacity) and leaves `from` empty: a problem's family becomes part of the global scope when the
    /// problem is done. O(tokens moved) insertions. Fails, changing nothing, if `to` has no room for
    /// them (checked before anything moves, ignoring what `to`'s capacity would evict meanwhile).
    pub fn promote(&mut self, from: Scope, to: Scope) -> Result<()> {
        if from == to {
            return Err(invalid(
                "to",
                format!(
                    "must differ from the scope promoted from, got {:?} twice",
                    to.name()
                ),
            ));
        }
        let moved = self.scope(from).log().clone();
        let n = moved.sequences().len();
        self.scope(to).check_room(moved.tokens().len(), n as u64)?;
        let dest = self.scope_mut(to);
        for i in 0..n {
            dest.begin_sequence()?;
            dest.append(moved.sequence_tokens(i))?;
        }
        // A later extend of `to` must not continue the last moved sequence.
        self.close_sequence(to);
        self.clear(from);
        Ok(())
    }

    /// Closes the open sequence of `scope`, if any: the next `extend` starts a new one.
    pub fn close_sequence(&mut self, scope: Scope) {
        let s = self.scope_mut(scope);
        s.automaton.close_sequence();
        s.trie.close_sequence();
    }

    /// Scored draft tree of the continuations of `context` (its last `max_order` tokens count), from
    /// the tries of every scope with their counts summed. See [`NgramTrie::top_continuations`].
    pub fn top_continuations(
        &self,
        context: &[u32],
        k: usize,
        depth: usize,
        budget: usize,
    ) -> Result<DraftTree> {
        // Empty scopes add nothing but lookups: most runs write only the family scope.
        let tries: Vec<&NgramTrie> = Scope::ALL
            .iter()
            .map(|&s| self.trie(s))
            .filter(|t| t.num_tokens() > 0)
            .collect();
        top_continuations_multi(&tries, context, k, depth, budget)
    }

    /// A cursor at the empty context.
    pub fn cursor(&self) -> StoreCursor {
        StoreCursor {
            cursors: Scope::ALL.map(|s| self.automaton(s).cursor()),
            tail: VecDeque::new(),
            order: self.trie(Scope::Request).max_order() as usize,
            last_scope: None,
        }
    }

    /// Serializes every scope (sequences and settings).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::Store);
        for s in &self.scopes {
            write_capacity(&mut w, &s.capacity, true);
            s.automaton.write(&mut w);
            s.trie.write(&mut w);
        }
        w.finish()
    }

    /// Restores a store written by [`Self::to_bytes`]. Every scope is checked before anything is
    /// built: its automaton and trie hold the same sequences (ids, tokens, next id, open flag), carry
    /// no capacity of their own, and fit the scope's token capacity; every scope has the same trie
    /// order and counts flag. Fails with [`Error::Corrupt`] naming what is wrong, or with
    /// [`Error::InvalidArgument`] if the store would take more than
    /// [`crate::log::default_load_limit`] bytes. O(tokens * max_order).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with_limit(bytes, default_load_limit(bytes.len()))
    }

    /// [`Self::from_bytes`] with an explicit bound on the memory the loaded store may take.
    pub fn from_bytes_with_limit(bytes: &[u8], max_bytes: usize) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::Store)?;
        let mut parts = Vec::with_capacity(3);
        for scope in Scope::ALL {
            let capacity = read_capacity(&mut r, true)?;
            let automaton = SuffixAutomaton::read_parts(&mut r)?;
            let trie = NgramTrie::read_parts(&mut r)?;
            check_scope(scope, &capacity, &automaton, &trie)?;
            parts.push((capacity, automaton, trie));
        }
        r.finish()?;
        let (counts, order) = (parts[0].1 .0, parts[0].2 .0);
        for (scope, (_, automaton, trie)) in Scope::ALL.iter().zip(&parts) {
            if automaton.0 != counts || trie.0 != order {
                return Err(Error::Corrupt {
                    reason: format!(
                        "the {} scope has counts={} and max_order={}, the request scope \
                         counts={counts} and max_order={order}; a store's scopes share both",
                        scope.name(),
                        automaton.0,
                        trie.0
                    ),
                });
            }
        }
        let mut used = 0usize;
        let mut scopes = Vec::with_capacity(3);
        for (capacity, (counts, _, log), (order, _, _)) in parts {
            let left = max_bytes.saturating_sub(used);
            let automaton = SuffixAutomaton::from_parts(counts, Capacity::default(), &log, left)?;
            used += automaton.memory_bytes();
            let left = max_bytes.saturating_sub(used);
            let trie = NgramTrie::from_parts(order, Capacity::default(), &log, left)?;
            used += trie.memory_bytes();
            scopes.push(ScopeData {
                automaton,
                trie,
                capacity,
            });
        }
        let scopes: [ScopeData; 3] = scopes.try_into().expect("three scopes were read");
        Ok(Store { scopes })
    }
}

/// The checks [`Store::from_bytes`] makes on one scope's parts before building anything.
fn check_scope(
    scope: Scope,
    capacity: &Capacity,
    (_, automaton_capacity, automaton): &(bool, Capacity, SequenceLog),
    (_, trie_capacity, trie): &(u32, Capacity, SequenceLog),
) -> Result<()> {
    let corrupt = |what: String| {
        Err(Error::Corrupt {
            reason: format!("the {} scope's {what}", scope.name()),
        })
    };
    if !automaton_capacity.is_unbounded() || !trie_capacity.is_unbounded() {
        return corrupt(
            "automaton or trie has a capacity of its own; the scope's capacity governs both".into(),
        );
    }
    if automaton.sequences() != trie.sequences() {
        return corrupt("automaton and trie hold different sequences (ids or lengths)".into());
    }
    if automaton.tokens() != trie.tokens() {
        return corrupt("automaton and trie hold different tokens".into());
    }
    if automaton.next_id() != trie.next_id() || automaton.is_open() != trie.is_open() {
        return corrupt(format!(
            "automaton and trie disagree on the next id ({} and {}) or the open sequence",
            automaton.next_id(),
            trie.next_id()
        ));
    }
    if capacity
        .tokens()
        .is_some_and(|c| automaton.tokens().len() > c)
    {
        return corrupt(format!(
            "structures hold {} tokens, more than its token capacity {}",
            automaton.tokens().len(),
            capacity.tokens().unwrap_or_default()
        ));
    }
    Ok(())
}

/// Follows one context through every scope of a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreCursor {
    cursors: [Cursor; 3],
    tail: VecDeque<u32>,
    order: usize,
    last_scope: Option<Scope>,
}

impl StoreCursor {
    /// Appends `token` to the context.
    pub fn advance(&mut self, store: &Store, token: u32) {
        for (c, s) in self.cursors.iter_mut().zip(Scope::ALL) {
            c.advance(store.automaton(s), token);
        }
        if self.tail.len() == self.order {
            self.tail.pop_front();
        }
        self.tail.push_back(token);
    }

    /// Appends `tokens` to the context.
    pub fn extend(&mut self, store: &Store, tokens: &[u32]) {
        for &t in tokens {
            self.advance(store, t);
        }
    }

    /// The scope the last chain draft came from (None when it was empty).
    pub fn last_draft_scope(&self) -> Option<Scope> {
        self.last_scope
    }

    /// Longest suffix of the context found in any scope.
    pub fn match_length(&self) -> u32 {
        self.cursors
            .iter()
            .map(Cursor::match_length)
            .max()
            .unwrap_or(0)
    }

    /// The automaton draft with the longest continued match across scopes (inner scopes win ties).
    pub fn draft(
        &mut self,
        store: &Store,
        max_tokens: usize,
        min_match: u32,
        policy: DraftPolicy,
    ) -> Result<DraftTree> {
        self.draft_biased(store, max_tokens, min_match, policy, 0)
    }

    /// Like [`Self::draft`], but a global-scope draft wins only when its match is longer than the best
    /// request or family match by more than `global_bias` tokens: text the model wrote for this
    /// problem predicts its continuation better than a corpus match of the same length
    /// (SAM-Decoding's static-store bias).
    pub fn draft_biased(
        &mut self,
        store: &Store,
        max_tokens: usize,
        min_match: u32,
        policy: DraftPolicy,
        global_bias: u32,
    ) -> Result<DraftTree> {
        let mut best = DraftTree::empty();
        let mut best_score = 0i64;
        self.last_scope = None;
        for (c, s) in self.cursors.iter_mut().zip(Scope::ALL) {
            let d = c.draft_with(store.automaton(s), max_tokens, min_match, policy)?;
            let bias = if s == Scope::Global { global_bias } else { 0 };
            let score = i64::from(d.match_length) - i64::from(bias);
            // A global draft must beat the best inner match (0 when there is none) by the bias.
            if !d.is_empty() && score > best_score {
                best = d;
                best_score = score;
                self.last_scope = Some(s);
            }
        }
        Ok(best)
    }

    /// A frequency-scored draft tree (see [`Cursor::draft_tree`]) from the scope whose continued
    /// match is longest (inner scopes win ties). Needs a store built with counts; without them each
    /// scope gives its most-recent chain.
    pub fn frequency_tree(
        &mut self,
        store: &Store,
        k: usize,
        depth: usize,
        budget: usize,
        min_match: u32,
    ) -> Result<DraftTree> {
        let mut best = DraftTree::empty();
        for (c, s) in self.cursors.iter_mut().zip(Scope::ALL) {
            if c.match_length() < min_match.max(1) || store.num_tokens(s) == 0 {
                continue;
            }
            let d = c.draft_tree(store.automaton(s), k, depth, budget, min_match)?;
            if !d.is_empty() && (best.is_empty() || d.match_length > best.match_length) {
                best = d;
            }
        }
        Ok(best)
    }

    /// A trie draft tree from the counts of all scopes summed.
    pub fn draft_tree(
        &self,
        store: &Store,
        k: usize,
        depth: usize,
        budget: usize,
    ) -> Result<DraftTree> {
        let context: Vec<u32> = self.tail.iter().copied().collect();
        store.top_continuations(&context, k, depth, budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_share_drafts_and_clear_independently() {
        let mut store = Store::new(3, false).unwrap();
        let fam = store.begin_sequence(Scope::Family).unwrap();
        store.extend(Scope::Family, &[1, 2, 3, 4, 5, 6]).unwrap();
        store.begin_sequence(Scope::Request).unwrap();
        store.extend(Scope::Request, &[9, 9, 1, 2]).unwrap();
        let mut cur = store.cursor();
        cur.extend(&store, &[9, 9, 1, 2]);
        let d = cur.draft(&store, 3, 1, DraftPolicy::MostRecent).unwrap();
        assert_eq!(d.tokens(), &[3, 4, 5]);
        let tree = cur.draft_tree(&store, 2, 3, 6).unwrap();
        assert_eq!(tree.tokens()[0], 3);
        store.remove_sequence(fam).unwrap();
        assert!(cur
            .draft(&store, 3, 1, DraftPolicy::MostRecent)
            .unwrap()
            .is_empty());
        assert!(store.remove_sequence(fam).is_err());
        assert!(store.remove_sequence(7 << SCOPE_SHIFT).is_err());
        let back = Store::from_bytes(&store.to_bytes()).unwrap();
        assert_eq!(back.num_tokens(Scope::Request), 4);
        store.clear(Scope::Request);
        assert_eq!(store.num_tokens(Scope::Request), 0);
    }

    #[test]
    fn promote_moves_sequences_and_global_bias_prefers_inner_scopes() {
        let mut store = Store::new(3, true).unwrap();
        store.begin_sequence(Scope::Family).unwrap();
        store.extend(Scope::Family, &[1, 2, 3, 4, 5]).unwrap();
        store.begin_sequence(Scope::Family).unwrap();
        store.extend(Scope::Family, &[7, 8, 9]).unwrap();
        store.promote(Scope::Family, Scope::Global).unwrap();
        assert_eq!(store.num_tokens(Scope::Family), 0);
        let ids = store.sequence_ids(Scope::Global);
        assert_eq!(ids.len(), 2);
        assert_eq!(store.sequence(ids[0]).unwrap(), &[1, 2, 3, 4, 5]);
        assert_eq!(store.sequence(ids[1]).unwrap(), &[7, 8, 9]);
        // The moved sequences are closed: a new extend starts its own sequence.
        store.extend(Scope::Global, &[6]).unwrap();
        assert_eq!(store.sequence_ids(Scope::Global).len(), 3);
        assert!(store.promote(Scope::Global, Scope::Global).is_err());

        // Global holds 1 2 3 4 5 (match 3 for context [2,3,4]); family holds a shorter match (2).
        store.begin_sequence(Scope::Family).unwrap();
        store.extend(Scope::Family, &[3, 4, 9, 9]).unwrap();
        let mut cur = store.cursor();
        cur.extend(&store, &[2, 3, 4]);
        let plain = cur.draft(&store, 2, 1, DraftPolicy::MostRecent).unwrap();
        assert_eq!(plain.tokens(), &[5]);
        let biased = cur
            .draft_biased(&store, 2, 1, DraftPolicy::MostRecent, 1)
            .unwrap();
        assert_eq!(biased.tokens(), &[9, 9]);
        assert_eq!(cur.last_draft_scope(), Some(Scope::Family));
        let tree = cur.frequency_tree(&store, 2, 3, 4, 1).unwrap();
        assert_eq!(tree.tokens()[0], 5);
        assert_eq!(tree.match_length, 3);
        let trie = store.top_continuations(&[3, 4], 2, 2, 4).unwrap();
        assert!(trie.tokens().contains(&5) && trie.tokens().contains(&9));
    }

    #[test]
    fn capacity_keeps_scope_structures_in_step() {
        let mut store = Store::new(2, false).unwrap();
        store.set_capacity(Scope::Global, Some(40), None).unwrap();
        for i in 0..20u32 {
            store.begin_sequence(Scope::Global).unwrap();
            store.extend(Scope::Global, &[i, i, i, i, i]).unwrap();
        }
        assert!(store.num_tokens(Scope::Global) <= 45);
        let (a, t) = (store.automaton(Scope::Global), store.trie(Scope::Global));
        assert_eq!(a.log().sequences(), t.log().sequences());
        assert_eq!(t.count(&[0], 0).unwrap(), 0);
    }

    #[test]
    fn store_trees_are_bounded_and_eviction_is_one_step_for_both_structures() {
        let mut store = Store::new(2, true).unwrap();
        store.extend(Scope::Request, &[1, 2, 3].repeat(5)).unwrap();
        let mut cur = store.cursor();
        cur.extend(&store, &[1, 2]);
        let huge = 1usize << 40;
        assert!(cur.draft_tree(&store, 3, huge, huge).is_err());
        assert!(cur.frequency_tree(&store, 3, huge, huge, 1).is_err());
        assert!(store.top_continuations(&[1], 3, 4, huge).is_err());
        let chain = cur.draft(&store, huge, 1, DraftPolicy::Earliest).unwrap();
        assert_eq!(
            chain.len(),
            13,
            "a chain holds what is stored, whatever is asked"
        );
        // Many small sequences evicted by one push: both structures drop the same ones.
        store
            .set_capacity(Scope::Global, Some(10_000), None)
            .unwrap();
        for i in 0..400u32 {
            store.begin_sequence(Scope::Global).unwrap();
            store
                .extend(Scope::Global, &[i, i + 1, i + 2, 7, 8, 9, i])
                .unwrap();
        }
        store.set_capacity(Scope::Global, Some(100), None).unwrap();
        assert!(store.num_tokens(Scope::Global) <= 50);
        let (a, t) = (store.automaton(Scope::Global), store.trie(Scope::Global));
        assert_eq!(a.log(), t.log());
        assert_eq!(t.count(&[7, 8], 9).unwrap(), 7);
        // One open sequence over the capacity keeps its most recent window in both.
        store.begin_sequence(Scope::Global).unwrap();
        store
            .extend(Scope::Global, &(0..1000).collect::<Vec<u32>>())
            .unwrap();
        let (a, t) = (store.automaton(Scope::Global), store.trie(Scope::Global));
        assert_eq!(a.log(), t.log());
        assert!(a.num_tokens() <= 100 && a.contains(&[997, 998, 999]));
        assert!(!a.contains(&[0, 1]));
        let back = Store::from_bytes(&store.to_bytes()).unwrap();
        assert_eq!(back.to_bytes(), store.to_bytes());
    }

    #[test]
    fn ids_carry_their_scope_and_a_failed_promote_changes_nothing() {
        let mut store = Store::new(2, false).unwrap();
        let r = store.begin_sequence(Scope::Request).unwrap();
        let f = store.begin_sequence(Scope::Family).unwrap();
        assert_eq!((r >> SCOPE_SHIFT, f >> SCOPE_SHIFT), (0, 1));
        assert_eq!(r & (MAX_SEQUENCE_IDS - 1), f & (MAX_SEQUENCE_IDS - 1));
        store.extend(Scope::Family, &[4, 5]).unwrap();
        store.remove_sequence(r).unwrap();
        assert_eq!(store.sequence(f).unwrap(), &[4, 5]);
        assert!(matches!(
            store.remove_sequence(r),
            Err(Error::UnknownSequence { .. })
        ));
    }
}
