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

use crate::automaton::{Cursor, DraftPolicy, SuffixAutomaton};
use crate::codec::{Kind, Reader, Writer};
use crate::draft::DraftTree;
use crate::error::{invalid, Error, Result};
use crate::log::{eviction_budget, BYTE_CHECK_INTERVAL};
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
const SCOPE_SHIFT: u32 = 56;

/// The scope and the scope-local id of a store-wide sequence id.
fn split_id(id: u64) -> Result<(Scope, u64)> {
    let scope = match id >> SCOPE_SHIFT {
        0 => Scope::Request,
        1 => Scope::Family,
        2 => Scope::Global,
        _ => return Err(Error::UnknownSequence { id }),
    };
    Ok((scope, id & ((1 << SCOPE_SHIFT) - 1)))
}

#[derive(Clone, Debug)]
struct ScopeData {
    automaton: SuffixAutomaton,
    trie: NgramTrie,
    capacity_tokens: Option<usize>,
    capacity_bytes: Option<usize>,
    pushes_since_check: u32,
}

impl ScopeData {
    fn memory_bytes(&self) -> usize {
        self.automaton.memory_bytes() + self.trie.memory_bytes()
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
                capacity_tokens: None,
                capacity_bytes: None,
                pushes_since_check: 0,
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

    /// Starts a sequence in `scope` and returns its store-wide id.
    pub fn begin_sequence(&mut self, scope: Scope) -> u64 {
        let s = self.scope_mut(scope);
        let id = s.automaton.begin_sequence();
        let trie_id = s.trie.begin_sequence();
        debug_assert_eq!(id, trie_id, "a scope's structures issue ids in step");
        self.enforce_capacity(scope, true);
        (scope as u64) << SCOPE_SHIFT | id
    }

    /// Appends `token` to the open sequence of `scope`.
    pub fn push(&mut self, scope: Scope, token: u32) -> Result<()> {
        self.extend(scope, &[token])
    }

    /// Appends `tokens` to the open sequence of `scope` (opening one if there is none).
    pub fn extend(&mut self, scope: Scope, tokens: &[u32]) -> Result<()> {
        if !self.scope(scope).automaton.log().is_open() {
            self.begin_sequence(scope);
        }
        let s = self.scope_mut(scope);
        for &t in tokens {
            s.automaton.push(t)?;
            s.trie.push(t)?;
        }
        s.pushes_since_check = s.pushes_since_check.saturating_add(tokens.len() as u32);
        self.enforce_capacity(scope, false);
        Ok(())
    }

    /// Removes the sequence `id` (as returned by [`Self::begin_sequence`]).
    pub fn remove_sequence(&mut self, id: u64) -> Result<()> {
        let (scope, local) = split_id(id)?;
        let s = self.scope_mut(scope);
        s.automaton
            .remove_sequence(local)
            .map_err(|_| Error::UnknownSequence { id })?;
        s.trie.remove_sequence(local)?;
        Ok(())
    }

    /// Removes every sequence of `scope` (when a request or a problem is done).
    pub fn clear(&mut self, scope: Scope) {
        let s = self.scope_mut(scope);
        s.automaton.clear();
        s.trie.clear();
    }

    /// Bounds `scope` to `tokens` tokens and/or `bytes` bytes (automaton + trie); the oldest
    /// sequences are evicted down to 3/4 of the bound when it is exceeded. The open one stays.
    pub fn set_capacity(
        &mut self,
        scope: Scope,
        tokens: Option<usize>,
        bytes: Option<usize>,
    ) -> Result<()> {
        if tokens == Some(0) || bytes == Some(0) {
            return Err(invalid(
                "capacity",
                "must be positive (or None for no bound)",
            ));
        }
        let s = self.scope_mut(scope);
        s.capacity_tokens = tokens;
        s.capacity_bytes = bytes;
        self.enforce_capacity(scope, true);
        Ok(())
    }

    /// The bounds of `scope`.
    pub fn capacity(&self, scope: Scope) -> (Option<usize>, Option<usize>) {
        let s = self.scope(scope);
        (s.capacity_tokens, s.capacity_bytes)
    }

    fn enforce_capacity(&mut self, scope: Scope, check_bytes_now: bool) {
        let s = self.scope_mut(scope);
        let tokens = s.automaton.num_tokens();
        let over_tokens = s.capacity_tokens.is_some_and(|c| tokens > c);
        let mut over_bytes = false;
        if s.capacity_bytes.is_some()
            && (check_bytes_now || s.pushes_since_check >= BYTE_CHECK_INTERVAL)
        {
            s.pushes_since_check = 0;
            over_bytes = s.capacity_bytes.is_some_and(|c| s.memory_bytes() > c);
        }
        if !(over_tokens || over_bytes) {
            return;
        }
        let budget = eviction_budget(
            s.capacity_tokens,
            s.capacity_bytes,
            s.memory_bytes(),
            tokens,
        );
        let log = s.automaton.log();
        let victims: Vec<u64> = log
            .oldest_over_budget(budget)
            .into_iter()
            .map(|i| log.sequences()[i].id)
            .collect();
        if !victims.is_empty() {
            s.automaton
                .remove_sequences(&victims)
                .expect("victims are live");
            for id in victims {
                s.trie
                    .remove_sequence(id)
                    .expect("scope structures hold the same sequences");
            }
        }
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
        self.automaton(scope)
            .log()
            .sequences()
            .iter()
            .map(|s| (scope as u64) << SCOPE_SHIFT | s.id)
            .collect()
    }

    /// The tokens of sequence `id` (as returned by [`Self::begin_sequence`]).
    pub fn sequence(&self, id: u64) -> Result<&[u32]> {
        let (scope, local) = split_id(id)?;
        let log = self.automaton(scope).log();
        let index = log
            .index_of(local)
            .map_err(|_| Error::UnknownSequence { id })?;
        Ok(log.sequence_tokens(index))
    }

    /// Moves every sequence of `from` into `to` (as new sequences there, oldest first, under `to`'s
    /// capacity) and leaves `from` empty: a problem's family becomes part of the global scope when the
    /// problem is done. O(tokens moved) insertions.
    pub fn promote(&mut self, from: Scope, to: Scope) -> Result<()> {
        if from == to {
            return Err(invalid("to", "must differ from the scope promoted from"));
        }
        let moved: Vec<Vec<u32>> = {
            let log = self.automaton(from).log();
            (0..log.sequences().len())
                .map(|i| log.sequence_tokens(i).to_vec())
                .collect()
        };
        for tokens in moved {
            self.begin_sequence(to);
            self.extend(to, &tokens)?;
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
            w.u64(s.capacity_tokens.map_or(0, |c| c as u64));
            w.u64(s.capacity_bytes.map_or(0, |c| c as u64));
            s.automaton.write(&mut w);
            s.trie.write(&mut w);
        }
        w.finish()
    }

    /// Restores a store written by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::Store)?;
        let mut read_scope = || -> Result<ScopeData> {
            let cap = |v: u64| (v != 0).then_some(v as usize);
            let capacity_tokens = cap(r.u64()?);
            let capacity_bytes = cap(r.u64()?);
            let automaton = SuffixAutomaton::read(&mut r)?;
            let trie = NgramTrie::read(&mut r)?;
            if automaton.log().tokens() != trie.log().tokens() {
                return Err(Error::Corrupt {
                    reason: "a scope's automaton and trie hold different tokens".into(),
                });
            }
            Ok(ScopeData {
                automaton,
                trie,
                capacity_tokens,
                capacity_bytes,
                pushes_since_check: 0,
            })
        };
        let scopes = [read_scope()?, read_scope()?, read_scope()?];
        r.finish()?;
        Ok(Store { scopes })
    }
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
        let fam = store.begin_sequence(Scope::Family);
        store.extend(Scope::Family, &[1, 2, 3, 4, 5, 6]).unwrap();
        store.begin_sequence(Scope::Request);
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
        store.begin_sequence(Scope::Family);
        store.extend(Scope::Family, &[1, 2, 3, 4, 5]).unwrap();
        store.begin_sequence(Scope::Family);
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
        store.begin_sequence(Scope::Family);
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
            store.begin_sequence(Scope::Global);
            store.extend(Scope::Global, &[i, i, i, i, i]).unwrap();
        }
        assert!(store.num_tokens(Scope::Global) <= 45);
        let (a, t) = (store.automaton(Scope::Global), store.trie(Scope::Global));
        assert_eq!(a.log().sequences(), t.log().sequences());
        assert_eq!(t.count(&[0], 0).unwrap(), 0);
    }
}
