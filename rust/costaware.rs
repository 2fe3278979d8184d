//! Cost-aware draft trees: every earlier occurrence of the context's suffix votes for its
//! continuation, an acceptance model learned online turns the votes into probabilities, and the
//! tree's size is whatever maximizes committed tokens per unit of verification cost.
//!
//! One step:
//! 1. [`OccurrenceIndex::gather`] finds the candidates: earlier occurrences of the context's last 4,
//!    2 (or 1) tokens in every scope of the [`Store`], each with its backward match length and
//!    whether it lies where the generation is aligned with its sequence.
//! 2. The tree grows best first. A node's children are the tokens its candidates continue with; a
//!    child's conditional probability comes from the [`AcceptanceModel`], a table indexed by the
//!    best match length among the candidates backing it (plus the depth already agreed), their share
//!    of the parent's candidates, alignment and scope, times a factor for the generation's
//!    [`Streak`] (how its previous step went). A node's probability is the product along
//!    its path, so parents come out before their children and any prefix of the output is a tree.
//! 3. [`best_prefix`] keeps the prefix of `n` nodes that maximizes
//!    `1 + sum(p_1..p_n) - rate * cost[n]`, where `cost[n]` is the price of verifying `n` draft
//!    nodes relative to one plain decoding step (from the cost model in use) and `rate` is the
//!    run's committed tokens per unit cost so far (the Dinkelbach form of maximizing tokens per
//!    second over the whole run). Flat costs (a GPU at batch 1) give long trees, steep ones (a CPU)
//!    short chains.
//! 4. After verification, [`TreeCursor::observe`] labels every child group whose parent lay on the
//!    committed path (accepted or not), updates the acceptance table, the streak factors and the
//!    rate, moves the alignment pointers and sets the next draft's streak.
//!
//! The run-level state ([`CostAwareTrees`]: index, acceptance table, rate) is shared by every
//! generation of a run; the per-generation state ([`TreeCursor`]: the context's tail, alignment
//! pointers, the last draft) lives for one generation.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::draft::DraftTree;
use crate::error::{invalid, Result};
use crate::occurrence::{Candidate, GatherLimits, OccurrenceIndex, Pointer, MAX_MATCH};
use crate::store::{Scope, Store};

/// Match-length buckets of the acceptance table (lower edges; the last is open).
const MATCH_EDGES: [u32; 13] = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];
/// Depth buckets (lower edges): how many tokens of the path the candidates already agreed on.
const DEPTH_EDGES: [u32; 6] = [0, 1, 2, 4, 8, 16];
/// Share buckets (lower edges): the fraction of the parent's candidates that back a child.
const SHARE_EDGES: [f32; 6] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.999];
/// Most alignment pointers a generation keeps (the least recently re-anchored one gives way).
const MAX_POINTERS: usize = 16;

/// Per-step decay of the throughput estimate (about the last 100 steps count).
const RATE_DECAY: f64 = 0.99;

/// Conditional acceptance probabilities of tree edges, learned online.
///
/// A cell is `(match bucket, share bucket, aligned, inner scope)`; each holds accepted and labelled
/// counts. A cell backs off to a fixed prior curve `p0` (rising with the match, the share and
/// alignment) corrected by its group, `(match bucket, aligned)`, which counts accepted edges against
/// what the curve expected for them:
///
/// ```text
/// ratio   = (accepted_group + prior) / (expected_group + prior)
/// p_cell  = (accepted_cell + prior * min(ratio * p0, 0.99)) / (labelled_cell + prior)
/// ```
///
/// A workload unlike the curve's corrects a whole group after a few dozen edges, well before each of
/// its cells has data.
///
/// Acceptance also runs in streaks: a step right after a fully accepted draft is far likelier to be
/// accepted than one right after a step that had nothing to draft (sampled Best-of-2 on SmolLM2:
/// 6.3 tokens accepted where the cells predicted 3.8, and 1.1 where they predicted 1.4). So the
/// probability of an edge drafted in [`Streak`] `s` is the cell's times a factor per streak,
/// `(accepted_s + 4 prior) / (expected_s + 4 prior)`, which counts the edges accepted in that streak
/// against what the cells expected for them. Four numbers: they learn in a few hundred edges.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptanceModel {
    accepted: Vec<f32>,
    labelled: Vec<f32>,
    group_accepted: Vec<f32>,
    group_expected: Vec<f32>,
    streak_accepted: [f32; Streak::COUNT],
    streak_expected: [f32; Streak::COUNT],
    prior: f32,
}

/// How the generation's previous step went: the context of the next draft's acceptance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Streak {
    /// The previous step drafted nothing (or there was none: the generation's first step).
    #[default]
    Undrafted = 0,
    /// It drafted and nothing was accepted.
    Rejected = 1,
    /// Part of a path was accepted.
    Partial = 2,
    /// A whole path was accepted, to a leaf of the draft.
    Complete = 3,
}

impl Streak {
    /// Number of streak states.
    pub const COUNT: usize = 4;
}

impl AcceptanceModel {
    /// Number of cells.
    pub const CELLS: usize = MATCH_EDGES.len() * DEPTH_EDGES.len() * SHARE_EDGES.len() * 4;
    const GROUPS: usize = MATCH_EDGES.len() * DEPTH_EDGES.len() * 2;

    /// An untrained model whose prior weighs as much as `prior` observations per cell.
    pub fn new(prior: f32) -> Result<Self> {
        if !(prior.is_finite() && prior > 0.0) {
            return Err(invalid(
                "prior",
                format!("{prior}; expected a positive number"),
            ));
        }
        Ok(AcceptanceModel {
            accepted: vec![0.0; Self::CELLS],
            labelled: vec![0.0; Self::CELLS],
            group_accepted: vec![0.0; Self::GROUPS],
            group_expected: vec![0.0; Self::GROUPS],
            streak_accepted: [0.0; Streak::COUNT],
            streak_expected: [0.0; Streak::COUNT],
            prior,
        })
    }

    /// The cell of an edge backed by candidates whose best match (plus the depth agreed so far) is
    /// `matched`, holding `share` of the parent's candidates, `aligned` if any is aligned, `inner` if
    /// any lies in the request or family scope.
    pub fn cell(matched: u32, depth: u32, share: f32, aligned: bool, inner: bool) -> usize {
        let m = MATCH_EDGES.partition_point(|&e| e <= matched) - 1;
        let d = DEPTH_EDGES.partition_point(|&e| e <= depth) - 1;
        let s = SHARE_EDGES.partition_point(|&e| e <= share).max(1) - 1;
        (((m * DEPTH_EDGES.len() + d) * SHARE_EDGES.len() + s) * 2 + usize::from(aligned)) * 2
            + usize::from(inner)
    }

    /// `(match bucket, depth bucket, share bucket, aligned)` of a cell.
    fn parts(cell: usize) -> (usize, usize, usize, bool) {
        let aligned = (cell / 2) % 2 == 1;
        let rest = cell / 4;
        let s = rest % SHARE_EDGES.len();
        let d = (rest / SHARE_EDGES.len()) % DEPTH_EDGES.len();
        let m = rest / SHARE_EDGES.len() / DEPTH_EDGES.len();
        (m, d, s, aligned)
    }

    fn group(cell: usize) -> usize {
        let (m, d, _, aligned) = Self::parts(cell);
        (m * DEPTH_EDGES.len() + d) * 2 + usize::from(aligned)
    }

    /// The prior curve at `cell`.
    fn prior_curve(cell: usize) -> f32 {
        let (m, d, s, aligned) = Self::parts(cell);
        let matched = (MATCH_EDGES[m] + DEPTH_EDGES[d]) as f32;
        let mut p = 1.0 - 0.8 / (1.0 + matched / 4.0);
        if aligned {
            // Best-of-8 traces: an aligned occurrence matching 1-7 tokens continues correctly about
            // half the time, against a fifth for the others.
            p = p.max(0.35 + 0.5 * p);
        }
        if s + 1 < SHARE_EDGES.len() {
            p *= 0.3 + 0.7 * SHARE_EDGES[s].sqrt();
        }
        p
    }

    /// The probability that an edge of `cell` is accepted, given its parent was.
    #[inline]
    pub fn probability(&self, cell: usize) -> f32 {
        let g = Self::group(cell);
        let ratio = (self.group_accepted[g] + self.prior) / (self.group_expected[g] + self.prior);
        let backoff = (ratio * Self::prior_curve(cell)).min(0.99);
        (self.accepted[cell] + self.prior * backoff) / (self.labelled[cell] + self.prior)
    }

    /// The factor that edges drafted in `streak` get over their cell's probability.
    #[inline]
    pub fn streak_factor(&self, streak: Streak) -> f32 {
        let weight = 4.0 * self.prior;
        (self.streak_accepted[streak as usize] + weight)
            / (self.streak_expected[streak as usize] + weight)
    }

    /// The probability that an edge of `cell`, drafted in `streak`, is accepted, given its parent was.
    #[inline]
    pub fn probability_in(&self, cell: usize, streak: Streak) -> f32 {
        (self.probability(cell) * self.streak_factor(streak)).min(0.99)
    }

    /// Records the outcome of an edge of `cell` drafted in `streak`.
    #[inline]
    pub fn record_in(&mut self, cell: usize, streak: Streak, accepted: bool) {
        self.streak_expected[streak as usize] += self.probability(cell);
        if accepted {
            self.streak_accepted[streak as usize] += 1.0;
        }
        self.record(cell, accepted);
    }

    /// Records the outcome of an edge of `cell` (the cell's counts only).
    #[inline]
    pub fn record(&mut self, cell: usize, accepted: bool) {
        let g = Self::group(cell);
        self.labelled[cell] += 1.0;
        self.group_expected[g] += Self::prior_curve(cell);
        if accepted {
            self.accepted[cell] += 1.0;
            self.group_accepted[g] += 1.0;
        }
    }

    /// Edges labelled so far.
    pub fn observations(&self) -> u64 {
        self.labelled.iter().map(|&x| x as u64).sum()
    }

    /// Forgets every observation.
    pub fn reset(&mut self) {
        self.accepted.fill(0.0);
        self.labelled.fill(0.0);
        self.group_accepted.fill(0.0);
        self.group_expected.fill(0.0);
        self.streak_accepted = [0.0; Streak::COUNT];
        self.streak_expected = [0.0; Streak::COUNT];
    }
}

/// What verifying `n` draft nodes costs, relative to a plain decoding step (`n = 0`).
#[derive(Clone, Debug, PartialEq)]
pub enum Costs {
    /// `table[n]` for `n = 0..table.len()`; drafts are capped at `table.len() - 1` nodes.
    Table(Vec<f32>),
    /// `1 + per_node * n`.
    Linear(f32),
}

impl Costs {
    /// Checks a table: at least one entry, every entry finite and positive.
    pub fn table(values: Vec<f32>) -> Result<Costs> {
        if values.is_empty() {
            return Err(invalid(
                "costs",
                "is empty; give the cost of 0, 1, 2, ... draft nodes",
            ));
        }
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v > 0.0))
        {
            return Err(invalid(
                "costs",
                format!("costs[{i}] = {v}; expected a positive number"),
            ));
        }
        Ok(Costs::Table(values))
    }

    /// A linear cost of `per_node` steps per node (finite, >= 0).
    pub fn linear(per_node: f32) -> Result<Costs> {
        if !(per_node.is_finite() && per_node >= 0.0) {
            return Err(invalid(
                "node_cost",
                format!("{per_node}; expected a number >= 0"),
            ));
        }
        Ok(Costs::Linear(per_node))
    }

    /// The relative cost of `n` draft nodes (`n` within [`Self::max_nodes`]).
    #[inline]
    pub fn of(&self, n: usize) -> f32 {
        match self {
            Costs::Table(t) => t[n.min(t.len() - 1)],
            Costs::Linear(c) => 1.0 + c * n as f32,
        }
    }

    /// Most draft nodes the costs are known for.
    pub fn max_nodes(&self) -> usize {
        match self {
            Costs::Table(t) => t.len() - 1,
            Costs::Linear(_) => usize::MAX,
        }
    }
}

/// The number of leading nodes to verify: the `n` maximizing `1 + sum(probs[..n]) - rate * costs[n]`
/// (ties to the smaller `n`). `probs` are the nodes' probabilities of acceptance in best-first order.
/// O(len(probs)).
pub fn best_prefix(probs: &[f32], costs: &Costs, rate: f64) -> usize {
    let limit = probs.len().min(costs.max_nodes());
    let mut best = (0usize, 1.0 - rate * f64::from(costs.of(0)));
    let mut expected = 1.0f64;
    for (n, &p) in probs[..limit].iter().enumerate() {
        expected += f64::from(p);
        let value = expected - rate * f64::from(costs.of(n + 1));
        if value > best.1 + 1e-12 {
            best = (n + 1, value);
        }
    }
    best.0
}

/// Committed tokens per unit of relative verification cost, over the recent steps of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    tokens: f64,
    cost: f64,
}

impl Default for Throughput {
    /// Starts at plain decoding's rate: one token per step of cost 1.
    fn default() -> Self {
        Throughput {
            tokens: 1.0,
            cost: 1.0,
        }
    }
}

impl Throughput {
    /// Tokens per unit cost: the recent rate, but never below plain decoding's 1, which drafting
    /// nothing always achieves (a rate below it would make nodes look cheap exactly when drafts are
    /// failing).
    pub fn rate(&self) -> f64 {
        (self.tokens / self.cost).max(1.0)
    }

    /// A step that committed `tokens` at relative cost `cost`.
    pub fn record(&mut self, tokens: usize, cost: f32) {
        self.tokens = RATE_DECAY * self.tokens + tokens as f64;
        self.cost = RATE_DECAY * self.cost + f64::from(cost);
    }
}

/// Settings of a cost-aware tree run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TreeSettings {
    /// Which occurrences to consider.
    pub limits: GatherLimits,
    /// Deepest node drafted.
    pub max_depth: u32,
    /// Nodes less likely than this are never built (the cut would drop them anyway on any cost
    /// model where a node costs something).
    pub min_probability: f32,
}

impl Default for TreeSettings {
    fn default() -> Self {
        TreeSettings {
            limits: GatherLimits::default(),
            max_depth: 64,
            min_probability: 0.002,
        }
    }
}

impl TreeSettings {
    /// Checks the settings.
    pub fn check(&self) -> Result<()> {
        if self.limits.max_candidates == 0 || self.limits.max_candidates > u16::MAX as usize {
            return Err(invalid(
                "max_candidates",
                format!("{}; expected 1..=65535", self.limits.max_candidates),
            ));
        }
        if self.max_depth == 0 {
            return Err(invalid("max_depth", "must be at least 1"));
        }
        if !(self.min_probability.is_finite() && (0.0..1.0).contains(&self.min_probability)) {
            return Err(invalid(
                "min_probability",
                format!("{}; expected a number in [0, 1)", self.min_probability),
            ));
        }
        Ok(())
    }
}

/// The run-level state: the occurrence index over the store, the acceptance table, the rate.
#[derive(Clone, Debug)]
pub struct CostAwareTrees {
    /// Where contexts' suffixes occurred.
    pub index: OccurrenceIndex,
    /// Edge acceptance, learned over the run.
    pub model: AcceptanceModel,
    /// Tokens per unit cost, learned over the run.
    pub throughput: Throughput,
    /// The settings every draft uses.
    pub settings: TreeSettings,
}

impl CostAwareTrees {
    /// A fresh run; `prior` weighs the acceptance table's prior (see [`AcceptanceModel`]).
    pub fn new(settings: TreeSettings, prior: f32) -> Result<Self> {
        settings.check()?;
        Ok(CostAwareTrees {
            index: OccurrenceIndex::new(),
            model: AcceptanceModel::new(prior)?,
            throughput: Throughput::default(),
            settings,
        })
    }
}

/// A child group recorded while building: labelled after verification.
#[derive(Clone, Copy, Debug)]
struct Edge {
    parent: i32,
    depth: u32,
    token: u32,
    cell: u16,
}

/// A node waiting in the best-first frontier; its candidates are `arena[from..from + len]`.
#[derive(Clone, Copy, Debug)]
struct Frontier {
    probability: f32,
    order: u32,
    token: u32,
    parent: i32,
    depth: u32,
    from: u32,
    len: u32,
}

impl PartialEq for Frontier {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Frontier {}
impl PartialOrd for Frontier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Frontier {
    fn cmp(&self, other: &Self) -> Ordering {
        // Most probable first; ties in creation order, so drafts are deterministic.
        self.probability
            .total_cmp(&other.probability)
            .then(other.order.cmp(&self.order))
    }
}

/// The last draft of a generation, kept until its outcome is observed.
#[derive(Clone, Debug, Default)]
struct LastDraft {
    candidates: Vec<Candidate>,
    /// Every node built (token, parent, depth from 0), best first; the first `drafted` were sent.
    nodes: Vec<(u32, i32, u32)>,
    edges: Vec<Edge>,
    drafted: usize,
    cost: f32,
    generations: [u64; 3],
    /// How the step before this draft went.
    streak: Streak,
}

/// One generation's side of a cost-aware run: the context's tail, where the generation is aligned
/// with earlier sequences, and the draft whose outcome is pending.
#[derive(Clone, Debug)]
pub struct TreeCursor {
    tail: Vec<u32>,
    pointers: Vec<Pointer>,
    step: u64,
    streak: Streak,
    costs: Costs,
    last: Option<LastDraft>,
    // Scratch buffers, kept to avoid allocating every step.
    arena: Vec<u16>,
    pairs: Vec<(u32, u16)>,
}

impl Default for TreeCursor {
    fn default() -> Self {
        TreeCursor {
            tail: Vec::new(),
            pointers: Vec::new(),
            step: 0,
            streak: Streak::Undrafted,
            costs: Costs::Linear(0.0),
            last: None,
            arena: Vec::new(),
            pairs: Vec::new(),
        }
    }
}

impl TreeCursor {
    /// A cursor at the empty context, with free nodes until [`Self::set_costs`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends context tokens (the prompt) without a pending draft.
    pub fn extend(&mut self, tokens: &[u32]) {
        self.tail.extend_from_slice(tokens);
        if self.tail.len() > 2 * MAX_MATCH {
            self.tail.drain(..self.tail.len() - MAX_MATCH);
        }
    }

    /// The verification costs later drafts are sized for.
    pub fn set_costs(&mut self, costs: Costs) {
        self.costs = costs;
    }

    /// The costs in use.
    pub fn costs(&self) -> &Costs {
        &self.costs
    }

    /// Alignment pointers held (for tests and reports).
    pub fn pointers(&self) -> &[Pointer] {
        &self.pointers
    }

    /// How the last observed step went (the next draft's [`Streak`]).
    pub fn streak(&self) -> Streak {
        self.streak
    }

    /// Candidates of the last draft.
    pub fn last_candidates(&self) -> usize {
        self.last.as_ref().map_or(0, |l| l.candidates.len())
    }

    /// Drafts at most `max_nodes` nodes after the context from the occurrences in `store`, sized by
    /// the costs. Cost: the gather (see [`OccurrenceIndex::gather`]) plus O(nodes x candidates)
    /// to build, after indexing whatever the store gained since the last call.
    pub fn draft(
        &mut self,
        run: &mut CostAwareTrees,
        store: &Store,
        max_nodes: usize,
    ) -> DraftTree {
        run.index.sync(store);
        let mut last = self.last.take().unwrap_or_default();
        last.nodes.clear();
        last.edges.clear();
        last.drafted = 0;
        last.streak = self.streak;
        last.generations = Scope::ALL.map(|s| store.automaton(s).generation());
        self.pointers
            .retain(|p| store.automaton(p.scope).generation() == p.generation);
        run.index.gather(
            store,
            &self.tail,
            &self.pointers,
            run.settings.limits,
            &mut last.candidates,
        );
        let limit = max_nodes.min(self.costs.max_nodes());
        let mut probs = Vec::new();
        if limit > 0 && !last.candidates.is_empty() {
            // Under a linear cost a node pays iff its probability beats rate x per-node cost, and nodes
            // come best first, so the tree need not grow past the first that does not (a margin keeps
            // every node `best_prefix` could take). A table's marginal costs need not grow: no cut.
            let floor = match self.costs {
                Costs::Linear(c) => (run.throughput.rate() * f64::from(c) - 1e-6) as f32,
                Costs::Table(_) => 0.0,
            };
            self.build(run, store, &mut last, limit, floor, &mut probs);
        }
        let n = best_prefix(&probs, &self.costs, run.throughput.rate());
        last.drafted = n;
        last.cost = self.costs.of(n);
        let tree = if n == 0 {
            DraftTree::empty()
        } else {
            let mut t = DraftTree::new(
                last.nodes[..n].iter().map(|&(t, _, _)| t).collect(),
                last.nodes[..n].iter().map(|&(_, p, _)| p).collect(),
                Some(probs[..n].to_vec()),
            )
            .expect("best-first nodes come after their parents");
            t.match_length = last.candidates[0].matched;
            t
        };
        self.last = Some(last);
        tree
    }

    /// Grows the tree best first into `last.nodes` (and their probabilities into `probs`).
    fn build(
        &mut self,
        run: &CostAwareTrees,
        store: &Store,
        last: &mut LastDraft,
        limit: usize,
        floor: f32,
        probs: &mut Vec<f32>,
    ) {
        let logs = Scope::ALL.map(|s| store.automaton(s).log().tokens());
        let cands = &last.candidates;
        self.arena.clear();
        self.arena.extend(0..cands.len() as u16);
        let mut heap = BinaryHeap::new();
        let mut order = 0u32;
        let settings = run.settings;
        self.expand(
            run,
            &logs,
            cands,
            (0, cands.len() as u32),
            -1,
            0,
            1.0,
            &mut heap,
            &mut order,
            &mut last.edges,
        );
        while last.nodes.len() < limit {
            let Some(f) = heap.pop() else { break };
            if f.probability < settings.min_probability || f.probability < floor {
                break;
            }
            let index = last.nodes.len() as i32;
            last.nodes.push((f.token, f.parent, f.depth));
            probs.push(f.probability);
            if f.depth + 1 < settings.max_depth {
                self.expand(
                    run,
                    &logs,
                    cands,
                    (f.from, f.len),
                    index,
                    f.depth + 1,
                    f.probability,
                    &mut heap,
                    &mut order,
                    &mut last.edges,
                );
            }
        }
    }

    /// Pushes the children of a node (its candidates `arena[from..from + len]`, which agreed with
    /// its path for `depth` tokens) into the frontier and records them as edges.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        run: &CostAwareTrees,
        logs: &[&[u32]; 3],
        cands: &[Candidate],
        (from, len): (u32, u32),
        parent: i32,
        depth: u32,
        probability: f32,
        heap: &mut BinaryHeap<Frontier>,
        order: &mut u32,
        edges: &mut Vec<Edge>,
    ) {
        self.pairs.clear();
        for &c in &self.arena[from as usize..(from + len) as usize] {
            let cand = &cands[c as usize];
            if let Some(t) = cand.next_token(logs[cand.scope as usize], depth) {
                self.pairs.push((t, c));
            }
        }
        if self.pairs.is_empty() {
            return;
        }
        // Deep in a long match every candidate usually agrees: one group, nothing to sort.
        let first = self.pairs[0].0;
        if self.pairs.iter().any(|&(t, _)| t != first) {
            self.pairs.sort_unstable();
        }
        // A candidate's vote weighs its match length squared: a frequent continuation of short
        // matches must not drown the few occurrences of the long one.
        let weight = |c: u16| {
            let m = cands[c as usize].matched as f32;
            m * m
        };
        let total: f32 = self.pairs.iter().map(|&(_, c)| weight(c)).sum();
        let mut i = 0;
        while i < self.pairs.len() {
            let token = self.pairs[i].0;
            let j = i + self.pairs[i..].partition_point(|&(t, _)| t == token);
            let (mut best, mut aligned, mut inner, mut votes) = (0u32, false, false, 0.0f32);
            let start = self.arena.len() as u32;
            for &(_, c) in &self.pairs[i..j] {
                let cand = &cands[c as usize];
                votes += weight(c);
                best = best.max(cand.matched);
                aligned |= cand.aligned;
                inner |= cand.scope != Scope::Global;
                self.arena.push(c);
            }
            let cell = AcceptanceModel::cell(best, depth, votes / total, aligned, inner);
            edges.push(Edge {
                parent,
                depth,
                token,
                cell: cell as u16,
            });
            heap.push(Frontier {
                probability: probability * run.model.probability_in(cell, self.streak),
                order: *order,
                token,
                parent,
                depth,
                from: start,
                len: (j - i) as u32,
            });
            *order += 1;
            i = j;
        }
    }

    /// `committed` were appended to the context after the last draft (its accepted path and the
    /// target's own token): labels the draft's edges, updates the rate and the alignment pointers.
    /// Without a pending draft (e.g. a prompt), only appends. O(edges + candidates x committed).
    pub fn observe(&mut self, run: &mut CostAwareTrees, store: &Store, committed: &[u32]) {
        if let Some(last) = self.last.as_mut() {
            if !committed.is_empty() {
                self.streak = Self::learn(run, last, committed);
                run.throughput.record(committed.len(), last.cost);
                self.realign(store, committed);
            }
        }
        if let Some(last) = self.last.as_mut() {
            // Observed: a second observe before the next draft (tokens the loop forces) labels nothing.
            last.candidates.clear();
            last.nodes.clear();
            last.edges.clear();
            last.drafted = 0;
        }
        self.step += 1;
        self.extend(committed);
    }

    /// Labels the draft's edges and returns how the step went (the next draft's streak).
    fn learn(run: &mut CostAwareTrees, last: &LastDraft, committed: &[u32]) -> Streak {
        let m = committed.len() as u32;
        let mut on_path = Vec::with_capacity(last.nodes.len());
        for &(token, parent, depth) in &last.nodes {
            let parent_ok = parent < 0 || on_path[parent as usize];
            on_path.push(parent_ok && depth < m && committed[depth as usize] == token);
        }
        for e in &last.edges {
            if e.depth < m && (e.parent < 0 || on_path[e.parent as usize]) {
                run.model.record_in(
                    e.cell as usize,
                    last.streak,
                    committed[e.depth as usize] == e.token,
                );
            }
        }
        // Of the nodes sent, the deepest accepted one, and whether it has a sent child.
        let sent = &last.nodes[..last.drafted];
        let Some(deepest) = (0..sent.len())
            .filter(|&i| on_path[i])
            .max_by_key(|&i| sent[i].2)
        else {
            return if sent.is_empty() {
                Streak::Undrafted
            } else {
                Streak::Rejected
            };
        };
        if sent.iter().any(|&(_, parent, _)| parent == deepest as i32) {
            Streak::Partial
        } else {
            Streak::Complete
        }
    }

    fn realign(&mut self, store: &Store, committed: &[u32]) {
        let Some(last) = self.last.as_ref() else {
            return;
        };
        let m = committed.len() as u32;
        let step = self.step;
        // Per sequence, the candidate that agreed longest with what was committed.
        let mut best: Vec<(Scope, u32, u32, u32)> = Vec::new(); // (scope, start, agreed, pos)
        for c in &last.candidates {
            if store.automaton(c.scope).generation() != last.generations[c.scope as usize] {
                continue;
            }
            let tokens = store.automaton(c.scope).log().tokens();
            let agreed = (0..m)
                .take_while(|&d| c.next_token(tokens, d) == Some(committed[d as usize]))
                .count() as u32;
            if agreed == 0 {
                continue;
            }
            match best.iter_mut().find(|b| b.0 == c.scope && b.1 == c.start) {
                Some(b) if b.2 >= agreed => {}
                Some(b) => *b = (c.scope, c.start, agreed, c.pos),
                None => best.push((c.scope, c.start, agreed, c.pos)),
            }
        }
        for p in &mut self.pointers {
            p.next += m;
        }
        for (scope, start, _, pos) in best {
            // The generation is now m tokens past the occurrence's continuation start.
            let next = pos + 1 + m;
            if let Some(p) = self
                .pointers
                .iter_mut()
                .find(|p| p.scope == scope && p.start == start)
            {
                p.next = next;
                p.anchored_at = step;
                continue;
            }
            let fresh = Pointer {
                scope,
                start,
                next,
                generation: last.generations[scope as usize],
                anchored_at: step,
            };
            if self.pointers.len() < MAX_POINTERS {
                self.pointers.push(fresh);
            } else if let Some(oldest) = self.pointers.iter_mut().min_by_key(|p| p.anchored_at) {
                *oldest = fresh;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn family_store(seqs: &[Vec<u32>]) -> Store {
        let mut store = Store::new(4, false).unwrap();
        for s in seqs {
            store.begin_sequence(Scope::Family);
            store.extend(Scope::Family, s).unwrap();
        }
        store
    }

    /// Writes `prompt` as a new family sequence and returns a cursor following it.
    fn start(store: &mut Store, prompt: &[u32]) -> TreeCursor {
        store.begin_sequence(Scope::Family);
        store.extend(Scope::Family, prompt).unwrap();
        let mut cur = TreeCursor::new();
        cur.extend(prompt);
        cur
    }

    fn commit(cur: &mut TreeCursor, run: &mut CostAwareTrees, store: &mut Store, tokens: &[u32]) {
        store.extend(Scope::Family, tokens).unwrap();
        cur.observe(run, store, tokens);
    }

    #[test]
    fn best_prefix_trades_probability_against_cost() {
        let probs = [0.9, 0.8, 0.3, 0.1];
        // Free nodes: take everything.
        assert_eq!(best_prefix(&probs, &Costs::Linear(0.0), 1.0), 4);
        // A node costs 0.2 steps at rate 1: keep nodes with p > 0.2.
        assert_eq!(best_prefix(&probs, &Costs::Linear(0.2), 1.0), 3);
        // At rate 2 the same cost weighs double: p > 0.4.
        assert_eq!(best_prefix(&probs, &Costs::Linear(0.2), 2.0), 2);
        // A table with a step from 0 to 1 node (a CPU's matrix-vector to matrix-matrix jump):
        // one node is not worth 0.5 steps, two together are.
        let cpu = Costs::table(vec![1.0, 1.5, 1.55, 1.6, 3.0]).unwrap();
        assert_eq!(best_prefix(&[0.45, 0.44, 0.05, 0.04], &cpu, 1.0), 2);
        assert_eq!(best_prefix(&[0.3, 0.1], &cpu, 1.0), 0);
        // Never beyond the table.
        let short = Costs::table(vec![1.0, 1.0]).unwrap();
        assert_eq!(best_prefix(&probs, &short, 1.0), 1);
    }

    /// Under a linear cost the tree stops growing at the first node that cannot pay; the draft is the
    /// one the same costs as a table (which never cut the tree) give, step after step.
    #[test]
    fn a_linear_cost_cuts_the_tree_without_changing_the_draft() {
        let mut rng = 7u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((rng >> 33) % 12) as u32
        };
        let samples: Vec<Vec<u32>> = (0..6).map(|_| (0..300).map(|_| next()).collect()).collect();
        let mut store = family_store(&samples);
        let mut run = CostAwareTrees::new(TreeSettings::default(), 8.0).unwrap();
        let written: Vec<u32> = samples[2][..200].to_vec();
        let mut cur = start(&mut store, &written[..20]);
        for per_node in [0.0f32, 0.02, 0.1, 0.4] {
            let linear = Costs::linear(per_node).unwrap();
            let table =
                Costs::table((0..=64).map(|n| 1.0 + per_node * n as f32).collect()).unwrap();
            for i in 0..30 {
                cur.set_costs(table.clone());
                let whole = cur.draft(&mut run, &store, 64);
                cur.set_costs(linear.clone());
                let cut = cur.draft(&mut run, &store, 64);
                assert_eq!(
                    cut.tokens(),
                    whole.tokens(),
                    "per_node {per_node}, step {i}"
                );
                assert_eq!(
                    cut.parents(),
                    whole.parents(),
                    "per_node {per_node}, step {i}"
                );
                let at = 20 + i * 5 % 150;
                commit(&mut cur, &mut run, &mut store, &written[at..at + 2]);
            }
        }
    }

    proptest! {
        #[test]
        fn best_prefix_is_the_argmax(
            probs in prop::collection::vec(0.0f32..1.0, 0..20),
            costs in prop::collection::vec(0.5f32..4.0, 1..24),
            rate in 0.1f64..5.0,
        ) {
            let mut probs = probs;
            probs.sort_unstable_by(|a, b| b.total_cmp(a));
            let table = Costs::table(costs.clone()).unwrap();
            let n = best_prefix(&probs, &table, rate);
            let value = |k: usize| 1.0 + probs[..k].iter().map(|&p| f64::from(p)).sum::<f64>() - rate * f64::from(costs[k]);
            let limit = probs.len().min(costs.len() - 1);
            prop_assert!(n <= limit);
            for k in 0..=limit {
                prop_assert!(value(n) >= value(k) - 1e-9, "n={} value {} < k={} value {}", n, value(n), k, value(k));
            }
        }
    }

    #[test]
    fn costs_and_settings_reject_bad_values() {
        assert!(Costs::table(vec![]).is_err());
        assert!(Costs::table(vec![1.0, f32::NAN]).is_err());
        assert!(Costs::table(vec![1.0, 0.0]).is_err());
        assert!(Costs::linear(-0.1).is_err());
        assert!(AcceptanceModel::new(0.0).is_err());
        let bad = TreeSettings {
            max_depth: 0,
            ..TreeSettings::default()
        };
        assert!(CostAwareTrees::new(bad, 8.0).is_err());
    }

    #[test]
    fn drafts_the_continuations_of_every_occurrence() {
        // Two earlier samples continue "1 2 3" differently; both branches appear.
        let mut store = family_store(&[vec![1, 2, 3, 4, 5, 6], vec![9, 1, 2, 3, 7, 8, 9]]);
        let mut run = CostAwareTrees::new(TreeSettings::default(), 8.0).unwrap();
        let mut cur = start(&mut store, &[1, 2, 3]);
        let tree = cur.draft(&mut run, &store, 16);
        let paths: Vec<Vec<u32>> = tree
            .paths()
            .iter()
            .map(|p| p.iter().map(|&i| tree.tokens()[i]).collect())
            .collect();
        assert!(paths.contains(&vec![4, 5, 6]), "{paths:?}");
        assert!(paths.contains(&vec![7, 8, 9]), "{paths:?}");
        assert_eq!(tree.match_length, 3);
        // Probabilities fall along each path and come best first.
        assert!(tree.scores().windows(2).all(|w| w[0] >= w[1]));
        // Pricey nodes: a smaller tree.
        cur.set_costs(Costs::Linear(0.3));
        let small = cur.draft(&mut run, &store, 16);
        assert!(
            small.len() < tree.len(),
            "{} vs {}",
            small.len(),
            tree.len()
        );
    }

    #[test]
    fn learns_acceptance_and_prefers_the_aligned_occurrence() {
        // Sample A continues "5" four ways; the generation copies A, inserts 99, then writes 5 again.
        let a: Vec<u32> = vec![1, 2, 3, 4, 5, 60, 7, 8, 9, 5, 20, 5, 21, 5, 22];
        let mut store = family_store(&[a]);
        let mut run = CostAwareTrees::new(TreeSettings::default(), 8.0).unwrap();
        let mut cur = start(&mut store, &[1, 2, 3]);
        for t in [4, 99, 5] {
            cur.draft(&mut run, &store, 8);
            commit(&mut cur, &mut run, &mut store, &[t]);
        }
        assert!(run.model.observations() > 0);
        assert_eq!(cur.pointers().len(), 1);
        // After "99 5" every occurrence of 5 matches one token; the one where the generation is in
        // A continues with 60, and wins (unaligned, the lowest token id would come first).
        let tree = cur.draft(&mut run, &store, 8);
        assert_eq!(tree.tokens()[0], 60, "{:?}", tree.tokens());
        let siblings: Vec<f32> = (0..tree.len())
            .filter(|&i| tree.parents()[i] == -1)
            .map(|i| tree.scores()[i])
            .collect();
        assert!(siblings[0] > siblings[1], "{siblings:?}");
    }

    #[test]
    fn the_streak_follows_each_step_and_scales_its_edges() {
        // A single earlier sample: every draft is the chain that continues it.
        let a: Vec<u32> = (1..=40).collect();
        let mut store = family_store(&[a]);
        let mut run = CostAwareTrees::new(TreeSettings::default(), 8.0).unwrap();
        let mut cur = start(&mut store, &[1, 2, 3, 4]);
        assert_eq!(cur.streak(), Streak::Undrafted);
        let tree = cur.draft(&mut run, &store, 4);
        assert_eq!(tree.tokens(), &[5, 6, 7, 8]);
        // The whole chain and the target's own token: complete.
        commit(&mut cur, &mut run, &mut store, &[5, 6, 7, 8, 9]);
        assert_eq!(cur.streak(), Streak::Complete);
        // Tokens the loop forces, observed with no draft in between: labelled as nothing drafted.
        let mut forced = cur.clone();
        let (mut forced_run, mut forced_store) = (run.clone(), store.clone());
        commit(&mut forced, &mut forced_run, &mut forced_store, &[10]);
        assert_eq!(forced.streak(), Streak::Undrafted);
        cur.draft(&mut run, &store, 4);
        commit(&mut cur, &mut run, &mut store, &[10, 11, 3]);
        assert_eq!(cur.streak(), Streak::Partial);
        cur.draft(&mut run, &store, 4);
        commit(&mut cur, &mut run, &mut store, &[98]);
        assert_eq!(cur.streak(), Streak::Rejected);
        cur.set_costs(Costs::table(vec![1.0]).unwrap()); // no node pays: nothing is sent
        cur.draft(&mut run, &store, 4);
        commit(&mut cur, &mut run, &mut store, &[97]);
        assert_eq!(cur.streak(), Streak::Undrafted);

        // Edges drafted after a complete step accepted, after an undrafted one rejected: the same
        // cell's probability splits by streak.
        let mut model = AcceptanceModel::new(8.0).unwrap();
        let cell = AcceptanceModel::cell(3, 0, 0.5, false, true);
        let base = model.probability(cell);
        assert_eq!(model.probability_in(cell, Streak::Complete), base);
        for _ in 0..200 {
            model.record_in(cell, Streak::Complete, true);
            model.record_in(cell, Streak::Undrafted, false);
        }
        let (after_complete, after_undrafted) = (
            model.probability_in(cell, Streak::Complete),
            model.probability_in(cell, Streak::Undrafted),
        );
        assert!(
            after_complete > 1.5 * model.probability(cell)
                && after_undrafted < 0.6 * model.probability(cell),
            "{after_complete} {after_undrafted} {}",
            model.probability(cell)
        );
        assert!((model.streak_factor(Streak::Partial) - 1.0).abs() < 1e-6);
        model.reset();
        assert_eq!(model.streak_factor(Streak::Complete), 1.0);
    }

    #[test]
    fn acceptance_follows_the_data() {
        let mut model = AcceptanceModel::new(8.0).unwrap();
        let cell = AcceptanceModel::cell(2, 0, 0.5, false, true);
        let prior = model.probability(cell);
        for _ in 0..100 {
            model.record(cell, true);
        }
        assert!(model.probability(cell) > 0.95 && prior < 0.9);
        // Longer matches start more likely, alignment too.
        assert!(
            model.probability(AcceptanceModel::cell(32, 0, 0.5, false, true))
                > model.probability(AcceptanceModel::cell(1, 0, 0.5, false, true))
        );
        assert!(
            model.probability(AcceptanceModel::cell(1, 0, 0.5, true, true))
                > model.probability(AcceptanceModel::cell(1, 0, 0.5, false, true))
        );
        let cells: std::collections::BTreeSet<usize> = [0u32, 1, 5, 40, 1000]
            .iter()
            .flat_map(|&m| {
                [0.0f32, 0.3, 1.0].map(|s| AcceptanceModel::cell(m, m / 3, s, m % 2 == 0, true))
            })
            .collect();
        assert!(cells.iter().all(|&c| c < AcceptanceModel::CELLS));
        model.reset();
        assert_eq!(model.observations(), 0);
    }

    #[test]
    fn empty_store_drafts_nothing_and_no_nodes_when_costs_forbid() {
        let store = Store::new(4, false).unwrap();
        let mut run = CostAwareTrees::new(TreeSettings::default(), 8.0).unwrap();
        let mut cur = TreeCursor::new();
        cur.extend(&[1, 2, 3]);
        assert!(cur.draft(&mut run, &store, 8).is_empty());
        cur.observe(&mut run, &store, &[4]);
        let mut store = family_store(&[vec![1, 2, 3, 4]]);
        let mut cur = start(&mut store, &[1, 2, 3]);
        cur.set_costs(Costs::table(vec![1.0]).unwrap());
        assert!(cur.draft(&mut run, &store, 8).is_empty());
    }
}
