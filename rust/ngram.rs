//! [`NgramTrie`]: continuation counts for every context of 1..=`max_order` tokens, built online, and
//! best-first draft trees scored by those counts.
//!
//! The trie stores every n-gram of length 1..=`max_order + 1` of its sequences with its number of
//! occurrences; the node of n-gram `ctx + [t]` counts how often `t` followed `ctx`. A push updates the
//! `max_order + 1` n-grams that end at the new token, reached in O(1) each from the nodes of the
//! previous position (kept in `active`), so a push is O(max_order). Removing a sequence subtracts its
//! n-grams again, exactly; nodes whose count falls to zero are dropped at the next rebuild, which runs
//! when removed tokens outnumber live ones (amortized O(max_order) per token).
//!
//! Memory: 8 bytes per node plus 12 per edge, at most `max_order + 1` nodes per token and far fewer on
//! repetitive text. [`NgramTrie::memory_bytes`] reports it.

use crate::automaton::{check_within_capacity, read_capacity, write_capacity};
use crate::capacity::{Capacity, Eviction};
use crate::codec::{Kind, Reader, Writer};
use crate::draft::{best_first, check_tree_args, Child, DraftTree};
use crate::error::{invalid, Error, Result};
use crate::log::{default_load_limit, rebuild_from, replay, Replay, SequenceLog};
use crate::transitions::Transitions;

const ROOT: u32 = 0;
/// Largest `max_order` accepted: longer contexts only cost memory.
pub const MAX_ORDER_LIMIT: u32 = 32;

/// Continuation counts over token sequences, for contexts of up to `max_order` tokens.
///
/// ```
/// use specscale::NgramTrie;
/// let mut trie = NgramTrie::new(2).unwrap();
/// trie.begin_sequence().unwrap();
/// trie.extend(&[5, 6, 7, 5, 6, 8, 5, 6, 7]).unwrap();
/// assert_eq!(trie.count(&[5, 6], 7).unwrap(), 2);
/// let tree = trie.top_continuations(&[9, 5, 6], 2, 3, 8).unwrap();
/// assert_eq!(tree.tokens()[0], 7); // the most frequent continuation comes first
/// ```
#[derive(Clone, Debug)]
pub struct NgramTrie {
    max_order: u32,
    count: Vec<u32>,
    trans: Transitions,
    log: SequenceLog,
    /// `active[i]`: node of the open sequence's suffix of length `i + 1` (at most `max_order`).
    active: Vec<u32>,
    scratch: Vec<u32>,
    /// Tokens subtracted since the last rebuild; their zero-count nodes still take memory.
    dead_tokens: usize,
    capacity: Capacity,
}

/// Most nodes a trie holds (node ids are `u32`; the edge arena stays below twice this). A push adds
/// at most `max_order + 1` nodes; an extend that could pass the bound fails before storing anything.
pub const MAX_TRIE_NODES: usize = 1 << 31;

impl NgramTrie {
    /// An empty trie for contexts of up to `max_order` tokens; fails unless `1 <= max_order <= 32`.
    pub fn new(max_order: u32) -> Result<Self> {
        if max_order == 0 || max_order > MAX_ORDER_LIMIT {
            return Err(invalid(
                "max_order",
                format!("must be between 1 and {MAX_ORDER_LIMIT}, got {max_order}"),
            ));
        }
        Ok(Self::empty(max_order))
    }

    fn empty(max_order: u32) -> Self {
        let mut trans = Transitions::default();
        trans.add_node();
        NgramTrie {
            max_order,
            count: vec![0],
            trans,
            log: SequenceLog::default(),
            active: Vec::with_capacity(max_order as usize),
            scratch: Vec::with_capacity(max_order as usize + 1),
            dead_tokens: 0,
            capacity: Capacity::default(),
        }
    }

    /// Longest context the trie counts continuations for.
    pub fn max_order(&self) -> u32 {
        self.max_order
    }

    /// Starts a new sequence and returns its id; n-grams never span the boundary. Fails, changing
    /// nothing, once all [`crate::log::MAX_SEQUENCE_IDS`] ids have been issued.
    pub fn begin_sequence(&mut self) -> Result<u64> {
        let id = self.log.begin()?;
        self.active.clear();
        self.enforce_capacity();
        Ok(id)
    }

    /// Closes the open sequence, if any: the next push starts a new one.
    pub fn close_sequence(&mut self) {
        self.log.close();
    }

    /// Appends `token` to the open sequence (opening one if there is none). O(max_order), plus an
    /// eviction when the capacity is exceeded.
    pub fn push(&mut self, token: u32) -> Result<()> {
        self.extend(std::slice::from_ref(&token))
    }

    /// Appends `tokens` to the open sequence (opening one if there is none). Fails, storing none of
    /// them, past [`crate::log::MAX_TOKENS`] tokens or if they could take the trie past
    /// [`MAX_TRIE_NODES`] nodes.
    pub fn extend(&mut self, tokens: &[u32]) -> Result<()> {
        self.check_extend(tokens.len())?;
        if !self.log.is_open() {
            self.begin_sequence()?;
        }
        for &t in tokens {
            self.append(t);
        }
        Ok(())
    }

    /// Fails unless `n` more tokens fit (see [`Self::extend`]).
    pub(crate) fn check_extend(&self, n: usize) -> Result<()> {
        self.log.check_room(n)?;
        let worst = n.saturating_mul(self.max_order as usize + 1);
        if worst > MAX_TRIE_NODES - self.count.len() {
            return Err(invalid(
                "tokens",
                format!(
                    "{n} more tokens could take this trie past {MAX_TRIE_NODES} nodes (it has {})",
                    self.count.len()
                ),
            ));
        }
        Ok(())
    }

    /// Appends one token to the open sequence (room checked, a sequence open) and applies the
    /// capacity. O(max_order).
    #[inline]
    pub(crate) fn append(&mut self, token: u32) {
        self.log.push(token);
        self.add_position(token);
        self.enforce_capacity();
    }

    fn child_or_insert(&mut self, node: u32, token: u32) -> u32 {
        if let Some(c) = self.trans.get(node, token) {
            return c;
        }
        let c = self.trans.add_node();
        self.count.push(0);
        self.trans.set(node, token, c);
        c
    }

    /// Counts the n-grams ending at the new token and moves `active` one position on.
    fn add_position(&mut self, token: u32) {
        self.scratch.clear();
        let first = self.child_or_insert(ROOT, token);
        self.scratch.push(first);
        for i in 0..self.active.len() {
            let node = self.child_or_insert(self.active[i], token);
            self.scratch.push(node);
        }
        self.count[ROOT as usize] += 1;
        for &n in &self.scratch {
            self.count[n as usize] += 1;
        }
        self.scratch.truncate(self.max_order as usize);
        std::mem::swap(&mut self.active, &mut self.scratch);
    }

    /// Subtracts every n-gram of the `i`-th sequence that starts at one of its first `starts`
    /// positions (all of them: the whole sequence), exactly undoing what their pushes added: each
    /// n-gram is counted once, at its start here and at its end there. O(starts * max_order).
    fn subtract(&mut self, i: usize, starts: usize) {
        let seq = self.log.sequence_tokens(i);
        let n = self.max_order as usize + 1;
        for p in 0..starts {
            self.count[ROOT as usize] -= 1;
            let mut node = ROOT;
            for &t in &seq[p..seq.len().min(p + n)] {
                node = self
                    .trans
                    .get(node, t)
                    .expect("every stored n-gram has its node");
                self.count[node as usize] -= 1;
            }
        }
        self.dead_tokens += starts;
    }

    /// Number of stored tokens.
    pub fn num_tokens(&self) -> usize {
        self.log.tokens().len()
    }

    /// Number of trie nodes, including the root and nodes awaiting the next rebuild.
    pub fn num_nodes(&self) -> usize {
        self.count.len()
    }

    /// The stored sequences.
    pub fn log(&self) -> &SequenceLog {
        &self.log
    }

    fn walk(&self, tokens: &[u32]) -> Option<u32> {
        tokens.iter().try_fold(ROOT, |n, &t| self.trans.get(n, t))
    }

    fn check_context(&self, context: &[u32]) -> Result<()> {
        if context.len() > self.max_order as usize {
            return Err(invalid(
                "context",
                format!(
                    "has {} tokens; this trie counts contexts of at most max_order={}",
                    context.len(),
                    self.max_order
                ),
            ));
        }
        Ok(())
    }

    /// Times `token` followed `context` (`context` has at most `max_order` tokens; empty counts
    /// `token`'s occurrences).
    pub fn count(&self, context: &[u32], token: u32) -> Result<u64> {
        self.check_context(context)?;
        Ok(self
            .walk(context)
            .and_then(|n| self.trans.get(n, token))
            .map_or(0, |n| u64::from(self.count[n as usize])))
    }

    /// The `(token, count)` continuations of `context` seen at least once, most frequent first.
    pub fn continuations(&self, context: &[u32]) -> Result<Vec<(u32, u64)>> {
        self.check_context(context)?;
        let mut out = Vec::new();
        if let Some(n) = self.walk(context) {
            self.trans.for_each(n, |t, c| {
                if self.count[c as usize] > 0 {
                    out.push((t, u64::from(self.count[c as usize])));
                }
            });
        }
        out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    /// A draft tree of at most `budget` nodes and `depth` levels continuing `context`, built best
    /// first: a node's score is the product of the conditional frequencies along its path, each level
    /// offers the `k` most frequent continuations of the longest suffix (up to `max_order`) of
    /// context + path that the trie has seen continued. O(budget * (max_order^2 + k log k)).
    pub fn top_continuations(
        &self,
        context: &[u32],
        k: usize,
        depth: usize,
        budget: usize,
    ) -> Result<DraftTree> {
        top_continuations_multi(&[self], context, k, depth, budget)
    }

    /// Removes the live sequence `id`, subtracting its n-grams exactly. Amortized O(its tokens * max_order).
    pub fn remove_sequence(&mut self, id: u64) -> Result<()> {
        let i = self.log.index_of(id)?;
        self.remove_indices(&[i]);
        Ok(())
    }

    /// Removes the sequences at `indices` of the log (sorted, unique).
    pub(crate) fn remove_indices(&mut self, indices: &[usize]) {
        if indices.is_empty() {
            return;
        }
        let last = self.log.sequences().len() - 1;
        for &i in indices {
            self.subtract(i, self.log.sequence_tokens(i).len());
        }
        if indices.last() == Some(&last) {
            self.active.clear();
        }
        self.log.remove_indices(indices);
        self.rebuild_if_mostly_dead();
    }

    /// Removes every sequence (ids keep counting up).
    pub fn clear(&mut self) {
        let all: Vec<usize> = (0..self.log.sequences().len()).collect();
        self.remove_indices(&all);
        self.rebuild();
    }

    /// Bounds the trie to `tokens` tokens (`None`: unbounded) by the rule of [`crate::capacity`]:
    /// past the bound the oldest sequences are evicted down to half of it, and an open sequence that
    /// alone exceeds it keeps its most recent tokens. An eviction subtracts exactly what it drops:
    /// O(evicted tokens * max_order), plus a rebuild amortized over them. Fails, changing nothing,
    /// if the bound is 0.
    pub fn set_capacity(&mut self, tokens: Option<usize>) -> Result<()> {
        self.capacity = Capacity::new(tokens, None)?;
        self.enforce_capacity();
        Ok(())
    }

    /// The token bound set by [`Self::set_capacity`].
    pub fn capacity(&self) -> Option<usize> {
        self.capacity.tokens()
    }

    #[inline]
    fn enforce_capacity(&mut self) {
        if let Some(e) = self.capacity.plan(&self.log, || 0) {
            self.evict(&e);
        }
    }

    /// Applies an eviction (planned by this trie's capacity or its store scope's): subtracts the
    /// n-grams that start in what is dropped, or, when it drops at least as many tokens as it keeps
    /// (a capacity's steady state), rebuilds from what it keeps, which costs no more and leaves no
    /// zero-count nodes. O(evicted tokens * max_order) either way, plus moving the kept tokens down.
    pub(crate) fn evict(&mut self, e: &Eviction) {
        let log = &self.log;
        let kept_from = log
            .sequences()
            .get(e.sequences)
            .map_or(log.tokens().len(), |s| s.start as usize + e.open_head);
        if kept_from >= log.tokens().len() - kept_from {
            self.log.evict(e);
            self.rebuild();
            return;
        }
        for i in 0..e.sequences {
            self.subtract(i, self.log.sequence_tokens(i).len());
        }
        if e.open_head > 0 {
            self.subtract(e.sequences, e.open_head);
            let window = self.log.sequence_tokens(e.sequences).len() - e.open_head;
            // Suffixes longer than the window started in the cut head.
            self.active.truncate(window);
        }
        self.log.evict(e);
        self.rebuild_if_mostly_dead();
    }

    /// Rebuilds once subtracted tokens outnumber live ones, so zero-count nodes take at most about
    /// half the memory and rebuilds amortize to O(max_order) per removed token.
    fn rebuild_if_mostly_dead(&mut self) {
        if self.dead_tokens > self.num_tokens() {
            self.rebuild();
        }
    }

    /// Rebuilds the nodes from the log, dropping zero-count nodes. Keeps ids and the open sequence.
    fn rebuild(&mut self) {
        let log = std::mem::take(&mut self.log);
        let mut fresh = NgramTrie::empty(self.max_order);
        rebuild_from(&mut fresh, &log);
        fresh.capacity = self.capacity;
        *self = fresh;
    }

    /// Releases spare capacity (arrays grow by doubling while sequences are added).
    pub fn shrink_to_fit(&mut self) {
        self.count.shrink_to_fit();
        self.trans.shrink_to_fit();
        self.log.shrink_to_fit();
    }

    /// Heap bytes held by the trie and its token log.
    pub fn memory_bytes(&self) -> usize {
        self.count.capacity() * 4 + self.trans.memory_bytes() + self.log.memory_bytes()
    }

    /// Serializes the trie (its order, capacity and sequences; nodes are rebuilt on load).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::Trie);
        self.write(&mut w);
        w.finish()
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.u32(self.max_order);
        write_capacity(w, &self.capacity, false);
        self.log.write(w);
    }

    /// Restores a trie written by [`Self::to_bytes`]. Fails with [`Error::Corrupt`] (or `Truncated`,
    /// `Version`) on bytes that are not such a trie, and with [`Error::InvalidArgument`] if it would
    /// take more than [`crate::log::default_load_limit`] bytes (a trie of high order over varied text
    /// takes up to `5 * (max_order + 1)` times its data). O(tokens * max_order).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with_limit(bytes, default_load_limit(bytes.len()))
    }

    /// [`Self::from_bytes`] with an explicit bound on the memory the loaded trie may take.
    pub fn from_bytes_with_limit(bytes: &[u8], max_bytes: usize) -> Result<Self> {
        let mut r = Reader::open(bytes, Kind::Trie)?;
        let trie = Self::read(&mut r, max_bytes)?;
        r.finish()?;
        Ok(trie)
    }

    /// Reads what [`Self::write`] wrote, checking the order, the capacity (the stored tokens fit it)
    /// and the log before building anything.
    pub(crate) fn read(r: &mut Reader, max_bytes: usize) -> Result<Self> {
        let (order, capacity, log) = Self::read_parts(r)?;
        check_within_capacity(&capacity, &log)?;
        Self::from_parts(order, capacity, &log, max_bytes)
    }

    /// The order, capacity and log [`Self::write`] wrote, each checked on its own.
    pub(crate) fn read_parts(r: &mut Reader) -> Result<(u32, Capacity, SequenceLog)> {
        let order = r.u32()?;
        if order == 0 || order > MAX_ORDER_LIMIT {
            return Err(Error::Corrupt {
                reason: format!("max_order must be between 1 and {MAX_ORDER_LIMIT}, got {order}"),
            });
        }
        let capacity = read_capacity(r, false)?;
        let log = SequenceLog::read(r)?;
        Ok((order, capacity, log))
    }

    /// Builds the trie of a checked order and log, failing once it takes more than `max_bytes`.
    pub(crate) fn from_parts(
        order: u32,
        capacity: Capacity,
        log: &SequenceLog,
        max_bytes: usize,
    ) -> Result<Self> {
        let mut trie = NgramTrie::empty(order);
        replay(&mut trie, log, max_bytes)?;
        trie.capacity = capacity;
        Ok(trie)
    }
}

impl Replay for NgramTrie {
    fn replay_begin(&mut self, id: u64) {
        self.active.clear();
        self.log.begin_with_id(id);
    }

    fn replay_push(&mut self, token: u32) {
        self.log.push(token);
        self.add_position(token);
    }

    fn replay_end(&mut self, next_id: u64, open: bool) {
        self.log.set_next_id(next_id);
        if !open {
            self.log.close();
            self.active.clear();
        }
        self.shrink_to_fit();
    }

    fn memory_bytes(&self) -> usize {
        NgramTrie::memory_bytes(self)
    }
}

/// [`NgramTrie::top_continuations`] over the summed counts of several tries (the scopes of a store).
///
/// Fails if `k` is 0 or `depth`/`budget` exceed [`crate::draft::MAX_DRAFT_NODES`]. An empty tree
/// (`budget` or `depth` 0) still reports the matched length of the context's tail.
pub fn top_continuations_multi(
    tries: &[&NgramTrie],
    context: &[u32],
    k: usize,
    depth: usize,
    budget: usize,
) -> Result<DraftTree> {
    check_tree_args(k, depth, budget)?;
    if tries.is_empty() {
        return Ok(DraftTree::empty());
    }
    let order = tries.iter().map(|t| t.max_order).max().unwrap_or(1) as usize;
    let context = &context[context.len().saturating_sub(order)..];
    // A node never has more than `budget` children in the tree: offering more is wasted work.
    let k = k.min(budget.max(1));
    let mut tail: Vec<u32> = Vec::with_capacity(order);
    let mut merged: Vec<(u32, u64)> = Vec::new();
    let mut matched = None;
    if budget == 0 || depth == 0 {
        let mut tree = DraftTree::empty();
        tree.match_length =
            continuations_of(tries, context, k, &mut merged, &mut Vec::new()) as u32;
        return Ok(tree);
    }
    let mut tree = best_first(depth, budget, (), |tree, node, _, out| {
        // The last `order` tokens of context + path to `node`, read off the tree.
        tail.clear();
        let mut n = node;
        while let Some(i) = n {
            if tail.len() == order {
                break;
            }
            tail.push(tree.tokens()[i]);
            n = usize::try_from(tree.parents()[i]).ok();
        }
        let from_context = order - tail.len();
        tail.extend(context.iter().rev().take(from_context));
        tail.reverse();
        let m = continuations_of(tries, &tail, k, &mut merged, out);
        matched.get_or_insert(m);
    });
    tree.match_length = matched.unwrap_or(0) as u32;
    Ok(tree)
}

/// Appends to `out` the `k` most frequent continuations (with their conditional frequency) of the
/// longest suffix of `tail` that some trie has seen continued, summing counts across tries, and
/// returns that suffix's length (0 if none). `merged` is scratch space reused across calls.
fn continuations_of(
    tries: &[&NgramTrie],
    tail: &[u32],
    k: usize,
    merged: &mut Vec<(u32, u64)>,
    out: &mut Vec<Child<()>>,
) -> usize {
    for l in (1..=tail.len()).rev() {
        let suffix = &tail[tail.len() - l..];
        merged.clear();
        for trie in tries {
            if l > trie.max_order as usize {
                continue;
            }
            let Some(node) = trie.walk(suffix) else {
                continue;
            };
            trie.trans.for_each(node, |tok, child| {
                let c = u64::from(trie.count[child as usize]);
                if c > 0 {
                    merged.push((tok, c));
                }
            });
        }
        if merged.is_empty() {
            continue;
        }
        if tries.len() > 1 {
            merged.sort_unstable_by_key(|&(t, _)| t);
            merged.dedup_by(|b, a| {
                if a.0 == b.0 {
                    a.1 += b.1;
                    true
                } else {
                    false
                }
            });
        }
        let total: u64 = merged.iter().map(|&(_, c)| c).sum();
        merged.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out.extend(merged.iter().take(k).map(|&(token, c)| Child {
            token,
            score: c as f32 / total as f32,
            state: (),
        }));
        return l;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draft::MAX_DRAFT_NODES;
    use proptest::prelude::*;

    fn brute_count(seqs: &[Vec<u32>], ctx: &[u32], t: u32) -> u64 {
        let mut pat = ctx.to_vec();
        pat.push(t);
        seqs.iter()
            .map(|s| {
                s.windows(pat.len())
                    .filter(|w| *w == pat.as_slice())
                    .count() as u64
            })
            .sum()
    }

    fn build(seqs: &[Vec<u32>], order: u32) -> NgramTrie {
        let mut trie = NgramTrie::new(order).unwrap();
        for s in seqs {
            trie.begin_sequence().unwrap();
            trie.extend(s).unwrap();
        }
        trie
    }

    proptest! {
        #[test]
        fn counts_equal_brute_force(
            seqs in prop::collection::vec(prop::collection::vec(0u32..4, 0..30), 1..5),
            order in 1u32..5,
            ctx in prop::collection::vec(0u32..4, 0..5),
            t in 0u32..4,
            victim in 0usize..5,
        ) {
            let mut trie = build(&seqs, order);
            let ctx = &ctx[..ctx.len().min(order as usize)];
            prop_assert_eq!(trie.count(ctx, t).unwrap(), brute_count(&seqs, ctx, t));
            // Removal subtracts exactly.
            let ids: Vec<u64> = trie.log().sequences().iter().map(|s| s.id).collect();
            let victim = victim % ids.len();
            trie.remove_sequence(ids[victim]).unwrap();
            let rest: Vec<Vec<u32>> = seqs.iter().enumerate().filter(|&(i, _)| i != victim).map(|(_, s)| s.clone()).collect();
            prop_assert_eq!(trie.count(ctx, t).unwrap(), brute_count(&rest, ctx, t));
            let back = NgramTrie::from_bytes(&trie.to_bytes()).unwrap();
            prop_assert_eq!(back.count(ctx, t).unwrap(), brute_count(&rest, ctx, t));
        }

        #[test]
        fn trees_hold_real_continuations_within_limits(
            seqs in prop::collection::vec(prop::collection::vec(0u32..4, 0..30), 1..4),
            ctx in prop::collection::vec(0u32..4, 0..8),
            k in 1usize..4, depth in 1usize..5, budget in 0usize..20,
        ) {
            let trie = build(&seqs, 3);
            let tree = trie.top_continuations(&ctx, k, depth, budget).unwrap();
            prop_assert!(tree.len() <= budget);
            prop_assert!(tree.depths().iter().all(|&d| d as usize <= depth));
            let mut kids = vec![0usize; tree.len() + 1];
            for (i, &p) in tree.parents().iter().enumerate() {
                prop_assert!(p < i as i32);
                kids[(p + 1) as usize] += 1;
            }
            prop_assert!(kids.iter().all(|&c| c <= k));
            // Every node's token followed some suffix (>= 1 token) of context + path in the store.
            for path in tree.paths() {
                let mut full = ctx.clone();
                for &n in &path {
                    let tok = tree.tokens()[n];
                    let followed = (1..=full.len().min(3)).any(|l| brute_count(&seqs, &full[full.len() - l..], tok) > 0);
                    prop_assert!(followed);
                    full.push(tok);
                }
            }
            // Sibling scores never increase along the index order.
            for p in -1..tree.len() as i32 {
                let s: Vec<f32> = tree.parents().iter().zip(tree.scores()).filter(|(&q, _)| q == p).map(|(_, &s)| s).collect();
                prop_assert!(s.windows(2).all(|w| w[0] >= w[1]));
            }
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(NgramTrie::new(0).is_err());
        assert!(NgramTrie::new(33).is_err());
        let trie = build(&[vec![1, 2, 3]], 2);
        assert!(trie.count(&[1, 2, 3], 4).is_err());
        assert!(trie.top_continuations(&[1], 0, 2, 4).is_err());
        assert!(trie.top_continuations(&[1], 2, 2, 0).unwrap().is_empty());
    }

    #[test]
    fn capacity_evicts_and_rebuild_drops_dead_nodes() {
        let mut trie = NgramTrie::new(3).unwrap();
        trie.set_capacity(Some(50)).unwrap();
        for i in 0..30u32 {
            trie.begin_sequence().unwrap();
            trie.extend(&[i, i + 1, i + 2, i + 3, i + 4]).unwrap();
        }
        assert!(trie.num_tokens() <= 55);
        assert_eq!(trie.count(&[0, 1], 2).unwrap(), 0);
        assert_eq!(trie.count(&[29, 30], 31).unwrap(), 3);
        assert_eq!(trie.count(&[31, 32], 33).unwrap(), 1);
        assert!(trie.num_nodes() < 4 * 2 * 55 + 1);
    }

    #[test]
    fn tree_sizes_are_bounded_on_cyclic_text() {
        // Every context continues: a best-first tree would grow until memory ran out.
        let trie = build(&[[1, 2, 3].repeat(5)], 2);
        let huge = 1_000_000_000_000usize;
        for (depth, budget) in [(huge, huge), (4, huge), (huge, 16)] {
            match trie.top_continuations(&[1], 3, depth, budget) {
                Err(Error::InvalidArgument { reason, .. }) => {
                    assert!(reason.contains("between 0 and 65536"), "{reason}")
                }
                other => panic!("expected InvalidArgument, got {other:?}"),
            }
        }
        let tree = trie
            .top_continuations(&[1], 3, MAX_DRAFT_NODES, MAX_DRAFT_NODES)
            .unwrap();
        assert_eq!(tree.len(), MAX_DRAFT_NODES);
        assert_eq!(tree.depths().iter().max(), Some(&(MAX_DRAFT_NODES as u32)));
        // An empty tree still reports the matched length.
        assert_eq!(
            trie.top_continuations(&[1, 2], 3, 0, 8)
                .unwrap()
                .match_length,
            2
        );
    }

    #[test]
    fn messages_name_the_argument_and_the_range() {
        let e = NgramTrie::new(40).unwrap_err().to_string();
        assert_eq!(e, "invalid max_order: must be between 1 and 32, got 40");
        let e = build(&[vec![1]], 2)
            .top_continuations(&[1], 0, 2, 2)
            .unwrap_err();
        assert_eq!(e.to_string(), "invalid k: must be at least 1, got 0");
    }

    #[test]
    fn an_open_sequence_over_capacity_keeps_its_most_recent_window() {
        let mut trie = NgramTrie::new(3).unwrap();
        trie.set_capacity(Some(100)).unwrap();
        trie.begin_sequence().unwrap();
        let seq: Vec<u32> = (0..1000).collect();
        trie.extend(&seq).unwrap();
        assert!(trie.num_tokens() <= 100);
        let kept = trie.log().sequence_tokens(0).to_vec();
        assert_eq!(kept, seq[seq.len() - kept.len()..]);
        // Counts are exactly those of the window, n-grams across the cut included.
        let fresh = build(std::slice::from_ref(&kept), 3);
        for w in seq.windows(3) {
            assert_eq!(
                trie.count(&w[..2], w[2]).unwrap(),
                fresh.count(&w[..2], w[2]).unwrap()
            );
        }
        assert_eq!(trie.count(&[], kept[0]).unwrap(), 1);
        // And pushes continue the window: the n-gram across the last push is counted.
        trie.push(5000).unwrap();
        assert_eq!(trie.count(&[998, 999], 5000).unwrap(), 1);
    }

    #[test]
    fn small_evictions_subtract_exactly_what_they_drop() {
        // Keeps more than it drops: subtracted, not rebuilt; equal to a fresh build of what stays.
        let mut trie = build(
            &[vec![1, 2, 3], vec![4, 1, 2, 3, 5, 1, 2, 3, 4, 4, 1, 2]],
            3,
        );
        trie.evict(&Eviction {
            sequences: 1,
            open_head: 2,
        });
        assert!(trie.dead_tokens > 0, "took the subtract path");
        let kept = vec![2, 3, 5, 1, 2, 3, 4, 4, 1, 2];
        assert_eq!(trie.log().tokens(), &kept[..]);
        let fresh = build(std::slice::from_ref(&kept), 3);
        for ctx in [&[][..], &[2], &[1, 2], &[3, 4, 4], &[4, 1], &[2, 3]] {
            assert_eq!(
                trie.continuations(ctx).unwrap(),
                fresh.continuations(ctx).unwrap()
            );
        }
        // The open window continues: the n-gram across the next push counts.
        trie.push(3).unwrap();
        assert_eq!(trie.count(&[4, 1, 2], 3).unwrap(), 1);
        assert_eq!(trie.count(&[1, 2], 3).unwrap(), 2);
    }
}
