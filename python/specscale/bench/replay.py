"""Trace replay: what a greedy speculative run would accept, computed exactly from recorded text.

``specscale replay TRACES.jsonl --tokenizer DIR --methods pld,sam,trie --json OUT.json`` reads rows with a
problem text and a list of sample texts, tokenizes them, and replays each row's samples in order as
Best-of-N samples sharing the problem's store. Every sample goes through the same loop as live generation
(:func:`specscale.engine.generate_from_trace`) with the recorded tokens standing in for a greedy model,
so the steps, accepted lengths and MAT are those a live greedy run of the model that wrote the text would
see with each drafter. Drafting time is real; with ``--cost-model`` the report adds the predicted speedup
on the hardware the cost model was measured on.

Methods (``--methods``):

=============  ==================================================================================
``ar``          plain decoding (MAT 1; the baseline of the predicted speedup)
``pld``         prompt lookup: n-grams up to 3 in the prompt and the sample's own output, 10 tokens
``sam``         suffix automaton shared by the problem's samples (SAM-Decoding style, family store)
``sam-request`` suffix automaton over the sample's own prompt and output only
``trie``        n-gram trie shared by the problem's samples, multi-branch tree drafts (PIA style)
``hybrid``      ``sam`` and ``trie`` behind a ``HybridDrafter`` choosing by expected accepted length
``suffix-decoding`` ArcticInference's SuffixDecoding, one cache per problem (needs ``arctic-inference``)
``sam-freq``    frequency-scored trees after the longest match, a counted automaton shared by the problem
``sam-freq-path`` the same, the single most frequent continuation (a chain)
=============  ==================================================================================
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specscale._core import NgramTrie, SuffixAutomaton
from specscale.errors import InvalidArgumentError

#: A factory per method: called once per problem, it returns a function that makes the drafter of
#: one sample (so that family-scoped methods share their store across the problem's samples).
MethodFactory = Callable[[], Callable[[], Any]]


def _methods() -> dict[str, MethodFactory]:
    from specscale.drafters import (
        HybridDrafter,
        NgramTrieDrafter,
        NoDraft,
        PromptLookup,
        SuffixAutomatonDrafter,
    )

    def shared_sam() -> Callable[[], Any]:
        store = SuffixAutomaton()
        return lambda: SuffixAutomatonDrafter(automaton=store)

    def shared_trie() -> Callable[[], Any]:
        store = NgramTrie(max_order=4)
        return lambda: NgramTrieDrafter(trie=store)

    def shared_hybrid() -> Callable[[], Any]:
        sam, trie = SuffixAutomaton(), NgramTrie(max_order=4)
        return lambda: HybridDrafter([SuffixAutomatonDrafter(automaton=sam), NgramTrieDrafter(trie=trie)])

    def shared_frequency(mode: str) -> Callable[[], Callable[[], Any]]:
        from specscale.drafters.frequency import FrequencySuffixDrafter

        def per_problem() -> Callable[[], Any]:
            store = SuffixAutomaton(counts=True)
            return lambda: FrequencySuffixDrafter(automaton=store, mode=mode)  # type: ignore[arg-type]

        return per_problem

    def shared_suffix_decoding() -> Callable[[], Any]:
        from specscale.drafters.suffix_decoding import SuffixDecodingDrafter, new_cache

        cache = new_cache()
        return lambda: SuffixDecodingDrafter(cache=cache)

    return {
        "ar": lambda: NoDraft,
        "pld": lambda: PromptLookup,
        "sam": shared_sam,
        "sam-request": lambda: SuffixAutomatonDrafter,
        "trie": shared_trie,
        "hybrid": shared_hybrid,
        "suffix-decoding": shared_suffix_decoding,
        "sam-freq": shared_frequency("tree"),
        "sam-freq-path": shared_frequency("path"),
    }


METHODS = ("ar", "pld", "sam", "sam-request", "trie", "hybrid", "suffix-decoding", "sam-freq", "sam-freq-path")


@dataclass
class MethodReport:
    """Replay figures of one method, overall and per sample index."""

    tokens: int = 0
    steps: int = 0
    steps_with_hit: int = 0
    draft_tokens: int = 0
    accepted_draft_tokens: int = 0
    draft_seconds: float = 0.0
    histogram: dict[int, int] = field(default_factory=dict)
    tokens_by_sample: list[int] = field(default_factory=list)
    steps_by_sample: list[int] = field(default_factory=list)
    step_records: list[tuple[int, int, int]] = field(default_factory=list)
    records_by_sample: list[list[tuple[int, int, int]]] = field(default_factory=list)

    def add(self, sample_index: int, stats: Any) -> None:
        while len(self.tokens_by_sample) <= sample_index:
            self.tokens_by_sample.append(0)
            self.steps_by_sample.append(0)
            self.records_by_sample.append([])
        self.tokens += stats.new_tokens
        self.steps += stats.steps
        self.draft_tokens += stats.draft_tokens
        self.accepted_draft_tokens += stats.accepted_draft_tokens
        self.draft_seconds += stats.draft_seconds
        for k, v in stats.accepted_histogram.items():
            self.histogram[k] = self.histogram.get(k, 0) + v
        self.steps_with_hit += sum(v for k, v in stats.accepted_histogram.items() if k > 1)
        self.tokens_by_sample[sample_index] += stats.new_tokens
        self.steps_by_sample[sample_index] += stats.steps
        self.step_records.extend(stats.step_records)
        self.records_by_sample[sample_index].extend(stats.step_records)

    @property
    def mat(self) -> float:
        return self.tokens / self.steps if self.steps else 0.0

    def to_json(self, cost_model: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mat": self.mat,
            "mat_by_sample": [t / s if s else 0.0 for t, s in zip(self.tokens_by_sample, self.steps_by_sample)],
            "tokens": self.tokens,
            "steps": self.steps,
            "hit_rate": self.steps_with_hit / self.steps if self.steps else 0.0,
            "acceptance_rate": self.accepted_draft_tokens / self.draft_tokens if self.draft_tokens else 0.0,
            "draft_nodes_per_step": self.draft_tokens / self.steps if self.steps else 0.0,
            "accepted_histogram": {str(k): v for k, v in sorted(self.histogram.items())},
            "draft_us_per_step": 1e6 * self.draft_seconds / self.steps if self.steps else 0.0,
        }
        if cost_model is not None and self.steps:
            from specscale.bench.costmodel import predict_speedup

            per_step = self.draft_seconds / self.steps
            out["predicted_speedup"] = predict_speedup(self.step_records, cost_model, per_step)
            out["predicted_speedup_by_sample"] = [
                predict_speedup(r, cost_model, per_step) if r else 0.0 for r in self.records_by_sample
            ]
        return out


def read_traces(path: Path, prompt_field: str, samples_field: str, limit: int | None) -> list[tuple[str, list[str]]]:
    """Rows of ``(problem text, [sample texts])`` from a JSONL (or CSV/Parquet) file; a malformed row
    raises ``DatasetError`` naming its line and field."""
    from specscale.bench.datasets import DatasetError, read_rows

    rows: list[tuple[str, list[str]]] = []
    for where, row in read_rows(path):
        if limit is not None and len(rows) >= limit:
            break
        for name in (prompt_field, samples_field):
            if name not in row:
                raise DatasetError(f"{where}: missing the field {name!r} (fields present: {sorted(row)})")
        samples = row[samples_field]
        if isinstance(samples, str):
            samples = [samples]
        if not isinstance(samples, list) or not all(isinstance(s, str) for s in samples):
            raise DatasetError(f"{where}: {samples_field!r} must be a list of strings")
        rows.append((str(row[prompt_field]), samples))
    return rows


def replay_token_rows(
    rows: Iterable[tuple[Sequence[int], Sequence[Sequence[int]]]],
    methods: Sequence[str],
    max_draft_tokens: int = 64,
    progress: bool = False,
) -> dict[str, MethodReport]:
    """Replays tokenized rows ``(prompt, [samples])`` with each method; samples of a row share a store."""
    from specscale.engine import generate_from_trace

    factories = _methods()
    unknown = [m for m in methods if m not in factories]
    if unknown:
        raise InvalidArgumentError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    rows = list(rows)
    reports = {m: MethodReport() for m in methods}
    bar = _progress(len(rows) * len(methods), progress)
    for method in methods:
        for prompt, samples in rows:
            make_drafter = factories[method]()
            for index, sample in enumerate(samples):
                if not sample:
                    continue
                out = generate_from_trace(prompt, sample, make_drafter(), max_draft_tokens=max_draft_tokens)
                reports[method].add(index, out.stats)
            bar.update(1)
    bar.close()
    return reports


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:
        return _NoBar()
    return tqdm(total=total, desc="replay", unit="problem", file=sys.stderr)


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per method: MAT, hit rate, draft nodes per step (what verification pays for), drafting
    µs/step, MAT by sample (and predicted speedup)."""
    predicted = any("predicted_speedup" in r for r in results.values())
    head = "| method | MAT | hit rate | nodes/step | draft µs/step | MAT by sample |" + (
        " predicted speedup |" if predicted else ""
    )
    rule = "|---|---:|---:|---:|---:|---|" + ("---:|" if predicted else "")
    lines = [head, rule]
    for method, r in results.items():
        by_sample = " ".join(f"{m:.2f}" for m in r["mat_by_sample"])
        nodes = r.get("draft_nodes_per_step", 0.0)
        line = (
            f"| {method} | {r['mat']:.2f} | {r['hit_rate']:.2f} | {nodes:.1f} | {r['draft_us_per_step']:.1f} | {by_sample} |"
        )
        if predicted:
            line += f" {r.get('predicted_speedup', float('nan')):.2f}x |"
        lines.append(line)
    return "\n".join(lines)


def run_replay(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not args.traces.is_file():
        print(f"specscale replay: no such file: {args.traces}", file=sys.stderr)
        return 2
    try:
        from transformers import AutoTokenizer
    except ModuleNotFoundError:
        print("specscale replay needs transformers for --tokenizer: pip install 'transformers>=5'", file=sys.stderr)
        return 2
    tokenizer = AutoTokenizer.from_pretrained(str(args.tokenizer))
    cost_model = None
    if args.cost_model is not None:
        from specscale.bench.costmodel import CostModel

        cost_model = CostModel.load(args.cost_model)
    from specscale.bench.datasets import DatasetError

    try:
        text_rows = read_traces(args.traces, args.prompt_field, args.samples_field, args.limit)
    except DatasetError as error:
        print(f"specscale replay: {error}", file=sys.stderr)
        return 2

    def encode(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    token_rows = [(encode(q), [encode(s) for s in samples]) for q, samples in text_rows]
    start = time.perf_counter()
    reports = replay_token_rows(token_rows, methods, args.max_draft, progress=not args.quiet)
    results = {m: r.to_json(cost_model) for m, r in reports.items()}
    document = {
        "traces": str(args.traces),
        "tokenizer": str(args.tokenizer),
        "problems": len(token_rows),
        "samples": sum(len(s) for _, s in token_rows),
        "max_draft_tokens": args.max_draft,
        "cost_model": str(args.cost_model) if args.cost_model else None,
        "seconds": time.perf_counter() - start,
        "methods": results,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(markdown_table(results))
    if args.json is not None:
        print(f"\nwrote {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``specscale replay``."""
    p = sub.add_parser("replay", help="exact greedy replay of recorded samples: MAT per drafter, no model needed")
    p.add_argument("traces", type=Path, help="JSONL: a problem text and a list of sample texts per row")
    p.add_argument("--tokenizer", type=Path, required=True, help="a local Hugging Face tokenizer directory")
    p.add_argument("--methods", default="pld,sam,trie", help=f"comma-separated, from {','.join(METHODS)}")
    p.add_argument("--json", type=Path, default=None, help="write every figure here")
    p.add_argument("--prompt-field", default="question")
    p.add_argument("--samples-field", default="response")
    p.add_argument("--limit", type=int, default=None, help="first N rows only")
    p.add_argument("--max-draft", type=int, default=64, help="cap on draft tokens per step (default 64)")
    p.add_argument("--cost-model", type=Path, default=None, help="a `specscale costmodel` JSON: adds predicted speedup")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_replay)
