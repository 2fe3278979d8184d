//! [`DraftTree`]: the one draft type every drafter returns and the verifier consumes, the size limits
//! every draft query checks, and the one best-first builder behind every scored draft tree (the
//! automaton's frequency trees and the n-gram trie's top-k trees).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::{invalid, Result};

/// Largest draft tree any query builds: its nodes (`budget`) and its levels (`depth`). A verifier
/// checks a draft in one forward pass, so trees of more than a few hundred nodes buy nothing; the
/// limit exists so that a size argument can never make a query allocate without bound (the trie's
/// continuations of cyclic text go on forever, an automaton's branches multiply). Larger values are
/// refused with [`crate::Error::InvalidArgument`] before anything is allocated. Chains need no such
/// limit: they are read out of stored sequences and never hold more than those.
pub const MAX_DRAFT_NODES: usize = 1 << 16;

/// Refuses a draft size argument above [`MAX_DRAFT_NODES`].
pub(crate) fn check_draft_size(name: &'static str, value: usize) -> Result<()> {
    if value > MAX_DRAFT_NODES {
        return Err(invalid(
            name,
            format!("must be between 0 and {MAX_DRAFT_NODES}, got {value}"),
        ));
    }
    Ok(())
}

/// Checks the arguments of a best-first tree query: `k >= 1`, `depth` and `budget` within
/// [`MAX_DRAFT_NODES`].
pub(crate) fn check_tree_args(k: usize, depth: usize, budget: usize) -> Result<()> {
    if k == 0 {
        return Err(invalid("k", "must be at least 1, got 0"));
    }
    check_draft_size("depth", depth)?;
    check_draft_size("budget", budget)
}

/// Draft tokens arranged as a tree hanging off the last token of the context.
///
/// Node `i` proposes `tokens[i]` right after its parent: `parents[i] == -1` means right after the
/// context, otherwise `parents[i]` is an earlier node (`parents[i] < i`, so a walk in index order sees
/// every parent before its children). A chain (`parents == [-1, 0, 1, ...]`) is a tree with one branch.
/// `scores[i]` ranks siblings (higher first; drafters put counts or probabilities there).
/// `match_length` records how long a suffix of the context the draft was conditioned on, for adaptive
/// draft lengths; 0 when the drafter does not know.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DraftTree {
    tokens: Vec<u32>,
    parents: Vec<i32>,
    scores: Vec<f32>,
    /// Length of the context suffix this draft continues (0 if unknown).
    pub match_length: u32,
}

impl DraftTree {
    /// The empty draft (the engine then takes one plain decoding step).
    pub fn empty() -> Self {
        DraftTree::default()
    }

    /// A chain: each token follows the previous one. Scores are all 1.
    pub fn chain(tokens: Vec<u32>) -> Self {
        let parents = (0..tokens.len() as i32).map(|i| i - 1).collect();
        let scores = vec![1.0; tokens.len()];
        DraftTree {
            tokens,
            parents,
            scores,
            match_length: 0,
        }
    }

    /// A tree from raw parts, checking the invariants (same lengths, `-1 <= parents[i] < i`).
    pub fn new(tokens: Vec<u32>, parents: Vec<i32>, scores: Option<Vec<f32>>) -> Result<Self> {
        if parents.len() != tokens.len() {
            return Err(invalid(
                "parents",
                format!("has {} entries for {} tokens", parents.len(), tokens.len()),
            ));
        }
        for (i, &p) in parents.iter().enumerate() {
            if p < -1 || p >= i as i32 {
                return Err(invalid(
                    "parents",
                    format!(
                        "parents[{i}] = {p}; each parent must be -1 or an earlier node (< {i})"
                    ),
                ));
            }
        }
        let scores = match scores {
            Some(s) if s.len() != tokens.len() => {
                return Err(invalid(
                    "scores",
                    format!("has {} entries for {} tokens", s.len(), tokens.len()),
                ))
            }
            Some(s) => s,
            None => vec![1.0; tokens.len()],
        };
        Ok(DraftTree {
            tokens,
            parents,
            scores,
            match_length: 0,
        })
    }

    /// Appends a node under `parent` (-1 = the context) and returns its index.
    ///
    /// # Panics
    /// If `parent` is not -1 or an existing node: builders inside the crate guarantee it.
    pub fn push(&mut self, token: u32, parent: i32, score: f32) -> usize {
        assert!(
            parent >= -1 && parent < self.tokens.len() as i32,
            "parent {parent} out of range"
        );
        self.tokens.push(token);
        self.parents.push(parent);
        self.scores.push(score);
        self.tokens.len() - 1
    }

    /// Draft tokens, one per node.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Parent of each node (-1 = the context's last token).
    pub fn parents(&self) -> &[i32] {
        &self.parents
    }

    /// Score of each node.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the draft proposes nothing.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether every node is the child of the node before it (one branch).
    pub fn is_chain(&self) -> bool {
        self.parents
            .iter()
            .enumerate()
            .all(|(i, &p)| p == i as i32 - 1)
    }

    /// Depth of each node (children of the context have depth 1). O(n).
    pub fn depths(&self) -> Vec<u32> {
        let mut depths = Vec::with_capacity(self.len());
        for &p in &self.parents {
            let d = if p < 0 { 1 } else { depths[p as usize] + 1 };
            depths.push(d);
        }
        depths
    }

    /// Every root-to-leaf path, as lists of node indices. O(total path length).
    pub fn paths(&self) -> Vec<Vec<usize>> {
        let mut has_child = vec![false; self.len()];
        for &p in &self.parents {
            if p >= 0 {
                has_child[p as usize] = true;
            }
        }
        (0..self.len())
            .filter(|&i| !has_child[i])
            .map(|leaf| {
                let mut path = vec![leaf];
                let mut p = self.parents[leaf];
                while p >= 0 {
                    path.push(p as usize);
                    p = self.parents[p as usize];
                }
                path.reverse();
                path
            })
            .collect()
    }

    /// Keeps the first `n` nodes (parents come first, so the result is still a tree).
    pub fn truncate(&mut self, n: usize) {
        self.tokens.truncate(n);
        self.parents.truncate(n);
        self.scores.truncate(n);
    }
}

/// A child offered by [`best_first`]'s `expand`: its token, its conditional score (the node's score
/// is its parent's times this) and whatever the caller needs to expand it in turn.
pub(crate) struct Child<S> {
    pub token: u32,
    pub score: f32,
    pub state: S,
}

/// A candidate node: popped best score first; equal scores in the order they were offered, so drafts
/// are deterministic.
struct Candidate<S> {
    score: f32,
    seq: u64,
    parent: i32,
    depth: u32,
    token: u32,
    state: S,
}

impl<S> PartialEq for Candidate<S> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<S> Eq for Candidate<S> {}
impl<S> PartialOrd for Candidate<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<S> Ord for Candidate<S> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.seq.cmp(&self.seq))
    }
}

/// Grows a draft tree best first: the root's children, then repeatedly the best candidate anywhere
/// (score = product of the conditional scores on its path) joins the tree and, above `depth`, offers
/// its own children. Stops at `budget` nodes or when no candidate is left.
///
/// `expand(tree, node, state, out)` appends the children of `node` (`None` = the context) best first,
/// at most as many as the caller's branching factor; `tree` holds every node accepted so far, so a
/// caller can read the path to `node` instead of storing it per candidate.
///
/// Cost: `budget` calls of `expand` plus O(log budget) per offered child. Memory: the tree plus at
/// most `2 * budget` candidates: candidates ranked below the remaining budget can never be taken,
/// so the heap is cut back to them whenever it doubles (the cut keeps exactly the ones a full heap
/// would pop, ties included, so the tree is the same).
pub(crate) fn best_first<S>(
    depth: usize,
    budget: usize,
    root: S,
    mut expand: impl FnMut(&DraftTree, Option<usize>, &S, &mut Vec<Child<S>>),
) -> DraftTree {
    let mut tree = DraftTree::empty();
    if depth == 0 || budget == 0 {
        return tree;
    }
    let mut heap: BinaryHeap<Candidate<S>> = BinaryHeap::new();
    let mut children: Vec<Child<S>> = Vec::new();
    let mut seq = 0u64;
    let mut offer = |heap: &mut BinaryHeap<Candidate<S>>,
                     children: &mut Vec<Child<S>>,
                     parent: i32,
                     parent_score: f32,
                     depth: u32| {
        for c in children.drain(..) {
            heap.push(Candidate {
                score: parent_score * c.score,
                seq,
                parent,
                depth,
                token: c.token,
                state: c.state,
            });
            seq += 1;
        }
    };
    expand(&tree, None, &root, &mut children);
    offer(&mut heap, &mut children, -1, 1.0, 1);
    while tree.len() < budget {
        let Some(c) = heap.pop() else { break };
        let idx = tree.push(c.token, c.parent, c.score);
        if (c.depth as usize) < depth {
            expand(&tree, Some(idx), &c.state, &mut children);
            offer(&mut heap, &mut children, idx as i32, c.score, c.depth + 1);
        }
        let remaining = budget - tree.len();
        if heap.len() > 2 * remaining + 64 {
            let mut kept = std::mem::take(&mut heap).into_vec();
            if remaining < kept.len() {
                kept.select_nth_unstable_by(remaining, |a, b| b.cmp(a));
                kept.truncate(remaining);
            }
            heap = BinaryHeap::from(kept);
        }
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_a_one_branch_tree() {
        let d = DraftTree::chain(vec![4, 5, 6]);
        assert!(d.is_chain());
        assert_eq!(d.parents(), &[-1, 0, 1]);
        assert_eq!(d.depths(), vec![1, 2, 3]);
        assert_eq!(d.paths(), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn new_rejects_forward_parents_and_length_mismatch() {
        assert!(DraftTree::new(vec![1, 2], vec![-1, 1], None).is_err());
        assert!(DraftTree::new(vec![1, 2], vec![-1], None).is_err());
        assert!(DraftTree::new(vec![1], vec![-2], None).is_err());
        assert!(DraftTree::new(vec![1], vec![-1], Some(vec![])).is_err());
        let t = DraftTree::new(vec![1, 2, 3], vec![-1, -1, 0], None).unwrap();
        assert!(!t.is_chain());
        assert_eq!(t.paths(), vec![vec![1], vec![0, 2]]);
    }
}
