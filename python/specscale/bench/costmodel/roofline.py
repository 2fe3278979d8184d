"""A cost model for hardware we do not have: the roofline of one verification step, from figures.

One forward pass scoring ``k`` tokens over a KV cache of ``L`` tokens (batch 1) does two things that take
time: arithmetic and memory traffic. With ``P_lin`` the parameters of the layers' projections and MLPs,
``V x d`` the output layer, ``n_L`` layers of ``h`` query heads and ``h_kv`` KV heads of width ``d_h``,
and ``b`` bytes per element::

    FLOPs = 2 k (P_lin + V d)                                   # every weight multiplies every token
          + 4 n_L h d_h (k L + k (k + 1) / 2)                   # QK^T and PV, causal among the k new
    bytes = b (P - [V d if untied] + [k d if untied])           # weights read once per step (the input
                                                                # embedding: only k rows)
          + b 2 n_L h_kv d_h (L + k)                            # K and V: read L cached, write k new
    step  = overhead + max(FLOPs / peak FLOP/s, bytes / bandwidth)

At batch 1 a GPU is far from its compute roof (an H200 does ~200 FLOPs in the time it reads one byte),
so the step costs the weights' read whatever ``k`` is, until ``k`` nears that ratio; a CPU core's ratio is
a few FLOPs per byte, so its cost climbs with ``k`` almost at once. That difference is what decides how
much draft a method should verify per step, and it is why this model exists.

It is a model, not a measurement: it ignores activations, logits, norms and rotary work, kernel
efficiency below the roofs, and launch costs beyond the one fixed overhead. :func:`calibrate` fits its
effective FLOP/s, bandwidth and overhead to a measured :class:`~specscale.bench.costmodel.table.CostModel`
(or checks given figures against one) and reports the error, which says how far to trust it.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specscale.bench.costmodel.base import (
    DTYPE_BYTES,
    FORMAT,
    StepCostModel,
    check_header,
    is_positive_number,
    read_json_object,
)
from specscale.bench.costmodel.presets import PRESETS
from specscale.bench.costmodel.table import CostModel, params_label
from specscale.errors import CorruptDataError, InvalidArgumentError

__all__ = [
    "DEFAULT_OVERHEAD_US",
    "HARDWARE",
    "ROOFLINE_NOTE",
    "Architecture",
    "Hardware",
    "RooflineCostModel",
    "architecture_from",
    "calibrate",
    "hardware_from",
    "roofline_errors",
]

#: Host work per step outside the forward pass (scheduling, sampling, kernel launch or CUDA-graph
#: replay) assumed when none is given: an assumption, not a measurement. An engine with CUDA graphs
#: spends a few hundred microseconds; eager PyTorch at batch 1 spends milliseconds. Pass
#: ``overhead_us`` (``--overhead-us``) with a figure you measured.
DEFAULT_OVERHEAD_US = 500.0

#: Printed with every roofline table and saved in its JSON.
ROOFLINE_NOTE = (
    "roofline model, not a measurement: step = overhead + max(FLOPs / peak FLOP/s, bytes / bandwidth)"
)


@dataclass(frozen=True)
class Hardware:
    """The figures a roofline needs of a device.

    Attributes:
        name: preset name or a label (``"custom"``, ``"fitted"``).
        peak_tflops: dense (no 2:4 sparsity) peak in 10^12 FLOP/s for the model's dtype: bf16 tensor
            cores for a GPU preset, or an effective figure fitted by :func:`calibrate`.
        bandwidth_gbs: memory bandwidth in 10^9 bytes/s.
        overhead_us: fixed time per step outside the pass, microseconds (see :data:`DEFAULT_OVERHEAD_US`).
        description: what the figures are and where they come from.
    """

    name: str
    peak_tflops: float
    bandwidth_gbs: float
    overhead_us: float = DEFAULT_OVERHEAD_US
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("peak_tflops", "bandwidth_gbs"):
            value = getattr(self, name)
            if not is_positive_number(value):
                raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}")
        if not (is_positive_number(self.overhead_us) or self.overhead_us == 0):
            raise InvalidArgumentError(f"overhead_us must be a number >= 0, got {self.overhead_us!r}")

    def with_figures(
        self,
        peak_tflops: float | None = None,
        bandwidth_gbs: float | None = None,
        overhead_us: float | None = None,
    ) -> Hardware:
        """A copy with the given figures replaced (``None`` keeps this one's); its description says
        which were given."""
        given = {
            key: value
            for key, value in (
                ("peak_tflops", peak_tflops),
                ("bandwidth_gbs", bandwidth_gbs),
                ("overhead_us", overhead_us),
            )
            if value is not None
        }
        if not given:
            return self
        said = ", ".join(f"{key}={value:g}" for key, value in given.items())
        return Hardware(
            name=self.name,
            peak_tflops=self.peak_tflops if peak_tflops is None else peak_tflops,
            bandwidth_gbs=self.bandwidth_gbs if bandwidth_gbs is None else bandwidth_gbs,
            overhead_us=self.overhead_us if overhead_us is None else overhead_us,
            description=f"{self.description}; given {said}" if self.description else f"given {said}",
        )

    def label(self) -> str:
        """``h200 (NVIDIA H200 SXM ...: 989 TFLOP/s, 4800 GB/s, 500 µs/step)``."""
        about = f"{self.description}: " if self.description else ""
        return (
            f"{self.name} ({about}{self.peak_tflops:g} TFLOP/s, {self.bandwidth_gbs:g} GB/s, "
            f"{self.overhead_us:g} µs/step overhead)"
        )


#: GPU presets: dense bf16 tensor-core peaks (the datasheets print the 2:4-sparsity figure, twice the
#: dense one, with an asterisk; the figures here are the dense halves) and memory bandwidth.
HARDWARE: dict[str, Hardware] = {
    # NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200), H200 SXM: BF16 Tensor Core 1,979
    # TFLOPS with sparsity; GPU memory bandwidth 4.8 TB/s.
    "h200": Hardware("h200", 989.0, 4800.0, description="NVIDIA H200 SXM, dense bf16"),
    # NVIDIA H100 datasheet (nvidia.com/en-us/data-center/h100), H100 SXM: BF16 Tensor Core 1,979
    # TFLOPS with sparsity; GPU memory bandwidth 3.35 TB/s.
    "h100": Hardware("h100", 989.0, 3350.0, description="NVIDIA H100 SXM, dense bf16"),
    # NVIDIA A100 datasheet (nvidia.com/en-us/data-center/a100): BF16 Tensor Core 312 TFLOPS (624 with
    # sparsity); A100 80GB SXM memory bandwidth 2,039 GB/s.
    "a100": Hardware("a100", 312.0, 2039.0, description="NVIDIA A100 80GB SXM, dense bf16"),
    # NVIDIA L40S datasheet: BF16 Tensor Core 362.05 TFLOPS (733 with sparsity); memory bandwidth 864
    # GB/s (GDDR6).
    "l40s": Hardware("l40s", 362.05, 864.0, description="NVIDIA L40S, dense bf16"),
    # NVIDIA L4 datasheet: FP16/BF16 Tensor Core 242 TFLOPS with sparsity; memory bandwidth 300 GB/s.
    "l4": Hardware("l4", 121.0, 300.0, description="NVIDIA L4, dense bf16"),
    # NVIDIA Ada GPU architecture whitepaper, appendix table for the GeForce RTX 4090: peak BF16 Tensor
    # TFLOPS with FP32 accumulate 165.2 (330.4 with sparsity; PyTorch's bf16 matmuls accumulate in
    # fp32); memory bandwidth 1008 GB/s (GDDR6X).
    "rtx4090": Hardware("rtx4090", 165.2, 1008.0, description="NVIDIA GeForce RTX 4090, dense bf16"),
    # NVIDIA Ampere GA102 GPU architecture whitepaper, GeForce RTX 3090: peak BF16 Tensor TFLOPS with
    # FP32 accumulate 71 (142 with sparsity); memory bandwidth 936 GB/s (GDDR6X).
    "rtx3090": Hardware("rtx3090", 71.0, 936.0, description="NVIDIA GeForce RTX 3090, dense bf16"),
}


def hardware_from(source: str | Path) -> Hardware:
    """A :data:`HARDWARE` preset by name, or a JSON file of figures: ``{"peak_tflops": 400,
    "bandwidth_gbs": 1500, "overhead_us": 300, "name": "my-gpu", "description": "..."}`` (``name``,
    ``overhead_us`` and ``description`` optional).

    Raises:
        InvalidArgumentError: neither a preset nor a readable file of valid figures (the message lists
            the presets, or names the bad field).
    """
    text = str(source)
    if text in HARDWARE:
        return HARDWARE[text]
    path = Path(text)
    if not path.is_file():
        raise InvalidArgumentError(
            f"roofline: {text!r} is not a hardware preset or a JSON file of figures; presets: "
            f"{', '.join(HARDWARE)} (or 'custom' with --peak-tflops and --bandwidth-gbs)"
        )
    try:
        data = read_json_object(path)
    except CorruptDataError as error:
        raise InvalidArgumentError(f"roofline: {error}") from None
    return _hardware_from_dict(data, str(path), default_name=path.stem)


def _hardware_from_dict(data: Mapping[str, Any], source: str, default_name: str) -> Hardware:
    missing = [key for key in ("peak_tflops", "bandwidth_gbs") if key not in data]
    if missing:
        raise InvalidArgumentError(f"{source}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(Hardware)})
    if unknown:
        raise InvalidArgumentError(f"{source}: unknown field(s) {', '.join(unknown)}")
    try:
        return Hardware(
            name=str(data.get("name", default_name)),
            peak_tflops=data["peak_tflops"],
            bandwidth_gbs=data["bandwidth_gbs"],
            overhead_us=data.get("overhead_us", DEFAULT_OVERHEAD_US),
            description=str(data.get("description", "")),
        )
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{source}: {error}") from None


@dataclass(frozen=True)
class Architecture:
    """The figures of a dense decoder-only transformer (Llama, Qwen2/3, Mistral, SmolLM ...) that set
    the cost of a forward pass.

    Attributes:
        name: preset name, path or label.
        layers, hidden_size, intermediate_size: depth, model width, MLP width (gated MLP: 3 matrices).
        attention_heads, kv_heads, head_dim: query heads, key/value heads (grouped-query), head width.
        vocab_size: output classes.
        tied_embeddings: the output layer is the input embedding (one table, read whole each step).
        attention_bias: q/k/v projections carry biases (Qwen2).
        qk_norm: per-head RMSNorm on queries and keys (Qwen3).
        params: the exact parameter count when known (a measured model's); 0 counts it from the figures.
    """

    name: str
    layers: int
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool
    attention_bias: bool = False
    qk_norm: bool = False
    params: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                low = 0 if f.name == "params" else 1
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    raise InvalidArgumentError(
                        f"architecture {self.name!r}: {f.name} must be an integer >= {low}, got {value!r}"
                    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], name: str, params: int = 0) -> Architecture:
        """From ``transformers`` config figures (a ``config.json`` dict, a preset, or the ``config``
        summary a measured cost model records).

        Raises:
            InvalidArgumentError: a figure is missing or the model is a mixture of experts (not modelled).
        """
        experts = [key for key in ("num_experts", "num_local_experts", "n_routed_experts") if config.get(key)]
        if experts:
            raise InvalidArgumentError(
                f"architecture {name!r}: a mixture of experts ({experts[0]}={config[experts[0]]}); the "
                "roofline models dense transformers only"
            )
        required = (
            "num_hidden_layers",
            "hidden_size",
            "intermediate_size",
            "num_attention_heads",
            "vocab_size",
        )
        missing = [key for key in required if config.get(key) is None]
        if missing:
            raise InvalidArgumentError(f"architecture {name!r}: config lacks {', '.join(missing)}")
        heads = config["num_attention_heads"]
        head_dim = config.get("head_dim") or (config["hidden_size"] // heads if heads else 0)
        model_type = config.get("model_type", "")
        return cls(
            name=name,
            layers=config["num_hidden_layers"],
            hidden_size=config["hidden_size"],
            intermediate_size=config["intermediate_size"],
            attention_heads=heads,
            kv_heads=config.get("num_key_value_heads") or heads,
            head_dim=head_dim,
            vocab_size=config["vocab_size"],
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
            attention_bias=bool(config.get("attention_bias", model_type == "qwen2")),
            qk_norm=model_type == "qwen3",
            params=params,
        )

    # -- parameters ------------------------------------------------------------------------------------

    @property
    def linear_params_per_layer(self) -> int:
        """Weights of one layer's matrices: q, k, v, o projections and the gated MLP's three."""
        d, dh = self.hidden_size, self.head_dim
        attention = d * self.attention_heads * dh * 2 + d * self.kv_heads * dh * 2  # q, o; k, v
        return attention + 3 * d * self.intermediate_size

    @property
    def counted_params(self) -> int:
        """Parameters counted from the figures (matches ``sum(p.numel())`` of the ``transformers``
        model for Llama, Qwen2 and Qwen3 configs)."""
        d, dh = self.hidden_size, self.head_dim
        per_layer = self.linear_params_per_layer + 2 * d  # + the two RMSNorms
        if self.attention_bias:
            per_layer += (self.attention_heads + 2 * self.kv_heads) * dh
        if self.qk_norm:
            per_layer += 2 * dh
        embeddings = self.vocab_size * d * (1 if self.tied_embeddings else 2)
        return self.layers * per_layer + d + embeddings  # + the final norm

    @property
    def parameter_count(self) -> int:
        """:attr:`params` when given, else :attr:`counted_params`."""
        return self.params or self.counted_params

    # -- one step --------------------------------------------------------------------------------------

    def step_flops(self, context_len: float, tokens: float) -> float:
        """Floating-point operations of one pass scoring ``tokens`` after ``context_len`` (module doc)."""
        k, length = tokens, context_len
        matmul = 2.0 * k * (self.layers * self.linear_params_per_layer + self.vocab_size * self.hidden_size)
        attended = k * length + k * (k + 1) / 2.0  # token i of the k sees L + i positions
        attention = 4.0 * self.layers * self.attention_heads * self.head_dim * attended
        return matmul + attention

    def step_bytes(self, context_len: float, tokens: float, dtype_bytes: int) -> float:
        """Bytes moved by one pass: every weight once (``k`` rows of an untied input embedding) plus the
        KV cache (``L`` entries read, ``k`` written)."""
        weights = float(self.parameter_count)
        if not self.tied_embeddings:
            weights += (tokens - self.vocab_size) * self.hidden_size
        kv = 2.0 * self.layers * self.kv_heads * self.head_dim * (context_len + tokens)
        return dtype_bytes * (weights + kv)


def architecture_from(source: str | Path) -> Architecture:
    """A :data:`~specscale.bench.costmodel.presets.PRESETS` name, a ``config.json`` file, or a model
    directory holding one. Reads JSON only (no ``transformers``, no download).

    Raises:
        InvalidArgumentError: none of those, or the config lacks a figure (the message says which).
    """
    text = str(source)
    if text in PRESETS:
        return Architecture.from_config(PRESETS[text], name=text)
    path = Path(text)
    if path.is_dir():
        path = path / "config.json"
        if not path.is_file():
            raise InvalidArgumentError(f"model: directory {text} has no config.json")
    if not path.is_file():
        raise InvalidArgumentError(
            f"model: {text!r} is not a preset, a config.json or a model directory; "
            f"presets: {', '.join(sorted(PRESETS))}"
        )
    try:
        config = read_json_object(path)
    except (CorruptDataError, UnicodeDecodeError) as error:
        raise InvalidArgumentError(f"model: {path} is not a JSON config ({error})") from None
    return Architecture.from_config(config, name=text)


@dataclass(frozen=True)
class RooflineCostModel(StepCostModel):
    """Step costs of :class:`Architecture` on :class:`Hardware` in ``dtype``, by the roofline in the
    module doc. Accepted wherever a measured :class:`CostModel` is (``predict_speedup``, replay).

    Attributes:
        calibration: when the figures were fitted to (or checked against) a measured table:
            ``fitted``, ``against`` (the table's description), its axes, ``relative_errors`` per cell
            (``predicted / measured - 1``), and their ``median_relative_error`` / ``max_relative_error``
            (of the absolute values).
    """

    architecture: Architecture
    hardware: Hardware
    dtype: str = "bf16"
    calibration: dict[str, Any] | None = None

    kind = "roofline"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_BYTES:
            raise InvalidArgumentError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {self.dtype!r}")

    @property
    def dtype_bytes(self) -> int:
        """Bytes per weight and per cache element."""
        return DTYPE_BYTES[self.dtype]

    def _step_seconds(self, context_len: float, tokens: float) -> float:
        hw = self.hardware
        compute = self.architecture.step_flops(context_len, tokens) / (hw.peak_tflops * 1e12)
        memory = self.architecture.step_bytes(context_len, tokens, self.dtype_bytes) / (
            hw.bandwidth_gbs * 1e9
        )
        return hw.overhead_us * 1e-6 + max(compute, memory)

    def describe(self) -> str:
        """One line: model, parameters, hardware figures, dtype, and that it is a model."""
        arch = self.architecture
        return (
            f"{arch.name} [{params_label(arch.parameter_count)}] on {self.hardware.label()}, "
            f"{self.dtype}: {ROOFLINE_NOTE}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``format`` and ``kind`` first)."""
        arch = self.architecture
        return {
            "format": FORMAT,
            "kind": self.kind,
            "note": ROOFLINE_NOTE,
            "model": {"name": arch.name, "params": arch.parameter_count, "config": dataclasses.asdict(arch)},
            "device": self.hardware.name,
            "hardware": dataclasses.asdict(self.hardware),
            "dtype": self.dtype,
            "calibration": self.calibration,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "cost model") -> RooflineCostModel:
        """Build from a dict as written by :meth:`to_dict`; :class:`CorruptDataError` names what is wrong."""
        check_header(data, cls.kind, source)
        try:
            model, hardware = data["model"], data["hardware"]
            config = dict(model["config"])
            config.pop("name", None)
            architecture = Architecture(name=str(model["name"]), **config)
            calibration = data.get("calibration")
            if calibration is not None and not isinstance(calibration, dict):
                raise CorruptDataError(f"'calibration' must be an object or null, got {calibration!r}")
            return cls(
                architecture=architecture,
                hardware=_hardware_from_dict(hardware, "hardware", default_name=str(data.get("device", ""))),
                dtype=data.get("dtype", "bf16"),
                calibration=calibration,
            )
        except KeyError as error:
            raise CorruptDataError(f"{source}: missing field {error}") from None
        except (InvalidArgumentError, TypeError, AttributeError) as error:
            raise CorruptDataError(f"{source}: {error}") from None


# -- calibration against a measured table ------------------------------------------------------------


def roofline_errors(measured: CostModel, roofline: RooflineCostModel) -> list[list[float]]:
    """``roofline / measured - 1`` at every cell of the measured grid (rows ``L``, columns ``k``)."""
    return [
        [roofline.step_seconds(length, k) / seconds - 1.0 for k, seconds in zip(measured.draft_tokens, row)]
        for length, row in zip(measured.context_lengths, measured.seconds)
    ]


def calibrate(
    measured: CostModel,
    hardware: Hardware | None = None,
    architecture: Architecture | None = None,
) -> RooflineCostModel:
    """The roofline of ``measured``'s model and dtype, fitted to its table, or with given figures, and
    its error against the table in :attr:`RooflineCostModel.calibration`.

    With ``hardware=None`` the effective FLOP/s, bandwidth and overhead are fitted: the ones that
    minimise the sum of squared relative errors over the grid (a log-spaced search over FLOP/s and
    bandwidth, zoomed five times; the best overhead for each pair in closed form, held >= 0). With
    ``hardware`` given its figures are only checked.

    Args:
        measured: a measured cost model whose ``model["config"]`` records the architecture (every file
            ``specscale costmodel`` writes does).
        hardware: figures to check instead of fitting.
        architecture: overrides the one read from ``measured``.

    Raises:
        InvalidArgumentError: ``measured`` records no architecture and none is given.
    """
    if architecture is None:
        config = measured.model.get("config")
        if not isinstance(config, dict):
            raise InvalidArgumentError(
                f"the measured cost model ({measured.describe()}) records no architecture; pass one (--model)"
            )
        params = measured.model.get("params")
        architecture = Architecture.from_config(
            config,
            name=str(measured.model.get("name", "measured")),
            params=params if isinstance(params, int) and not isinstance(params, bool) else 0,
        )
    if measured.dtype not in DTYPE_BYTES:
        raise InvalidArgumentError(
            f"measured dtype {measured.dtype!r} is not one of {', '.join(DTYPE_BYTES)}"
        )
    fitted = hardware is None
    if hardware is None:
        cells = [
            (
                architecture.step_flops(length, k),
                architecture.step_bytes(length, k, DTYPE_BYTES[measured.dtype]),
                seconds,
            )
            for length, row in zip(measured.context_lengths, measured.seconds)
            for k, seconds in zip(measured.draft_tokens, row)
        ]
        flops, bandwidth, overhead = _fit(cells)
        where = measured.device_name or measured.device
        threads = (
            f", {measured.threads} thread{'s' if measured.threads != 1 else ''}" if measured.threads else ""
        )
        hardware = Hardware(
            name="fitted",
            peak_tflops=flops / 1e12,
            bandwidth_gbs=bandwidth / 1e9,
            overhead_us=overhead * 1e6,
            description=f"effective figures fitted to {where}, {measured.dtype}{threads}",
        )
    model = RooflineCostModel(architecture=architecture, hardware=hardware, dtype=measured.dtype)
    errors = roofline_errors(measured, model)
    absolute = [abs(e) for row in errors for e in row]
    calibration = {
        "fitted": fitted,
        "against": measured.describe(),
        "context_lengths": list(measured.context_lengths),
        "draft_tokens": list(measured.draft_tokens),
        "relative_errors": errors,
        "median_relative_error": statistics.median(absolute),
        "max_relative_error": max(absolute),
    }
    return dataclasses.replace(model, calibration=calibration)


def _fit(cells: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """``(FLOP/s, bytes/s, overhead seconds)`` minimising ``sum(((o + max(f/F, b/B)) / y - 1)^2)`` over
    ``cells`` of ``(flops f, bytes b, seconds y)``.

    The search starts around the smallest rates that explain every cell alone (``max f/y``,
    ``max b/y``), from a tenth of them to 1000 times, 33 x 33 log-spaced points, and zooms in five times
    on the best point (span / 4 each time). ``O(cells)`` per point, about 6,500 points.
    """
    f0 = max(f / y for f, _, y in cells)
    b0 = max(b / y for _, b, y in cells)
    centre = (math.log(f0 * 10.0), math.log(b0 * 10.0))
    span = math.log(100.0)
    best = (math.inf, f0, b0, 0.0)
    for _ in range(6):
        for i in range(33):
            for j in range(33):
                flops = math.exp(centre[0] + span * (i / 16.0 - 1.0))
                bandwidth = math.exp(centre[1] + span * (j / 16.0 - 1.0))
                loss, overhead = _loss(cells, flops, bandwidth)
                if loss < best[0]:
                    best = (loss, flops, bandwidth, overhead)
        centre = (math.log(best[1]), math.log(best[2]))
        span /= 4.0
    return best[1], best[2], best[3]


def _loss(cells: list[tuple[float, float, float]], flops: float, bandwidth: float) -> tuple[float, float]:
    """Sum of squared relative errors and the overhead that minimises it (>= 0) for given roofs.

    With ``m`` the roofline term of a cell and weights ``1 / y^2`` the best overhead is the weighted mean
    of ``y - m``; clamped at 0 the loss stays convex in it, so the clamp is the constrained optimum."""
    terms = [(max(f / flops, b / bandwidth), y) for f, b, y in cells]
    weight = sum(1.0 / (y * y) for _, y in terms)
    overhead = max(0.0, sum((y - m) / (y * y) for m, y in terms) / weight)
    return sum(((overhead + m) / y - 1.0) ** 2 for m, y in terms), overhead
