"""Where models run: device, dtype and attention choices by name, and timing that waits for the device.

Names, as the CLI takes them:

- device: ``"auto"`` (the first CUDA GPU where torch sees one, else the CPU), ``"cpu"``, ``"cuda"``,
  ``"cuda:N"``;
- dtype: ``"auto"`` (bfloat16 on a GPU that supports it, else float16 on a GPU, float32 on the CPU),
  ``"bf16"``, ``"fp16"``, ``"fp32"`` (``torch`` names such as ``"bfloat16"`` too);
- attention: ``"auto"`` (transformers' default, SDPA), ``"sdpa"``, ``"eager"``,
  ``"flash_attention_2"`` (needs the ``flash-attn`` package and a GPU; tree verification needs a custom
  mask, which flash attention cannot take, so drafts are then verified as chains).

A request the machine cannot honour (``cuda`` without a CUDA GPU, a GPU index past the last one, flash
attention without its package) raises :class:`DeviceUnavailableError` in one line. torch is imported
inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import platform
from pathlib import Path
from typing import Any

from specscale.errors import InvalidArgumentError

__all__ = [
    "ATTENTION",
    "DTYPES",
    "DeviceUnavailableError",
    "check_attention",
    "device_name",
    "dtype_name",
    "resolve_device",
    "resolve_dtype",
    "synchronize",
]

#: Short dtype names and the torch names they stand for.
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
_ALIASES = {**DTYPES, **{v: v for v in DTYPES.values()}}
#: Attention implementations the CLI offers (``auto``: transformers' choice).
ATTENTION = ("auto", "sdpa", "eager", "flash_attention_2")


class DeviceUnavailableError(InvalidArgumentError):
    """The device, dtype or attention asked for cannot run on this machine (the message says why and
    what to pass instead)."""


def resolve_device(spec: Any = "auto") -> Any:
    """The ``torch.device`` for ``spec`` (see the module docstring)."""
    import torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    text = str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        index = text.partition(":")[2]
        if index and not index.isdigit():
            raise InvalidArgumentError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")
        if not torch.cuda.is_available():
            built = (
                "built without CUDA"
                if torch.version.cuda is None
                else f"CUDA {torch.version.cuda}, no GPU visible"
            )
            raise DeviceUnavailableError(
                f"--device {text}: torch sees no CUDA device here (torch {torch.__version__}, {built}); "
                "use --device cpu or --device auto"
            )
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise DeviceUnavailableError(
                f"--device {text}: there {'is' if count == 1 else 'are'} {count} CUDA device(s), numbered from 0"
            )
        return torch.device(text if index else "cuda:0")
    raise InvalidArgumentError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")


def resolve_dtype(spec: Any = "auto", device: Any = None) -> Any:
    """The ``torch.dtype`` for ``spec`` on ``device`` (``auto``: see the module docstring)."""
    import torch

    if isinstance(spec, torch.dtype):
        return spec
    text = str(spec).strip().lower()
    if text == "auto":
        device = resolve_device(device if device is not None else "auto")
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    name = _ALIASES.get(text)
    if name is None:
        raise InvalidArgumentError(f"dtype must be one of auto, {', '.join(DTYPES)}, got {spec!r}")
    return getattr(torch, name)


def dtype_name(dtype: Any) -> str:
    """``"bf16"``, ``"fp16"``, ``"fp32"`` for those torch dtypes, else torch's own name."""
    name = str(dtype).removeprefix("torch.")
    short = {v: k for k, v in DTYPES.items()}
    return short.get(name, name)


def check_attention(spec: str, device: Any = None) -> str | None:
    """The ``attn_implementation`` to load models with for ``spec`` (``None`` for ``auto``: transformers'
    default); raises :class:`DeviceUnavailableError` where the choice cannot run here."""
    if spec not in ATTENTION:
        raise InvalidArgumentError(f"attention must be one of {', '.join(ATTENTION)}, got {spec!r}")
    if spec == "auto":
        return None
    if spec == "flash_attention_2":
        if importlib.util.find_spec("flash_attn") is None:
            raise DeviceUnavailableError(
                "--attn flash_attention_2 needs the flash-attn package (pip install flash-attn) and a CUDA GPU; "
                "use --attn sdpa"
            )
        if device is not None and resolve_device(device).type != "cuda":
            raise DeviceUnavailableError(
                "--attn flash_attention_2 runs on CUDA only; use --attn sdpa on the CPU"
            )
    return spec


def synchronize(device: Any) -> None:
    """Waits until every kernel queued on ``device`` has finished (nothing to wait for on the CPU), so a
    clock read after it measures the work, not its launch."""
    import torch

    device = torch.device(device) if not isinstance(device, torch.device) else device
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: Any) -> str:
    """The hardware behind ``device``: the GPU's name, else the CPU model."""
    import torch

    device = torch.device(device) if not isinstance(device, torch.device) else device
    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    try:  # Linux names the CPU model here; platform.processor() often says only "x86_64"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
