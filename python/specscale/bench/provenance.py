"""Where a benchmark ran: the facts a reader needs to trust or reproduce its figures.

:func:`provenance` gathers them for ``results.json``: the model (its name and the directory it was
loaded from), the device and its hardware, the dtype and attention the model ran with, torch,
transformers, specscale and Python versions, the specscale checkout's git commit (with a flag for
uncommitted changes) where the package runs from one, torch's CPU thread count, the machine and a UTC
timestamp.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["git_commit", "provenance"]


def git_commit(path: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``path`` (default: this package),
    or None where it is not in one or git is missing."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(status.strip())} if sha else None


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - not installed, or installed without metadata
        return None


def provenance(model: Any = None, name: str | None = None) -> dict[str, Any]:
    """The facts of this run (see the module docstring); ``model`` is the target, ``name`` what the run
    calls it."""
    import torch

    from specscale.device import device_name, dtype_name

    out: dict[str, Any] = {}
    if model is not None:
        config = getattr(model, "config", None)
        parameter = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
        device = parameter.device if parameter is not None else torch.device("cpu")
        out.update(
            model=name or getattr(config, "_name_or_path", None) or type(model).__name__,
            model_path=getattr(config, "_name_or_path", None) or None,
            model_type=getattr(config, "model_type", None),
            parameters=int(sum(p.numel() for p in model.parameters())) if parameter is not None else None,
            device=str(device),
            device_name=device_name(device),
            dtype=dtype_name(parameter.dtype) if parameter is not None else None,
            attention=getattr(config, "_attn_implementation", None),
        )
    out.update(
        versions={
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "transformers": _version("transformers"),
            "specscale": _version("specscale"),
        },
        git=git_commit(),
        threads=torch.get_num_threads(),
        cpu_count=os.cpu_count(),
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    return out
