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
        let scope = match id >> SCOPE_SHIFT {
            0 => Scope::Request,
            1 => Scope::Family,
            2 => Scope::Global,
            _ => return Err(Error::UnknownSequence { id }),
        };
        let local = id & ((1 << SCOPE_SHIFT) - 1);
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

    /// A cursor at the empty context.
    pub fn cursor(&self) -> StoreCursor {
        StoreCursor {
            cursors: Scope::ALL.map(|s| self.automaton(s).cursor()),
            tail: VecDeque::new(),
            order: self.trie(Scope::Request).max_order() as usize,
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
        let mut best = DraftTree::empty();
        for (c, s) in self.cursors.iter_mut().zip(Scope::ALL) {
            let d = c.draft_with(store.automaton(s), max_tokens, min_match, policy)?;
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
        let tries = Scope::ALL.map(|s| store.trie(s));
        let context: Vec<u32> = self.tail.iter().copied().collect();
        top_continuations_multi(&tries, &context, k, depth, budget)
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
