"""What a specscale vLLM proposer costs per engine step at batch 64, against the step itself.

    python benches/vllm_overhead.py                 # A: the proposer alone on a replayed batch of 64
    python benches/vllm_overhead.py --engine        # A, then B: inside vLLM (needs vLLM and SmolLM2)

A (no vLLM needed): 64 concurrent rows (8 problems x 8 Best-of-8 samples of ``../shared`` traces,
Qwen2-tokenized; synthetic text elsewhere) laid out as vLLM's model runner hands them to a proposer
(``token_ids_cpu``, ``num_tokens_no_spec``, rows shuffled every step), each row advancing by its accepted
draft plus one token, as greedy verification of the recorded sample would. Reports the proposer's time
per step and per row, and MAT.

B: a model through vLLM's engine (in-process; default SmolLM2-135M on the CPU build; ``--random-model
qwen3-8b`` for random weights of that shape on a GPU), 8 prompts x ``n=8`` at T=0.6 (64 rows), once
without speculation and once with the automaton proposer, which times its own ``propose`` calls.
Reports the proposer's time per engine step against the step (the run's wall clock over its steps).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT.parent / "shared" / "data" / "traces" / "bon8_math_qwen25math.jsonl"
TOKENIZER = ROOT.parent / "shared" / "tokenizers" / "qwen2"


def load_groups(problems: int, samples: int) -> tuple[list[tuple[list[int], list[list[int]]]], str]:
    """``problems`` x (question tokens, ``samples`` response token lists)."""
    if TRACES.is_file() and TOKENIZER.is_dir():
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(TOKENIZER))
        groups = []
        with TRACES.open() as f:
            for line in f:
                row = json.loads(line)
                q = tok(row["question"])["input_ids"]
                groups.append((q, [tok(r)["input_ids"] for r in row["response"][:samples]]))
                if len(groups) == problems:
                    break
        return groups, f"{TRACES.name} (Qwen2 tokenizer)"
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, 32000, size=int(rng.integers(8, 64))).tolist() for _ in range(300)]
    groups = []
    for _ in range(problems):
        q = rng.integers(0, 32000, size=120).tolist()
        resp = []
        for _ in range(samples):
            out: list[int] = []
            while len(out) < 600:
                out += pool[int(rng.zipf(1.3)) % len(pool)]
            resp.append(out)
        groups.append((q, resp))
    return groups, "synthetic (shared traces absent)"


def replay(method: str, problems: int, samples: int, k: int, seed: int) -> dict[str, Any]:
    import specscale.vllm as sv

    cls = {"sam+": sv.SuffixAutomatonProposer, "trie": sv.NgramTrieProposer, "hybrid": sv.HybridProposer}[
        method
    ]
    proposer = cls(SimpleNamespace(speculative_config=SimpleNamespace(num_speculative_tokens=k)))
    groups, source = load_groups(problems, samples)
    rows = [(q, r) for q, rs in groups for r in rs]
    width = max(len(q) + len(r) for q, r in rows) + 1
    token_ids = np.zeros((len(rows), width), dtype=np.int32)
    num_tokens = np.zeros(len(rows), dtype=np.int32)
    out = [[r[0]] for _, r in rows]
    sampled = [[r[0]] for _, r in rows]
    rng = np.random.default_rng(seed)
    times, batch_sizes, tokens, steps = [], [], 0, 0
    live = list(range(len(rows)))
    while live:
        order = list(live)
        rng.shuffle(order)
        for i, r in enumerate(order):
            q = rows[r][0]
            row = q + out[r]
            token_ids[i, : len(row)] = row
            num_tokens[i] = len(row)
        t0 = time.perf_counter()
        drafts = proposer.propose([sampled[r] for r in order], num_tokens, token_ids)
        times.append(time.perf_counter() - t0)
        batch_sizes.append(len(order))
        for r, d in zip(order, drafts):
            target = rows[r][1]
            at = len(out[r])
            n = 0
            while n < len(d) and at + n < len(target) and d[n] == target[at + n]:
                n += 1
            take = target[at : at + n + 1]
            out[r] += take
            sampled[r] = take
            tokens += len(take)
            steps += 1
        live = [r for r in live if len(out[r]) < len(rows[r][1])]
    full = [t for t, b in zip(times, batch_sizes) if b == len(rows)]
    stats = proposer.stats()
    return {
        "source": source,
        "method": method,
        "rows": len(rows),
        "mean_context_tokens": float(np.mean([len(q) + len(r) for q, r in rows])),
        "steps_at_full_batch": len(full),
        "us_per_step_full_batch": 1e6 * float(np.median(full)) if full else float("nan"),
        "us_per_row": 1e6 * float(np.sum(times)) / max(1, steps),
        "mat": tokens / max(1, steps),
        "families": stats["families_created"],
        "errors": stats["errors"],
    }


def engine_overhead(
    k: int,
    max_new_tokens: int,
    model: str | None,
    random_model: str | None,
    tokenizer: str,
    out_dir: str,
    dtype: str | None,
) -> dict[str, Any]:
    from specscale.bench import vllm_engine as ve

    ve.cpu_settings()  # in-process engine (also on a GPU), so the proposer lives in this process
    ve.fix_cpu_expand()
    import specscale.vllm as sv
    from specscale.bench.prompts import build_prompt_ids
    from vllm import SamplingParams

    path, options = ve.resolve_model(model, random_model, tokenizer, out_dir)
    if dtype:
        options["dtype"] = dtype
    prompts = [
        "Solve step by step: a train travels 240 km in 3 hours. What is its average speed?",
        "Explain how photosynthesis works.",
        "Write a Python function that reverses a string, and explain it.",
        "What are the first ten prime numbers? Explain how you found them.",
        "Describe the water cycle in detail.",
        "Solve for x: 3x + 7 = 22. Show your work.",
        "Summarize the causes of the French Revolution.",
        "How does a binary search work? Give an example.",
    ]
    results: dict[str, Any] = {}
    for method in ("ar", "sam+"):
        llm = ve.make_llm(path, method, k, max_model_len=max_new_tokens + 512, max_num_seqs=64, **options)
        ids = [{"prompt_token_ids": build_prompt_ids(llm.get_tokenizer(), p)} for p in prompts]
        llm.generate(ids[:1], SamplingParams(n=2, temperature=0.6, max_tokens=16, seed=1), use_tqdm=False)
        before = [s for w in llm.collective_rpc(sv.worker_stats) for s in w]
        t0 = time.perf_counter()
        outs = llm.generate(
            ids, SamplingParams(n=8, temperature=0.6, max_tokens=max_new_tokens, seed=0), use_tqdm=False
        )
        wall = time.perf_counter() - t0
        after = [s for w in llm.collective_rpc(sv.worker_stats) for s in w]
        new = sum(len(o.token_ids) for r in outs for o in r.outputs)
        entry: dict[str, Any] = {"wall_seconds": wall, "new_tokens": new}
        if after:
            (b,), (a,) = before, after
            entry.update(
                propose_calls=a["propose_calls"] - b["propose_calls"],
                propose_seconds=a["propose_seconds"] - b["propose_seconds"],
            )
        results[method] = entry
        del llm
    sam = results["sam+"]
    # The engine drafts once after every step: steps = calls of propose.
    step_ms = 1e3 * sam["wall_seconds"] / max(1, sam["propose_calls"])
    propose_us = 1e6 * sam["propose_seconds"] / max(1, sam["propose_calls"])
    results["summary"] = {
        "model": os.path.basename(path),
        "engine_step_ms": step_ms,
        "propose_us_per_step": propose_us,
        "propose_share_of_step": propose_us / 1e3 / step_ms if step_ms else float("nan"),
        "speedup_over_ar": results["ar"]["wall_seconds"] / sam["wall_seconds"],
    }
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--k", type=int, default=8, help="num_speculative_tokens")
    ap.add_argument("--methods", default="sam+,trie,hybrid")
    ap.add_argument(
        "--engine", action="store_true", help="also measure inside vLLM (default model SmolLM2-135M)"
    )
    ap.add_argument("--model", default=None)
    ap.add_argument("--random-model", default=None, metavar="PRESET", help="random weights (qwen3-8b, ...)")
    ap.add_argument("--tokenizer", default=str(TOKENIZER))
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--out", default="vllm-overhead")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    args = ap.parse_args(argv)
    print("| method | rows | mean context | proposer us/step (batch 64) | us/row | MAT |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in args.methods.split(","):
        r = replay(m, args.problems, args.samples, args.k, seed=0)
        print(
            f"| {m} | {r['rows']} | {r['mean_context_tokens']:.0f} | {r['us_per_step_full_batch']:.0f} | "
            f"{r['us_per_row']:.1f} | {r['mat']:.2f} |"
        )
    print(f"\nsource: {r['source']}")
    if args.engine:
        os.makedirs(args.out, exist_ok=True)
        res = engine_overhead(
            args.k, args.max_new_tokens, args.model, args.random_model, args.tokenizer, args.out, args.dtype
        )
        s = res["summary"]
        print(json.dumps(res, indent=1))
        print(
            f"\nvLLM engine ({s['model']}, 8 prompts x n=8 = 64 rows at T=0.6): step {s['engine_step_ms']:.1f} ms, "
            f"proposer {s['propose_us_per_step']:.0f} us/step = {100 * s['propose_share_of_step']:.2f}% of a step; "
            f"speedup over AR {s['speedup_over_ar']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
