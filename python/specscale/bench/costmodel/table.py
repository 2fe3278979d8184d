"""The measured cost model: a grid of seconds per verification pass over ``L`` x ``k``, interpolated.

:class:`CostModel` holds what :func:`~specscale.bench.costmodel.measure.measure_cost_model` timed (the
median per cell, its spread, the warnings the measurement raised) and answers ``step_seconds`` by
piecewise bilinear interpolation. :func:`plausibility_warnings` is the check every measured grid gets:
a cost that falls as ``k`` or ``L`` grows, a pass over ``k`` tokens dearer than ``k`` passes over one, or
repeats that disagree, is timing noise rather than the hardware.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from specscale.bench.costmodel.base import (
    FORMAT,
    StepCostModel,
    check_header,
    is_positive_number,
    read_json_object,
)
from specscale.errors import CorruptDataError

__all__ = [
    "MONOTONE_TOLERANCE",
    "PER_TOKEN_TOLERANCE",
    "SPREAD_WARNING",
    "CostModel",
    "plausibility_warnings",
]

#: A cell whose timed repeats spread more than this (interquartile range over the median) is flagged.
SPREAD_WARNING = 0.25
#: How far (relative) a cost may fall from one grid point to the next larger ``k`` or ``L`` before it is
#: flagged: a flat curve (a GPU at small ``k``) wobbles by a few percent between medians, and a CPU
#: kernel can be really faster at a larger size (SmolLM2-135M, one EPYC core, MKL: k=4 at 0.82-0.84x
#: of k=2 in two runs, one on each clock).
MONOTONE_TOLERANCE = 0.20
#: How far (relative) the cost per scored token may rise above that of the smallest ``k`` before it is
#: flagged: one pass over ``k`` tokens should not cost more than ``k`` passes over one. Loose, because a
#: CPU build can really do that for small ``k``: SmolLM2-135M on one EPYC core with MKL costs 1.7-2.5x
#: more at k=2 than at k=1 (a matrix-vector kernel for one token, a matrix-matrix one for two).
PER_TOKEN_TOLERANCE = 0.5


@dataclass
class CostModel(StepCostModel):
    """Seconds per verification forward pass of one model on one device, over a grid of ``L`` x ``k``.

    ``seconds[i][j]`` is the median wall time of one forward pass scoring ``draft_tokens[j]`` new tokens
    on top of a KV cache of ``context_lengths[i]`` tokens (batch size 1). Both axes are strictly
    increasing positive integers. :meth:`step_seconds` interpolates between grid points.

    Attributes:
        model: ``name`` (preset, path or class), ``architecture`` (class name), ``params`` (count) and
            ``config`` (the figures that set the cost: layers, hidden size, heads, vocabulary, ...).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``device_name`` the hardware (GPU or CPU model).
        dtype: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        threads: torch intra-op threads during the measurement (matters on CPU).
        repeats: timed passes per grid point, after ``warmup`` untimed ones; the figure is their median.
        clock: what timed them: ``"wall"`` (wall clock), ``"thread"`` (CPU time of the one thread
            that ran the pass), ``"custom"``.
        spread: per cell, the interquartile range of the timed repeats over their median (``None`` in
            files written before it was recorded).
        warnings: what :func:`plausibility_warnings` (and the measurement) found suspicious, one line each.
    """

    model: dict[str, Any]
    device: str
    dtype: str
    context_lengths: list[int]
    draft_tokens: list[int]
    seconds: list[list[float]]
    torch_version: str = ""
    transformers_version: str = ""
    device_name: str = ""
    threads: int = 0
    repeats: int = 0
    warmup: int = 0
    clock: str = "wall"
    spread: list[list[float]] | None = None
    warnings: list[str] = field(default_factory=list)
    format: str = field(default=FORMAT)

    kind = "measured"

    def __post_init__(self) -> None:
        _validate(self)

    # -- persistence ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``format`` and ``kind`` first)."""
        data = asdict(self)
        data.pop("format")
        return {"format": FORMAT, "kind": self.kind, **data}

    @classmethod
    def from_dict(cls, data: Any, source: str = "cost model") -> CostModel:
        """Build from a dict as written by :meth:`to_dict`; :class:`CorruptDataError` names what is wrong."""
        check_header(data, cls.kind, source)
        required = ("model", "device", "dtype", "context_lengths", "draft_tokens", "seconds")
        missing = [key for key in required if key not in data]
        if missing:
            raise CorruptDataError(f"{source}: missing field(s) {', '.join(missing)}")
        known = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except CorruptDataError as error:
            raise CorruptDataError(f"{source}: {error}") from None

    @classmethod
    def load(cls, path: str | Path) -> CostModel:
        """Read a measured cost model written by :meth:`save` (:func:`load_cost_model` reads any kind).

        Raises:
            FileNotFoundError: ``path`` does not exist.
            CorruptDataError: not JSON, wrong ``format`` or ``kind``, missing fields, or a grid that is
                not a positive ``len(context_lengths)`` x ``len(draft_tokens)`` matrix.
        """
        return cls.from_dict(read_json_object(path), source=str(path))

    # -- queries -------------------------------------------------------------------------------------

    def _step_seconds(self, context_len: float, tokens: float) -> float:
        """Piecewise bilinear: exact at grid points, linear in ``k`` and in ``L`` between them. Beyond the
        grid each axis continues the slope of its outermost segment (a pass over more tokens or a longer
        cache costs more), with a negative slope (timing noise) treated as flat; below the smallest
        measured value it is held flat. ``O(log grid)`` per call."""
        i, j, wl = _bracket(self.context_lengths, context_len)
        lo = _interp_row(self.draft_tokens, self.seconds[i], tokens)
        if j == i:
            return lo
        hi = _interp_row(self.draft_tokens, self.seconds[j], tokens)
        return _extend(lo, hi, wl)

    def describe(self) -> str:
        """One line: model, parameters, device, dtype."""
        hw = f" ({self.device_name})" if self.device_name else ""
        size = f", {params_label(params)}" if (params := self.model.get("params")) else ""
        return (
            f"{self.model.get('name', '?')} [{self.model.get('architecture', '?')}{size}] "
            f"on {self.device}{hw}, {self.dtype}, measured"
        )


def params_label(params: Any) -> str:
    """``"8.19B params"`` / ``"134.52M params"``, or ``"? params"`` when the count is unknown."""
    if not isinstance(params, (int, float)) or isinstance(params, bool) or not params:
        return "? params"
    return f"{params / 1e9:.2f}B params" if params >= 1e9 else f"{params / 1e6:.2f}M params"


def _validate(cm: CostModel) -> None:
    if cm.format != FORMAT:
        raise CorruptDataError(f"'format' is {cm.format!r}, expected {FORMAT!r}")
    if not isinstance(cm.model, dict):
        raise CorruptDataError(f"'model' must be an object, got {type(cm.model).__name__}")
    for name in ("context_lengths", "draft_tokens"):
        axis = getattr(cm, name)
        if (
            not isinstance(axis, list)
            or not axis
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in axis)
        ):
            raise CorruptDataError(f"'{name}' must be a non-empty list of integers >= 1, got {axis!r}")
        if any(a >= b for a, b in itertools.pairwise(axis)):
            raise CorruptDataError(f"'{name}' must be strictly increasing, got {axis}")
    cm.seconds = _grid(cm, "seconds", cm.seconds, allow_zero=False)
    if cm.spread is not None:
        cm.spread = _grid(cm, "spread", cm.spread, allow_zero=True)
    if not isinstance(cm.warnings, list) or not all(isinstance(w, str) for w in cm.warnings):
        raise CorruptDataError(f"'warnings' must be a list of strings, got {cm.warnings!r}")
    # Own copies: the caller's lists stay the caller's.
    cm.context_lengths = list(cm.context_lengths)
    cm.draft_tokens = list(cm.draft_tokens)
    cm.warnings = list(cm.warnings)


def _grid(cm: CostModel, name: str, grid: Any, allow_zero: bool) -> list[list[float]]:
    """A float copy of a ``len(context_lengths)`` x ``len(draft_tokens)`` grid of positive (or, with
    ``allow_zero``, non-negative) finite numbers; :class:`CorruptDataError` names the bad cell."""
    rows, cols = len(cm.context_lengths), len(cm.draft_tokens)
    if (
        not isinstance(grid, list)
        or len(grid) != rows
        or not all(isinstance(r, list) and len(r) == cols for r in grid)
    ):
        raise CorruptDataError(
            f"'{name}' must be a {rows} x {cols} list of lists (context_lengths x draft_tokens)"
        )
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not (is_positive_number(value) or (allow_zero and value == 0 and not isinstance(value, bool))):
                raise CorruptDataError(
                    f"'{name}' at context {cm.context_lengths[i]}, k={cm.draft_tokens[j]} must be a "
                    f"{'non-negative' if allow_zero else 'positive'} number, got {value!r}"
                )
    return [[float(v) for v in row] for row in grid]


def _bracket(axis: Sequence[int], x: float) -> tuple[int, int, float]:
    """Indices ``(i, j)`` of the grid points to combine for ``x`` and the weight ``w`` of ``j``
    (``w > 1`` extrapolates past the last point; ``i == j`` means a single point)."""
    if len(axis) == 1 or x <= axis[0]:
        return 0, 0, 0.0
    if x >= axis[-1]:
        i, j = len(axis) - 2, len(axis) - 1
    else:
        j = bisect.bisect_right(axis, x)
        i = j - 1
    return i, j, (x - axis[i]) / (axis[j] - axis[i])


def _extend(lo: float, hi: float, w: float) -> float:
    """``lo + w * (hi - lo)``, except that past ``hi`` (``w > 1``) a falling slope is held flat."""
    if w > 1.0 and hi < lo:
        return hi
    return lo + w * (hi - lo)


def _interp_row(axis: Sequence[int], row: Sequence[float], x: float) -> float:
    i, j, w = _bracket(axis, x)
    return row[i] if i == j else _extend(row[i], row[j], w)


# -- plausibility ------------------------------------------------------------------------------------


def plausibility_warnings(
    context_lengths: Sequence[int],
    draft_tokens: Sequence[int],
    seconds: Sequence[Sequence[float]],
    spread: Sequence[Sequence[float]] | None = None,
) -> list[str]:
    """One line per suspicious figure of a measured grid (``seconds[i][j]`` at ``context_lengths[i]``,
    ``draft_tokens[j]``; both axes increasing); empty when the grid looks like hardware, not noise.

    Flags: a cell whose repeats spread more than :data:`SPREAD_WARNING` of its median; a cost that falls
    by more than :data:`MONOTONE_TOLERANCE` from one ``k`` to the next (same ``L``) or one ``L`` to the
    next (same ``k``); a cost per scored token more than :data:`PER_TOKEN_TOLERANCE` above that of the
    smallest ``k`` of its row.
    """
    found: list[str] = []
    if spread is not None:
        for length, row in zip(context_lengths, spread):
            for k, value in zip(draft_tokens, row):
                if value > SPREAD_WARNING:
                    found.append(
                        f"L={length} k={k}: timed repeats spread {value:.0%} of their median (interquartile "
                        "range); the machine was noisy: raise --repeats, use fewer --threads on a shared CPU, "
                        "or measure on a quieter machine"
                    )
    floor = 1.0 - MONOTONE_TOLERANCE
    for length, row in zip(context_lengths, seconds):
        for (k1, a), (k2, b) in itertools.pairwise(zip(draft_tokens, row)):
            if b < a * floor:
                found.append(
                    f"L={length}: k={k2} costs {b / a:.2f}x of k={k1}; a pass over more tokens should not "
                    "be cheaper (timing noise?)"
                )
    for j, k in enumerate(draft_tokens):
        for (l1, row1), (l2, row2) in itertools.pairwise(zip(context_lengths, seconds)):
            if row2[j] < row1[j] * floor:
                found.append(
                    f"k={k}: L={l2} costs {row2[j] / row1[j]:.2f}x of L={l1}; a pass over a longer cache "
                    "should not be cheaper (timing noise?)"
                )
    for length, row in zip(context_lengths, seconds):
        k0, base = draft_tokens[0], row[0]
        for k, value in zip(draft_tokens[1:], row[1:]):
            if value / base > (k / k0) * (1.0 + PER_TOKEN_TOLERANCE):
                found.append(
                    f"L={length}: k={k} costs {value / base:.1f}x of k={k0}, more than {k / k0:g} passes "
                    f"over k={k0} would; one pass should not cost more than several (timing noise?)"
                )
    return found


def relative_spread(times: Sequence[float]) -> float:
    """Interquartile range of ``times`` over their median (0 for fewer than two values)."""
    if len(times) < 2:
        return 0.0
    ordered = sorted(times)
    median = _quantile(ordered, 0.5)
    if median <= 0 or not math.isfinite(median):
        return 0.0
    return (_quantile(ordered, 0.75) - _quantile(ordered, 0.25)) / median


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of a sorted sequence."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])
