"""Exact greedy replay of the Best-of-8 MATH traces with the real SuffixDecoding (ArcticInference).

Every problem gets one ``SuffixDecodingCache``; its 8 samples are replayed in order through
``specscale.generate_from_trace`` with a ``SuffixDecodingDrafter(cache=...)``, so sample k drafts from
the problem's prompt, its own text and samples 1..k-1. Prompts are ``tokenizer.encode(question,
add_special_tokens=False)``, samples ``encode(response[i])`` (Qwen2 tokenizer). MAT = committed tokens
over verification steps (each step accepts the longest agreeing draft prefix plus the target's token).

As a check of the wrapper, the same replay also runs straight on the cache with the loop of
ArcticInference's own simulator (``arctic_inference.suffix_decoding.simulator.suffix_decode``), with the
same settings; both must take the same steps.

    python benches/suffix_decoding_replay.py                       # chains of up to 40 tokens (vLLM mode)
    python benches/suffix_decoding_replay.py --tree                # tree drafts
    python benches/suffix_decoding_replay.py --json out.json --limit 10

Reference (shared/README.md): ArcticInference 0.3.0, one cache per problem, up to 40 tokens: MAT 3.71,
1.52 at the first sample to 6.17 at the eighth.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import specscale
from specscale.drafters.suffix_decoding import SuffixDecodingDrafter, new_cache

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
TRACES = SHARED / "data/traces/bon8_math_qwen25math.jsonl"
TOKENIZER = SHARED / "tokenizers/qwen2"
REFERENCE = {"mat": 3.71, "first": 1.52, "last": 6.17}


def load_problems(
    traces: Path, tokenizer: Path, limit: int | None
) -> list[tuple[list[int], list[list[int]]]]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer))
    problems = []
    with open(traces, encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(problems) >= limit:
                break
            row = json.loads(line)
            prompt = tok.encode(row["question"], add_special_tokens=False)
            problems.append((prompt, [tok.encode(r, add_special_tokens=False) for r in row["response"]]))
    return problems


def replay_engine(problems, args) -> tuple[list[int], list[int], float]:
    """Through specscale's loop: tokens and steps per sample index, and drafting seconds."""
    tokens = [0] * 8
    steps = [0] * 8
    draft_seconds = 0.0
    for prompt, samples in problems:
        cache = new_cache(max_tree_depth=args.max_tree_depth)
        for i, sample in enumerate(samples):
            drafter = SuffixDecodingDrafter(
                cache=cache,
                max_spec_tokens=args.max_spec_tokens,
                max_spec_factor=args.max_spec_factor,
                min_token_prob=args.min_token_prob,
                use_tree_spec=args.tree,
            )
            out = specscale.generate_from_trace(
                prompt, sample, drafter, max_draft_tokens=args.max_spec_tokens
            )
            assert out.new_tokens == sample
            tokens[i] += out.stats.new_tokens
            steps[i] += out.stats.steps
            draft_seconds += out.stats.draft_seconds
    return tokens, steps, draft_seconds


def replay_upstream(problems, args) -> tuple[list[int], list[int]]:
    """Straight on the cache, without specscale: the loop of ArcticInference's own simulator
    (``arctic_inference/suffix_decoding/simulator.py``, ``suffix_decode``, restated here because importing
    it needs pandas and tqdm): speculate on prompt + response, walk the draft tree along the true
    response, append the accepted tokens and the bonus token. Tokens and steps per sample index."""
    tokens = [0] * 8
    steps = [0] * 8
    request = 0
    for prompt, samples in problems:
        cache = new_cache(max_tree_depth=args.max_tree_depth)
        for i, sample in enumerate(samples):
            cache.start_request(("upstream", request), prompt)
            response: list[int] = []
            while len(response) < len(sample):
                # As the engine does (and unlike the simulator), never draft past the second-to-last
                # token: the target adds the last one. Without this cap a few drafts near the ends of
                # samples differ and the steps move by a handful in 57k (MAT unchanged at 2 decimals).
                budget = min(args.max_spec_tokens, len(sample) - len(response) - 1)
                draft = cache.speculate(
                    ("upstream", request),
                    np.asarray(prompt + response, dtype=np.int32),
                    max_spec_tokens=max(budget, 1),
                    max_spec_factor=args.max_spec_factor,
                    min_token_prob=args.min_token_prob,
                    use_tree_spec=args.tree,
                )
                if budget <= 0:
                    draft.token_ids, draft.parents = [], []
                new: list[int] = []
                node = -1
                for token in sample[len(response) :]:
                    match = [
                        c for c, p in enumerate(draft.parents) if p == node and draft.token_ids[c] == token
                    ]
                    if not match:
                        break
                    new.append(token)
                    node = match[0]
                if len(response) + len(new) < len(sample):
                    new.append(sample[len(response) + len(new)])  # the target's own token
                response.extend(new)
                cache.add_active_response(("upstream", request), new)
                steps[i] += 1
            cache.stop_request(("upstream", request))
            assert response == sample
            tokens[i] += len(sample)
            request += 1
    return tokens, steps


def mats(tokens: list[int], steps: list[int]) -> tuple[float, list[float]]:
    return sum(tokens) / max(1, sum(steps)), [t / max(1, s) for t, s in zip(tokens, steps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--tokenizer", type=Path, default=TOKENIZER)
    parser.add_argument("--limit", type=int, default=None, help="first N problems (default: all 70)")
    parser.add_argument("--max-spec-tokens", type=int, default=40)
    parser.add_argument("--max-spec-factor", type=float, default=1.0)
    parser.add_argument("--min-token-prob", type=float, default=0.1)
    parser.add_argument("--max-tree-depth", type=int, default=64)
    parser.add_argument("--tree", action="store_true", help="tree drafts (use_tree_spec=True)")
    parser.add_argument("--no-upstream", action="store_true", help="skip the upstream-loop check")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    problems = load_problems(args.traces, args.tokenizer, args.limit)
    start = time.perf_counter()
    tokens, steps, draft_seconds = replay_engine(problems, args)
    elapsed = time.perf_counter() - start
    mat, by_sample = mats(tokens, steps)
    mode = "tree" if args.tree else "chain"
    print(
        f"SuffixDecoding (arctic-inference) exact replay, {len(problems)} problems x 8 samples, one cache per "
        f"problem, {mode} drafts of up to {args.max_spec_tokens} tokens (factor {args.max_spec_factor}, "
        f"min prob {args.min_token_prob}, depth {args.max_tree_depth}): {sum(tokens):,} tokens in "
        f"{sum(steps):,} steps, {elapsed:.1f} s ({1e6 * draft_seconds / max(1, sum(steps)):.0f} us drafting "
        "per step)\n"
    )
    upstream = None if args.no_upstream else replay_upstream(problems, args)
    print("| sample | MAT (specscale loop) |" + (" MAT (upstream loop) |" if upstream else ""))
    print("|---:|---:|" + ("---:|" if upstream else ""))
    up_mat, up_by_sample = mats(*upstream) if upstream else (None, None)
    for i, m in enumerate(by_sample):
        print(f"| {i + 1} | {m:.2f} |" + (f" {up_by_sample[i]:.2f} |" if upstream else ""))
    print(f"| all | {mat:.2f} |" + (f" {up_mat:.2f} |" if upstream else ""))
    print(
        f"\nReference (shared/README.md): MAT {REFERENCE['mat']}, {REFERENCE['first']} -> {REFERENCE['last']}."
    )
    if upstream:
        same = upstream[1] == steps
        print(f"specscale loop and upstream loop take the same steps: {same}")
    if args.json is not None:
        result = {
            "method": "suffix_decoding",
            "mode": mode,
            "settings": vars(args)
            | {"traces": str(args.traces), "tokenizer": str(args.tokenizer), "json": None},
            "tokens": tokens,
            "steps": steps,
            "mat": mat,
            "mat_by_sample": by_sample,
            "upstream": None
            if upstream is None
            else {"tokens": upstream[0], "steps": upstream[1], "mat": up_mat},
            "reference": REFERENCE,
        }
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
