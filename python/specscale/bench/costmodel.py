"""From acceptance to speedup: the target model's cost per verification step, measured once per machine.

A speculative step scores ``k`` tokens (the last committed token plus ``k - 1`` draft nodes) on top of a
KV cache of ``L`` context tokens in one forward pass. What that pass costs depends on the architecture,
the device, the dtype, ``L`` and ``k``, never on the weights, so a config with random weights (Qwen3-8B's,
say) is enough to learn what a GPU we do not have would do with the acceptance we measure on a CPU.

:func:`measure_cost_model` times that pass over a grid of ``L`` x ``k`` and returns a :class:`CostModel`
(saved as JSON, ``"format": "specscale-costmodel/1"``); :func:`predict_speedup` turns per-step records
(context length, draft nodes, committed tokens) from a replay or a live run into a predicted wall-clock
speedup over autoregressive decoding. ``specscale costmodel`` is the command line for the measurement.

Example::

    cm = measure_cost_model("qwen3-0.6b", context_lengths=(256,), draft_tokens=(1, 8))
    cm.save("cost.json")
    predict_speedup([(256, 7, 5), (261, 7, 2)], CostModel.load("cost.json"))
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from specscale.errors import CorruptDataError, InvalidArgumentError, SpecscaleError

__all__ = [
    "FORMAT",
    "PRESETS",
    "CostModel",
    "StepRecord",
    "format_table",
    "measure_cost_model",
    "predict_speedup",
    "register",
]

#: Value of the ``"format"`` field of a saved cost model; bump the suffix on an incompatible change.
FORMAT = "specscale-costmodel/1"

DEFAULT_CONTEXT_LENGTHS = (256, 1024, 4096)
DEFAULT_DRAFT_TOKENS = (1, 2, 4, 8, 16, 32, 64)

_QWEN3_TOKENS = {"bos_token_id": 151643, "eos_token_id": 151645}

#: Built-in architectures, as ``transformers`` config keyword arguments (``model_type`` picks the class).
#: Figures copied from the published ``config.json`` files; no download is ever made.
PRESETS: dict[str, dict[str, Any]] = {
    "qwen3-8b": {
        "model_type": "qwen3",
        "architectures": ["Qwen3ForCausalLM"],
        "vocab_size": 151936,
        "hidden_size": 4096,
        "intermediate_size": 12288,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
        "max_position_embeddings": 40960,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "use_sliding_window": False,
        "max_window_layers": 36,
        **_QWEN3_TOKENS,
    },
    "qwen3-0.6b": {
        "model_type": "qwen3",
        "architectures": ["Qwen3ForCausalLM"],
        "vocab_size": 151936,
        "hidden_size": 1024,
        "intermediate_size": 3072,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
        "max_position_embeddings": 40960,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "use_sliding_window": False,
        "max_window_layers": 28,
        **_QWEN3_TOKENS,
    },
    # For tests and smoke runs: milliseconds per pass on a CPU core.
    "tiny-llama": {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 256,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
        "bos_token_id": 0,
        "eos_token_id": 1,
    },
}

_DTYPES = {
    "fp32": "float32",
    "float32": "float32",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
}
_SHORT_DTYPE = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
_WEIGHT_FILES = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


class StepRecord(NamedTuple):
    """One speculative step: ``context_len`` tokens before it (prompt + committed), ``draft_nodes`` draft
    tokens verified, ``committed_tokens`` tokens it committed (accepted drafts + the target's own, >= 1)."""

    context_len: int
    draft_nodes: int
    committed_tokens: int


@dataclass
class CostModel:
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
        repeats: timed passes per grid point (after one warm-up); the figure is their median.
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
    format: str = field(default=FORMAT)

    def __post_init__(self) -> None:
        _validate(self)
        self._ar_prefix: list[float] = [0.0]

    # -- persistence ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``format`` first)."""
        data = asdict(self)
        data.pop("_ar_prefix", None)
        return {"format": FORMAT, **{k: v for k, v in data.items() if k != "format"}}

    def save(self, path: str | Path) -> None:
        """Write the cost model as JSON to ``path`` (parent directories are created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Any, source: str = "cost model") -> CostModel:
        """Build from a dict as written by :meth:`to_dict`; :class:`CorruptDataError` names what is wrong."""
        if not isinstance(data, dict):
            raise CorruptDataError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise CorruptDataError(
                f"{source}: 'format' is {data.get('format')!r}, expected {FORMAT!r} "
                "(not a specscale cost model, or written by an incompatible version)"
            )
        required = ("model", "device", "dtype", "context_lengths", "draft_tokens", "seconds")
        missing = [key for key in required if key not in data]
        if missing:
            raise CorruptDataError(f"{source}: missing field(s) {', '.join(missing)}")
        known = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except CorruptDataError as error:
            raise CorruptDataError(f"{source}: {error}") from None

    @classmethod
    def load(cls, path: str | Path) -> CostModel:
        """Read a cost model written by :meth:`save`.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            CorruptDataError: not JSON, wrong ``format``, missing fields, or a grid that is not a
                positive ``len(context_lengths)`` x ``len(draft_tokens)`` matrix.
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CorruptDataError(f"{path}: not valid JSON ({error})") from None
        return cls.from_dict(data, source=str(path))

    # -- queries -------------------------------------------------------------------------------------

    def step_seconds(self, context_len: float, tokens: float) -> float:
        """Predicted seconds of one forward pass scoring ``tokens`` new tokens after ``context_len``.

        Piecewise bilinear: exact at grid points, linear in ``k`` and in ``L`` between them. Beyond the
        grid each axis continues the slope of its outermost segment (a pass over more tokens or a longer
        cache costs more), with a negative slope (timing noise) treated as flat; below the smallest
        measured value it is held flat. ``O(log grid)`` per call.
        """
        if tokens < 1:
            raise InvalidArgumentError(
                f"tokens must be >= 1 (the pass scores at least one token), got {tokens!r}"
            )
        if context_len < 0:
            raise InvalidArgumentError(f"context_len must be >= 0, got {context_len!r}")
        rows = self.context_lengths
        i, j, wl = _bracket(rows, context_len)
        lo = _interp_row(self.draft_tokens, self.seconds[i], tokens)
        if j == i:
            return lo
        hi = _interp_row(self.draft_tokens, self.seconds[j], tokens)
        return _extend(lo, hi, wl)

    def ar_token_seconds(self, context_len: float) -> float:
        """Predicted seconds for autoregressive decoding to produce one token after ``context_len``:
        ``step_seconds(context_len, 1)``."""
        return self.step_seconds(context_len, 1)

    def ar_seconds(self, context_len: int, tokens: int) -> float:
        """Seconds for autoregressive decoding to produce ``tokens`` tokens starting at ``context_len``:
        ``sum(ar_token_seconds(context_len + t) for t in range(tokens))``, from a lazily grown prefix
        sum (``O(1)`` amortised per call)."""
        if tokens <= 0:
            return 0.0
        end = int(context_len) + int(tokens)
        prefix = self._ar_prefix
        while len(prefix) <= end:
            prefix.append(prefix[-1] + self.ar_token_seconds(len(prefix) - 1))
        return prefix[end] - prefix[int(context_len)]

    def describe(self) -> str:
        """One line: model, parameters, device, dtype."""
        params = self.model.get("params")
        size = ""
        if isinstance(params, (int, float)) and params:
            size = f", {params / 1e9:.2f}B params" if params >= 1e9 else f", {params / 1e6:.2f}M params"
        hw = f" ({self.device_name})" if self.device_name else ""
        return f"{self.model.get('name', '?')} [{self.model.get('architecture', '?')}{size}] on {self.device}{hw}, {self.dtype}"


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
    rows, cols = len(cm.context_lengths), len(cm.draft_tokens)
    grid = cm.seconds
    if (
        not isinstance(grid, list)
        or len(grid) != rows
        or not all(isinstance(r, list) and len(r) == cols for r in grid)
    ):
        raise CorruptDataError(
            f"'seconds' must be a {rows} x {cols} list of lists (context_lengths x draft_tokens)"
        )
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (math.isfinite(value) and value > 0)
            ):
                raise CorruptDataError(
                    f"'seconds' at context {cm.context_lengths[i]}, k={cm.draft_tokens[j]} must be a "
                    f"positive number, got {value!r}"
                )
    # Own copies: the caller's lists stay the caller's.
    cm.context_lengths = list(cm.context_lengths)
    cm.draft_tokens = list(cm.draft_tokens)
    cm.seconds = [[float(v) for v in row] for row in grid]


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


# -- prediction --------------------------------------------------------------------------------------


def predict_speedup(
    steps: Iterable[StepRecord | Sequence[int]],
    cost_model: CostModel,
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
        cost_model: the target's step costs on the hardware to predict for.
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


# -- measurement -------------------------------------------------------------------------------------


def _resolve_device(device: str) -> Any:
    import torch

    text = str(device)
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InvalidArgumentError(
                f"device={text!r} but torch sees no CUDA device (torch {torch.__version__}); "
                "use --device cpu, or run on a machine with a CUDA GPU"
            )
        return torch.device(text)
    raise InvalidArgumentError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def _resolve_dtype(dtype: Any) -> Any:
    import torch

    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
    else:
        name = _DTYPES.get(str(dtype).lower(), "")
    if name not in _SHORT_DTYPE:
        raise InvalidArgumentError(f"dtype must be one of fp32, bf16, fp16, got {dtype!r}")
    return getattr(torch, name)


def _config_from(source: str) -> tuple[Any, str] | None:
    """A config for a preset, a JSON file or a config-only directory; ``None`` for a weights directory."""
    from transformers import AutoConfig

    if source in PRESETS:
        kwargs = dict(PRESETS[source])
        return AutoConfig.for_model(kwargs.pop("model_type"), **kwargs), source
    path = Path(source)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidArgumentError(f"model: {path} is not a JSON config ({error})") from None
        if not isinstance(data, dict) or "model_type" not in data:
            raise InvalidArgumentError(
                f"model: {path} has no 'model_type' field; is it a transformers config.json?"
            )
        data = dict(data)
        return AutoConfig.for_model(data.pop("model_type"), **data), str(path)
    if path.is_dir():
        if any(next(path.glob(pattern), None) for pattern in _WEIGHT_FILES):
            return None
        if not (path / "config.json").is_file():
            raise InvalidArgumentError(f"model: directory {path} has neither weights nor a config.json")
        return AutoConfig.from_pretrained(path, local_files_only=True), str(path)
    raise InvalidArgumentError(
        f"model: {source!r} is not a preset, a config file or a model directory; "
        f"presets: {', '.join(sorted(PRESETS))}"
    )


def _load_model(source: Any, device: Any, dtype: Any) -> tuple[Any, str]:
    import torch
    from transformers import AutoModelForCausalLM

    if isinstance(source, torch.nn.Module):
        return source.to(device=device, dtype=dtype), type(source).__name__
    if not isinstance(source, (str, Path)):
        raise InvalidArgumentError(
            f"model must be a preset name, a path or a torch module, got {type(source).__name__}"
        )
    found = _config_from(str(source))
    if found is None:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=True)
        return model.to(device), str(source)
    config, name = found
    # Random weights: the step cost does not depend on them. Build on the target device directly so an
    # 8B model is not first initialised by the CPU.
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model, name


def _describe(model: Any, name: str) -> dict[str, Any]:
    config = model.config
    keys = (
        "model_type",
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "max_position_embeddings",
        "tie_word_embeddings",
        "_attn_implementation",
    )
    summary = {k.lstrip("_"): getattr(config, k) for k in keys if getattr(config, k, None) is not None}
    archs = getattr(config, "architectures", None) or [type(model).__name__]
    return {
        "name": name,
        "architecture": archs[0],
        "params": int(sum(p.numel() for p in model.parameters())),
        "config": summary,
    }


def _device_name(device: Any) -> str:
    import platform

    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:  # Linux names the CPU model here; platform.processor() often says only "x86_64"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _axis(values: Iterable[int], name: str) -> list[int]:
    try:
        axis = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be integers, got {values!r}") from None
    if not axis or axis[0] < 1:
        raise InvalidArgumentError(f"{name} must be a non-empty set of integers >= 1, got {values!r}")
    return axis


def measure_cost_model(
    model_or_path: Any,
    device: str = "cpu",
    dtype: Any = "fp32",
    context_lengths: Iterable[int] = DEFAULT_CONTEXT_LENGTHS,
    draft_tokens: Iterable[int] = DEFAULT_DRAFT_TOKENS,
    repeats: int = 5,
    progress: bool = True,
    seed: int = 0,
) -> CostModel:
    """Time one verification forward pass for every ``(L, k)`` of the grid and return a :class:`CostModel`.

    For each ``L`` the model prefills ``L`` random token ids into a fresh ``DynamicCache``; then for each
    ``k`` it runs ``model(input_ids=[1, k], position_ids=L..L+k-1, cache=...)`` (all ``k`` rows of logits,
    as verification needs) once to warm up and ``repeats`` times timed, cropping the cache back to ``L``
    after every pass. The figure is the median. CUDA is synchronised around each timed pass.

    Args:
        model_or_path: a preset name (:data:`PRESETS`: ``qwen3-8b``, ``qwen3-0.6b``, ``tiny-llama``), a
            ``config.json`` file or a directory holding only one (random weights), a local model
            directory with weights, or a ``transformers`` causal LM (moved to ``device``/``dtype`` in
            place). Never downloads.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dtype: ``"fp32"``, ``"bf16"``, ``"fp16"`` (or a ``torch.dtype``).
        context_lengths: cache lengths ``L`` (>= 1); ``max(L) + max(k)`` must fit the model's positions.
        draft_tokens: tokens per pass ``k`` (>= 1; a step with ``n`` draft nodes scores ``n + 1``).
        repeats: timed passes per grid point (>= 1).
        progress: show a tqdm bar on stderr.
        seed: seed of the random token ids.
    """
    import torch
    import transformers
    from transformers.cache_utils import DynamicCache

    lengths = _axis(context_lengths, "context_lengths")
    ks = _axis(draft_tokens, "draft_tokens")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InvalidArgumentError(f"repeats must be an int >= 1, got {repeats!r}")
    torch_device = _resolve_device(device)
    torch_dtype = _resolve_dtype(dtype)
    model, name = _load_model(model_or_path, torch_device, torch_dtype)
    model.eval()
    limit = getattr(model.config, "max_position_embeddings", None)
    if isinstance(limit, int) and lengths[-1] + ks[-1] > limit:
        raise InvalidArgumentError(
            f"context_lengths/draft_tokens: {lengths[-1]} + {ks[-1]} positions exceed the model's "
            f"max_position_embeddings={limit}"
        )
    vocab = int(model.config.vocab_size)
    generator = torch.Generator().manual_seed(seed)
    cuda = torch_device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(torch_device)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(lengths) * len(ks), desc="costmodel", unit="point", file=sys.stderr)
    seconds: list[list[float]] = []
    try:
        with torch.inference_mode():
            for length in lengths:
                cache = DynamicCache(config=model.config)
                if hasattr(cache, "activate_past_recording"):
                    cache.activate_past_recording()
                prompt = torch.randint(0, vocab, (1, length), generator=generator).to(torch_device)
                model(input_ids=prompt, cache=cache, use_cache=True, logits_to_keep=1)
                del prompt
                row = []
                for k in ks:
                    if bar is not None:
                        bar.set_postfix_str(f"L={length} k={k}")
                    ids = torch.randint(0, vocab, (1, k), generator=generator).to(torch_device)
                    positions = torch.arange(length, length + k, device=torch_device).unsqueeze(0)
                    times = []
                    for attempt in range(repeats + 1):  # the first is the warm-up
                        sync()
                        start = time.perf_counter()
                        out = model(input_ids=ids, position_ids=positions, cache=cache, use_cache=True)
                        sync()
                        elapsed = time.perf_counter() - start
                        del out
                        extra = cache.get_seq_length() - length
                        if extra > 0:
                            cache.crop(-extra)
                        if attempt:
                            times.append(elapsed)
                    row.append(statistics.median(times))
                    if bar is not None:
                        bar.update(1)
                seconds.append(row)
                del cache
    finally:
        if bar is not None:
            bar.close()
    return CostModel(
        model=_describe(model, name),
        device=str(torch_device),
        dtype=_SHORT_DTYPE[str(torch_dtype).removeprefix("torch.")],
        context_lengths=lengths,
        draft_tokens=ks,
        seconds=seconds,
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
        device_name=_device_name(torch_device),
        threads=torch.get_num_threads(),
        repeats=repeats,
    )


# -- report and CLI ----------------------------------------------------------------------------------


def format_table(cost_model: CostModel) -> str:
    """Markdown: milliseconds per pass (rows ``L``, columns ``k``), then each pass relative to ``k = 1``."""
    ks = cost_model.draft_tokens
    header = "| context \\ k | " + " | ".join(str(k) for k in ks) + " |"
    rule = "|---:|" + "---:|" * len(ks)
    ms = [header, rule]
    ratio = [header, rule]
    for length, row in zip(cost_model.context_lengths, cost_model.seconds):
        base = cost_model.step_seconds(length, 1)
        ms.append(f"| {length} | " + " | ".join(f"{s * 1e3:.2f}" for s in row) + " |")
        ratio.append(f"| {length} | " + " | ".join(f"{s / base:.2f}" for s in row) + " |")
    return (
        f"{cost_model.describe()}\n\n"
        "Milliseconds per verification pass (k tokens on a cache of L):\n\n"
        + "\n".join(ms)
        + "\n\nstep(k) / step(1):\n\n"
        + "\n".join(ratio)
        + "\n"
    )


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def _run(args: argparse.Namespace) -> int:
    dtype = args.dtype or ("bf16" if args.device.startswith("cuda") else "fp32")
    try:
        cost_model = measure_cost_model(
            args.model,
            device=args.device,
            dtype=dtype,
            context_lengths=args.context_lengths,
            draft_tokens=args.draft_tokens,
            repeats=args.repeats,
            progress=not args.no_progress,
        )
    except SpecscaleError as error:
        print(f"specscale costmodel: error: {error}", file=sys.stderr)
        return 2
    cost_model.save(args.out)
    print(format_table(cost_model))
    print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``specscale costmodel``."""
    parser = sub.add_parser(
        "costmodel",
        help="time one verification forward pass for k = 1..64 draft tokens; write a JSON cost model",
        description="Time the target model's verification pass over context lengths x tokens per pass "
        "(random weights are fine: the cost does not depend on them) and write a JSON cost model for "
        "'specscale replay --cost-model'.",
    )
    parser.add_argument(
        "--model",
        required=True,
        help=f"preset ({', '.join(sorted(PRESETS))}), a config.json, a config-only directory, or a local model directory",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument(
        "--dtype", default=None, choices=("fp32", "bf16", "fp16"), help="default: bf16 on cuda, fp32 on cpu"
    )
    parser.add_argument(
        "--context-lengths",
        type=_int_list,
        default=list(DEFAULT_CONTEXT_LENGTHS),
        help="comma-separated cache lengths (default 256,1024,4096)",
    )
    parser.add_argument(
        "--draft-tokens",
        type=_int_list,
        default=list(DEFAULT_DRAFT_TOKENS),
        help="comma-separated tokens per pass (default 1,2,4,8,16,32,64)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed passes per point, median kept (default 5)"
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run)
