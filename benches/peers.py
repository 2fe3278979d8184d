"""specscale next to its peers, through Python, on the same workload in one run.

    python benches/peers.py [--tokens N] [--workload synthetic|real|both] [--json OUT]

Workloads (the same as ``benches/core.rs``):

- ``synthetic``: a seeded stream of ``--tokens`` tokens (default 1,000,000) that looks like repetitive
  reasoning text: a pool of 2,000 chunks (8-64 tokens, Zipf token ids over a 32k vocabulary) drawn from
  again and again (Zipf-ish choice), 1 chunk in 10 with one token replaced, cut into sequences of
  4,096-15,000 tokens (Best-of-N samples). Same parameters and seed as the criterion bench; the numpy
  generator draws a different (statistically equivalent) stream than Rust's StdRng. Live contexts:
  8 more sequences from the same pool, never stored.
- ``real``: ``target/bench-data/bon8_qwen2.*`` from ``python benches/workload.py`` (Best-of-8 math traces,
  Qwen2 tokens): questions and responses 1-7 stored, every 8th response replayed as a live context.

Measured, per workload:

1. Build (ns/token): specscale ``begin_sequence`` + bulk ``extend`` of each sequence as a numpy int32
   array; general-sam ``Trie.insert_chars`` of every sequence + ``GeneralSam.from_trie`` (general-sam
   indexes ``str`` characters, so token ``t`` becomes the character ``t`` (``t + 0x800`` from 0xD800 on,
   skipping surrogates); the conversion is not timed). Best of two builds.
2. Append one more sequence to the built store: specscale extends in place; general-sam has no append
   and must rebuild (``insert_chars`` + ``from_trie`` over everything).
3. Match + 8-token draft per live token: specscale ``cur.advance(t); cur.draft(8)``; general-sam has
   no cursor that tracks the longest matched suffix, so the script runs the same algorithm with its
   state API (clone, ``goto_char``, ``goto_suffix_parent`` on a miss), then walks 8 transitions from the
   matched state (``get_trans``, first edge; it keeps no positions or counts), skipped at the root.
4. Bytes per stored token: specscale ``memory_bytes()``; general-sam has no memory API and tracemalloc
   cannot see its Rust heap, so a freshly spawned child process measures its resident-set growth (``/proc/self/statm``)
   across the build, with the trie dropped (SAM alone) and kept (SAM + the trie an append needs).
   The same RSS probe on specscale is printed as a check of the method.
5. Prompt lookup: transformers' ``PromptLookupCandidateGenerator`` (3-gram, 8 tokens, torch CPU, one
   thread) and a numpy rescan for the last occurrence of the last 3-gram, against specscale ``push`` + ``advance`` +
   ``draft(8)``, per decoding step at contexts of 4k and 131k tokens: the rescans grow with the context,
   specscale does not.

Targets checked (issue 2): specscale bulk ``extend`` <= 500 ns/token, ``advance`` + ``draft(8)`` <= 5 us.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import specscale

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATA = ROOT / "target" / "bench-data"

SEED = 0x5EED5CA1E
VOCAB = 32_000
POOL = 2_000
CHUNK_LEN = (8, 64)
SEQ_LEN = (4_096, 15_000)
MUTATE_ONE_IN = 10
LIVE_SEQUENCES = 8
DRAFT = 8
MAX_QUERIES = 20_000
PLD_CONTEXTS = (4_096, 131_072)
PLD_STEPS = 200
SS_PLD_STEPS = 2_000
EXTEND_TARGET_NS = 500.0
STEP_TARGET_US = 5.0


# --------------------------------------------------------------------------------------------- data


def zipf_cdf(n: int, s: float) -> np.ndarray:
    return np.cumsum(1.0 / np.arange(1, n + 1, dtype=np.float64) ** s)


def synthetic(total: int) -> dict[str, Any]:
    """Stored sequences (exactly ``total`` tokens) and live contexts, as uint32 arrays."""
    rng = np.random.default_rng(SEED)
    token_cdf = zipf_cdf(VOCAB, 1.0)
    ids = rng.permutation(VOCAB).astype(np.uint32)
    lens = rng.integers(CHUNK_LEN[0], CHUNK_LEN[1] + 1, size=POOL)
    pool = [ids[np.searchsorted(token_cdf, rng.random(n) * token_cdf[-1], side="right")] for n in lens]
    chunk_cdf = zipf_cdf(POOL, 0.9)

    def sequence(rng: np.random.Generator, length: int) -> np.ndarray:
        parts, n = [], 0
        while n < length:
            picks = np.searchsorted(chunk_cdf, rng.random(64) * chunk_cdf[-1], side="right")
            for p in picks:
                chunk = pool[min(int(p), POOL - 1)]
                if rng.integers(MUTATE_ONE_IN) == 0:
                    chunk = chunk.copy()
                    chunk[rng.integers(len(chunk))] = rng.integers(VOCAB)
                parts.append(chunk)
                n += len(chunk)
                if n >= length:
                    break
        return np.concatenate(parts)[:length]

    stored, left = [], total
    while left > 0:
        n = min(int(rng.integers(SEQ_LEN[0], SEQ_LEN[1] + 1)), left)
        stored.append(sequence(rng, n))
        left -= n
    live_rng = np.random.default_rng(SEED + 1)
    live = [
        sequence(live_rng, int(live_rng.integers(SEQ_LEN[0], SEQ_LEN[1] + 1))) for _ in range(LIVE_SEQUENCES)
    ]
    return {"name": f"synthetic_{total // 1000}k", "stored": stored, "live": live}


def real() -> dict[str, Any] | str:
    """The Best-of-8 workload from ``benches/workload.py``, or why it is not there."""
    tok_path, seq_path = BENCH_DATA / "bon8_qwen2.tokens.u32", BENCH_DATA / "bon8_qwen2.seqs.u32"
    if not tok_path.is_file() or not seq_path.is_file():
        return f"no {tok_path.relative_to(ROOT)}; run `python benches/workload.py`"
    tokens = np.fromfile(tok_path, dtype="<u4")
    seqs = np.fromfile(seq_path, dtype="<u4").reshape(-1, 2)
    if int(seqs[:, 0].sum()) != tokens.size:
        return f"{tok_path.name} and {seq_path.name} disagree; rerun `python benches/workload.py`"
    bounds = np.concatenate([[0], np.cumsum(seqs[:, 0].astype(np.int64))])
    stored, live = [], []
    for i, (_, kind) in enumerate(seqs):
        (live if kind == 8 else stored).append(tokens[bounds[i] : bounds[i + 1]])
    return {"name": "bon8_real", "stored": stored, "live": live}


def to_chars(tokens: np.ndarray) -> str:
    """Token ids as one character each, skipping the surrogate range general-sam's Rust ``str`` rejects."""
    a = tokens.astype(np.uint32)
    a = a + np.where(a >= 0xD800, 0x800, 0).astype(np.uint32)
    return a.astype("<u4").tobytes().decode("utf-32-le")


# ------------------------------------------------------------------------------------------- timing


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Smallest wall time in seconds over ``n`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(n):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -------------------------------------------------------------------------------------- specscale


def ss_build(stored: list[np.ndarray]) -> specscale.SuffixAutomaton:
    sam = specscale.SuffixAutomaton()
    for s in stored:
        sam.begin_sequence()
        sam.extend(s)
    return sam


def ss_steps(sam: specscale.SuffixAutomaton, live: list[list[int]]) -> tuple[float, int, float]:
    """Seconds for every advance + draft(8) step, steps, mean draft length."""
    steps = drafted = 0
    t = time.perf_counter()
    for seq in live:
        cur = sam.cursor()
        for tok in seq:
            cur.advance(tok)
            drafted += len(cur.draft(DRAFT))
        steps += len(seq)
    return time.perf_counter() - t, steps, drafted / max(steps, 1)


# ------------------------------------------------------------------------------------ general-sam


def gs_build(chars: list[str]) -> Any:
    from general_sam import GeneralSam, Trie

    trie = Trie.in_chars()
    for s in chars:
        trie.insert_chars(s)
    return GeneralSam.from_trie(trie), trie


def gs_steps(sam: Any, live: list[str]) -> tuple[float, int, float]:
    """The cursor algorithm on general-sam's state API: longest matched suffix, then an 8-edge walk."""
    steps = drafted = 0
    t = time.perf_counter()
    for seq in live:
        state = sam.get_root_state()
        for ch in seq:
            while True:
                nxt = state.clone()
                nxt.goto_char(ch)
                if not nxt.is_nil():
                    state = nxt
                    break
                if state.is_root():
                    break
                state.goto_suffix_parent()
            if state.is_root():
                continue
            walk = state.clone()
            for _ in range(DRAFT):
                trans = walk.get_trans()
                if not trans:
                    break
                walk.goto_char(next(iter(trans)))
                drafted += 1
        steps += len(seq)
    return time.perf_counter() - t, steps, drafted / max(steps, 1)


# ------------------------------------------------------------------------------------------ memory


def _rss_child(conn: Any, kind: str, stored: list[np.ndarray]) -> None:
    try:
        chars = [to_chars(s) for s in stored] if kind == "general-sam" else None
        gc.collect()
        before = rss_bytes()
        out: dict[str, int] = {}
        if kind == "general-sam":
            sam, trie = gs_build(chars)
            gc.collect()
            out["with_trie"] = rss_bytes() - before
            del trie
            gc.collect()
            out["sam_only"] = rss_bytes() - before
        else:
            sam = ss_build(stored)
            gc.collect()
            out["sam_only"] = rss_bytes() - before
            out["memory_bytes"] = sam.memory_bytes()
        conn.send(out)
    except Exception as e:  # noqa: BLE001 - report any failure, never leave the parent waiting
        conn.send({"error": repr(e)})
    finally:
        conn.close()


def rss_delta(kind: str, stored: list[np.ndarray]) -> dict[str, int]:
    """Resident-set growth of a fresh (spawned, not forked: no recycled heap) child across one build."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_rss_child, args=(child, kind, stored))
    p.start()
    child.close()
    out = parent.recv()
    p.join()
    return out


# ----------------------------------------------------------------------------------- prompt lookup


def pld_numpy(buf: np.ndarray, n: int) -> np.ndarray:
    """Last earlier occurrence of the last 3-gram of ``buf[:n]`` with a continuation, by a full rescan."""
    a, b, c = buf[n - 3], buf[n - 2], buf[n - 1]
    hits = np.flatnonzero((buf[: n - 3] == a) & (buf[1 : n - 2] == b) & (buf[2 : n - 1] == c))
    if hits.size == 0:
        return buf[:0]
    start = int(hits[-1]) + 3
    return buf[start : min(start + DRAFT, n)]


def prompt_lookup(stream: np.ndarray) -> list[dict[str, Any]]:
    """Per-step cost at growing contexts: transformers PLD, a numpy rescan, and specscale."""
    rows = []
    try:
        import torch
        from transformers.generation.candidate_generator import PromptLookupCandidateGenerator
    except ImportError as e:  # transformers/torch are optional for this script
        torch = None
        print(f"  (transformers prompt lookup skipped: {e})")
    for ctx_len in PLD_CONTEXTS:
        if stream.size < ctx_len + SS_PLD_STEPS:
            print(f"  (prompt lookup at {ctx_len} skipped: stream has {stream.size} tokens)")
            continue
        buf = stream[: ctx_len + SS_PLD_STEPS].astype(np.int64)
        row: dict[str, Any] = {"context": ctx_len, "steps": PLD_STEPS, "specscale_steps": SS_PLD_STEPS}
        if torch is not None:
            # One thread: on a shared 2-core machine torch's second thread stalls on a busy core (20x slower).
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            ids = torch.from_numpy(buf).unsqueeze(0)
            gen = PromptLookupCandidateGenerator(
                num_output_tokens=DRAFT, max_matching_ngram_size=3, max_length=buf.size + DRAFT + 2
            )
            t = time.perf_counter()
            for n in range(ctx_len, ctx_len + PLD_STEPS):
                gen.get_candidates(ids[:, :n])
            row["transformers_us"] = (time.perf_counter() - t) / PLD_STEPS * 1e6
            torch.set_num_threads(threads)
        t = time.perf_counter()
        for n in range(ctx_len, ctx_len + PLD_STEPS):
            pld_numpy(buf, n)
        row["numpy_rescan_us"] = (time.perf_counter() - t) / PLD_STEPS * 1e6
        # specscale: the context is the store (one sequence) and the cursor follows it as it grows.
        sam = specscale.SuffixAutomaton()
        sam.begin_sequence()
        sam.extend(buf[:ctx_len])
        cur = sam.cursor()
        cur.extend(buf[:ctx_len])
        nxt = buf[ctx_len:].tolist()
        t = time.perf_counter()
        for tok in nxt:
            sam.push(tok)
            cur.advance(tok)
            cur.draft(DRAFT)
        row["specscale_us"] = (time.perf_counter() - t) / SS_PLD_STEPS * 1e6
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------- run


def run_workload(w: dict[str, Any], with_pld: bool) -> dict[str, Any]:
    name, stored, live = w["name"], w["stored"], w["live"]
    n_tok = int(sum(s.size for s in stored))
    stored32 = [s.astype(np.int32) for s in stored]
    stored64 = [s.astype(np.int64) for s in stored]
    print(
        f"\n== {name}: {n_tok} stored tokens in {len(stored)} sequences, {sum(s.size for s in live)} live tokens"
    )
    res: dict[str, Any] = {"workload": name, "stored_tokens": n_tok, "sequences": len(stored)}

    # 1. Build.
    t_ss, sam = best_of(2, lambda: ss_build(stored32))
    t_ss64, _ = best_of(1, lambda: ss_build(stored64))
    chars = [to_chars(s) for s in stored]
    t_gs, (gsam, gtrie) = best_of(2, lambda: gs_build(chars))
    res["build_ns_per_token"] = {"specscale": t_ss / n_tok * 1e9, "general-sam": t_gs / n_tok * 1e9}
    res["specscale_extend_int64_ns_per_token"] = t_ss64 / n_tok * 1e9

    # 2. Append one sequence to the built store.
    extra = live[0]
    extra32, extra_chars = extra.astype(np.int32), to_chars(extra)
    sam2 = ss_build(stored32)
    t = time.perf_counter()
    sam2.begin_sequence()
    sam2.extend(extra32)
    t_app_ss = time.perf_counter() - t
    del sam2
    from general_sam import GeneralSam

    t = time.perf_counter()
    gtrie.insert_chars(extra_chars)
    GeneralSam.from_trie(gtrie)
    t_app_gs = time.perf_counter() - t
    res["append_ms"] = {"specscale": t_app_ss * 1e3, "general-sam": t_app_gs * 1e3}
    res["append_tokens"] = int(extra.size)

    # 3. Match + 8-token draft per live token (capped at MAX_QUERIES steps for each).
    live_ints, left = [], MAX_QUERIES
    for s in live:
        if left <= 0:
            break
        live_ints.append(s[:left].tolist())
        left -= len(live_ints[-1])
    live_chars = [to_chars(np.asarray(s, dtype=np.uint32)) for s in live_ints]
    t_q_ss, steps, dl_ss = ss_steps(sam, live_ints)
    t_q_gs, _, dl_gs = gs_steps(gsam, live_chars)
    res["step_us"] = {"specscale": t_q_ss / steps * 1e6, "general-sam": t_q_gs / steps * 1e6}
    res["mean_draft_len"] = {"specscale": dl_ss, "general-sam": dl_gs}
    res["steps"] = steps
    del gsam, gtrie
    chars.clear()

    # 4. Memory.
    mem_ss = rss_delta("specscale", stored32)
    mem_gs = rss_delta("general-sam", stored)
    res["bytes_per_token"] = {
        "specscale": sam.memory_bytes() / n_tok,
        "specscale_rss": mem_ss.get("sam_only", float("nan")) / n_tok,
        "general-sam_rss": mem_gs.get("sam_only", float("nan")) / n_tok,
        "general-sam_rss_with_trie": mem_gs.get("with_trie", float("nan")) / n_tok,
    }
    for m in (mem_ss, mem_gs):
        if "error" in m:
            print(f"  (memory probe failed: {m['error']})")

    # 5. Prompt lookup vs specscale at growing contexts.
    if with_pld:
        res["prompt_lookup"] = prompt_lookup(np.concatenate(stored))
    print_table(res)
    return res


def ratio(a: float, b: float) -> str:
    if not b > 0:
        return "n/a"
    q = a / b
    return f"{q:.1f}x" if q < 100 else f"{q:.0f}x"


def ok(good: bool) -> str:
    return "ok" if good else "MISSED"


def print_table(r: dict[str, Any]) -> None:
    b, a, s, m = r["build_ns_per_token"], r["append_ms"], r["step_us"], r["bytes_per_token"]
    print(f"| {r['workload']} | specscale | general-sam | general-sam / specscale |")
    print("|---|---:|---:|---:|")
    print(
        f"| build, ns/token | {b['specscale']:.0f} | {b['general-sam']:.0f} | {ratio(b['general-sam'], b['specscale'])} |"
    )
    print(
        f"| append one {r['append_tokens']}-token sequence, ms | {a['specscale']:.2f} "
        f"| {a['general-sam']:.0f} (full rebuild) | {ratio(a['general-sam'], a['specscale'])} |"
    )
    print(
        f"| match + {DRAFT}-token draft, us/step ({r['steps']} steps) | {s['specscale']:.2f} "
        f"| {s['general-sam']:.2f} | {ratio(s['general-sam'], s['specscale'])} |"
    )
    print(
        f"| mean draft length (of {DRAFT}) | {r['mean_draft_len']['specscale']:.2f} "
        f"| {r['mean_draft_len']['general-sam']:.2f} | |"
    )
    print(
        f"| bytes/token | {m['specscale']:.1f} (memory_bytes; RSS probe {m['specscale_rss']:.1f}) "
        f"| {m['general-sam_rss']:.0f} RSS ({m['general-sam_rss_with_trie']:.0f} with trie) "
        f"| {ratio(m['general-sam_rss'], m['specscale'])} |"
    )
    print(
        f"targets: extend {b['specscale']:.0f} ns/token (int64: {r['specscale_extend_int64_ns_per_token']:.0f}) "
        f"<= {EXTEND_TARGET_NS:.0f}: {ok(b['specscale'] <= EXTEND_TARGET_NS)}; "
        f"advance+draft(8) {s['specscale']:.2f} us <= {STEP_TARGET_US}: {ok(s['specscale'] <= STEP_TARGET_US)}"
    )
    if r.get("prompt_lookup"):
        print(
            "\n| context | transformers PLD, us/step | numpy 3-gram rescan, us/step | specscale push+advance+draft(8), us/step |"
        )
        print("|---:|---:|---:|---:|")
        for p in r["prompt_lookup"]:
            tf = f"{p['transformers_us']:.0f}" if "transformers_us" in p else "n/a"
            print(f"| {p['context']} | {tf} | {p['numpy_rescan_us']:.0f} | {p['specscale_us']:.2f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=1_000_000, help="stored tokens of the synthetic stream")
    ap.add_argument("--workload", choices=("synthetic", "real", "both"), default="both")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.tokens < SEQ_LEN[0]:
        ap.error(f"--tokens must be at least {SEQ_LEN[0]}")

    import general_sam  # noqa: F401 - fail early and clearly if the peer is missing

    t0 = time.perf_counter()
    print(
        f"specscale {getattr(specscale, '__version__', '?')}, general-sam "
        f"{_version('general-sam')}, numpy {np.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    results = []
    if args.workload in ("synthetic", "both"):
        results.append(run_workload(synthetic(args.tokens), with_pld=True))
    if args.workload in ("real", "both"):
        w = real()
        if isinstance(w, str):
            print(f"\n== bon8_real skipped: {w}")
        else:
            results.append(run_workload(w, with_pld=False))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
