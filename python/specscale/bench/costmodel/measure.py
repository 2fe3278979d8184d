"""Measuring a cost model: timing the verification pass of a real (or random-weight) model.

What a pass costs depends on the architecture, the device, the dtype, ``L`` and ``k``, never on the
weights, so a config with random weights (Qwen3-8B's, say) is enough to learn what a GPU would do with
the acceptance we measure elsewhere. torch and transformers are imported inside the functions: importing
this module (as ``specscale.bench.costmodel`` does) stays cheap.

Example::

    cm = measure_cost_model("qwen3-0.6b", context_lengths=(256,), draft_tokens=(1, 8))
    cm.save("cost.json")
    for line in cm.warnings:
        print(line)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from specscale.bench.costmodel.base import DEFAULT_CONTEXT_LENGTHS, DEFAULT_DRAFT_TOKENS
from specscale.bench.costmodel.presets import PRESETS
from specscale.bench.costmodel.table import CostModel, plausibility_warnings, relative_spread
from specscale.device import device_name, resolve_device, resolve_dtype
from specscale.errors import InvalidArgumentError

__all__ = ["DEFAULT_REPEATS", "DEFAULT_WARMUP", "measure_cost_model"]

DEFAULT_REPEATS = 5
DEFAULT_WARMUP = 2

_SHORT_DTYPE = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
_WEIGHT_FILES = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


def _resolve_device(device: str) -> Any:
    # The cost model names a device explicitly: "auto" is the bench's convenience, not a measurement.
    if str(device).strip().lower() == "auto":
        raise InvalidArgumentError("device must be 'cpu', 'cuda' or 'cuda:N', got 'auto'")
    return resolve_device(device)


def _resolve_dtype(dtype: Any) -> Any:
    if str(dtype).strip().lower() == "auto":
        raise InvalidArgumentError("dtype must be one of fp32, bf16, fp16, got 'auto'")
    return resolve_dtype(dtype)


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
        "attention_bias",
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


def _axis(values: Iterable[int], name: str) -> list[int]:
    try:
        axis = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be integers, got {values!r}") from None
    if not axis or axis[0] < 1:
        raise InvalidArgumentError(f"{name} must be a non-empty set of integers >= 1, got {values!r}")
    return axis


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidArgumentError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _resolve_clock(
    clock: str | Callable[[], float], device: Any, threads: int
) -> tuple[Callable[[], float], str]:
    """The clock to read and the name recorded for it."""
    if callable(clock):
        return clock, "custom"
    if clock == "wall":
        return time.perf_counter, "wall"
    if clock == "thread":
        if device.type != "cpu" or threads != 1:
            raise InvalidArgumentError(
                f"clock='thread' times the calling thread: it needs device='cpu' and threads=1, got "
                f"device={str(device)!r}, threads={threads}"
            )
        return time.thread_time, "thread"
    raise InvalidArgumentError(f"clock must be 'wall', 'thread' or a callable, got {clock!r}")


def measure_cost_model(
    model_or_path: Any,
    device: str = "cpu",
    dtype: Any = "fp32",
    context_lengths: Iterable[int] = DEFAULT_CONTEXT_LENGTHS,
    draft_tokens: Iterable[int] = DEFAULT_DRAFT_TOKENS,
    repeats: int = DEFAULT_REPEATS,
    progress: bool = True,
    seed: int = 0,
    warmup: int = DEFAULT_WARMUP,
    threads: int | None = None,
    clock: str | Callable[[], float] = "wall",
) -> CostModel:
    """Time one verification forward pass for every ``(L, k)`` of the grid and return a :class:`CostModel`.

    One untimed pass first wakes the model up. Then the model prefills, for each ``L``, ``L`` random
    token ids into a fresh ``DynamicCache`` (all caches are held at once), and runs ``warmup + repeats``
    rounds; each round passes once over every cell, ``L`` increasing and within it ``k`` increasing:
    ``model(input_ids=[1, k], position_ids=L..L+k-1, cache=...)`` with all ``k`` rows of logits, as
    verification needs, cropping the cache back to ``L`` after it. The first ``warmup`` rounds are
    discarded. Interleaving every cell in every round spreads a burst of load from other processes
    over the whole grid instead of a few cells, so the ratios between cells (what a predicted speedup
    depends on) survive a noisy machine better than the absolute figures. Each cell keeps the median of
    its ``repeats`` timed passes and their spread (interquartile range over median); the grid's
    :func:`~specscale.bench.costmodel.table.plausibility_warnings` land in ``warnings``. CUDA is
    synchronised around each timed pass.

    Args:
        model_or_path: a preset name (:data:`~specscale.bench.costmodel.presets.PRESETS`), a
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
        warmup: untimed rounds per ``L`` before the timed ones (>= 0).
        threads: torch intra-op threads during the measurement (``None``: leave as is); restored after.
        clock: ``"wall"`` (``time.perf_counter``); ``"thread"`` (``time.thread_time``: CPU time of the
            calling thread, which on a CPU with one torch thread leaves out the time the OS gives to
            other processes, so a shared machine's load barely moves the figures; CPU and
            ``threads=1`` only); or a callable returning seconds, called just before and just after
            each pass of a round (warm-up rounds included, the wake-up pass and the prefills not), as
            tests inject one.
    """
    import torch
    import transformers
    from transformers.cache_utils import DynamicCache

    from specscale.verify import cache_argument

    lengths = _axis(context_lengths, "context_lengths")
    ks = _axis(draft_tokens, "draft_tokens")
    _count(repeats, "repeats", 1)
    _count(warmup, "warmup", 0)
    if threads is not None:
        _count(threads, "threads", 1)
    torch_device = _resolve_device(device)
    torch_dtype = _resolve_dtype(dtype)
    read_clock, clock_name = _resolve_clock(clock, torch_device, threads or torch.get_num_threads())
    model, name = _load_model(model_or_path, torch_device, torch_dtype)
    model.eval()
    cache_arg = cache_argument(model)  # once, outside the timed passes
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

    def fresh_cache(length: int) -> Any:
        cache = DynamicCache(config=model.config)
        if hasattr(cache, "activate_past_recording"):
            cache.activate_past_recording()
        prompt = torch.randint(0, vocab, (1, length), generator=generator).to(torch_device)
        model(input_ids=prompt, use_cache=True, logits_to_keep=1, **{cache_arg: cache})
        return cache

    rounds = warmup + repeats
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=rounds * len(lengths) * len(ks), desc="costmodel", unit="pass", file=sys.stderr)
    try:
        with torch.inference_mode():
            fresh_cache(min(lengths[0], 8))  # the first pass of a process pays one-time setup
            caches = [fresh_cache(length) for length in lengths]
            inputs = [
                [
                    (
                        torch.randint(0, vocab, (1, k), generator=generator).to(torch_device),
                        torch.arange(length, length + k, device=torch_device).unsqueeze(0),
                    )
                    for k in ks
                ]
                for length in lengths
            ]
            times: list[list[list[float]]] = [[[] for _ in ks] for _ in lengths]
            for round_index in range(rounds):
                for i, (length, cache) in enumerate(zip(lengths, caches)):
                    for j, (ids, positions) in enumerate(inputs[i]):
                        if bar is not None:
                            bar.set_postfix_str(f"L={length} k={ks[j]}")
                        sync()
                        start = read_clock()
                        out = model(input_ids=ids, position_ids=positions, use_cache=True, **{cache_arg: cache})
                        sync()
                        elapsed = read_clock() - start
                        del out
                        extra = cache.get_seq_length() - length
                        if extra > 0:
                            cache.crop(-extra)
                        if round_index >= warmup:
                            times[i][j].append(elapsed)
                        if bar is not None:
                            bar.update(1)
            del caches, inputs
            seconds = [[statistics.median(t) for t in row] for row in times]
            spread = [[relative_spread(t) for t in row] for row in times]
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(previous_threads)
    return CostModel(
        model=_describe(model, name),
        device=str(torch_device),
        dtype=_SHORT_DTYPE[str(torch_dtype).removeprefix("torch.")],
        context_lengths=lengths,
        draft_tokens=ks,
        seconds=seconds,
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
        device_name=device_name(torch_device),
        threads=threads if threads is not None else previous_threads,
        repeats=repeats,
        warmup=warmup,
        clock=clock_name,
        spread=spread,
        warnings=plausibility_warnings(lengths, ks, seconds, spread),
    )
