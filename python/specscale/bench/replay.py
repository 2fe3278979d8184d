"""Trace replay: what a greedy speculative run would accept, computed exactly from recorded text.

``specscale replay TRACES.jsonl --tokenizer DIR --methods pld,sam,trie --json OUT.json`` reads rows with a
problem text and a list of sample texts, tokenizes them, and replays each row's samples in order as
Best-of-N samples sharing the problem's store. Every sample goes through the same loop as live generation
(:func:`specscale.engine.generate_from_trace`) with the recorded tokens standing in for a greedy model,
so the steps, accepted lengths and MAT are those a live greedy run of the model that wrote the text would
see with each drafter. Drafting time is real; with ``--cost-model`` the report adds the predicted speedup
on the hardware the cost model was measured on.

Methods (``--methods``): every model-free method of the registry (:mod:`specscale.methods`), with the
same settings and store life as in ``specscale bench``: a problem's samples share its family store, and
a finished problem's text moves into the global scope that later problems draft from
(``--set sam.global_tokens=0`` keeps problems apart). ``specscale replay --help`` lists them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specscale import methods as registry
from specscale.errors import InvalidArgumentError
from specscale.loop import GenerationStats

@dataclass
class MethodReport:
    """Replay figures of one method: the loop's counters over every sample, and per sample index."""

    draft_budget: int = 0
    total: GenerationStats = field(default_factory=GenerationStats)
    by_sample: list[GenerationStats] = field(default_factory=list)

    def add(self, sample_index: int, stats: GenerationStats) -> None:
        while len(self.by_sample) <= sample_index:
            self.by_sample.append(GenerationStats())
        self.total.add(stats)
        self.by_sample[sample_index].add(stats)

    @property
    def mat(self) -> float:
        return self.total.mean_accepted_tokens

    @property
    def tokens(self) -> int:
        return self.total.new_tokens

    @property
    def steps(self) -> int:
        return self.total.steps

    @property
    def draft_tokens(self) -> int:
        return self.total.draft_tokens

    def to_json(self, cost_model: Any = None) -> dict[str, Any]:
        t = self.total
        hits = sum(v for k, v in t.accepted_histogram.items() if k > 1)
        out: dict[str, Any] = {
            "mat": self.mat,
            "mat_by_sample": [s.mean_accepted_tokens for s in self.by_sample],
            "tokens": t.new_tokens,
            "steps": t.steps,
            "hit_rate": hits / t.steps if t.steps else 0.0,
            "acceptance_rate": t.acceptance_rate,
            "draft_nodes_per_step": t.draft_tokens / t.steps if t.steps else 0.0,
            "draft_tokens": t.draft_tokens,
            "draft_budget": self.draft_budget,
            "accepted_histogram": {str(k): v for k, v in sorted(t.accepted_histogram.items())},
            "draft_us_per_step": 1e6 * t.draft_seconds / t.steps if t.steps else 0.0,
        }
        if cost_model is not None and t.steps:
            from specscale.bench.costmodel import predict_speedup

            per_step = t.draft_seconds / t.steps
            out["predicted_speedup"] = predict_speedup(t.step_records, cost_model, per_step)
            # Drafting time depends on the machine replay ran on (and its load); this one does not.
            out["predicted_speedup_verify_only"] = predict_speedup(t.step_records, cost_model, 0.0)
            out["predicted_speedup_by_sample"] = [
                predict_speedup(s.step_records, cost_model, per_step) if s.step_records else 0.0
                for s in self.by_sample
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
        prompt = row[prompt_field]
        if not isinstance(prompt, str) or not prompt:
            got = "null" if prompt is None else "empty" if prompt == "" else f"a {type(prompt).__name__}"
            raise DatasetError(
                f"{where}: {prompt_field!r} is {got}; replay needs the problem text (a non-empty string), "
                "the prompt every sample continues"
            )
        samples = row[samples_field]
        if isinstance(samples, str):
            samples = [samples]
        if not isinstance(samples, list) or not all(isinstance(s, str) for s in samples):
            raise DatasetError(f"{where}: {samples_field!r} must be a list of strings")
        rows.append((prompt, samples))
    return rows


def replay_token_rows(
    rows: Iterable[tuple[Sequence[int], Sequence[Sequence[int]]]],
    methods: Sequence[str],
    max_draft_tokens: int | None = None,
    progress: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, MethodReport]:
    """Replays tokenized rows ``(prompt, [samples])`` with each method; a row is one problem, whose
    samples share the method's family store. ``max_draft_tokens`` caps every method's own budget."""
    settings = registry.settings_map(settings or {})
    check_replayable(methods, settings)
    rows = list(rows)
    return {m: replay_method(rows, m, settings, max_draft_tokens, progress) for m in methods}


def replay_method(
    rows: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]],
    method: str,
    settings: Mapping[str, Any],
    max_draft_tokens: int | None = None,
    progress: bool = False,
) -> MethodReport:
    """Replays every row with one method (one run of it: a row's samples share its family store, and
    finished rows feed its global scope). Checks nothing: see :func:`check_replayable`."""
    from specscale.loop import generate_from_trace
    from specscale.progress import Progress

    report = MethodReport()
    run = registry.get(method).open(settings)
    budget = run.budget if max_draft_tokens is None else min(run.budget, max_draft_tokens)
    report.draft_budget = budget
    with Progress(len(rows), desc=f"replay {method}", unit="problem", enabled=progress) as bar:
        for prompt, samples in rows:
            for index, sample in enumerate(samples):
                if not sample:
                    continue
                out = generate_from_trace(prompt, sample, run.drafter(), max_draft_tokens=budget)
                report.add(index, out.stats)
            run.end_family()
            bar.update(1)
    return report


@dataclass
class SweepPoint:
    """One setting of a method's budget sweep and what replay measured with it."""

    method: str
    changes: dict[str, Any]
    report: MethodReport


def sweep_token_rows(
    rows: Iterable[tuple[Sequence[int], Sequence[Sequence[int]]]],
    methods: Sequence[str],
    settings: Mapping[str, Any] | None = None,
    max_draft_tokens: int | None = None,
    progress: bool = False,
) -> list[SweepPoint]:
    """Replays every method as set (``changes`` empty) and at each point of its registered budget sweep
    (:attr:`Method.sweep`, applied over ``settings``). Points come method by method: as set first,
    then the sweep, smallest drafts first."""
    settings = registry.settings_map(settings or {})
    rows = list(rows)
    points: list[SweepPoint] = []
    for method in methods:
        for changes in ({}, *registry.get(method).sweep):
            changed = dict(settings)
            changed[method] = dataclasses.replace(settings[method], **dict(changes))
            report = replay_token_rows(rows, [method], max_draft_tokens, progress, changed)[method]
            points.append(SweepPoint(method, dict(changes), report))
    return points


def sweep_table(points: Sequence[SweepPoint], cost_model: Any = None) -> str:
    """One row per sweep point: method, the settings changed, MAT, nodes/step, draft µs/step (and
    predicted speedup)."""
    head = "| method | setting | MAT | nodes/step | draft µs/step |" + (
        " predicted speedup | without drafting time |" if cost_model else ""
    )
    rule = "|---|---|---:|---:|---:|" + ("---:|---:|" if cost_model else "")
    lines = [head, rule]
    for p in points:
        r = p.report.to_json(cost_model)
        setting = ", ".join(f"{k}={v}" for k, v in p.changes.items()) or "(as set)"
        line = f"| {p.method} | {setting} | {r['mat']:.2f} | {r['draft_nodes_per_step']:.1f} | {r['draft_us_per_step']:.1f} |"
        if cost_model:
            line += f" {r['predicted_speedup']:.2f}x | {r['predicted_speedup_verify_only']:.2f}x |"
        lines.append(line)
    return "\n".join(lines)


#: Per curve: a marker of its own, and one of 12 (dash, gray) pairs, so curves stay apart in grayscale.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
_DASHES = ("-", "--", "-.", ":")
_GRAYS = ("0.0", "0.35", "0.6")


def write_frontier_plot(points: Sequence[SweepPoint], path: Path, title: str) -> Path | None:
    """MAT against draft nodes per step: one labelled curve per method (its sweep points joined in
    order, on a log scale), its setting as set as a hollow marker of the same shape; markers and dashes
    differ, so curves stay apart in grayscale. Methods that never draft (AR) are left out. Returns the
    file, or None (with a note on stderr) where matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter
    except ModuleNotFoundError:
        print("specscale replay: matplotlib is not installed; no plot (pip install matplotlib)", file=sys.stderr)
        return None

    def xy(p: SweepPoint) -> tuple[float, float]:
        return (p.report.draft_tokens / p.report.steps if p.report.steps else 0.0, p.report.mat)

    by_method: dict[str, list[SweepPoint]] = {}
    for p in points:
        if xy(p)[0] > 0:
            by_method.setdefault(p.method, []).append(p)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, (method, pts) in enumerate(by_method.items()):
        marker = _MARKERS[i % len(_MARKERS)]
        dash = _DASHES[(i // len(_GRAYS)) % len(_DASHES)]
        shade = _GRAYS[i % len(_GRAYS)]
        swept = [xy(p) for p in pts if p.changes]
        as_set = [xy(p) for p in pts if not p.changes]
        if swept:
            ax.plot(*zip(*swept), marker=marker, linestyle=dash, color=shade, label=method, markersize=6, linewidth=1.5)
        if as_set:
            ax.plot(
                *zip(*as_set),
                marker=marker,
                linestyle="none",
                markerfacecolor="white",
                markeredgecolor=shade,
                markersize=9,
                label=f"{method} (as set)" if not swept else None,
            )
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500) if any(xy(p)[0] <= 2 * t for p in points)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("draft nodes verified per step (log scale)")
    ax.set_ylabel("MAT (tokens committed per step)")
    ax.set_title(title + "\nhollow: each method as set; joined: its budget sweep", fontsize=9)
    ax.grid(True, which="major", color="0.85", linewidth=0.6)
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def check_replayable(methods: Sequence[str], settings: Mapping[str, Any]) -> None:
    """One-line :class:`InvalidArgumentError` before any work for a method replay cannot run: unknown,
    needing a model, a missing file or optional package."""
    for m in methods:
        if m not in registry.METHODS:
            raise InvalidArgumentError(
                f"--methods: unknown method {m!r}; replay runs {', '.join(registry.model_free_names(settings))}"
            )
        method = registry.get(m)
        if not method.model_free(settings):
            raise InvalidArgumentError(
                f"--methods: {m!r} needs a model (it learns from the target's logits or hidden states, or "
                f"runs a draft model); trace replay has none. Replayable: {', '.join(registry.model_free_names(settings))}"
            )
        method.check(settings)


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
    """``specscale replay``: every check before any work (methods, settings, files, tokenizer), then one
    method at a time. A method that fails is reported in one line and the others still run; the JSON
    is rewritten after each method, so no finished method's figures are lost to a later failure."""
    from specscale.bench.datasets import DatasetError
    from specscale.cli import debugging
    from specscale.tokenizer import load_encoder

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise InvalidArgumentError("--methods: no method given; e.g. --methods pld,sam,trie")
    overrides: dict[str, dict[str, Any]] = {}
    for assignment in args.set or []:
        name, setting, value = registry.parse_assignment(assignment)
        overrides.setdefault(name, {})[setting] = value
    if args.cost_model is not None:
        # The cost model predictions are made for is the one cost-aware methods size drafts for,
        # unless --set gave them another.
        for name in methods:
            if hasattr(registry.get(name).defaults, "cost_model"):
                overrides.setdefault(name, {}).setdefault("cost_model", str(args.cost_model))
    settings = registry.settings_map(overrides)
    check_replayable(methods, settings)
    cost_model = None
    if args.cost_model is not None:
        from specscale.bench.costmodel import load_cost_model
        from specscale.errors import CorruptDataError

        try:
            cost_model = load_cost_model(args.cost_model)  # a measured table or a roofline
        except CorruptDataError as error:
            raise InvalidArgumentError(f"--cost-model {args.cost_model}: {error}") from error
    encode = load_encoder(args.tokenizer)
    text_rows = read_traces(args.traces, args.prompt_field, args.samples_field, args.limit)
    token_rows = []
    for number, (question, samples) in enumerate(text_rows, 1):
        prompt, *encoded = encode.encode_batch([question, *samples])
        if not prompt:
            raise DatasetError(
                f"{args.traces} problem {number}: its {args.prompt_field!r} encodes to no tokens; replay needs a prompt"
            )
        token_rows.append((prompt, encoded))
    if args.sweep:
        return _run_sweep(args, methods, settings, token_rows, cost_model)
    document: dict[str, Any] = {
        "traces": str(args.traces),
        "tokenizer": str(args.tokenizer),
        "problems": len(token_rows),
        "samples": sum(len(s) for _, s in token_rows),
        "max_draft_tokens": args.max_draft,
        "settings": {m: dataclasses.asdict(settings[m]) for m in methods},
        "cost_model": str(args.cost_model) if args.cost_model else None,
        "seconds": 0.0,
        "methods": {},
    }
    failed: dict[str, str] = {}
    start = time.perf_counter()
    for method in methods:
        try:
            report = replay_method(token_rows, method, settings, args.max_draft, progress=not args.quiet)
        except Exception as error:  # noqa: BLE001 (one method's failure must not lose the others' figures)
            if debugging(args):
                traceback.print_exc()
            failed[method] = f"{type(error).__name__}: {' '.join(str(error).split())}"
            print(f"specscale replay: {method} failed ({failed[method]}); going on with the others", file=sys.stderr)
            continue
        document["methods"][method] = report.to_json(cost_model)
        document["seconds"] = time.perf_counter() - start
        if failed:
            document["failed"] = failed
        if args.json is not None:
            _write_json(args.json, document)
    if failed:
        document["failed"] = failed
        if args.json is not None:
            _write_json(args.json, document)
    if document["methods"]:
        print(markdown_table(document["methods"]))
    if args.json is not None:
        print(f"\nwrote {args.json}")
    if failed:
        print(
            f"specscale replay: {len(failed)} of {len(methods)} methods failed ({', '.join(failed)}); "
            "the table has the others",
            file=sys.stderr,
        )
        return 1
    return 0


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """Writes through a temporary file beside ``path``: a reader never sees half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    os.replace(partial, path)


def _run_sweep(
    args: argparse.Namespace,
    methods: Sequence[str],
    settings: Mapping[str, Any],
    token_rows: list[tuple[list[int], list[list[int]]]],
    cost_model: Any,
) -> int:
    start = time.perf_counter()
    points = sweep_token_rows(token_rows, methods, settings, args.max_draft, progress=not args.quiet)
    print(sweep_table(points, cost_model))
    samples = sum(len(s) for _, s in token_rows)
    plot = args.plot if args.plot is not None else Path("replay-frontier.png")
    title = f"{args.traces.name}: {len(token_rows)} problems, {samples} samples (exact greedy replay)"
    if write_frontier_plot(points, plot, title) is not None:
        print(f"\nwrote {plot}")
    if args.json is not None:
        document = {
            "traces": str(args.traces),
            "tokenizer": str(args.tokenizer),
            "problems": len(token_rows),
            "samples": samples,
            "cost_model": str(args.cost_model) if args.cost_model else None,
            "seconds": time.perf_counter() - start,
            "sweep": [
                {"method": p.method, "changes": p.changes, **p.report.to_json(cost_model)} for p in points
            ],
        }
        _write_json(args.json, document)
        print(f"wrote {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``specscale replay``."""
    from specscale.args import existing_file, int_option, output_file

    p = sub.add_parser("replay", help="exact greedy replay of recorded samples: MAT per drafter, no model needed")
    p.add_argument("traces", type=existing_file, help="JSONL: a problem text and a list of sample texts per row")
    p.add_argument(
        "--tokenizer",
        required=True,
        help="a local tokenizer directory (tokenizer.json, or vocab.json + merges.txt); nothing is downloaded",
    )
    p.add_argument(
        "--methods",
        default="pld,sam,trie",
        help="comma-separated, any model-free method: "
        + "; ".join(f"{m.name} ({m.summary})" for m in registry.METHODS.values() if m.model_free()),
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="METHOD.FIELD=VALUE",
        help="change one method setting, as in specscale bench (e.g. sam.global_tokens=0)",
    )
    p.add_argument("--json", type=output_file, default=None, help="write every figure here (after each method)")
    p.add_argument("--prompt-field", default="question")
    p.add_argument("--samples-field", default="response")
    p.add_argument("--limit", type=int_option(1), default=None, help="first N rows only")
    p.add_argument(
        "--max-draft",
        type=int_option(1),
        default=None,
        help="cap on draft nodes per step (default: each method's own budget)",
    )
    p.add_argument(
        "--cost-model",
        type=existing_file,
        default=None,
        help="a `specscale costmodel` JSON (measured, or --roofline): adds predicted speedup",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="replay each method at every point of its budget sweep (see the registry) and plot MAT against nodes/step",
    )
    p.add_argument("--plot", type=Path, default=None, help="with --sweep: the PNG to write (default replay-frontier.png)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=run_replay)
