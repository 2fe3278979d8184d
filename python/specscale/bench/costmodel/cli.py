"""``specscale costmodel``: measure a cost model, model one with the roofline, or calibrate the roofline.

    specscale costmodel --model qwen3-0.6b --out cost.json                 # time passes on this machine
    specscale costmodel --roofline h200 --model qwen3-8b --out h200.json   # a modelled device
    specscale costmodel --calibrate cost.json --out fitted.json            # fit the roofline to a table

Only measuring imports torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from specscale.bench.costmodel.base import DEFAULT_CONTEXT_LENGTHS, DEFAULT_DRAFT_TOKENS, StepCostModel
from specscale.bench.costmodel.presets import PRESETS
from specscale.bench.costmodel.roofline import (
    DEFAULT_OVERHEAD_US,
    HARDWARE,
    ROOFLINE_NOTE,
    Hardware,
    RooflineCostModel,
    architecture_from,
    calibrate,
    hardware_from,
)
from specscale.bench.costmodel.table import CostModel
from specscale.errors import InvalidArgumentError, SpecscaleError

__all__ = ["format_table", "register"]

_PROG = "specscale costmodel"
#: A calibration whose median error exceeds this is flagged on stderr.
_POOR_FIT = 0.25


def format_table(
    cost_model: StepCostModel,
    context_lengths: Sequence[int] | None = None,
    draft_tokens: Sequence[int] | None = None,
) -> str:
    """Markdown: what the model prices, milliseconds per pass (rows ``L``, columns ``k``), then each pass
    relative to ``k = 1`` at the same ``L``. The axes default to a measured model's grid, else to
    ``256,1024,4096`` x ``1,2,4,...,64``. A measured model adds its largest spread and how many
    warnings it carries."""
    if isinstance(cost_model, CostModel):
        lengths = list(context_lengths or cost_model.context_lengths)
        ks = list(draft_tokens or cost_model.draft_tokens)
    else:
        lengths = list(context_lengths or DEFAULT_CONTEXT_LENGTHS)
        ks = list(draft_tokens or DEFAULT_DRAFT_TOKENS)
    header = "| context \\ k | " + " | ".join(str(k) for k in ks) + " |"
    rule = "|---:|" + "---:|" * len(ks)
    ms = [header, rule]
    ratio = [header, rule]
    for length in lengths:
        row = [cost_model.step_seconds(length, k) for k in ks]
        base = cost_model.step_seconds(length, 1)
        ms.append(f"| {length} | " + " | ".join(f"{s * 1e3:.2f}" for s in row) + " |")
        ratio.append(f"| {length} | " + " | ".join(f"{s / base:.2f}" for s in row) + " |")
    text = (
        f"{cost_model.describe()}\n\n"
        "Milliseconds per verification pass (k tokens on a cache of L):\n\n"
        + "\n".join(ms)
        + "\n\nstep(k) / step(1):\n\n"
        + "\n".join(ratio)
        + "\n"
    )
    if isinstance(cost_model, CostModel):
        text += _measurement_notes(cost_model)
    return text


def _measurement_notes(cm: CostModel) -> str:
    notes = []
    if cm.spread is not None:
        value, length, k = max(
            (s, length, k)
            for length, row in zip(cm.context_lengths, cm.spread)
            for k, s in zip(cm.draft_tokens, row)
        )
        notes.append(
            f"Median of {cm.repeats} timed passes per cell after {cm.warmup} warm-up rounds, "
            f"{cm.threads} thread(s), {cm.clock} clock; largest spread (interquartile range / median) {value:.0%} at "
            f"L={length}, k={k}."
        )
    if cm.warnings:
        notes.append(f"{len(cm.warnings)} warning(s): printed on stderr and kept in the JSON's 'warnings'.")
    return "".join(f"\n{line}\n" for line in notes)


def format_calibration(model: RooflineCostModel) -> str:
    """Markdown: the figures, then the roofline's relative error per cell of the table it was fitted
    to (or checked against), then the median and largest absolute error."""
    cal = model.calibration
    if not cal:
        raise InvalidArgumentError("format_calibration needs a roofline with a calibration (see calibrate())")
    ks = cal["draft_tokens"]
    lines = [
        f"| context \\ k | {' | '.join(str(k) for k in ks)} |",
        "|---:|" + "---:|" * len(ks),
    ]
    for length, row in zip(cal["context_lengths"], cal["relative_errors"]):
        lines.append(f"| {length} | " + " | ".join(f"{e:+.0%}" for e in row) + " |")
    cells = sum(len(row) for row in cal["relative_errors"])
    verb = "fitted to" if cal["fitted"] else "checked against"
    return (
        f"Roofline {verb}: {cal['against']}\n"
        f"Figures: {model.hardware.label()}\n\n"
        "Relative error of the roofline against the measured table (predicted / measured - 1):\n\n"
        + "\n".join(lines)
        + f"\n\nmedian |error| {cal['median_relative_error']:.1%}, max |error| "
        f"{cal['max_relative_error']:.1%} over {cells} cells ({ROOFLINE_NOTE})\n"
    )


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def _given_hardware(args: argparse.Namespace) -> Hardware:
    """The ``--roofline`` device with any ``--peak-tflops/--bandwidth-gbs/--overhead-us`` applied."""
    if args.roofline == "custom":
        if args.peak_tflops is None or args.bandwidth_gbs is None:
            raise _UsageError("--roofline custom needs --peak-tflops and --bandwidth-gbs")
        overhead = DEFAULT_OVERHEAD_US if args.overhead_us is None else args.overhead_us
        return Hardware("custom", args.peak_tflops, args.bandwidth_gbs, overhead, "given figures")
    return hardware_from(args.roofline).with_figures(args.peak_tflops, args.bandwidth_gbs, args.overhead_us)


class _UsageError(SpecscaleError):
    """Options that do not go together (reported as one line, exit code 2)."""


def _run(args: argparse.Namespace) -> int:
    try:
        if args.calibrate is not None:
            return _run_calibrate(args)
        if args.roofline is not None:
            return _run_roofline(args)
        if args.peak_tflops is not None or args.bandwidth_gbs is not None or args.overhead_us is not None:
            raise _UsageError("--peak-tflops, --bandwidth-gbs and --overhead-us go with --roofline")
        return _run_measure(args)
    except (SpecscaleError, FileNotFoundError) as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 2


def _run_measure(args: argparse.Namespace) -> int:
    from specscale.bench.costmodel.measure import measure_cost_model

    if args.model is None or args.out is None:
        raise _UsageError("measuring needs --model and --out (or give --roofline or --calibrate)")
    device = args.device or "cpu"
    dtype = args.dtype or ("bf16" if device.startswith("cuda") else "fp32")
    cost_model = measure_cost_model(
        args.model,
        device=device,
        dtype=dtype,
        context_lengths=args.context_lengths or DEFAULT_CONTEXT_LENGTHS,
        draft_tokens=args.draft_tokens or DEFAULT_DRAFT_TOKENS,
        repeats=args.repeats,
        warmup=args.warmup,
        threads=args.threads,
        clock=args.clock,
        progress=not args.no_progress,
    )
    cost_model.save(args.out)
    for line in cost_model.warnings:
        print(f"{_PROG}: warning: {line}", file=sys.stderr)
    print(format_table(cost_model))
    print(f"wrote {args.out}")
    return 0


def _reject_measurement_options(args: argparse.Namespace, mode: str) -> None:
    given = [
        flag for flag, value in (("--device", args.device), ("--threads", args.threads)) if value is not None
    ]
    if given:
        raise _UsageError(f"{', '.join(given)}: for measuring; {mode} measures nothing")


def _run_roofline(args: argparse.Namespace) -> int:
    _reject_measurement_options(args, "--roofline")
    if args.model is None:
        raise _UsageError(f"--roofline needs --model (a preset: {', '.join(PRESETS)}; or a config.json)")
    model = RooflineCostModel(
        architecture=architecture_from(args.model), hardware=_given_hardware(args), dtype=args.dtype or "bf16"
    )
    print(format_table(model, args.context_lengths, args.draft_tokens))
    if args.out is not None:
        model.save(args.out)
        print(f"wrote {args.out}")
    return 0


def _run_calibrate(args: argparse.Namespace) -> int:
    _reject_measurement_options(args, "--calibrate")
    measured = CostModel.load(args.calibrate)
    if measured.warnings:
        print(
            f"{_PROG}: warning: {args.calibrate} carries {len(measured.warnings)} plausibility warning(s) "
            "(its 'warnings'); the roofline is calibrated to that noise too",
            file=sys.stderr,
        )
    hardware = _given_hardware(args) if args.roofline is not None else None
    if hardware is None and (args.peak_tflops, args.bandwidth_gbs, args.overhead_us) != (None, None, None):
        raise _UsageError("to check given figures, name them with --roofline (a preset, a file, or custom)")
    architecture = architecture_from(args.model) if args.model is not None else None
    model = calibrate(measured, hardware=hardware, architecture=architecture)
    print(format_calibration(model))
    median = (model.calibration or {}).get("median_relative_error", 0.0)
    if median > _POOR_FIT:
        print(
            f"{_PROG}: warning: the roofline misses the measured table by a median {median:.0%}; "
            "trust what it predicts accordingly",
            file=sys.stderr,
        )
    if args.out is not None:
        model.save(args.out)
        print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``specscale costmodel``."""
    parser = sub.add_parser(
        "costmodel",
        help="price one verification pass for k draft tokens: measured here, or a roofline of a named GPU",
        description="Three modes. Measure (default): time the target model's verification pass over "
        "context lengths x tokens per pass (random weights are fine: the cost does not depend on them). "
        "--roofline DEVICE: model the pass from the architecture and the device's published peak "
        "FLOP/s and memory bandwidth (a model, not a measurement). --calibrate FILE: fit the roofline's "
        "figures to a measured table (or check given ones) and report its error. Every mode writes a "
        "JSON that 'specscale replay --cost-model' reads.",
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"preset ({', '.join(PRESETS)}), a config.json, a config-only directory, or a local model directory",
    )
    measure = parser.add_argument_group("measuring")
    measure.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument(
        "--dtype",
        default=None,
        choices=("fp32", "bf16", "fp16"),
        help="default: bf16 on cuda and for --roofline, fp32 on cpu",
    )
    parser.add_argument(
        "--context-lengths",
        type=_int_list,
        default=None,
        help="comma-separated cache lengths (default 256,1024,4096)",
    )
    parser.add_argument(
        "--draft-tokens",
        type=_int_list,
        default=None,
        help="comma-separated tokens per pass (default 1,2,4,8,16,32,64)",
    )
    measure.add_argument(
        "--repeats", type=int, default=5, help="timed passes per point, median kept (default 5)"
    )
    measure.add_argument("--warmup", type=int, default=2, help="untimed rounds before them (default 2)")
    measure.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    measure.add_argument(
        "--clock",
        choices=("wall", "thread"),
        default="wall",
        help="wall: wall clock (default); thread: CPU time of the timing thread, which ignores other "
        "processes' load on a shared CPU (needs --device cpu --threads 1)",
    )
    measure.add_argument("--no-progress", action="store_true", help="no progress bar")
    model = parser.add_argument_group("roofline")
    model.add_argument(
        "--roofline",
        default=None,
        metavar="DEVICE",
        help=f"a GPU preset ({', '.join(HARDWARE)}), 'custom', or a JSON file of figures",
    )
    model.add_argument("--peak-tflops", type=float, default=None, help="dense peak, 10^12 FLOP/s")
    model.add_argument("--bandwidth-gbs", type=float, default=None, help="memory bandwidth, GB/s")
    model.add_argument(
        "--overhead-us",
        type=float,
        default=None,
        help=f"fixed host time per step, µs (default {DEFAULT_OVERHEAD_US:g}: an assumption)",
    )
    model.add_argument(
        "--calibrate",
        type=Path,
        default=None,
        metavar="MEASURED_JSON",
        help="fit the roofline to this measured cost model (with --roofline: check those figures)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write (required when measuring)")
    parser.set_defaults(run=_run)
