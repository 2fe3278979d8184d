//! Criterion benches of the core: push, cursor advance, 8-token drafts, n-gram trie insert and top-k
//! queries, plus bytes per stored token (printed; criterion cannot measure memory).
//!
//! ```text
//! cargo bench --bench core -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Workloads:
//! - `synthetic_1M`: a seeded 1,000,000-token stream that looks like repetitive reasoning text. A pool of
//!   2,000 chunks (8-64 tokens, token ids Zipf-distributed over a 32k vocabulary) is drawn from again and
//!   again (Zipf-ish choice of chunk), 1 chunk in 10 with one token replaced (numbers, names), and cut
//!   into sequences of 4,096-15,000 tokens like Best-of-N samples. The live contexts the cursor follows
//!   are 8 more sequences drawn from the same pool with another seed (never stored).
//! - `bon8_real`: `target/bench-data/bon8_qwen2.*`, written by `python benches/workload.py` (Best-of-8
//!   math traces, Qwen2 tokens). Each problem's question and first 7 responses are stored; the 8th
//!   responses are the live contexts. Skipped, with the reason printed, when the files are absent.
//!
//! Every figure is per token (`push`, `advance`, `insert`: `Throughput::Elements` = tokens) or per
//! query (`advance_draft8`, `draft8`, `topk`: Elements = queries), so criterion's `elem/s` reads
//! directly as tokens/s or queries/s.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use specscale::{Cursor, NgramTrie, SuffixAutomaton};

mod common;
use common::{sample_cdf, zipf_cdf};

const SEED: u64 = 0x5eed_5ca1e;
const STREAM_TOKENS: usize = 1_000_000;
const VOCAB: u32 = 32_000;
const POOL: usize = 2_000;
const CHUNK_LEN: (usize, usize) = (8, 64);
const SEQ_LEN: (usize, usize) = (4_096, 15_000);
const MUTATE_ONE_IN: u32 = 10;
const LIVE_SEQUENCES: usize = 8;
/// Queries (cursor positions) for the draft-only and top-k benches.
const QUERIES: usize = 1_024;
/// Context tokens replayed into each draft-only cursor (enough for any match on this text to settle).
const QUERY_CONTEXT: usize = 256;
const DRAFT_TOKENS: usize = 8;
const TRIE_ORDER: u32 = 4;
const TOPK: (usize, usize, usize) = (3, 4, 16);

/// Stored sequences and live contexts of one workload.
struct Workload {
    name: String,
    stored: Vec<Vec<u32>>,
    live: Vec<Vec<u32>>,
}

impl Workload {
    fn stored_tokens(&self) -> usize {
        self.stored.iter().map(Vec::len).sum()
    }

    fn live_tokens(&self) -> usize {
        self.live.iter().map(Vec::len).sum()
    }
}

/// The seeded synthetic workload: `total` stored tokens (exactly) and `LIVE_SEQUENCES` live contexts.
fn synthetic(total: usize) -> Workload {
    let mut rng = StdRng::seed_from_u64(SEED);
    let token_cdf = zipf_cdf(VOCAB as usize, 1.0);
    // Token ids are ranks shuffled over the vocabulary, so frequent tokens are not all small ids.
    let mut ids: Vec<u32> = (0..VOCAB).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.random_range(0..=i));
    }
    let pool: Vec<Vec<u32>> = (0..POOL)
        .map(|_| {
            let len = rng.random_range(CHUNK_LEN.0..=CHUNK_LEN.1);
            (0..len)
                .map(|_| ids[sample_cdf(&mut rng, &token_cdf)])
                .collect()
        })
        .collect();
    let chunk_cdf = zipf_cdf(POOL, 0.9);

    let sequence = |rng: &mut StdRng, len: usize| -> Vec<u32> {
        let mut seq = Vec::with_capacity(len + CHUNK_LEN.1);
        while seq.len() < len {
            let start = seq.len();
            seq.extend_from_slice(&pool[sample_cdf(rng, &chunk_cdf)]);
            if rng.random_range(0..MUTATE_ONE_IN) == 0 {
                let at = rng.random_range(start..seq.len());
                seq[at] = rng.random_range(0..VOCAB);
            }
        }
        seq.truncate(len);
        seq
    };

    let mut stored = Vec::new();
    let mut left = total;
    while left > 0 {
        let len = rng.random_range(SEQ_LEN.0..=SEQ_LEN.1).min(left);
        stored.push(sequence(&mut rng, len));
        left -= len;
    }
    let mut live_rng = StdRng::seed_from_u64(SEED + 1);
    let live = (0..LIVE_SEQUENCES)
        .map(|_| {
            let len = live_rng.random_range(SEQ_LEN.0..=SEQ_LEN.1);
            sequence(&mut live_rng, len)
        })
        .collect();
    Workload {
        name: format!("synthetic_{}M", total / 1_000_000),
        stored,
        live,
    }
}

fn bench_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench-data")
}

fn read_u32s(path: &PathBuf) -> std::io::Result<Vec<u32>> {
    let bytes = std::fs::read(path)?;
    if bytes.len() % 4 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a whole number of u32s",
            path.display()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The real Best-of-8 workload written by `benches/workload.py`, or why it is not there.
fn real() -> Result<Workload, String> {
    let dir = bench_data_dir();
    let tokens_path = dir.join("bon8_qwen2.tokens.u32");
    let seqs_path = dir.join("bon8_qwen2.seqs.u32");
    let tokens = read_u32s(&tokens_path).map_err(|e| {
        format!(
            "cannot read {} ({e}); run `python benches/workload.py`",
            tokens_path.display()
        )
    })?;
    let seqs = read_u32s(&seqs_path).map_err(|e| {
        format!(
            "cannot read {} ({e}); run `python benches/workload.py`",
            seqs_path.display()
        )
    })?;
    let (mut stored, mut live) = (Vec::new(), Vec::new());
    let mut at = 0usize;
    for pair in seqs.chunks_exact(2) {
        let (len, kind) = (pair[0] as usize, pair[1]);
        let Some(seq) = tokens.get(at..at + len) else {
            return Err(format!(
                "{} is shorter than {} says",
                tokens_path.display(),
                seqs_path.display()
            ));
        };
        at += len;
        if kind == 8 {
            live.push(seq.to_vec())
        } else {
            stored.push(seq.to_vec())
        }
    }
    if at != tokens.len() || live.is_empty() {
        return Err(format!(
            "{} and {} disagree; rerun `python benches/workload.py`",
            tokens_path.display(),
            seqs_path.display()
        ));
    }
    Ok(Workload {
        name: "bon8_real".into(),
        stored,
        live,
    })
}

fn build_sam(w: &Workload) -> SuffixAutomaton {
    let mut sam = SuffixAutomaton::new();
    for s in &w.stored {
        sam.begin_sequence().expect("ids left");
        sam.extend(s).expect("stream fits");
    }
    sam
}

fn build_trie(w: &Workload) -> NgramTrie {
    let mut trie = NgramTrie::new(TRIE_ORDER).expect("valid order");
    for s in &w.stored {
        trie.begin_sequence().expect("ids left");
        trie.extend(s).expect("stream fits");
    }
    trie
}

/// `QUERIES` evenly spread positions of the live contexts: (sequence, end of the context).
fn query_positions(w: &Workload) -> Vec<(usize, usize)> {
    let total = w.live_tokens();
    let mut out = Vec::with_capacity(QUERIES);
    for q in 0..QUERIES {
        let mut at = (q * total) / QUERIES + QUERY_CONTEXT;
        for (i, s) in w.live.iter().enumerate() {
            if at < s.len() {
                out.push((i, at.max(1)));
                break;
            }
            at = at.saturating_sub(s.len());
        }
    }
    out
}

/// Prints memory and match statistics (criterion measures time only).
fn report(w: &Workload, sam: &SuffixAutomaton, trie: &NgramTrie) {
    let n = sam.num_tokens() as f64;
    let mut shrunk = sam.clone();
    shrunk.shrink_to_fit();
    let (mut matched, mut drafted, mut queries) = (0u64, 0u64, 0u64);
    for live in &w.live {
        let mut cur = sam.cursor();
        for &t in live {
            cur.advance(sam, t);
            matched += u64::from(cur.match_length());
            drafted += cur.draft(sam, DRAFT_TOKENS, 1).len() as u64;
            queries += 1;
        }
    }
    println!(
        "[{}] stored {} tokens in {} sequences; live contexts {} tokens in {} sequences",
        w.name,
        sam.num_tokens(),
        w.stored.len(),
        w.live_tokens(),
        w.live.len()
    );
    println!(
        "[{}] automaton: {:.1} bytes/token as built ({:.1} after shrink_to_fit), {:.2} states/token",
        w.name,
        sam.memory_bytes() as f64 / n,
        shrunk.memory_bytes() as f64 / n,
        sam.num_states() as f64 / n
    );
    println!(
        "[{}] trie (order {}): {:.1} bytes/token as built, {:.2} nodes/token",
        w.name,
        TRIE_ORDER,
        trie.memory_bytes() as f64 / trie.num_tokens() as f64,
        trie.num_nodes() as f64 / trie.num_tokens() as f64
    );
    println!(
        "[{}] live contexts: mean match length {:.1}, mean draft length {:.2} of {}",
        w.name,
        matched as f64 / queries as f64,
        drafted as f64 / queries as f64,
        DRAFT_TOKENS
    );
}

/// Small samples: the machine has 2 shared cores. Warm-up and measurement times come from the command
/// line (`--warm-up-time 1 --measurement-time 3`). Flat sampling: every sample runs the same number of
/// iterations, so a 0.1-0.5 s iteration (a whole build) does not stretch the run to 55 iterations.
fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
}

fn bench_workload(c: &mut Criterion, w: &Workload) {
    let sam = build_sam(w);
    let trie = build_trie(w);
    report(w, &sam, &trie);
    let size = format!("{}k", w.stored_tokens() / 1000);
    let live_tokens = w.live_tokens() as u64;
    let positions = query_positions(w);

    // Building: one iteration stores the whole stream (dropping the structure is not timed).
    let mut g = c.benchmark_group(format!("{}/build", w.name));
    configure(&mut g);
    g.throughput(Throughput::Elements(w.stored_tokens() as u64));
    g.bench_function(format!("sam_push/{size}"), |b| {
        b.iter_with_large_drop(|| build_sam(w))
    });
    g.bench_function(format!("trie_insert_order{TRIE_ORDER}/{size}"), |b| {
        b.iter_with_large_drop(|| build_trie(w))
    });
    g.finish();

    // Following live contexts through the automaton.
    let mut g = c.benchmark_group(format!("{}/cursor", w.name));
    configure(&mut g);
    g.throughput(Throughput::Elements(live_tokens));
    g.bench_function(format!("advance/{size}"), |b| {
        b.iter(|| {
            let mut total = 0u32;
            for live in &w.live {
                let mut cur = sam.cursor();
                for &t in live {
                    cur.advance(&sam, t);
                }
                total = total.wrapping_add(cur.match_length());
            }
            total
        })
    });
    g.bench_function(format!("advance_draft{DRAFT_TOKENS}/{size}"), |b| {
        b.iter(|| {
            let mut total = 0usize;
            for live in &w.live {
                let mut cur = sam.cursor();
                for &t in live {
                    cur.advance(&sam, t);
                    total += black_box(cur.draft(&sam, DRAFT_TOKENS, 1)).len();
                }
            }
            total
        })
    });
    // Draft only, from cursors that have followed QUERY_CONTEXT tokens of a live context.
    let cursors: Vec<Cursor> = positions
        .iter()
        .map(|&(i, end)| {
            let mut cur = sam.cursor();
            cur.extend(&sam, &w.live[i][end.saturating_sub(QUERY_CONTEXT)..end]);
            cur
        })
        .collect();
    g.throughput(Throughput::Elements(cursors.len() as u64));
    g.bench_function(format!("draft{DRAFT_TOKENS}/{size}"), |b| {
        b.iter_batched_ref(
            || cursors.clone(),
            |cursors| {
                cursors
                    .iter_mut()
                    .map(|cur| black_box(cur.draft(&sam, DRAFT_TOKENS, 1)).len())
                    .sum::<usize>()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // Scored draft trees from the trie.
    let contexts: Vec<&[u32]> = positions
        .iter()
        .map(|&(i, end)| &w.live[i][end.saturating_sub(TRIE_ORDER as usize)..end])
        .collect();
    let mut g = c.benchmark_group(format!("{}/trie", w.name));
    configure(&mut g);
    g.throughput(Throughput::Elements(contexts.len() as u64));
    let (k, depth, budget) = TOPK;
    g.bench_function(format!("topk_k{k}_d{depth}_b{budget}/{size}"), |b| {
        b.iter(|| {
            contexts
                .iter()
                .map(|ctx| {
                    black_box(
                        trie.top_continuations(ctx, k, depth, budget)
                            .expect("k > 0"),
                    )
                    .len()
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let t = std::time::Instant::now();
    let w = synthetic(STREAM_TOKENS);
    println!(
        "[{}] generated in {:.2} s",
        w.name,
        t.elapsed().as_secs_f64()
    );
    bench_workload(c, &w);
    match real() {
        Ok(w) => bench_workload(c, &w),
        Err(why) => println!("[bon8_real] skipped: {why}"),
    }
}

criterion_group!(core, benches);
criterion_main!(core);
