"""One reader for every kind of saved cost model (measured table or roofline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specscale.bench.costmodel.base import StepCostModel, read_json_object
from specscale.bench.costmodel.roofline import RooflineCostModel
from specscale.bench.costmodel.table import CostModel
from specscale.errors import CorruptDataError

__all__ = ["KINDS", "cost_model_from_dict", "load_cost_model"]

#: ``"kind"`` field -> class. A file without the field is a measured table.
KINDS: dict[str, type[CostModel | RooflineCostModel]] = {
    CostModel.kind: CostModel,
    RooflineCostModel.kind: RooflineCostModel,
}


def cost_model_from_dict(data: Any, source: str = "cost model") -> StepCostModel:
    """A :class:`CostModel` or :class:`RooflineCostModel` from a dict as its ``to_dict`` wrote it.

    Raises:
        CorruptDataError: not a cost model, an unknown ``kind``, or a bad field (the message names it).
    """
    if not isinstance(data, dict):
        raise CorruptDataError(f"{source}: expected a JSON object, got {type(data).__name__}")
    kind = data.get("kind", CostModel.kind)
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise CorruptDataError(f"{source}: unknown cost model kind {kind!r}; known: {', '.join(KINDS)}")
    return cls.from_dict(data, source=source)


def load_cost_model(path: str | Path) -> StepCostModel:
    """Read a cost model of any kind that ``specscale costmodel`` wrote (measured or ``--roofline``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptDataError: not JSON, not a cost model, or a bad field (the message names the file).
    """
    return cost_model_from_dict(read_json_object(path), source=str(path))
