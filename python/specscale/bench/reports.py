"""Benchmark reports: figures with bootstrap confidence intervals, JSON, a Markdown table, PNG plots.

Every figure is computed from the finished units alone (one unit = one method on one problem in one
regime: its samples or rounds), so a resumed run reports exactly what an uninterrupted one would from
the same units.

Definitions (those of SpecTTS-Bench, plus intervals):

- tokens/s of a problem: its generated tokens over its wall clock (prefill included), summed over the
  unit's samples or rounds; a method's tokens/s: the mean over problems.
- speedup: the method's mean tokens/s over AR's mean tokens/s on the same problems, measured in the same
  run (the AR unit of a problem runs right before the other methods' units of that problem).
- MAT: tokens per verification step pooled over all steps (AR counts 1).
- intervals: percentile bootstrap over problems (paired: one resample of problems serves the method and
  AR), ``resamples`` draws from a seeded generator; 95% by default.
- accuracy: the majority vote's (Best-of-N), the last round's (multi-round) or the sample's (single).
- Overall (``results.json``'s ``overall``, and a column of ``results.md``): the same figures per regime
  with every dataset's problems pooled, as SpecTTS-Bench's Overall column.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["aggregate", "aggregate_overall", "bootstrap_ratio", "format_markdown", "write_plots", "write_reports"]


def bootstrap_ratio(
    num: Sequence[float],
    den: Sequence[float],
    mode: str = "mean",
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of ``f(num) / f(den)`` with a paired percentile bootstrap over items.

    ``mode="mean"``: ratio of means (speedup from per-problem tokens/s, ``den`` = AR's). ``mode="sum"``:
    ratio of sums (pooled MAT from per-problem tokens and steps).
    """
    a = np.asarray(num, dtype=float)
    b = np.asarray(den, dtype=float)
    if len(a) != len(b) or len(a) == 0:
        return (math.nan, math.nan, math.nan)

    def ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        fx = x.mean(axis=-1) if mode == "mean" else x.sum(axis=-1)
        fy = y.mean(axis=-1) if mode == "mean" else y.sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return fx / fy

    estimate = float(ratio(a, b))
    if len(a) == 1 or resamples <= 0:
        return (estimate, estimate, estimate)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(resamples, len(a)))
    draws = ratio(a[idx], b[idx])
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return (estimate, math.nan, math.nan)
    lo, hi = np.percentile(draws, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return (estimate, float(lo), float(hi))


def _unit_totals(samples: Iterable[dict[str, Any]]) -> tuple[int, int, float]:
    tokens = steps = 0
    wall = 0.0
    for s in samples:
        tokens += int(s["new_tokens"])
        steps += int(s["steps"])
        wall += float(s["wall_seconds"])
    return tokens, steps, wall


def _tps(tokens: float, wall: float) -> float:
    return tokens / wall if wall > 0 else 0.0


def aggregate(
    units: Sequence[dict[str, Any]], baseline: str = "ar", resamples: int = 1000, seed: int = 0
) -> list[dict[str, Any]]:
    """Figures per (dataset, regime) and method from unit records (see :mod:`specscale.bench.runner`).

    Returns a list of groups ``{"dataset", "regime", "temperature", "methods": {name: figures}}``.
    """
    groups: dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    temps: dict[tuple[str, str], float] = {}
    order: list[tuple[str, str]] = []
    method_order: list[str] = []
    for u in units:
        key = (u["dataset"], u["regime"])
        if key not in groups:
            order.append(key)
        groups[key][u["method"]][u["problem_id"]] = u
        temps[key] = u.get("temperature", 0.0)
        if u["method"] not in method_order:
            method_order.append(u["method"])
    out = []
    for key in order:
        by_method = groups[key]
        base = by_method.get(baseline, {})
        methods: dict[str, Any] = {}
        for name in sorted(by_method, key=lambda m: (m != baseline, method_order.index(m))):
            per_problem = by_method[name]
            pids = [p for p in per_problem if p in base]  # paired with AR
            figures = _method_figures(per_problem, base, pids, resamples, seed)
            methods[name] = figures
        out.append({"dataset": key[0], "regime": key[1], "temperature": temps[key], "methods": methods})
    return out


def aggregate_overall(
    units: Sequence[dict[str, Any]], baseline: str = "ar", resamples: int = 1000, seed: int = 0
) -> list[dict[str, Any]]:
    """Figures per regime and method over every dataset's problems pooled (the benchmark's Overall
    column): the same figures as :func:`aggregate`, one group per regime with dataset ``"overall"``."""
    pooled = [{**u, "dataset": "overall", "problem_id": f"{u['dataset']}/{u['problem_id']}"} for u in units]
    return aggregate(pooled, baseline=baseline, resamples=resamples, seed=seed)


def _method_figures(
    per_problem: dict[str, dict[str, Any]],
    base: dict[str, dict[str, Any]],
    pids: list[str],
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    all_ids = list(per_problem)
    tok: list[int] = []
    steps: list[int] = []
    tps: list[float] = []
    correct: list[bool] = []
    sample_correct: list[bool] = []
    hist: dict[int, int] = defaultdict(int)
    saved = 0.0
    reused = 0
    draft_tokens = 0
    budgets: set[int] = set()
    for p in all_ids:
        u = per_problem[p]
        if "draft_budget" in u:
            budgets.add(int(u["draft_budget"]))
        t, s, w = _unit_totals(u["samples"])
        tok.append(t)
        steps.append(s)
        tps.append(_tps(t, w))
        correct.append(bool(u["correct"]))
        sample_correct.extend(bool(x["correct"]) for x in u["samples"])
        saved += float(u.get("prefill_saved_seconds", 0.0))
        for x in u["samples"]:
            reused += int(x.get("reused_prefix_tokens", 0))
            draft_tokens += int(x.get("draft_tokens", 0))
            for k, v in x.get("accepted_histogram", {}).items():
                hist[int(k)] += int(v)
    mat = bootstrap_ratio(
        [_unit_totals(per_problem[p]["samples"])[0] for p in all_ids],
        [_unit_totals(per_problem[p]["samples"])[1] for p in all_ids],
        mode="sum",
        resamples=resamples,
        seed=seed,
    )
    m_tps = [_tps(*_tw(per_problem[p]["samples"])) for p in pids]
    b_tps = [_tps(*_tw(base[p]["samples"])) for p in pids]
    speedup = bootstrap_ratio(m_tps, b_tps, mode="mean", resamples=resamples, seed=seed)
    # By sample index (Best-of-N) or round (multi-round).
    width = max((len(per_problem[p]["samples"]) for p in all_ids), default=0)
    by_index = []
    for k in range(width):
        ks = [p for p in all_ids if len(per_problem[p]["samples"]) > k]
        kp = [p for p in pids if len(per_problem[p]["samples"]) > k and len(base[p]["samples"]) > k]
        sk = [per_problem[p]["samples"][k] for p in ks]
        mat_k = bootstrap_ratio(
            [x["new_tokens"] for x in sk],
            [x["steps"] for x in sk],
            mode="sum",
            resamples=resamples,
            seed=seed,
        )
        sp_k = bootstrap_ratio(
            [_tps(*_tw([per_problem[p]["samples"][k]])) for p in kp],
            [_tps(*_tw([base[p]["samples"][k]])) for p in kp],
            mode="mean",
            resamples=resamples,
            seed=seed,
        )
        by_index.append(
            {
                "index": k,
                "mat": mat_k[0],
                "mat_ci": [mat_k[1], mat_k[2]],
                "speedup": sp_k[0],
                "speedup_ci": [sp_k[1], sp_k[2]],
                "tokens_per_second": float(np.mean([_tps(x["new_tokens"], x["wall_seconds"]) for x in sk])),
                "accuracy": float(np.mean([bool(x["correct"]) for x in sk])),
            }
        )
    return {
        "problems": len(all_ids),
        "paired_problems": len(pids),
        "new_tokens": int(sum(tok)),
        "steps": int(sum(steps)),
        "draft_tokens": draft_tokens,
        "draft_budget": max(budgets) if budgets else None,
        "tokens_per_second": float(np.mean(tps)) if tps else 0.0,
        "speedup": speedup[0],
        "speedup_ci": [speedup[1], speedup[2]],
        "mat": mat[0],
        "mat_ci": [mat[1], mat[2]],
        "accuracy": float(np.mean(correct)) if correct else 0.0,
        "sample_accuracy": float(np.mean(sample_correct)) if sample_correct else 0.0,
        "prefill_saved_seconds": saved,
        "reused_prefix_tokens": reused,
        "accepted_histogram": {str(k): hist[k] for k in sorted(hist)},
        "by_index": by_index,
    }


def _tw(samples: Iterable[dict[str, Any]]) -> tuple[int, float]:
    t, _, w = _unit_totals(samples)
    return t, w


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ci(v: float, ci: Sequence[float]) -> str:
    return f"{_fmt(v)} [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def format_overall(groups: Sequence[dict[str, Any]], overall: Sequence[dict[str, Any]]) -> list[str]:
    """One row per regime and method, one column per dataset and an Overall column; each cell speedup and
    MAT with their 95% intervals."""
    datasets = list(dict.fromkeys(g["dataset"] for g in groups))
    by_key = {(g["dataset"], g["regime"]): g for g in groups}
    lines = [
        "## Speedup and MAT by dataset, and overall",
        "",
        "| regime | method | " + " | ".join(datasets) + " | Overall |",
        "|---|---|" + "---|" * (len(datasets) + 1),
    ]
    for total in overall:
        regime = total["regime"]
        for name, f in total["methods"].items():
            cells = []
            for d in datasets:
                g = by_key.get((d, regime))
                m = g["methods"].get(name) if g is not None else None
                cells.append(_speed_mat(m) if m is not None else "")
            cells.append(_speed_mat(f))
            lines.append(f"| {regime} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "(each cell: speedup over AR [95% CI] / MAT [95% CI]; Overall pools every dataset's problems)"]
    return lines


def _speed_mat(f: dict[str, Any]) -> str:
    return f"{_ci(f['speedup'], f['speedup_ci'])}x / {_ci(f['mat'], f['mat_ci'])}"


def format_markdown(
    groups: Sequence[dict[str, Any]],
    title: str | None = None,
    notes: Sequence[str] = (),
    overall: Sequence[dict[str, Any]] = (),
) -> str:
    """The main table (one row per dataset x regime x method), the by-dataset and Overall table when
    ``overall`` is given, and per-index tables for multi-sample regimes."""
    lines = []
    if title:
        lines += [f"# {title}", ""]
    lines += list(notes) + ([""] if notes else [])
    lines += [
        (
            "| dataset | regime | method | speedup [95% CI] | MAT [95% CI] | nodes/step (budget) | accuracy "
            "| tok/s | problems | prefill reused (tokens / s saved) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        for name, f in g["methods"].items():
            nodes = f.get("draft_tokens", 0) / f["steps"] if f.get("steps") else 0.0
            budget = f.get("draft_budget")
            lines.append(
                f"| {g['dataset']} | {g['regime']} | {name} | {_ci(f['speedup'], f['speedup_ci'])} | "
                f"{_ci(f['mat'], f['mat_ci'])} | {_fmt(nodes, 1)} ({'?' if budget is None else budget}) | "
                f"{_fmt(f['accuracy'])} | {_fmt(f['tokens_per_second'], 1)} | "
                f"{f['problems']} | {f['reused_prefix_tokens']} / {_fmt(f['prefill_saved_seconds'])} |"
            )
    if overall:
        lines += [""] + format_overall(groups, overall)
    for g in groups:
        width = max((len(f["by_index"]) for f in g["methods"].values()), default=0)
        if width < 2:
            continue
        what = "round" if g["regime"].startswith("rounds") else "sample"
        lines += ["", f"### {g['dataset']} / {g['regime']}: speedup and MAT by {what}", ""]
        lines.append("| method | " + " | ".join(f"{what} {k + 1}" for k in range(width)) + " |")
        lines.append("|---|" + "---|" * width)
        for name, f in g["methods"].items():
            cells = [f"{_fmt(x['speedup'])}x / {_fmt(x['mat'])}" for x in f["by_index"]]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("(each cell: speedup over AR / MAT)")
    return "\n".join(lines) + "\n"


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


#: One look per series, told apart without colour (marker, line style, hatch, fill) and, where colour is
#: printed, by the Okabe-Ito palette, which colour-blind readers can separate.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
_LINES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 2)))
_HATCHES = ("", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---")
_COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#999999")
#: Marker faces by series, so that series differ in grayscale even where markers are small.
_FACES = ("black", "white", "0.6", "white", "black", "0.6", "white", "black")

#: What every interval in the plots is (said on the plots themselves).
_CI_NOTE = "whiskers: 95% bootstrap CI over problems"


def _look(i: int) -> dict[str, Any]:
    return {
        "marker": _MARKERS[i % len(_MARKERS)],
        "linestyle": _LINES[i % len(_LINES)],
        "hatch": _HATCHES[i % len(_HATCHES)],
        "color": _COLOURS[i % len(_COLOURS)],
        "face": _FACES[i % len(_FACES)],
    }


def _finite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def write_plots(groups: Sequence[dict[str, Any]], out_dir: Path, model: str | None = None) -> list[Path]:
    """PNG plots, each saying what its intervals are, readable in grayscale, legends outside the data:

    - ``speedup.png``, the headline: each method's speedup over AR with its 95% interval, one marker
      per regime, one panel per dataset (dot-and-whisker, as a paper prints it);
    - ``speedup_by_index_*.png`` and ``mat_by_index_*.png``: against sample index (Best-of-N) or round,
      drawn only for 3 or more indices (fewer are a table in ``results.md``);
    - ``accepted_hist_*.png``: how many tokens each verification step committed.

    Returns the files written (none, with a printed note, where matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("specscale bench: matplotlib is not installed; skipping plots (pip install matplotlib)")
        return []
    written: list[Path] = []
    headline = _plot_headline(plt, groups, out_dir / "speedup.png", model)
    if headline is not None:
        written.append(headline)
    for g in groups:
        stem = _safe(f"{g['dataset']}_{g['regime']}")
        width = max((len(f["by_index"]) for f in g["methods"].values()), default=0)
        if width >= 3:
            for metric, label in (("speedup", "speedup over AR"), ("mat", "mean accepted tokens (MAT)")):
                path = out_dir / f"{metric}_by_index_{stem}.png"
                _plot_by_index(plt, g, metric, label, width, path)
                written.append(path)
        path = out_dir / f"accepted_hist_{stem}.png"
        _plot_histogram(plt, g, path)
        written.append(path)
    return written


def _plot_headline(plt: Any, groups: Sequence[dict[str, Any]], path: Path, model: str | None) -> Path | None:
    """Speedup with intervals per method and regime: methods down the y axis, one marker per regime."""
    datasets = list(dict.fromkeys(g["dataset"] for g in groups))
    regimes = list(dict.fromkeys(g["regime"] for g in groups))
    methods = list(dict.fromkeys(m for g in groups for m in g["methods"] if m != "ar"))
    if not methods:
        return None
    by_key = {(g["dataset"], g["regime"]): g for g in groups}
    values = [
        v
        for g in groups
        for m, f in g["methods"].items()
        if m != "ar"
        for v in (f["speedup"], *f["speedup_ci"])
        if _finite_number(v)
    ]
    if not values:
        return None
    low, high = min(values + [1.0]), max(values + [1.0])
    pad = 0.08 * (high - low or 1.0)
    height = 2.3 + 0.3 * len(methods) * max(1, len(regimes)) ** 0.5
    fig, axes = plt.subplots(
        1,
        len(datasets),
        figsize=(max(6.4, 1.4 + 3.4 * len(datasets)), height),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    step = 0.7 / max(1, len(regimes))
    for ax, dataset in zip(axes[0], datasets):
        ax.axvline(1.0, color="0.35", linestyle="--", linewidth=1, zorder=1)
        for r, regime in enumerate(regimes):
            g = by_key.get((dataset, regime))
            if g is None:
                continue
            look = _look(r)
            label: str | None = _regime_label(g)  # once per regime and panel
            for row, method in enumerate(methods):
                f = g["methods"].get(method)
                if f is None or not _finite_number(f["speedup"]):
                    continue
                y = row - 0.35 + step * (r + 0.5)
                lo, hi = f["speedup_ci"]
                if _finite_number(lo) and _finite_number(hi):
                    ax.plot([lo, hi], [y, y], color="black", linewidth=1.2, zorder=2)
                    ax.plot([lo, lo], [y - 0.06, y + 0.06], color="black", linewidth=1.2, zorder=2)
                    ax.plot([hi, hi], [y - 0.06, y + 0.06], color="black", linewidth=1.2, zorder=2)
                ax.plot(
                    f["speedup"], y, linestyle="none", marker=look["marker"], markersize=7,
                    markerfacecolor=look["face"], markeredgecolor="black", zorder=3, label=label,
                )  # fmt: skip
                label = None
        ax.set_yticks(range(len(methods)))
        ax.set_yticklabels(methods)
        ax.set_ylim(len(methods) - 0.5, -0.5)  # first method on top
        ax.set_xlim(low - pad, high + pad)
        ax.set_title(dataset)
        ax.set_xlabel("speedup: tokens/s over AR's")
        ax.grid(axis="x", color="0.88", linewidth=0.8, zorder=0)
        for row in range(1, len(methods)):
            ax.axhline(row - 0.5, color="0.9", linewidth=0.8, zorder=0)
    handles, labels = _unique_legend(axes[0])
    handles.append(plt.Line2D([], [], color="0.35", linestyle="--", linewidth=1))
    labels.append("AR = 1 (plain decoding)")
    fig.suptitle("Speedup over plain decoding" + (f": {model}" if model else ""), fontsize=11)
    fig.legend(
        handles, labels, loc="outside lower center", ncol=min(4, len(labels)), frameon=False, fontsize=8.5,
        title=f"regime (sampling temperature); {_CI_NOTE}, same problems and run as AR", title_fontsize=8.5,
    )  # fmt: skip
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _regime_label(g: dict[str, Any]) -> str:
    return f"{g['regime']} (T={g.get('temperature', 0.0):g})"


def _unique_legend(axes: Any) -> tuple[list[Any], list[str]]:
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    return handles, labels


def _plot_by_index(plt: Any, g: dict[str, Any], metric: str, label: str, width: int, path: Path) -> None:
    """One series per method (AR is the reference line at 1), intervals as whiskers dodged sideways so
    that overlapping intervals stay apart; legend outside the axes."""
    what = "round" if g["regime"].startswith("rounds") else "sample index"
    names = [n for n in g["methods"] if n != "ar"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.axhline(1.0, color="0.35", linestyle="--", linewidth=1, label="AR = 1", zorder=1)
    dodge = 0.5 / max(1, len(names))
    for i, name in enumerate(names):
        look = _look(i + 1)
        points = g["methods"][name]["by_index"]
        xs = [x["index"] + 1 + dodge * (i - (len(names) - 1) / 2) for x in points]
        ys = [x[metric] for x in points]
        lows = [y - x[f"{metric}_ci"][0] if _finite_number(x[f"{metric}_ci"][0]) else 0.0 for y, x in zip(ys, points)]
        highs = [x[f"{metric}_ci"][1] - y if _finite_number(x[f"{metric}_ci"][1]) else 0.0 for y, x in zip(ys, points)]
        ax.errorbar(
            xs, ys, yerr=[lows, highs], label=name, color=look["color"], linestyle=look["linestyle"],
            marker=look["marker"], markerfacecolor=look["face"], markeredgecolor="black", markersize=6,
            capsize=3, elinewidth=1, linewidth=1.4, zorder=3,
        )  # fmt: skip
    ax.set_xlabel(what)
    ax.set_ylabel(label)
    ax.set_xticks(range(1, width + 1))
    ax.set_title(f"{g['dataset']} / {g['regime']}: {label} by {what}\n({_CI_NOTE})", fontsize=10)
    ax.grid(axis="y", color="0.9", linewidth=0.8, zorder=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_histogram(plt: Any, g: dict[str, Any], path: Path) -> None:
    """Share of verification steps committing k tokens, bars hatched per method, legend outside."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = [n for n in g["methods"] if n != "ar"] or list(g["methods"])
    top = max((int(k) for n in names for k in g["methods"][n]["accepted_histogram"]), default=1)
    bins = list(range(1, top + 1))
    w = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        look = _look(i + 1)
        h = g["methods"][name]["accepted_histogram"]
        total = sum(h.values()) or 1
        ax.bar(
            [b + (i - (len(names) - 1) / 2) * w for b in bins], [h.get(str(b), 0) / total for b in bins],
            width=w, label=name, color=look["color"], alpha=0.85, hatch=look["hatch"], edgecolor="black",
            linewidth=0.5,
        )  # fmt: skip
    if len(bins) <= 16:
        ax.set_xticks(bins)
    ax.set_xlabel("tokens committed per verification step (the target's own token included)")
    ax.set_ylabel("share of steps")
    ax.set_title(f"accepted lengths: {g['dataset']} / {g['regime']}", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(
    units: Sequence[dict[str, Any]],
    out_dir: str | Path,
    meta: dict[str, Any],
    resamples: int = 1000,
    seed: int = 0,
    plots: bool = True,
) -> dict[str, Any]:
    """Writes ``results.json``, ``results.md`` and the plots into ``out_dir``; returns the JSON object."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups = aggregate(units, resamples=resamples, seed=seed)
    overall = aggregate_overall(units, resamples=resamples, seed=seed)
    generations = sum(len(u["samples"]) for u in units)
    notes = [
        (
            f"Model: {meta.get('model', '?')}; {len(units)} units (a unit: one method on one problem in one "
            f"regime), {generations} generations (samples and rounds); speedup = mean tokens/s over AR's (wall "
            f"clock incl. prefill); MAT pooled over steps; 95% bootstrap CI over problems ({resamples} resamples)."
        ),
    ]
    md = format_markdown(groups, title="specscale bench", notes=notes, overall=overall)
    (out / "results.md").write_text(md, encoding="utf-8")
    files = [str(p.name) for p in write_plots(groups, out, model=meta.get("model"))] if plots else []
    result = {"meta": meta, "groups": groups, "overall": overall, "plots": files}
    (out / "results.json").write_text(
        json.dumps(_finite(result), indent=1, default=_json_default), encoding="utf-8"
    )
    return result


def _finite(x: Any) -> Any:
    """NaN (no figure: e.g. no AR baseline) becomes null, so the file is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")
