"""From acceptance to wall clock: what one verification step costs, measured or modelled.

- :mod:`.base`: the interface every cost model answers (``step_seconds(L, k)``) and
  :func:`predict_speedup`, which turns a run's per-step records into a predicted speedup.
- :mod:`.table`: :class:`CostModel`, a grid measured on real hardware, interpolated; the plausibility
  checks a measurement gets.
- :mod:`.roofline`: :class:`RooflineCostModel`, an analytic model of hardware we do not have (GPU
  presets, architecture figures), and :func:`calibrate`, which fits it to a measured table.
- :mod:`.load`: :func:`load_cost_model` reads either kind.
- :mod:`.measure`: :func:`measure_cost_model` times a model's passes (the only part that imports torch,
  and only when called).
- :mod:`.cli`: ``specscale costmodel``.

Example::

    cm = load_cost_model("cost.json")           # measured or --roofline
    predict_speedup([(256, 7, 5), (261, 7, 2)], cm)
"""

from specscale.bench.costmodel.base import (
    DEFAULT_CONTEXT_LENGTHS,
    DEFAULT_DRAFT_TOKENS,
    FORMAT,
    StepCostModel,
    StepRecord,
    predict_speedup,
)
from specscale.bench.costmodel.cli import format_calibration, format_table, register
from specscale.bench.costmodel.load import cost_model_from_dict, load_cost_model
from specscale.bench.costmodel.measure import measure_cost_model
from specscale.bench.costmodel.presets import PRESETS
from specscale.bench.costmodel.roofline import (
    DEFAULT_OVERHEAD_US,
    HARDWARE,
    Architecture,
    Hardware,
    RooflineCostModel,
    architecture_from,
    calibrate,
    hardware_from,
    roofline_errors,
)
from specscale.bench.costmodel.table import CostModel, plausibility_warnings

__all__ = [
    "DEFAULT_CONTEXT_LENGTHS",
    "DEFAULT_DRAFT_TOKENS",
    "DEFAULT_OVERHEAD_US",
    "FORMAT",
    "HARDWARE",
    "PRESETS",
    "Architecture",
    "CostModel",
    "Hardware",
    "RooflineCostModel",
    "StepCostModel",
    "StepRecord",
    "architecture_from",
    "calibrate",
    "cost_model_from_dict",
    "format_calibration",
    "format_table",
    "hardware_from",
    "load_cost_model",
    "measure_cost_model",
    "plausibility_warnings",
    "predict_speedup",
    "register",
    "roofline_errors",
]
