"""Every ```python block of the README runs as written, on a CPU, each in a fresh namespace (so every
block is standalone).

The blocks that load a model call ``specscale.bench.models.default_model_dir()``: where the README's first
command has converted SmolLM2-135M-Instruct (under ``$SPECSCALE_CACHE`` or ``~/.cache/specscale``) they
run with it; elsewhere ``SPECSCALE_CACHE`` points at a temporary directory holding a tiny random model
and a character tokenizer under the same name. Paths under ``/models/`` name published checkpoints (a
target and its EAGLE-3 head) that no test machine has; ``STAND_INS`` replaces each by a tiny stand-in of
the same kind written to a temporary directory, and a path under ``/models/`` that it does not know
fails the test. Nothing is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from specscale.bench.models import cache_root  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def _tiny_target(directory: Path) -> None:
    from char_tokenizer import save_char_tokenizer
    from tiny_models import tiny_model

    tiny_model("llama", 97, scale=4.0).save_pretrained(directory)
    save_char_tokenizer(directory)


def _tiny_eagle3_head(directory: Path) -> None:
    from eagle_training import random_head
    from tiny_models import tiny_model

    random_head(tiny_model("llama", 97, scale=4.0), seed=1).save_pretrained(directory)


#: README path -> how to write its stand-in.
STAND_INS: dict[str, Callable[[Path], None]] = {
    "/models/Llama-3.1-8B-Instruct": _tiny_target,
    "/models/EAGLE3-LLaMA3.1-Instruct-8B": _tiny_eagle3_head,
}


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, write in STAND_INS.items():
        target = root / Path(name).name
        write(target)
        paths[name] = str(target)
    return paths


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> str | None:
    """``None`` where the converted SmolLM2 is there to use, else a cache directory with a tiny one."""
    converted = cache_root() / "smollm2-135m"
    if (converted / "config.json").is_file() and any(converted.glob("*.safetensors")):
        return None
    cache = tmp_path_factory.mktemp("cache")
    _tiny_target(cache / "smollm2-135m")
    return str(cache)


def test_the_readme_has_every_block_this_test_knows() -> None:
    assert len(BLOCKS) >= 5  # core, scopes, engine, methods, EAGLE-3


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_block_runs_as_written(
    index: int, stand_ins: dict[str, str], model_cache: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = BLOCKS[index]
    if re.search(r"^(from|import) vllm\b", code, re.MULTILINE):
        pytest.importorskip("vllm", reason="a vLLM block: vLLM is not installed (README, On vLLM, says how)")
        import torch

        if not torch.cuda.is_available():
            # vLLM's CPU build, as the vLLM tests run it: an in-process engine with a small KV cache, and
            # the workaround for vLLM #55005 (sampling with speculation); a GPU needs neither.
            from specscale.bench import vllm_engine

            for name, value in vllm_engine.cpu_settings().items():
                monkeypatch.setenv(name, value)
            vllm_engine.fix_cpu_expand()
    for name, path in stand_ins.items():
        code = code.replace(name, path)
    unknown = re.findall(r"/models/[\w.-]+", code)
    assert not unknown, f"README block {index + 1} names {unknown}: add a stand-in to STAND_INS"
    if model_cache is not None:
        monkeypatch.setenv("SPECSCALE_CACHE", model_cache)
    namespace: dict[str, object] = {"__name__": "__main__"}  # as `python block.py` runs it
    exec(compile(code, f"README.md python block {index + 1}", "exec"), namespace)


def test_core_quick_start_prints_what_its_comments_say() -> None:
    namespace: dict[str, object] = {}
    exec(BLOCKS[0], namespace)
    assert namespace["d"].tokens == [5, 6, 8, 9]  # type: ignore[attr-defined]
    assert namespace["cur"].match_length == 3  # type: ignore[attr-defined]
    assert namespace["trie"].count([5, 6], 7) == 2  # type: ignore[attr-defined]
    scopes: dict[str, object] = {}
    exec(BLOCKS[1], scopes)
    assert scopes["store"].num_tokens("family") == 0  # type: ignore[attr-defined]
