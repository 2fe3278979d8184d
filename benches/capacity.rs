//! Memory and push cost under a capacity, over a long run: every 1M pushed tokens, the bytes held per
//! stored token and the ns per pushed token of that million, for the shapes that used to degrade
//! (issue 10). After the first eviction both columns should stay flat.
//!
//! ```text
//! cargo bench --bench capacity                       # 20M tokens per shape, capacity 1M tokens
//! cargo bench --bench capacity -- --tokens 5000000 --capacity 500000 --only store
//! ```
//!
//! Shapes (all pushed through `extend` in batches of 64 tokens; the stall column is the slowest
//! batch, i.e. the cost of the worst single eviction):
//! - `automaton/open`: one sequence of 20M tokens in a `SuffixAutomaton` (it alone exceeds the
//!   capacity, so it keeps its most recent window).
//! - `trie/small-32`: 32-token sequences in an order-4 `NgramTrie` (each eviction drops ~7,800).
//! - `store/open`: one sequence in a `Store`'s global scope (automaton + trie).
//! - `store/small-32`: 32-token sequences in the global scope (each eviction drops ~7,800).
//! - `store/32-96`: 32-96-token sequences in the global scope.
//! - `store/32-96-x65536`: the same with every token id multiplied by 65,536 (ids sharing their low
//!   16 bits: a weak hash puts them all in one bucket).
//!
//! The text is a seeded stream that repeats itself like reasoning traces: chunks of 8-64 tokens drawn
//! Zipf-wise from a pool of 2,000, token ids Zipf-distributed over a 32k vocabulary, 1 chunk in 10
//! with one token replaced.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use specscale::{NgramTrie, Scope, Store, SuffixAutomaton};

mod common;
use common::{sample_cdf, zipf_cdf};

const SEED: u64 = 0xca9_ac17;
const VOCAB: u32 = 32_000;
const POOL: usize = 2_000;
const BATCH: usize = 64;
const REPORT_EVERY: usize = 1_000_000;

/// An endless repetitive token stream.
struct Text {
    rng: StdRng,
    pool: Vec<Vec<u32>>,
    chunk_cdf: Vec<f64>,
    buf: Vec<u32>,
    at: usize,
    multiplier: u32,
}

impl Text {
    fn new(multiplier: u32) -> Self {
        let mut rng = StdRng::seed_from_u64(SEED);
        let token_cdf = zipf_cdf(VOCAB as usize, 1.0);
        let pool = (0..POOL)
            .map(|_| {
                let len = rng.random_range(8..=64);
                (0..len)
                    .map(|_| sample_cdf(&mut rng, &token_cdf) as u32)
                    .collect()
            })
            .collect();
        Text {
            rng,
            pool,
            chunk_cdf: zipf_cdf(POOL, 0.9),
            buf: Vec::new(),
            at: 0,
            multiplier,
        }
    }

    fn fill(&mut self, out: &mut Vec<u32>, n: usize) {
        out.clear();
        while out.len() < n {
            if self.at == self.buf.len() {
                let c = sample_cdf(&mut self.rng, &self.chunk_cdf);
                self.buf.clone_from(&self.pool[c]);
                if self.rng.random_range(0..10) == 0 {
                    let i = self.rng.random_range(0..self.buf.len());
                    self.buf[i] = self.rng.random_range(0..VOCAB);
                }
                self.at = 0;
            }
            let take = (n - out.len()).min(self.buf.len() - self.at);
            out.extend(
                self.buf[self.at..self.at + take]
                    .iter()
                    .map(|&t| t.wrapping_mul(self.multiplier)),
            );
            self.at += take;
        }
    }
}

/// Nanoseconds this thread has run on a CPU (Linux schedstat), so that time other processes take
/// from a shared machine does not count; `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// The structure under test, seen through what the bench needs.
trait Target {
    fn begin(&mut self);
    fn extend(&mut self, tokens: &[u32]);
    fn stored(&self) -> usize;
    fn memory(&self) -> usize;
}

impl Target for SuffixAutomaton {
    fn begin(&mut self) {
        self.begin_sequence().expect("ids left");
    }
    fn extend(&mut self, tokens: &[u32]) {
        SuffixAutomaton::extend(self, tokens).expect("fits");
    }
    fn stored(&self) -> usize {
        self.num_tokens()
    }
    fn memory(&self) -> usize {
        self.memory_bytes()
    }
}

impl Target for NgramTrie {
    fn begin(&mut self) {
        self.begin_sequence().expect("ids left");
    }
    fn extend(&mut self, tokens: &[u32]) {
        NgramTrie::extend(self, tokens).expect("fits");
    }
    fn stored(&self) -> usize {
        self.num_tokens()
    }
    fn memory(&self) -> usize {
        self.memory_bytes()
    }
}

impl Target for Store {
    fn begin(&mut self) {
        self.begin_sequence(Scope::Global).expect("ids left");
    }
    fn extend(&mut self, tokens: &[u32]) {
        Store::extend(self, Scope::Global, tokens).expect("fits");
    }
    fn stored(&self) -> usize {
        self.num_tokens(Scope::Global)
    }
    fn memory(&self) -> usize {
        self.memory_bytes()
    }
}

/// How sequences are cut: one endless sequence, or lengths drawn from a range.
#[derive(Clone, Copy)]
enum Cut {
    Open,
    Lengths(usize, usize),
}

fn run(name: &str, target: &mut dyn Target, cut: Cut, multiplier: u32, total: usize) {
    println!("\n{name}");
    println!(
        "| pushed | stored (least since last row) | MiB | bytes/stored token | ns/pushed token (wall) | (on CPU) | slowest batch, ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut text = Text::new(multiplier);
    let mut lengths = StdRng::seed_from_u64(SEED + 1);
    let mut batch = Vec::with_capacity(BATCH);
    let (mut pushed, mut left_in_seq) = (0usize, 0usize);
    let (mut window_start, mut slowest) = (Instant::now(), 0f64);
    let mut cpu_start = cpu_ns();
    let mut least = usize::MAX;
    target.begin();
    while pushed < total {
        if let Cut::Lengths(lo, hi) = cut {
            if left_in_seq == 0 {
                target.begin();
                left_in_seq = lengths.random_range(lo..=hi);
            }
        }
        let n = match cut {
            Cut::Open => BATCH,
            Cut::Lengths(..) => BATCH.min(left_in_seq),
        }
        .min(REPORT_EVERY - pushed % REPORT_EVERY);
        text.fill(&mut batch, n);
        let t = Instant::now();
        target.extend(&batch);
        slowest = slowest.max(t.elapsed().as_secs_f64());
        least = least.min(target.stored());
        pushed += n;
        left_in_seq = left_in_seq.saturating_sub(n);
        if pushed % REPORT_EVERY == 0 {
            let ns = window_start.elapsed().as_secs_f64() * 1e9 / REPORT_EVERY as f64;
            let cpu_now = cpu_ns();
            let cpu = match (cpu_start, cpu_now) {
                (Some(a), Some(b)) => format!("{:.0}", (b - a) as f64 / REPORT_EVERY as f64),
                _ => "n/a".into(),
            };
            let (stored, memory) = (target.stored(), target.memory());
            println!(
                "| {:.0}M | {stored} ({least}) | {:.1} | {:.1} | {ns:.0} | {cpu} | {:.1} |",
                pushed as f64 / 1e6,
                memory as f64 / (1 << 20) as f64,
                memory as f64 / stored.max(1) as f64,
                slowest * 1e3
            );
            window_start = Instant::now();
            cpu_start = cpu_now;
            slowest = 0.0;
            least = usize::MAX;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| -> Option<&str> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let total: usize = arg("--tokens").map_or(20_000_000, |v| v.parse().expect("--tokens N"));
    let capacity: usize = arg("--capacity").map_or(1_000_000, |v| v.parse().expect("--capacity N"));
    let only = arg("--only").unwrap_or("");
    println!(
        "capacity {capacity} tokens, {total} tokens per shape, batches of {BATCH}; figures per \
         million pushed tokens"
    );
    let store = |counts: bool| {
        let mut s = Store::new(4, counts).expect("order 4");
        s.set_capacity(Scope::Global, Some(capacity), None)
            .expect("positive");
        s
    };
    let shapes: Vec<(&str, Box<dyn Target>, Cut, u32)> = vec![
        (
            "automaton/open",
            Box::new({
                let mut a = SuffixAutomaton::new();
                a.set_capacity(Some(capacity), None).expect("positive");
                a
            }),
            Cut::Open,
            1,
        ),
        (
            "trie/small-32",
            Box::new({
                let mut t = NgramTrie::new(4).expect("order 4");
                t.set_capacity(Some(capacity)).expect("positive");
                t
            }),
            Cut::Lengths(32, 32),
            1,
        ),
        ("store/open", Box::new(store(false)), Cut::Open, 1),
        (
            "store/small-32",
            Box::new(store(false)),
            Cut::Lengths(32, 32),
            1,
        ),
        (
            "store/32-96",
            Box::new(store(false)),
            Cut::Lengths(32, 96),
            1,
        ),
        (
            "store/32-96-x65536",
            Box::new(store(false)),
            Cut::Lengths(32, 96),
            65_536,
        ),
    ];
    for (name, mut target, cut, multiplier) in shapes {
        if name.contains(only) {
            run(name, target.as_mut(), cut, multiplier, total);
        }
    }
}
