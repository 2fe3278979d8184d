//! Transition tables shared by the suffix automaton and the n-gram trie.
//!
//! Token vocabularies are large (32k-256k ids) and sparse: almost every node of an automaton or a trie
//! built from text has one or two outgoing edges, and a handful (the root, frequent words) have
//! thousands. So each node keeps a short singly linked list of edges in one shared arena (12 bytes an
//! edge, no per-node allocation) and spills to its own hash map once its out-degree passes
//! [`SPILL_DEGREE`]. Lookups cost O(out-degree) up to the spill and O(1) after it.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// Out-degree above which a node's edges move from the linked list to a hash map.
pub const SPILL_DEGREE: u32 = 8;

/// Marks "no edge" / "no node" in `u32` index fields.
pub const NONE: u32 = u32::MAX;

/// High bit of a node's head: the rest of the word indexes `maps` rather than `edges`.
const MAP_BIT: u32 = 1 << 31;

/// Hashes one token id for the spilled nodes' maps: a 64x64 -> 128-bit multiply of the id (xored with
/// a per-process random seed) whose halves are folded together, as foldhash and ahash do. Every bit
/// of the id reaches every bit of the hash, so ids that share their low bits (multiples of 65,536,
/// say) spread like any others. The plain multiplicative hash used before kept the low bits of the
/// product, which depend only on the low bits of the id: such ids all fell in one bucket and inserts
/// ran 6-60x slower, a denial of service by token choice. The seed keeps colliding ids from being
/// computed offline. Two multiplies and a xor per lookup; outputs never depend on map order (every
/// reader sorts), so the seed changes nothing observable.
#[derive(Default, Clone, Copy)]
pub struct TokenHasher {
    seed: u64,
    value: u64,
}

const FOLD_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl Hasher for TokenHasher {
    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.value ^ self.seed, FOLD_MULTIPLIER)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.value = folded_multiply(self.value ^ u64::from(b), FOLD_MULTIPLIER);
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.value = (self.value << 32) ^ u64::from(i);
    }
}

/// Builds [`TokenHasher`]s with this process's seed (drawn once from the standard library's random
/// keys).
#[derive(Clone, Copy)]
pub struct TokenHasherBuilder {
    seed: u64,
}

impl Default for TokenHasherBuilder {
    fn default() -> Self {
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed = *SEED.get_or_init(|| RandomState::new().build_hasher().finish() | 1);
        TokenHasherBuilder { seed }
    }
}

impl BuildHasher for TokenHasherBuilder {
    type Hasher = TokenHasher;
    #[inline]
    fn build_hasher(&self) -> TokenHasher {
        TokenHasher {
            seed: self.seed,
            value: 0,
        }
    }
}

/// Hash map from token id to node index.
pub type TokenMap = HashMap<u32, u32, TokenHasherBuilder>;

/// Bytes one map slot costs: a (key, value) pair plus hashbrown's control byte.
const MAP_SLOT_BYTES: usize = std::mem::size_of::<(u32, u32)>() + 1;

#[derive(Clone, Copy, Debug)]
struct Edge {
    token: u32,
    target: u32,
    next: u32,
}

/// Outgoing edges of every node of one graph, addressed by node index.
///
/// Invariant: `heads[n]` is `NONE` (no edges), an index into `edges` (the first edge of the list), or
/// `MAP_BIT | i` with `maps[i]` holding all the node's edges. A node costs 4 bytes plus its edges.
/// `map_bytes` is the slot bytes of all maps, kept up to date on every insert so that
/// [`Self::memory_bytes`] is O(1) (capacity bounds check it on every push).
#[derive(Clone, Debug, Default)]
pub struct Transitions {
    heads: Vec<u32>,
    edges: Vec<Edge>,
    maps: Vec<TokenMap>,
    map_bytes: usize,
}

impl Transitions {
    /// An empty table with room for `nodes` nodes.
    pub fn with_capacity(nodes: usize) -> Self {
        Transitions {
            heads: Vec::with_capacity(nodes),
            edges: Vec::with_capacity(nodes),
            maps: Vec::new(),
            map_bytes: 0,
        }
    }

    /// Adds a node with no edges and returns its index.
    #[inline]
    pub fn add_node(&mut self) -> u32 {
        self.heads.push(NONE);
        (self.heads.len() - 1) as u32
    }

    /// Number of nodes.
    #[inline]
    pub fn num_nodes(&self) -> usize {
        self.heads.len()
    }

    /// Out-degree of `node`: O(degree) for list nodes, O(1) for spilled ones.
    pub fn degree(&self, node: u32) -> u32 {
        let head = self.heads[node as usize];
        if head != NONE && head & MAP_BIT != 0 {
            return self.maps[(head & !MAP_BIT) as usize].len() as u32;
        }
        let mut n = 0;
        self.for_each(node, |_, _| n += 1);
        n
    }

    /// Whether `node` has no outgoing edge.
    #[inline]
    pub fn is_leaf(&self, node: u32) -> bool {
        self.heads[node as usize] == NONE
    }

    /// The target of `node`'s edge labelled `token`, if any.
    #[inline]
    pub fn get(&self, node: u32, token: u32) -> Option<u32> {
        let head = self.heads[node as usize];
        if head == NONE {
            return None;
        }
        if head & MAP_BIT != 0 {
            return self.maps[(head & !MAP_BIT) as usize].get(&token).copied();
        }
        let mut e = head;
        while e != NONE {
            let edge = &self.edges[e as usize];
            if edge.token == token {
                return Some(edge.target);
            }
            e = edge.next;
        }
        None
    }

    /// Sets `node`'s edge labelled `token` to `target`, adding the edge if it is new.
    pub fn set(&mut self, node: u32, token: u32, target: u32) {
        let head = self.heads[node as usize];
        if head != NONE && head & MAP_BIT != 0 {
            let map = &mut self.maps[(head & !MAP_BIT) as usize];
            let before = map.capacity();
            map.insert(token, target);
            self.map_bytes += (map.capacity() - before) * MAP_SLOT_BYTES;
            return;
        }
        let mut e = head;
        let mut degree = 0;
        while e != NONE {
            let edge = &mut self.edges[e as usize];
            if edge.token == token {
                edge.target = target;
                return;
            }
            degree += 1;
            e = edge.next;
        }
        if degree >= SPILL_DEGREE {
            self.spill(node);
            self.set(node, token, target);
            return;
        }
        self.edges.push(Edge {
            token,
            target,
            next: head,
        });
        self.heads[node as usize] = (self.edges.len() - 1) as u32;
    }

    /// Moves `node`'s list into a hash map. Its list edges stay in the arena unused; a node spills at
    /// most once, so that waste is bounded by `SPILL_DEGREE` edges per high-degree node.
    fn spill(&mut self, node: u32) {
        let mut map = TokenMap::default();
        map.reserve(2 * SPILL_DEGREE as usize);
        let mut e = self.heads[node as usize];
        while e != NONE {
            let edge = self.edges[e as usize];
            map.insert(edge.token, edge.target);
            e = edge.next;
        }
        self.map_bytes += map.capacity() * MAP_SLOT_BYTES;
        self.maps.push(map);
        self.heads[node as usize] = MAP_BIT | (self.maps.len() - 1) as u32;
    }

    /// Returns the target of `node`'s edge labelled `token` if there is one; otherwise adds the edge
    /// to `target` and returns `None`. One walk of the list where `get` then `set` would take two.
    pub fn get_or_insert(&mut self, node: u32, token: u32, target: u32) -> Option<u32> {
        let head = self.heads[node as usize];
        if head != NONE && head & MAP_BIT != 0 {
            let map = &mut self.maps[(head & !MAP_BIT) as usize];
            let before = map.capacity();
            let found = match map.entry(token) {
                std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(target);
                    None
                }
            };
            self.map_bytes += (map.capacity() - before) * MAP_SLOT_BYTES;
            return found;
        }
        let mut e = head;
        let mut degree = 0;
        while e != NONE {
            let edge = &self.edges[e as usize];
            if edge.token == token {
                return Some(edge.target);
            }
            degree += 1;
            e = edge.next;
        }
        if degree >= SPILL_DEGREE {
            self.spill(node);
            return self.get_or_insert(node, token, target);
        }
        self.edges.push(Edge {
            token,
            target,
            next: head,
        });
        self.heads[node as usize] = (self.edges.len() - 1) as u32;
        None
    }

    /// Reserves room for at least `nodes` more nodes and `edges` more list edges, growing by no more
    /// than asked (callers pick the growth factor).
    pub fn reserve_exact(&mut self, nodes: usize, edges: usize) {
        if self.heads.capacity() - self.heads.len() < nodes {
            self.heads.reserve_exact(nodes);
        }
        if self.edges.capacity() - self.edges.len() < edges {
            self.edges.reserve_exact(edges.max(self.edges.len() / 2));
        }
    }

    /// Gives `dst` (which must have no edges) a copy of `src`'s edges.
    pub fn copy_edges(&mut self, src: u32, dst: u32) {
        debug_assert!(self.is_leaf(dst));
        let head = self.heads[src as usize];
        if head == NONE {
            return;
        }
        if head & MAP_BIT != 0 {
            let map = self.maps[(head & !MAP_BIT) as usize].clone();
            self.map_bytes += map.capacity() * MAP_SLOT_BYTES;
            self.maps.push(map);
            self.heads[dst as usize] = MAP_BIT | (self.maps.len() - 1) as u32;
        } else {
            let mut e = head;
            let mut new_head = NONE;
            while e != NONE {
                let edge = self.edges[e as usize];
                self.edges.push(Edge {
                    token: edge.token,
                    target: edge.target,
                    next: new_head,
                });
                new_head = (self.edges.len() - 1) as u32;
                e = edge.next;
            }
            self.heads[dst as usize] = new_head;
        }
    }

    /// Calls `f(token, target)` for each edge of `node`, in no particular order.
    #[inline]
    pub fn for_each(&self, node: u32, mut f: impl FnMut(u32, u32)) {
        let head = self.heads[node as usize];
        if head == NONE {
            return;
        }
        if head & MAP_BIT != 0 {
            for (&t, &n) in &self.maps[(head & !MAP_BIT) as usize] {
                f(t, n);
            }
            return;
        }
        let mut e = head;
        while e != NONE {
            let edge = &self.edges[e as usize];
            f(edge.token, edge.target);
            e = edge.next;
        }
    }

    /// Heap bytes used (vectors at capacity, hash maps estimated from their capacity: one slot and
    /// one control byte per entry they can hold). O(1).
    pub fn memory_bytes(&self) -> usize {
        self.heads.capacity() * 4
            + self.edges.capacity() * std::mem::size_of::<Edge>()
            + self.maps.capacity() * std::mem::size_of::<TokenMap>()
            + self.map_bytes
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.heads.shrink_to_fit();
        self.edges.shrink_to_fit();
        self.maps.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_spill_agree_with_a_map() {
        let mut t = Transitions::default();
        let a = t.add_node();
        let b = t.add_node();
        let mut oracle = std::collections::BTreeMap::new();
        for i in 0..40u32 {
            let tok = (i * 7919) % 101;
            t.set(a, tok, i);
            oracle.insert(tok, i);
            assert_eq!(t.degree(a) as usize, oracle.len());
        }
        for (&tok, &target) in &oracle {
            assert_eq!(t.get(a, tok), Some(target));
        }
        assert_eq!(t.get(a, 1000), None);
        assert_eq!(t.get_or_insert(a, 1000, 7), None);
        assert_eq!(t.get_or_insert(a, 1000, 8), Some(7));
        oracle.insert(1000, 7);
        t.copy_edges(a, b);
        let mut seen = std::collections::BTreeMap::new();
        t.for_each(b, |tok, n| {
            seen.insert(tok, n);
        });
        assert_eq!(seen, oracle);
        // The running map byte count equals a recount.
        let recount: usize = t.maps.iter().map(|m| m.capacity() * MAP_SLOT_BYTES).sum();
        assert_eq!(t.map_bytes, recount);
    }

    #[test]
    fn ids_sharing_their_low_bits_spread_over_buckets() {
        // hashbrown picks buckets by the low bits of the hash: ids that differ only in their high
        // bits must still differ there (the multiplicative hash used before gave them all one bucket).
        let state = TokenHasherBuilder::default();
        for shift in [0u32, 8, 16, 20] {
            let buckets: std::collections::HashSet<u64> = (0..4096u32)
                .map(|i| state.hash_one(i.wrapping_shl(shift)) & 4095)
                .collect();
            assert!(
                buckets.len() > 2000,
                "shift {shift}: {} buckets",
                buckets.len()
            );
        }
    }
}
