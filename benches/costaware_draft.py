"""Drafting cost per step at long contexts: the cost-aware trees against the chain and frequency drafters.

    python benches/costaware_draft.py                      # contexts of 10k and 100k tokens, 2,000 steps' worth
    python benches/costaware_draft.py --contexts 100000 --tokens 4000 --rounds 5

Text: the Best-of-8 traces tokenized by ``benches/workload.py`` (``target/bench-data``, made here if the
traces and tokenizer are beside the checkout), every sample back to back (211k tokens), otherwise a
seeded synthetic stream of Zipf-drawn chunks. Each context length ``L`` replays ``--tokens`` tokens of
that text after an ``L``-token prompt (the whole prompt in the store, as a long thinking trace is),
through the same loop as trace replay, once per method per round, the methods interleaved in every
round so that load from other processes falls on all of them alike.

Reported per method (median over rounds): MAT, nodes per step, the drafter's own time per step (its
``propose`` and ``observe``, which include writing the committed tokens into the store; the first step,
which indexes the prompt, is reported apart) as CPU time of the thread (``time.thread_time``: on a
shared machine it leaves out the time the OS gives other processes; ``--clock wall`` for wall time),
with the ratio to ``sam+`` measured in the same round, and the loop's drafting time per step (wall
clock: the drafter plus the loop's own check of the draft).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from specscale import DraftTree, methods
from specscale.drafters.base import Drafter, DrafterWrapper
from specscale.loop import generate_from_trace

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "target" / "bench-data" / "bon8_qwen2.tokens.u32"

#: (label, method, settings changes): the chain and frequency drafters, and the cost-aware trees priced
#: linearly (the default 0.01 step per node) and free (a GPU at batch 1: the trees grow to 64 nodes).
METHODS = (
    ("sam+", "sam+", {}),
    ("sam-freq", "sam-freq", {}),
    ("costaware", "costaware", {}),
    ("costaware free nodes", "costaware", {"node_cost": 0.0}),
)


class Timed(DrafterWrapper):
    """Times the inner drafter's propose and observe, per step."""

    def __init__(self, inner: Drafter, clock: Callable[[], float]) -> None:
        super().__init__(inner)
        self.clock = clock
        self.step_seconds: list[float] = []
        self._t = 0.0

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        t0 = self.clock()
        out = self.inner.propose(context, max_tokens)
        self._t = self.clock() - t0
        return out

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        t0 = self.clock()
        self.inner.observe(new_tokens, drafted=drafted, accepted=accepted)
        self.step_seconds.append(self._t + self.clock() - t0)


def text_tokens(need: int) -> tuple[np.ndarray, str]:
    """At least ``need`` tokens of text, and where they came from."""
    if not DATA.is_file():
        sys.path.insert(0, str(ROOT / "benches"))
        import workload

        workload.main([])
    if DATA.is_file():
        tokens = np.fromfile(DATA, dtype="<u4")
        if len(tokens) >= need:
            return tokens, "Best-of-8 traces (Qwen2 tokenizer), samples back to back"
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, 32000, size=rng.integers(8, 65)) for _ in range(2000)]
    weights = 1.0 / np.arange(1, len(pool) + 1)
    weights /= weights.sum()
    chunks: list[np.ndarray] = []
    total = 0
    while total < need:
        c = pool[rng.choice(len(pool), p=weights)]
        chunks.append(c)
        total += len(c)
    return np.concatenate(chunks).astype("<u4"), "synthetic: Zipf-drawn chunks of 8-64 tokens, 32k vocabulary"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contexts", default="10000,100000", help="comma list of prompt lengths")
    ap.add_argument("--tokens", type=int, default=2000, help="tokens replayed after each prompt")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clock", choices=("thread", "wall"), default="thread", help="the drafter's timer")
    args = ap.parse_args(argv)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    contexts = [int(x) for x in args.contexts.split(",")]
    tokens, source = text_tokens(max(contexts) + args.tokens)
    print(f"text: {source}; {args.tokens} tokens replayed per context, {args.rounds} rounds, median")
    print(f"drafter time: {args.clock} clock\n")
    print("| context | method | MAT | nodes/step | drafter µs/step | x sam+ | first step ms | loop draft µs/step (wall) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for length in contexts:
        prompt = tokens[:length].tolist()
        continuation = tokens[length : length + args.tokens].tolist()
        per: dict[str, list[tuple[float, float, float, float, float]]] = {label: [] for label, _, _ in METHODS}
        for _ in range(args.rounds):
            for label, name, changes in METHODS:
                settings = methods.settings_map({name: {**changes, "global_tokens": 0}})
                run = methods.get(name).open(settings)
                drafter = Timed(run.drafter(), clock)
                out = generate_from_trace(prompt, continuation, drafter, max_draft_tokens=run.budget)
                s = out.stats
                steady = drafter.step_seconds[1:]
                per[label].append(
                    (
                        s.mean_accepted_tokens,
                        s.draft_tokens / s.steps,
                        1e6 * sum(steady) / len(steady),
                        1e3 * drafter.step_seconds[0],
                        1e6 * s.draft_seconds / s.steps,
                    )
                )
        sam_us = [r[2] for r in per["sam+"]]
        for label, _, _ in METHODS:
            rows = per[label]
            ratio = statistics.median(r[2] / base for r, base in zip(rows, sam_us))
            med = [statistics.median(r[i] for r in rows) for i in range(5)]
            print(
                f"| {length:,} | {label} | {med[0]:.2f} | {med[1]:.1f} | {med[2]:.1f} | {ratio:.2f} | "
                f"{med[3]:.1f} | {med[4]:.1f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
