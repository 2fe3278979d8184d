//! [`BatchStore`]: drafts for every row of an inference engine's batch, with the samples of one prompt
//! sharing a family store while all of them are being written.
//!
//! An engine such as vLLM hands its drafter the batch as rows of token ids (each row a request's
//! prompt and output so far), not as request ids, and reorders rows between steps. A `BatchStore`
//! tracks requests from the rows' content and lengths (see [`BatchStore::step`]), groups requests
//! into *families* (the requests whose prompt starts with a family's prompt: the N samples of
//! `n=N`, the same prompt sent again, a later round whose prompt extends an earlier one), and drafts
//! each row from the longest suffix match among
//!
//! - its own text (the request scope: its prompt past the family prompt, and its output so far),
//! - the family's closed text (the family prompt and every finished sibling),
//! - each live sibling's text, read *while that sibling is being written*,
//! - the global scope of a [`Store`] spanning families, bounded by a capacity.
//!
//! **Why one automaton per live sample.** A [`SuffixAutomaton`] (like a [`Store`] scope) has one open
//! sequence, so N concurrent samples cannot all append to one family automaton. Each live sample
//! writes its own small automaton (one writer each) and every sibling follows it with its own
//! [`Cursor`]; when a sample finishes, its text becomes one more sequence of the family's closed
//! automaton and its own automaton is dropped. A row therefore reads `3 + live siblings` sources.
//! A cursor over a sibling that grows after the cursor moved on stays valid but may report a shorter
//! match than the longest until the context moves on (matches that have a continuation, the only
//! ones worth drafting from, are text the sibling wrote *before* this row got there).
//!
//! **Cost per step.** Appending a row's new tokens to its own automaton: O(new tokens). Cursors:
//! O(new tokens x (3 + live siblings)) advances. A draft: O(max_tokens) per source whose match could
//! win. A new request: O(its tokens) once (hashing for the family lookup, its text past the family
//! prompt). A finished request's text is copied once into its family and the global scope. Tracking
//! reads O(1) tokens per row (a fixed head and tail).
//!
//! **Bounded memory.** Live requests are bounded by the engine's batch; a request whose row is absent
//! for more than `grace_steps` steps is finished (its request scope freed). Families without live
//! members are evicted oldest first once all families together hold more than
//! `family_capacity_tokens` tokens (a live family's closed text is capped at the same number); the
//! global scope evicts its oldest sequences past `global_capacity_tokens`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rayon::prelude::*;

use crate::automaton::{Cursor, DraftPolicy, SuffixAutomaton};
use crate::error::{invalid, Result};
use crate::ngram::{top_continuations_multi, NgramTrie};
use crate::store::{Scope, Store};

/// Leading tokens of a row compared to confirm that it continues a tracked request.
const HEAD: usize = 32;
/// Trailing tokens hashed into a request's index key (and compared exactly on a hit).
const KEY_TAIL: usize = 32;
/// Tokens of the family prompt's end that start each member's own text, so that a sibling's start
/// (prompt end, then output) is matched as one piece.
const BRIDGE: usize = 32;
/// Trailing tokens of its context a request keeps: the key tail, the trie context and what a fresh
/// cursor is fed to catch up with the context.
const RECENT: usize = 64;
/// A cursor keeps its context to resync after its automaton is rebuilt; it is restarted from the
/// last [`RECENT`] tokens after this many tokens so that this history stays small (a match longer
/// than `RECENT` tokens is specific enough).
const RESTART_EVERY: usize = 1024;
/// Batches of at least this many rows are drafted in parallel.
const PARALLEL_ROWS: usize = 16;
/// Sample ranks past this one share the last statistics bucket.
const MAX_RANKS: usize = 64;

/// Which structure a draft comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DraftMethod {
    /// The longest suffix match across the sources' suffix automata, and what followed it.
    Automaton,
    /// The most frequent continuation chain from the sources' n-gram tries (counts summed).
    Trie,
    /// The automaton's draft when its match is at least `hybrid_threshold` tokens, else the trie's.
    Hybrid,
}

impl DraftMethod {
    /// The method called `name`: `"sam"`, `"trie"` or `"hybrid"`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "sam" | "automaton" => Ok(DraftMethod::Automaton),
            "trie" => Ok(DraftMethod::Trie),
            "hybrid" => Ok(DraftMethod::Hybrid),
            other => Err(invalid(
                "method",
                format!("{other:?}; expected 'sam', 'trie' or 'hybrid'"),
            )),
        }
    }

    fn uses_trie(self) -> bool {
        self != DraftMethod::Automaton
    }
}

/// How many tokens to draft: the rule of the Python `AdaptiveLength` (same fields, same meaning).
///
/// The length starts at the maximum; after a step in which every drafted token was accepted it grows
/// by `grow`, otherwise it becomes `accepted + shrink_to_accepted` (never below `min_tokens`). A draft
/// is further capped at `match_factor` tokens per matched context token (`0`: no cap). With
/// `adaptive == false` the maximum is always drafted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DraftLength {
    /// Whether the length adapts to acceptance.
    pub adaptive: bool,
    /// Shortest adapted length.
    pub min_tokens: usize,
    /// Growth after a fully accepted draft.
    pub grow: usize,
    /// Margin over the accepted run after a partly rejected draft.
    pub shrink_to_accepted: usize,
    /// Most tokens drafted per matched context token (0: unbounded).
    pub match_factor: usize,
}

impl Default for DraftLength {
    fn default() -> Self {
        DraftLength {
            adaptive: true,
            min_tokens: 1,
            grow: 8,
            shrink_to_accepted: 4,
            match_factor: 4,
        }
    }
}

impl DraftLength {
    /// Tokens to draft now: at most `limit`, the adapted `current` length and, when the match is
    /// known (`match_length > 0`), `match_factor * match_length`.
    pub fn budget(&self, current: usize, limit: usize, match_length: u32) -> usize {
        if !self.adaptive {
            return limit;
        }
        let mut n = limit.min(current);
        if self.match_factor > 0 && match_length > 0 {
            n = n.min(self.match_factor * match_length as usize);
        }
        n
    }

    /// The adapted length after `accepted` of `drafted` tokens were accepted (at most `max`).
    pub fn update(&self, current: usize, max: usize, drafted: usize, accepted: usize) -> usize {
        if !self.adaptive || drafted == 0 {
            return current;
        }
        if accepted >= drafted {
            max.min(current + self.grow)
        } else {
            max.min(self.min_tokens.max(accepted + self.shrink_to_accepted))
        }
    }
}

/// Settings of a [`BatchStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// What drafts are read from.
    pub method: DraftMethod,
    /// Most tokens drafted per row and step (the engine may ask for fewer).
    pub max_tokens: usize,
    /// Shortest suffix match an automaton draft continues.
    pub min_match: u32,
    /// Context length of the n-gram tries (trie and hybrid methods).
    pub max_order: u32,
    /// Hybrid: the automaton's draft is used when its match is at least this long.
    pub hybrid_threshold: u32,
    /// The draft length rule.
    pub length: DraftLength,
    /// Whether requests join the family whose prompt their prompt starts with (otherwise every
    /// request is a family of its own).
    pub share_family: bool,
    /// Tokens all families together may hold before families without live members are evicted, oldest
    /// first; also the cap of one family's closed text.
    pub family_capacity_tokens: usize,
    /// Capacity of the global scope in tokens; 0 disables it.
    pub global_capacity_tokens: usize,
    /// Steps a request may be absent from the batch before it is finished.
    pub grace_steps: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            method: DraftMethod::Automaton,
            max_tokens: 8,
            min_match: 1,
            max_order: 4,
            hybrid_threshold: 5,
            length: DraftLength::default(),
            share_family: true,
            family_capacity_tokens: 4 << 20,
            global_capacity_tokens: 1 << 20,
            grace_steps: 8,
        }
    }
}

impl BatchConfig {
    fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 {
            return Err(invalid("max_tokens", "must be at least 1"));
        }
        if self.min_match == 0 {
            return Err(invalid("min_match", "must be at least 1"));
        }
        if self.family_capacity_tokens == 0 {
            return Err(invalid("family_capacity_tokens", "must be at least 1"));
        }
        // The tries check their own order.
        NgramTrie::new(self.max_order).map(|_| ())
    }
}

/// A row's token ids as the engine holds them (no copy): only the tokens a step reads are checked.
#[derive(Clone, Copy, Debug)]
pub enum TokenRow<'a> {
    /// Unsigned 32-bit ids.
    U32(&'a [u32]),
    /// Signed 32-bit ids (vLLM's `token_ids_cpu`); negative values are rejected where read.
    I32(&'a [i32]),
    /// Signed 64-bit ids; values outside `[0, 2**32)` are rejected where read.
    I64(&'a [i64]),
}

impl TokenRow<'_> {
    /// Number of tokens in the row.
    pub fn len(&self) -> usize {
        match self {
            TokenRow::U32(t) => t.len(),
            TokenRow::I32(t) => t.len(),
            TokenRow::I64(t) => t.len(),
        }
    }

    /// Whether the row is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn raw(&self, i: usize) -> i64 {
        match self {
            TokenRow::U32(t) => i64::from(t[i]),
            TokenRow::I32(t) => i64::from(t[i]),
            TokenRow::I64(t) => t[i],
        }
    }

    /// Token `i` (in bounds) of row `row`, or an error naming both and the value.
    #[inline]
    fn get(&self, row: usize, i: usize) -> Result<u32> {
        let v = self.raw(i);
        u32::try_from(v).map_err(|_| {
            invalid(
                "token_ids",
                format!("row {row}, position {i} holds {v}; token ids are integers in [0, 2**32)"),
            )
        })
    }

    fn range(&self, row: usize, from: usize, to: usize) -> Result<Vec<u32>> {
        (from..to).map(|i| self.get(row, i)).collect()
    }
}

/// One row of a step: the request's tokens so far (prompt, output, and the tokens sampled this step
/// at the end) and how many tokens were sampled this step (0: the row has nothing new, no draft).
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The row's tokens, exactly as many as the request holds.
    pub tokens: TokenRow<'a>,
    /// Tokens appended this step (accepted draft tokens plus the target's own).
    pub sampled: usize,
}

/// Acceptance counters of the requests that joined their family `rank`-th (0: the first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RankStats {
    /// Decoding steps seen (rows continuing a tracked request).
    pub steps: u64,
    /// Tokens those steps appended.
    pub tokens: u64,
    /// Steps that verified a draft of ours.
    pub drafts: u64,
    /// Draft tokens proposed for those steps.
    pub drafted: u64,
    /// Draft tokens accepted.
    pub accepted: u64,
}

/// Counters of a [`BatchStore`] since it was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Steps run.
    pub steps: u64,
    /// Requests that appeared (rows matching no tracked request).
    pub requests_started: u64,
    /// Requests finished (absent for more than `grace_steps` steps, or by `finish_all`).
    pub requests_finished: u64,
    /// Families created.
    pub families_created: u64,
    /// Families evicted (no live member, over capacity).
    pub families_evicted: u64,
    /// New requests that joined an existing family.
    pub family_joins: u64,
    /// Counters by the rank at which a request joined its family (the last bucket pools the rest).
    pub by_rank: Vec<RankStats>,
}

type Key = (usize, u64);

#[inline]
fn mix(h: u64, t: u32) -> u64 {
    (h ^ u64::from(t))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(27)
}

const SEED: u64 = 0xCBF2_9CE4_8422_2325;

fn hash_iter(tokens: impl IntoIterator<Item = u32>) -> u64 {
    tokens.into_iter().fold(SEED, mix)
}

/// One family: its prompt, the text of finished members and the live members' slots.
#[derive(Clone, Debug)]
struct Family {
    prompt: Vec<u32>,
    hash: u64,
    /// The prompt, then every finished member's text (one sequence each).
    closed: SuffixAutomaton,
    closed_trie: Option<NgramTrie>,
    /// Changes whenever `closed` gains text; readers then restart their cursor over it.
    version: u64,
    /// `(slot, serial)` of the live members.
    live: Vec<(usize, u64)>,
    /// Members that ever joined (the next member's rank).
    joined: u32,
    /// Last step a member of the family had a row.
    last_step: u64,
}

impl Family {
    fn tokens(&self) -> usize {
        self.prompt.len() + self.closed.num_tokens()
    }

    fn memory_bytes(&self) -> usize {
        self.prompt.capacity() * 4
            + self.closed.memory_bytes()
            + self.closed_trie.as_ref().map_or(0, NgramTrie::memory_bytes)
    }
}

/// A live request's own text: what its siblings read while it is written.
#[derive(Clone, Debug)]
struct Member {
    serial: u64,
    sam: SuffixAutomaton,
    trie: Option<NgramTrie>,
}

/// A cursor and how many tokens it was fed since it last restarted.
#[derive(Clone, Debug)]
struct Follow {
    cursor: Cursor,
    fed: usize,
}

impl Follow {
    fn start(sam: &SuffixAutomaton, recent: &VecDeque<u32>) -> Self {
        let mut f = Follow {
            cursor: sam.cursor(),
            fed: 0,
        };
        f.restart(sam, recent);
        f
    }

    fn restart(&mut self, sam: &SuffixAutomaton, recent: &VecDeque<u32>) {
        self.cursor.reset(sam);
        for &t in recent {
            self.cursor.advance(sam, t);
        }
        self.fed = recent.len();
    }

    fn feed(&mut self, sam: &SuffixAutomaton, tokens: &[u32], recent: &VecDeque<u32>) {
        if self.fed + tokens.len() > RESTART_EVERY {
            self.restart(sam, recent);
            return;
        }
        self.cursor.extend(sam, tokens);
        self.fed += tokens.len();
    }
}

/// What a request reads: its cursors over every source, and its recent context.
#[derive(Clone, Debug)]
struct Reader {
    /// The last [`RECENT`] tokens of the context (including `pending`).
    recent: VecDeque<u32>,
    /// Tokens appended this step, not yet fed to the cursors.
    pending: Vec<u32>,
    /// Whether the cursors were made this step (fed `recent` already).
    fresh: bool,
    own: Option<Follow>,
    closed: Option<Follow>,
    closed_version: u64,
    siblings: Vec<(usize, u64, Follow)>,
    global: Option<Follow>,
    global_generation: u64,
}

impl Reader {
    fn new(context_tail: &[u32]) -> Self {
        Reader {
            recent: context_tail.iter().copied().collect(),
            pending: Vec::new(),
            fresh: true,
            own: None,
            closed: None,
            closed_version: 0,
            siblings: Vec::new(),
            global: None,
            global_generation: 0,
        }
    }

    fn push(&mut self, tokens: &[u32]) {
        for &t in tokens {
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back(t);
        }
        self.pending.extend_from_slice(tokens);
    }
}

/// A tracked request.
#[derive(Clone, Debug)]
struct Request {
    serial: u64,
    family: usize,
    rank: u32,
    /// Tokens of the row as last seen.
    len: usize,
    /// Its first [`HEAD`] tokens.
    head: Vec<u32>,
    key: Key,
    /// Last step it had a row.
    seen: u64,
    /// Adapted draft length.
    current: usize,
    /// Length of the draft returned for it at its last row.
    last_draft: usize,
    /// Whether it has a row this step (and so gets a draft).
    active: bool,
    reader: Reader,
    /// The draft of this step.
    draft: Vec<u32>,
}

enum Plan {
    Skip,
    Continue(usize),
    New,
}

/// Request tracking, family stores and drafting for an engine's batch: see the module docs.
#[derive(Debug)]
pub struct BatchStore {
    config: BatchConfig,
    step: u64,
    next_serial: u64,
    requests: Vec<Option<Request>>,
    /// Own text of the request in the same slot.
    members: Vec<Option<Member>>,
    free_slots: Vec<usize>,
    by_key: HashMap<Key, Vec<usize>>,
    families: Vec<Option<Family>>,
    free_families: Vec<usize>,
    /// `(prompt length, prompt hash)` -> families with that prompt.
    family_index: HashMap<Key, Vec<usize>>,
    /// Distinct family prompt lengths and how many families have each.
    prompt_lengths: BTreeMap<usize, usize>,
    global: Option<Store>,
    stats: BatchStats,
}

impl BatchStore {
    /// An empty store. Fails on settings out of range (naming the setting).
    pub fn new(config: BatchConfig) -> Result<Self> {
        config.validate()?;
        let global = if config.global_capacity_tokens > 0 {
            let mut s = Store::new(config.max_order, false)?;
            s.set_capacity(Scope::Global, Some(config.global_capacity_tokens), None)?;
            Some(s)
        } else {
            None
        };
        Ok(BatchStore {
            config,
            step: 0,
            next_serial: 0,
            requests: Vec::new(),
            members: Vec::new(),
            free_slots: Vec::new(),
            by_key: HashMap::new(),
            families: Vec::new(),
            free_families: Vec::new(),
            family_index: HashMap::new(),
            prompt_lengths: BTreeMap::new(),
            global,
            stats: BatchStats {
                by_rank: vec![RankStats::default(); MAX_RANKS],
                ..BatchStats::default()
            },
        })
    }

    /// The settings.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Counters since the store was made.
    pub fn stats(&self) -> &BatchStats {
        &self.stats
    }

    /// Live (tracked) requests.
    pub fn num_requests(&self) -> usize {
        self.requests.iter().flatten().count()
    }

    /// Families held (with or without live members).
    pub fn num_families(&self) -> usize {
        self.families.iter().flatten().count()
    }

    /// Tokens held by all families (prompts and finished members' text).
    pub fn family_tokens(&self) -> usize {
        self.families.iter().flatten().map(Family::tokens).sum()
    }

    /// Tokens held by the live requests' own texts.
    pub fn request_tokens(&self) -> usize {
        self.members
            .iter()
            .flatten()
            .map(|m| m.sam.num_tokens())
            .sum()
    }

    /// Tokens in the global scope.
    pub fn global_tokens(&self) -> usize {
        self.global
            .as_ref()
            .map_or(0, |g| g.num_tokens(Scope::Global))
    }

    /// Heap bytes of the stored text and structures (cursors not counted).
    pub fn memory_bytes(&self) -> usize {
        let members: usize = self
            .members
            .iter()
            .flatten()
            .map(|m| m.sam.memory_bytes() + m.trie.as_ref().map_or(0, NgramTrie::memory_bytes))
            .sum();
        let families: usize = self
            .families
            .iter()
            .flatten()
            .map(Family::memory_bytes)
            .sum();
        members + families + self.global.as_ref().map_or(0, Store::memory_bytes)
    }

    /// `(family id, rank, tokens)` of every live request, by slot (for tests and diagnostics).
    pub fn requests(&self) -> Vec<(usize, u32, usize)> {
        self.requests
            .iter()
            .flatten()
            .map(|r| (r.family, r.rank, r.len))
            .collect()
    }

    /// One engine step: `rows` are the batch's rows in the engine's current order; the result holds
    /// one draft per row (empty where the row sampled nothing, or nothing matched). `max_tokens` caps
    /// this step's drafts (the engine's speculative length).
    ///
    /// A row continues the tracked request whose length is the row's length minus its sampled tokens
    /// and whose first [`HEAD`] and last [`KEY_TAIL`] tokens equal the row's at that length; any
    /// other row is a new request. Rows may come in any order. Fails, changing nothing, when a row
    /// reads a token outside `[0, 2**32)` or samples more tokens than it holds.
    pub fn step(&mut self, rows: &[Row<'_>], max_tokens: usize) -> Result<Vec<Vec<u32>>> {
        let plans = self.plan(rows)?;
        self.step += 1;
        self.stats.steps += 1;
        let limit = max_tokens.min(self.config.max_tokens);
        let mut slot_of_row = vec![usize::MAX; rows.len()];
        for (i, (row, plan)) in rows.iter().zip(&plans).enumerate() {
            match *plan {
                Plan::Skip => {}
                Plan::Continue(slot) => {
                    self.continue_request(slot, row, i)?;
                    slot_of_row[i] = slot;
                }
                Plan::New => slot_of_row[i] = self.start_request(row, i)?,
            }
        }
        self.finish_absent();
        self.draft_active(limit);
        let drafts = slot_of_row
            .iter()
            .map(|&slot| {
                if slot == usize::MAX {
                    return Vec::new();
                }
                let r = self.requests[slot]
                    .as_mut()
                    .expect("planned slots are live");
                r.last_draft = r.draft.len();
                std::mem::take(&mut r.draft)
            })
            .collect();
        self.enforce_family_capacity();
        Ok(drafts)
    }

    /// Finishes every live request (their text moves into their families and the global scope).
    pub fn finish_all(&mut self) {
        for slot in 0..self.requests.len() {
            if self.requests[slot].is_some() {
                self.finish(slot);
            }
        }
        self.enforce_family_capacity();
    }

    /// Matches rows to requests and checks every token the step will read; changes nothing.
    fn plan(&self, rows: &[Row<'_>]) -> Result<Vec<Plan>> {
        let mut claimed = vec![false; self.requests.len()];
        let mut plans = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let n = row.tokens.len();
            if row.sampled > n {
                return Err(invalid(
                    "sampled",
                    format!("row {i} sampled {} tokens but holds only {n}", row.sampled),
                ));
            }
            let prev = n - row.sampled;
            if row.sampled == 0 || prev == 0 {
                plans.push(Plan::Skip);
                continue;
            }
            let tail_from = prev.saturating_sub(KEY_TAIL);
            let tail = row.tokens.range(i, tail_from, prev)?;
            let key = (prev, hash_iter(tail.iter().copied()));
            let mut found = None;
            if let Some(slots) = self.by_key.get(&key) {
                for &slot in slots {
                    if claimed[slot] {
                        continue;
                    }
                    let r = self.requests[slot]
                        .as_ref()
                        .expect("indexed slots are live");
                    if self.same_request(r, row, i, &tail)? {
                        found = Some(slot);
                        break;
                    }
                }
            }
            match found {
                Some(slot) => {
                    claimed[slot] = true;
                    row.tokens.range(i, prev, n)?;
                    plans.push(Plan::Continue(slot));
                }
                None => {
                    row.tokens.range(i, 0, n)?;
                    plans.push(Plan::New);
                }
            }
        }
        Ok(plans)
    }

    fn same_request(&self, r: &Request, row: &Row<'_>, i: usize, tail: &[u32]) -> Result<bool> {
        let recent = &r.reader.recent;
        if recent.len() < tail.len() {
            return Ok(false);
        }
        if !recent
            .iter()
            .skip(recent.len() - tail.len())
            .eq(tail.iter())
        {
            return Ok(false);
        }
        for (j, &t) in r.head.iter().enumerate() {
            if row.tokens.get(i, j)? != t {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn index(&mut self, slot: usize, key: Key) {
        self.by_key.entry(key).or_default().push(slot);
    }

    fn unindex(&mut self, slot: usize, key: Key) {
        if let Some(v) = self.by_key.get_mut(&key) {
            v.retain(|&s| s != slot);
            if v.is_empty() {
                self.by_key.remove(&key);
            }
        }
    }

    fn key_of(recent: &VecDeque<u32>, len: usize) -> Key {
        let take = KEY_TAIL.min(len).min(recent.len());
        (
            len,
            hash_iter(recent.iter().skip(recent.len() - take).copied()),
        )
    }

    fn continue_request(&mut self, slot: usize, row: &Row<'_>, i: usize) -> Result<()> {
        let n = row.tokens.len();
        let new = row.tokens.range(i, n - row.sampled, n)?;
        let step = self.step;
        let limit_max = self.config.max_tokens;
        let rule = self.config.length;
        let r = self.requests[slot]
            .as_mut()
            .expect("planned slots are live");
        let old_key = r.key;
        let accepted = (new.len() - 1).min(r.last_draft);
        let rank = (r.rank as usize).min(MAX_RANKS - 1);
        let s = &mut self.stats.by_rank[rank];
        s.steps += 1;
        s.tokens += new.len() as u64;
        if r.last_draft > 0 {
            s.drafts += 1;
            s.drafted += r.last_draft as u64;
            s.accepted += accepted as u64;
        }
        r.current = rule.update(r.current, limit_max, r.last_draft, accepted);
        r.reader.push(&new);
        r.len = n;
        r.seen = step;
        r.active = true;
        r.key = Self::key_of(&r.reader.recent, n);
        let (family, new_key) = (r.family, r.key);
        let m = self.members[slot]
            .as_mut()
            .expect("live requests have a text");
        m.sam.extend(&new)?;
        if let Some(t) = &mut m.trie {
            t.extend(&new)?;
        }
        if let Some(f) = self.families[family].as_mut() {
            f.last_step = step;
        }
        self.unindex(slot, old_key);
        self.index(slot, new_key);
        Ok(())
    }

    /// The longest family prompt that `prompt` starts with, if any.
    fn find_family(&self, prompt: &[u32]) -> Option<usize> {
        let mut best = None;
        let mut h = SEED;
        let mut at = 0;
        for (&len, _) in self.prompt_lengths.range(1..=prompt.len()) {
            while at < len {
                h = mix(h, prompt[at]);
                at += 1;
            }
            if let Some(ids) = self.family_index.get(&(len, h)) {
                for &f in ids {
                    let fam = self.families[f]
                        .as_ref()
                        .expect("indexed families are live");
                    if fam.prompt[..] == prompt[..len] {
                        best = Some(f);
                    }
                }
            }
        }
        best
    }

    fn new_family(&mut self, prompt: Vec<u32>) -> Result<usize> {
        let uses_trie = self.config.method.uses_trie();
        let cap = self.config.family_capacity_tokens;
        let mut closed = SuffixAutomaton::new();
        closed.set_capacity(Some(cap), None)?;
        closed.begin_sequence()?;
        closed.extend(&prompt)?;
        let closed_trie = if uses_trie {
            let mut t = NgramTrie::new(self.config.max_order)?;
            t.set_capacity(Some(cap))?;
            t.begin_sequence()?;
            t.extend(&prompt)?;
            Some(t)
        } else {
            None
        };
        if let Some(g) = &mut self.global {
            g.begin_sequence(Scope::Global)?;
            g.extend(Scope::Global, &prompt)?;
        }
        let hash = hash_iter(prompt.iter().copied());
        let key = (prompt.len(), hash);
        let fam = Family {
            prompt,
            hash,
            closed,
            closed_trie,
            version: 1,
            live: Vec::new(),
            joined: 0,
            last_step: self.step,
        };
        let id = match self.free_families.pop() {
            Some(id) => {
                self.families[id] = Some(fam);
                id
            }
            None => {
                self.families.push(Some(fam));
                self.families.len() - 1
            }
        };
        self.family_index.entry(key).or_default().push(id);
        *self.prompt_lengths.entry(key.0).or_default() += 1;
        self.stats.families_created += 1;
        Ok(id)
    }

    fn start_request(&mut self, row: &Row<'_>, i: usize) -> Result<usize> {
        let n = row.tokens.len();
        let tokens = row.tokens.range(i, 0, n)?;
        let prompt_len = n - row.sampled;
        let joined = if self.config.share_family {
            self.find_family(&tokens[..prompt_len])
        } else {
            None
        };
        let family = match joined {
            Some(f) => {
                self.stats.family_joins += 1;
                f
            }
            None => self.new_family(tokens[..prompt_len].to_vec())?,
        };
        let step = self.step;
        let fam = self.families[family].as_mut().expect("just found or made");
        let rank = fam.joined;
        fam.joined += 1;
        fam.last_step = step;
        let own_text = &tokens[fam.prompt.len().saturating_sub(BRIDGE)..];
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut sam = SuffixAutomaton::new();
        sam.begin_sequence()?;
        sam.extend(own_text)?;
        let trie = if self.config.method.uses_trie() {
            let mut t = NgramTrie::new(self.config.max_order)?;
            t.begin_sequence()?;
            t.extend(own_text)?;
            Some(t)
        } else {
            None
        };
        let reader = Reader::new(&tokens[n.saturating_sub(RECENT)..]);
        let key = Self::key_of(&reader.recent, n);
        let request = Request {
            serial,
            family,
            rank,
            len: n,
            head: tokens[..HEAD.min(n)].to_vec(),
            key,
            seen: step,
            current: self.config.max_tokens,
            last_draft: 0,
            active: true,
            reader,
            draft: Vec::new(),
        };
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.requests.push(None);
                self.members.push(None);
                self.requests.len() - 1
            }
        };
        self.requests[slot] = Some(request);
        self.members[slot] = Some(Member { serial, sam, trie });
        if let Some(fam) = self.families[family].as_mut() {
            fam.live.push((slot, serial));
        }
        self.index(slot, key);
        self.stats.requests_started += 1;
        Ok(slot)
    }

    fn finish_absent(&mut self) {
        let (step, grace) = (self.step, self.config.grace_steps);
        for slot in 0..self.requests.len() {
            let gone = match &mut self.requests[slot] {
                Some(r) if r.seen != step => {
                    r.active = false;
                    step - r.seen > grace
                }
                _ => false,
            };
            if gone {
                self.finish(slot);
            }
        }
    }

    /// Ends the request in `slot`: its text joins its family's closed text and the global scope, and
    /// its request scope is freed.
    fn finish(&mut self, slot: usize) {
        let r = self.requests[slot]
            .take()
            .expect("finishing a live request");
        let m = self.members[slot]
            .take()
            .expect("live requests have a text");
        self.unindex(slot, r.key);
        self.free_slots.push(slot);
        let text = m.sam.log().tokens();
        if let Some(fam) = self.families[r.family].as_mut() {
            fam.live
                .retain(|&(s, serial)| !(s == slot && serial == r.serial));
            if !text.is_empty() {
                fam.closed
                    .begin_sequence()
                    .expect("sequence ids (2**56) cannot run out before memory does");
                fam.closed.extend(text).expect("stored tokens are valid");
                if let Some(t) = &mut fam.closed_trie {
                    t.begin_sequence()
                        .expect("sequence ids (2**56) cannot run out before memory does");
                    t.extend(text).expect("stored tokens are valid");
                }
                fam.version += 1;
            }
        }
        if let Some(g) = &mut self.global {
            if !text.is_empty() {
                g.begin_sequence(Scope::Global)
                    .expect("sequence ids (2**56) cannot run out before memory does");
                g.extend(Scope::Global, text)
                    .expect("stored tokens are valid");
            }
        }
        self.stats.requests_finished += 1;
    }

    /// Feeds every active request's cursors its new tokens and drafts for it (in parallel for large
    /// batches; the texts are only read here).
    fn draft_active(&mut self, limit: usize) {
        let BatchStore {
            config,
            requests,
            members,
            families,
            global,
            ..
        } = self;
        let ctx = ReadContext {
            config,
            members,
            families,
            global: global.as_ref(),
            limit,
        };
        let work = |(slot, r): (usize, &mut Option<Request>)| {
            if let Some(r) = r.as_mut().filter(|r| r.active) {
                ctx.read_and_draft(slot, r);
            }
        };
        let active = requests.iter().flatten().filter(|r| r.active).count();
        if active >= PARALLEL_ROWS {
            requests.par_iter_mut().enumerate().for_each(work);
        } else {
            requests.iter_mut().enumerate().for_each(work);
        }
    }

    fn enforce_family_capacity(&mut self) {
        let cap = self.config.family_capacity_tokens;
        let mut total = self.family_tokens();
        if total <= cap {
            return;
        }
        let mut idle: Vec<(u64, usize)> = self
            .families
            .iter()
            .enumerate()
            .filter_map(|(id, f)| {
                f.as_ref()
                    .filter(|f| f.live.is_empty())
                    .map(|f| (f.last_step, id))
            })
            .collect();
        idle.sort_unstable();
        // Down to 3/4 of the capacity, so that evictions amortize.
        let target = cap - cap / 4;
        for (_, id) in idle {
            if total <= target {
                break;
            }
            let fam = self.families[id].take().expect("listed families are live");
            total -= fam.tokens();
            let key = (fam.prompt.len(), fam.hash);
            if let Some(v) = self.family_index.get_mut(&key) {
                v.retain(|&f| f != id);
                if v.is_empty() {
                    self.family_index.remove(&key);
                }
            }
            if let Some(c) = self.prompt_lengths.get_mut(&key.0) {
                *c -= 1;
                if *c == 0 {
                    self.prompt_lengths.remove(&key.0);
                }
            }
            self.free_families.push(id);
            self.stats.families_evicted += 1;
        }
    }
}

/// What drafting reads (shared by the rows of a step, which may run in parallel).
struct ReadContext<'a> {
    config: &'a BatchConfig,
    members: &'a [Option<Member>],
    families: &'a [Option<Family>],
    global: Option<&'a Store>,
    limit: usize,
}

impl ReadContext<'_> {
    fn read_and_draft(&self, slot: usize, r: &mut Request) {
        let fam = self.families[r.family]
            .as_ref()
            .expect("a live request's family is held");
        let own = &self.members[slot]
            .as_ref()
            .expect("live requests have a text")
            .sam;
        self.sync(slot, r, fam, own);
        r.draft = self.draft(slot, r, fam, own);
    }

    /// Brings every cursor of `r` up to date with its context and the sources' current state.
    fn sync(&self, slot: usize, r: &mut Request, fam: &Family, own: &SuffixAutomaton) {
        let reader = &mut r.reader;
        let pending = std::mem::take(&mut reader.pending);
        let recent = &reader.recent;
        let fresh = std::mem::replace(&mut reader.fresh, false);
        // Own text and the family's closed text.
        match &mut reader.own {
            Some(f) if !fresh => f.feed(own, &pending, recent),
            _ => reader.own = Some(Follow::start(own, recent)),
        }
        match &mut reader.closed {
            Some(f) if !fresh && reader.closed_version == fam.version => {
                f.feed(&fam.closed, &pending, recent)
            }
            // New text of a finished sibling: restart, so that the match may be found in it.
            _ => reader.closed = Some(Follow::start(&fam.closed, recent)),
        }
        reader.closed_version = fam.version;
        // Live siblings: drop the finished, follow the new, feed the rest.
        reader
            .siblings
            .retain(|&(s, serial, _)| fam.live.contains(&(s, serial)));
        for (s, _, f) in &mut reader.siblings {
            let sam = &self.members[*s].as_ref().expect("live sibling").sam;
            if !fresh {
                f.feed(sam, &pending, recent);
            }
        }
        if self.config.share_family {
            for &(s, serial) in &fam.live {
                if s == slot
                    || reader
                        .siblings
                        .iter()
                        .any(|&(t, ser, _)| t == s && ser == serial)
                {
                    continue;
                }
                let m = self.members[s].as_ref().expect("live sibling");
                debug_assert_eq!(m.serial, serial);
                reader
                    .siblings
                    .push((s, serial, Follow::start(&m.sam, recent)));
            }
        }
        // The global scope (restarted when it was rebuilt by an eviction).
        if let Some(g) = self.global {
            let sam = g.automaton(Scope::Global);
            match &mut reader.global {
                Some(f) if !fresh && reader.global_generation == sam.generation() => {
                    f.feed(sam, &pending, recent)
                }
                _ => reader.global = Some(Follow::start(sam, recent)),
            }
            reader.global_generation = sam.generation();
        }
    }

    fn draft(&self, slot: usize, r: &mut Request, fam: &Family, own: &SuffixAutomaton) -> Vec<u32> {
        let cfg = self.config;
        let k = cfg.length.budget(r.current, self.limit, 0);
        if k == 0 {
            return Vec::new();
        }
        let (tokens, matched) = match cfg.method {
            DraftMethod::Automaton => self.automaton_draft(r, fam, own, k),
            DraftMethod::Trie => self.trie_draft(slot, r, fam, k),
            DraftMethod::Hybrid => {
                let (t, m) = self.automaton_draft(r, fam, own, k);
                if !t.is_empty() && m >= cfg.hybrid_threshold {
                    (t, m)
                } else {
                    let (tt, tm) = self.trie_draft(slot, r, fam, k);
                    if tt.is_empty() {
                        (t, m)
                    } else {
                        (tt, tm)
                    }
                }
            }
        };
        let mut tokens = tokens;
        tokens.truncate(cfg.length.budget(r.current, self.limit, matched));
        tokens
    }

    /// The draft continuing the longest suffix match among the sources (earlier sources win ties:
    /// own text, family, live siblings, global).
    fn automaton_draft(
        &self,
        r: &mut Request,
        fam: &Family,
        own: &SuffixAutomaton,
        k: usize,
    ) -> (Vec<u32>, u32) {
        let min_match = self.config.min_match;
        let reader = &mut r.reader;
        let mut sources: Vec<(&mut Follow, &SuffixAutomaton)> = Vec::new();
        if let Some(f) = reader.own.as_mut() {
            sources.push((f, own));
        }
        if let Some(f) = reader.closed.as_mut() {
            sources.push((f, &fam.closed));
        }
        for (s, _, f) in reader.siblings.iter_mut() {
            sources.push((f, &self.members[*s].as_ref().expect("live sibling").sam));
        }
        if let (Some(f), Some(g)) = (reader.global.as_mut(), self.global) {
            sources.push((f, g.automaton(Scope::Global)));
        }
        let mut best: (Vec<u32>, u32) = (Vec::new(), 0);
        for (f, sam) in sources {
            // A draft's match is never longer than its cursor's: skip sources that cannot win.
            let m = f.cursor.match_length();
            if m < min_match || (!best.0.is_empty() && m <= best.1) {
                continue;
            }
            let d = f
                .cursor
                .draft_with(sam, k, min_match, DraftPolicy::MostRecent)
                .expect("most-recent drafting cannot fail");
            if !d.is_empty() && (best.0.is_empty() || d.match_length > best.1) {
                best = (d.tokens().to_vec(), d.match_length);
            }
        }
        best
    }

    /// The most frequent continuation chain of the context's last `max_order` tokens, from the
    /// sources' tries with their counts summed.
    fn trie_draft(&self, slot: usize, r: &Request, fam: &Family, k: usize) -> (Vec<u32>, u32) {
        let mut tries: Vec<&NgramTrie> = Vec::new();
        if let Some(t) = self.members[slot].as_ref().and_then(|m| m.trie.as_ref()) {
            tries.push(t);
        }
        if let Some(t) = fam.closed_trie.as_ref() {
            tries.push(t);
        }
        for (s, _, _) in &r.reader.siblings {
            if let Some(t) = self.members[*s].as_ref().and_then(|m| m.trie.as_ref()) {
                tries.push(t);
            }
        }
        if let Some(g) = self.global {
            tries.push(g.trie(Scope::Global));
        }
        let recent = &r.reader.recent;
        let order = self.config.max_order as usize;
        let context: Vec<u32> = recent
            .iter()
            .skip(recent.len().saturating_sub(order))
            .copied()
            .collect();
        match top_continuations_multi(&tries, &context, 1, k, k) {
            Ok(tree) => (tree.tokens().to_vec(), tree.match_length),
            Err(_) => (Vec::new(), 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn store(method: DraftMethod) -> BatchStore {
        BatchStore::new(BatchConfig {
            method,
            ..BatchConfig::default()
        })
        .unwrap()
    }

    /// A fake engine: requests with fixed continuations, rows shuffled each step, each step
    /// "accepts" the tokens of the row's continuation that the draft got right plus one.
    struct Engine {
        rows: Vec<(Vec<u32>, Vec<u32>, usize)>, // (tokens so far, full target text, sampled)
    }

    impl Engine {
        fn step(&mut self, bs: &mut BatchStore, order: &[usize], k: usize) -> Vec<Vec<u32>> {
            let rows: Vec<Row<'_>> = order
                .iter()
                .map(|&i| Row {
                    tokens: TokenRow::U32(&self.rows[i].0),
                    sampled: self.rows[i].2,
                })
                .collect();
            let drafts = bs.step(&rows, k).unwrap();
            for (d, &i) in drafts.iter().zip(order) {
                let (cur, target, sampled) = &mut self.rows[i];
                let at = cur.len();
                let mut n = 0;
                while n < d.len() && at + n < target.len() && target[at + n] == d[n] {
                    n += 1;
                }
                let take = (n + 1).min(target.len() - at);
                cur.extend_from_slice(&target[at..at + take]);
                *sampled = take;
            }
            drafts
        }
    }

    fn text(seed: u32, len: usize) -> Vec<u32> {
        // A deterministic, mildly repetitive stream.
        let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                100 + x % 50
            })
            .collect()
    }

    fn run_to_end(eng: &mut Engine, bs: &mut BatchStore, rng: &mut u64) -> usize {
        let mut steps = 0;
        loop {
            let live: Vec<usize> = (0..eng.rows.len())
                .filter(|&i| eng.rows[i].0.len() < eng.rows[i].1.len())
                .collect();
            if live.is_empty() {
                return steps;
            }
            let mut order = live.clone();
            // Shuffle: rows are reordered every step.
            for j in (1..order.len()).rev() {
                *rng ^= *rng << 7;
                *rng ^= *rng >> 9;
                order.swap(j, (*rng % (j as u64 + 1)) as usize);
            }
            eng.step(bs, &order, 8);
            steps += 1;
        }
    }

    #[test]
    fn rows_reordered_keep_their_requests() {
        let mut bs = store(DraftMethod::Automaton);
        let prompts: Vec<Vec<u32>> = (0..6).map(|i| text(i, 20)).collect();
        let mut eng = Engine {
            rows: prompts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut full = p.clone();
                    full.extend(text(100 + i as u32, 200));
                    let mut cur = p.clone();
                    cur.push(full[p.len()]);
                    (cur, full, 1)
                })
                .collect(),
        };
        let mut rng = 12345u64;
        run_to_end(&mut eng, &mut bs, &mut rng);
        assert_eq!(
            bs.stats().requests_started,
            6,
            "every row continued its request"
        );
        assert_eq!(bs.num_requests(), 6);
        assert_eq!(bs.num_families(), 6);
        // Each request is as long as its row was at its last step (the final tokens come after it).
        let mut lens: Vec<usize> = bs
            .requests()
            .iter()
            .map(|&(_, rank, len)| {
                assert_eq!(rank, 0);
                len
            })
            .collect();
        let mut want: Vec<usize> = eng
            .rows
            .iter()
            .map(|(cur, _, sampled)| cur.len() - sampled)
            .collect();
        lens.sort_unstable();
        want.sort_unstable();
        assert_eq!(lens, want);
    }

    #[test]
    fn later_samples_draft_from_earlier_ones() {
        let mut bs = store(DraftMethod::Automaton);
        let prompt = text(7, 30);
        let answer = text(8, 300);
        let mut full = prompt.clone();
        full.extend(&answer);
        let mut steps = Vec::new();
        for _ in 0..3 {
            let mut cur = prompt.clone();
            cur.push(answer[0]);
            let mut eng = Engine {
                rows: vec![(cur, full.clone(), 1)],
            };
            let mut rng = 1u64;
            steps.push(run_to_end(&mut eng, &mut bs, &mut rng));
        }
        assert_eq!(bs.num_families(), 1);
        assert_eq!(bs.stats().family_joins, 2);
        // The second sample copies the first: 8 draft tokens accepted per step (9 tokens a step).
        assert!(steps[1] * 5 < steps[0], "steps {steps:?}");
        let by_rank = &bs.stats().by_rank;
        let rate = |s: &RankStats| s.accepted as f64 / s.drafted.max(1) as f64;
        assert!(rate(&by_rank[1]) > 0.95 && rate(&by_rank[2]) > 0.95);
        assert!(rate(&by_rank[0]) < rate(&by_rank[1]));
    }

    #[test]
    fn concurrent_siblings_read_each_other_while_written() {
        // Two samples of one prompt, in one batch: the first is ahead (it accepts more); the second
        // drafts from the first's text as it is being written.
        let mut bs = store(DraftMethod::Automaton);
        let prompt = text(3, 16);
        let answer = text(4, 120);
        let mut first = prompt.clone();
        first.extend(&answer[..60]);
        let mut second = prompt.clone();
        second.push(answer[0]);
        let rows = [
            Row {
                tokens: TokenRow::U32(&first),
                sampled: 60,
            },
            Row {
                tokens: TokenRow::U32(&second),
                sampled: 1,
            },
        ];
        let drafts = bs.step(&rows, 8).unwrap();
        assert_eq!(bs.num_families(), 1, "same prompt, one family");
        assert_eq!(drafts[1], answer[1..9].to_vec());
        // The first keeps writing; the second keeps reading it.
        first.extend(&answer[60..70]);
        // All 8 drafted tokens accepted, plus the target's own.
        second.extend(&answer[1..10]);
        let rows = [
            Row {
                tokens: TokenRow::U32(&second),
                sampled: 9,
            },
            Row {
                tokens: TokenRow::U32(&first),
                sampled: 10,
            },
        ];
        let drafts = bs.step(&rows, 8).unwrap();
        assert_eq!(drafts[0], answer[10..18].to_vec());
        let s = bs.stats().by_rank[1];
        assert_eq!((s.drafted, s.accepted), (8, 8));
    }

    #[test]
    fn round_two_prompt_extending_round_one_joins_its_family() {
        let mut bs = store(DraftMethod::Automaton);
        let prompt = text(11, 25);
        let answer = text(12, 80);
        let mut full = prompt.clone();
        full.extend(&answer);
        let mut eng = Engine {
            rows: vec![(full[..26].to_vec(), full.clone(), 1)],
        };
        let round1 = run_to_end(&mut eng, &mut bs, &mut 5);
        // Round 2: the conversation so far plus a follow-up, answered again the same way.
        let mut p2 = full.clone();
        p2.extend([7, 7, 7]);
        let mut full2 = p2.clone();
        full2.extend(&answer);
        let mut eng2 = Engine {
            rows: vec![(full2[..p2.len() + 1].to_vec(), full2.clone(), 1)],
        };
        let steps = run_to_end(&mut eng2, &mut bs, &mut 5);
        assert_eq!(bs.num_families(), 1);
        assert_eq!(bs.stats().family_joins, 1);
        assert!(
            steps * 3 < round1,
            "round 2 copies round 1: {steps} against {round1} steps"
        );
    }

    #[test]
    fn different_prompts_sharing_a_prefix_are_different_families() {
        let mut bs = store(DraftMethod::Automaton);
        let system = text(20, 40);
        for q in 0..3u32 {
            let mut p = system.clone();
            p.extend(text(30 + q, 10));
            p.push(1);
            bs.step(
                &[Row {
                    tokens: TokenRow::U32(&p),
                    sampled: 1,
                }],
                8,
            )
            .unwrap();
        }
        assert_eq!(bs.num_families(), 3);
    }

    #[test]
    fn absent_requests_finish_and_nothing_grows_without_bound() {
        let mut bs = BatchStore::new(BatchConfig {
            family_capacity_tokens: 5_000,
            global_capacity_tokens: 3_000,
            grace_steps: 2,
            method: DraftMethod::Hybrid,
            ..BatchConfig::default()
        })
        .unwrap();
        for i in 0..300u32 {
            let mut p = text(1000 + i, 40);
            p.push(5);
            let mut cur = p.clone();
            for step in 0..5 {
                let sampled = if step == 0 { 1 } else { 3 };
                if step > 0 {
                    cur.extend(text(i * 7 + step, 3));
                }
                bs.step(
                    &[Row {
                        tokens: TokenRow::U32(&cur),
                        sampled,
                    }],
                    8,
                )
                .unwrap();
            }
            assert!(bs.num_requests() <= 4, "absent requests are finished");
            assert!(bs.family_tokens() <= 5_000 + 4 * 60);
            assert!(bs.global_tokens() <= 3_000 + 60);
        }
        assert_eq!(bs.stats().requests_started, 300);
        assert!(bs.stats().families_evicted > 200);
        assert!(bs.num_families() < 120);
        assert!(bs.by_key.len() <= 4 && bs.family_index.len() < 120);
        bs.finish_all();
        assert_eq!(bs.num_requests(), 0);
        assert_eq!(bs.request_tokens(), 0);
    }

    #[test]
    fn bad_rows_fail_and_change_nothing() {
        let mut bs = store(DraftMethod::Automaton);
        let good: Vec<i32> = (1..20).collect();
        bs.step(
            &[Row {
                tokens: TokenRow::I32(&good),
                sampled: 1,
            }],
            8,
        )
        .unwrap();
        let before = (bs.stats().clone(), bs.requests(), bs.step);
        let mut bad = good.clone();
        bad.push(-4);
        let err = bs
            .step(
                &[
                    Row {
                        tokens: TokenRow::I32(&good),
                        sampled: 0,
                    },
                    Row {
                        tokens: TokenRow::I32(&bad),
                        sampled: 1,
                    },
                ],
                8,
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("row 1, position 19 holds -4"),
            "{err}"
        );
        let err = bs
            .step(
                &[Row {
                    tokens: TokenRow::I32(&good),
                    sampled: 40,
                }],
                8,
            )
            .unwrap_err();
        assert!(err.to_string().contains("sampled 40"), "{err}");
        assert_eq!((bs.stats().clone(), bs.requests(), bs.step), before);
        assert!(BatchStore::new(BatchConfig {
            max_tokens: 0,
            ..BatchConfig::default()
        })
        .is_err());
    }

    #[test]
    fn draft_length_follows_acceptance() {
        let rule = DraftLength::default();
        assert_eq!(rule.budget(8, 8, 1), 4);
        assert_eq!(rule.budget(8, 5, 0), 5);
        assert_eq!(rule.update(8, 8, 8, 2), 6);
        assert_eq!(rule.update(6, 8, 6, 6), 8);
        assert_eq!(rule.update(3, 8, 0, 0), 3);
        let fixed = DraftLength {
            adaptive: false,
            ..rule
        };
        assert_eq!(fixed.budget(1, 8, 1), 8);
    }

    /// Whether `pattern` occurs contiguously in one of `texts`.
    fn occurs(texts: &[Vec<u32>], pattern: &[u32]) -> bool {
        texts
            .iter()
            .any(|t| t.windows(pattern.len()).any(|w| w == pattern))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Drafts are real continuations: the matched context suffix followed by the draft occurs in
        /// some stored text (a row's own text, a sibling's, the family's or the global scope's).
        #[test]
        fn drafts_continue_stored_text(
            seeds in prop::collection::vec(0u32..6, 2..6),
            prompt_kind in prop::collection::vec(0u32..2, 2..6),
            method in 0usize..3,
        ) {
            let method = [DraftMethod::Automaton, DraftMethod::Trie, DraftMethod::Hybrid][method];
            let mut bs = store(method);
            let n = seeds.len().min(prompt_kind.len());
            let mut rows: Vec<(Vec<u32>, Vec<u32>, usize)> = (0..n)
                .map(|i| {
                    let mut p = text(prompt_kind[i], 6);
                    let full_out: Vec<u32> = text(seeds[i], 40).into_iter().map(|t| t % 5).collect();
                    p.push(full_out[0]);
                    let mut full = p[..6].to_vec();
                    full.extend(&full_out);
                    (p, full, 1)
                })
                .collect();
            for _ in 0..30 {
                let live: Vec<usize> = (0..n).filter(|&i| rows[i].0.len() < rows[i].1.len()).collect();
                if live.is_empty() { break; }
                let batch: Vec<Row<'_>> = live.iter().map(|&i| Row { tokens: TokenRow::U32(&rows[i].0), sampled: rows[i].2 }).collect();
                let all_texts: Vec<Vec<u32>> = rows.iter().map(|r| r.0.clone()).collect();
                let drafts = bs.step(&batch, 8).unwrap();
                for (d, &i) in drafts.iter().zip(&live) {
                    let ctx = &rows[i].0;
                    let mut prev = ctx[ctx.len() - 1];
                    for &t in d {
                        // Every draft token followed its predecessor somewhere in the stored text.
                        prop_assert!(occurs(&all_texts, &[prev, t]), "draft {:?} after {:?}", d, &ctx[ctx.len().saturating_sub(4)..]);
                        prev = t;
                    }
                    if method == DraftMethod::Automaton && !d.is_empty() {
                        // An automaton draft is one stored piece, continuing at least the last token.
                        let mut piece = vec![ctx[ctx.len() - 1]];
                        piece.extend_from_slice(d);
                        prop_assert!(occurs(&all_texts, &piece), "draft {:?}", d);
                    }
                    let (cur, target, sampled) = &mut rows[i];
                    let at = cur.len();
                    let mut k = 0;
                    while k < d.len() && at + k < target.len() && target[at + k] == d[k] { k += 1; }
                    let take = (k + 1).min(target.len() - at);
                    cur.extend_from_slice(&target[at..at + take]);
                    *sampled = take;
                }
            }
        }
    }
}
