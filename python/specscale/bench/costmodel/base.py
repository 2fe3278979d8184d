"""What every cost model answers: the seconds of one verification step, and the speedup that follows.

A speculative step scores ``k`` tokens (the last committed token plus ``k - 1`` draft nodes) on top of a
KV cache of ``L`` context tokens in one forward pass. A cost model prices that pass,
``step_seconds(L, k)``; :func:`predict_speedup` turns per-step records of a replay or a live run into a
predicted wall-clock speedup over autoregressive decoding. Two kinds exist, both saved as JSON with
``"format": "specscale-costmodel/1"`` and told apart by ``"kind"``: a table measured on real hardware
(:class:`~specscale.bench.costmodel.table.CostModel`) and an analytic roofline for hardware we do not
have (:class:`~specscale.bench.costmodel.roofline.RooflineCostModel`).

Nothing here imports torch: pricing and predicting are arithmetic.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from specscale.errors import CorruptDataError, InvalidArgumentError

__all__ = [
    "DEFAULT_CONTEXT_LENGTHS",
    "DEFAULT_DRAFT_TOKENS",
    "FORMAT",
    "StepCostModel",
    "StepRecord",
    "predict_speedup",
]

#: Value of the ``"format"`` field of a saved cost model; bump the suffix on an incompatible change.
FORMAT = "specscale-costmodel/1"

DEFAULT_CONTEXT_LENGTHS = (256, 1024, 4096)
DEFAULT_DRAFT_TOKENS = (1, 2, 4, 8, 16, 32, 64)

#: Bytes per weight and cache element of each dtype name a cost model records.
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


class StepRecord(NamedTuple):
    """One speculative step: ``context_len`` tokens before it (prompt + committed), ``draft_nodes`` draft
    tokens verified, ``committed_tokens`` tokens it committed (accepted drafts + the target's own, >= 1)."""

    context_len: int
    draft_nodes: int
    committed_tokens: int


class StepCostModel(ABC):
    """Seconds of one verification forward pass (batch 1) as a function of ``L`` and ``k``.

    Subclasses implement :meth:`_step_seconds` (arguments already checked), :meth:`describe` and
    :meth:`to_dict`; the rest (argument checks, autoregressive sums, saving) is shared.
    """

    #: ``"kind"`` field of the saved JSON.
    kind: str = ""

    @abstractmethod
    def _step_seconds(self, context_len: float, tokens: float) -> float: ...

    @abstractmethod
    def describe(self) -> str:
        """One line: what is priced (model, hardware, dtype), and whether it was measured or modelled."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``format`` and ``kind`` first)."""

    def step_seconds(self, context_len: float, tokens: float) -> float:
        """Predicted seconds of one forward pass scoring ``tokens`` new tokens after ``context_len``.

        Raises:
            InvalidArgumentError: ``tokens < 1`` (a pass scores at least one token) or ``context_len < 0``.
        """
        if not tokens >= 1:  # also rejects NaN
            raise InvalidArgumentError(
                f"tokens must be >= 1 (the pass scores at least one token), got {tokens!r}"
            )
        if not context_len >= 0:
            raise InvalidArgumentError(f"context_len must be >= 0, got {context_len!r}")
        return self._step_seconds(context_len, tokens)

    def ar_token_seconds(self, context_len: float) -> float:
        """Predicted seconds for autoregressive decoding to produce one token after ``context_len``:
        ``step_seconds(context_len, 1)``."""
        return self.step_seconds(context_len, 1)

    def ar_seconds(self, context_len: int, tokens: int) -> float:
        """Seconds for autoregressive decoding to produce ``tokens`` tokens starting at ``context_len``:
        ``sum(ar_token_seconds(context_len + t) for t in range(tokens))``, from a lazily grown prefix
        sum (``O(1)`` amortised per call; memory grows with the longest context asked for)."""
        if tokens <= 0:
            return 0.0
        end = int(context_len) + int(tokens)
        # Not a field: a cache of a pure function of the model, built on first use.
        prefix: list[float] = self.__dict__.setdefault("_ar_prefix", [0.0])
        while len(prefix) <= end:
            prefix.append(prefix[-1] + self.ar_token_seconds(len(prefix) - 1))
        return prefix[end] - prefix[int(context_len)]

    def save(self, path: str | Path) -> None:
        """Write the cost model as JSON to ``path`` (parent directories are created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def predict_speedup(
    steps: Iterable[StepRecord | Sequence[int]],
    cost_model: StepCostModel,
    draft_seconds_per_step: float = 0.0,
) -> float:
    """Predicted wall-clock speedup of a speculative run over autoregressive decoding, from its steps.

    With ``c(L, k) = cost_model.step_seconds(L, k)`` and one record ``(L_s, n_s, m_s)`` per step
    (context length before the step, draft nodes verified, tokens committed)::

        T_ar     = sum_s sum_{t < m_s} c(L_s + t, 1)           # AR makes the same tokens one pass each
        T_method = sum_s [ c(L_s, n_s + 1) + draft_seconds_per_step ]
        speedup  = T_ar / T_method

    The ``+ 1`` is the token every step feeds besides its draft (the last committed one, whose
    prediction is the target's own next token). Prefill is left out of both sides: it is the same
    work for either. With no drafts (``n_s = 0``, ``m_s = 1``) and no drafting time the speedup is 1.

    Args:
        steps: iterable of :class:`StepRecord` or ``(context_len, draft_nodes, committed_tokens)``
            tuples; ``committed_tokens >= 1``, ``draft_nodes >= 0``.
        cost_model: the target's step costs on the hardware to predict for, measured or modelled.
        draft_seconds_per_step: measured drafting time per step (seconds), added to each step.

    Returns:
        ``T_ar / T_method``; raises :class:`InvalidArgumentError` on an empty ``steps`` or a bad record.
    """
    if draft_seconds_per_step < 0 or not math.isfinite(draft_seconds_per_step):
        raise InvalidArgumentError(
            f"draft_seconds_per_step must be a finite number >= 0, got {draft_seconds_per_step!r}"
        )
    t_ar = 0.0
    t_method = 0.0
    count = 0
    for index, record in enumerate(steps):
        try:
            context_len, draft_nodes, committed = (int(v) for v in record)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"steps[{index}] must be (context_len, draft_nodes, committed_tokens), got {record!r}"
            ) from None
        if context_len < 0 or draft_nodes < 0 or committed < 1:
            raise InvalidArgumentError(
                f"steps[{index}] = {tuple(record)!r}: need context_len >= 0, draft_nodes >= 0, committed_tokens >= 1"
            )
        t_ar += cost_model.ar_seconds(context_len, committed)
        t_method += cost_model.step_seconds(context_len, draft_nodes + 1) + draft_seconds_per_step
        count += 1
    if count == 0:
        raise InvalidArgumentError("steps is empty: nothing to predict a speedup from")
    return t_ar / t_method


# -- helpers shared by the kinds' readers -------------------------------------------------------------


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`CorruptDataError` (naming the file) if it is not one.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptDataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise CorruptDataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def check_header(data: Any, kind: str, source: str) -> None:
    """Raise :class:`CorruptDataError` unless ``data`` is a dict with our ``format`` and ``kind``.

    A file without ``"kind"`` is a measured table (written before the roofline kind existed).
    """
    if not isinstance(data, dict):
        raise CorruptDataError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise CorruptDataError(
            f"{source}: 'format' is {data.get('format')!r}, expected {FORMAT!r} "
            "(not a specscale cost model, or written by an incompatible version)"
        )
    found = data.get("kind", "measured")
    if found != kind:
        raise CorruptDataError(
            f"{source}: a {found!r} cost model, not a {kind!r} one; read any kind with load_cost_model()"
        )


def is_positive_number(value: Any) -> bool:
    """A finite ``int``/``float`` (not ``bool``) greater than zero."""
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )
