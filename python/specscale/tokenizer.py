"""Text to token ids from a local tokenizer directory, without torch and without the network.

``transformers.AutoTokenizer`` imports torch (its config classes do), which costs seconds and hundreds
of MB before the first token; trace replay and the demo need none of it. :func:`load_encoder` builds the
tokenizer once with the class its ``tokenizer_config.json`` names, imported straight from
``transformers`` (that path imports no torch), checks that the class's fast backend (a
``tokenizers.Tokenizer``) encodes a set of probe texts exactly as the class does, and saves the backend
as one ``tokenizer.json`` under the specscale cache, keyed by the directory's tokenizer files and the
transformers version. Later loads read that file with ``tokenizers`` alone (a fraction of a second).
Where transformers is not installed, a directory's own ``tokenizer.json`` is read with ``tokenizers``.

Token ids equal ``AutoTokenizer.from_pretrained(directory).encode(text, add_special_tokens=False)``
(the tests compare them on every Best-of-8 trace). Nothing is ever downloaded: a name that is not a
local directory is refused at once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from specscale.errors import InvalidArgumentError

__all__ = ["Encoder", "load_encoder"]

#: Files a tokenizer directory may hold; every one present goes into the cache key.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "tokenizer.model",
)
#: Files that hold a vocabulary (a directory without any of them is no tokenizer).
_VOCABULARY_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model")

#: Texts the fast backend must encode exactly as the transformers class does before it is used alone:
#: leading and repeated whitespace, line ends, digits, LaTeX, accents, CJK and emoji.
_PROBES = (
    "Hello world",
    "  two leading spaces,\ttabs,\r\nCRLF and\n\n\nblank lines  ",
    "Solve $x^2 + 3x - 10 = 0$; so x = 2 or x = -5, i.e. \\boxed{2}. 12345678 3.14159",
    "naïve café, Ünïcödé, 数学题, 🙂👍",
)


class Encoder:
    """Encodes text to token ids, adding no special tokens (what replay and drafting need).

    Attributes:
        source: how the tokenizer was loaded (printed by the commands that use it).
    """

    def __init__(self, encode_batch: Callable[[list[str]], list[list[int]]], source: str) -> None:
        self._encode_batch = encode_batch
        self.source = source

    def __call__(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        return self._encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (the fast backend encodes them in parallel)."""
        return self._encode_batch(list(texts))


def load_encoder(directory: str | Path, option: str = "--tokenizer") -> Encoder:
    """The tokenizer in the local ``directory`` (see the module docstring).

    Args:
        directory: a local tokenizer or model directory (``tokenizer.json``, or ``vocab.json`` and
            ``merges.txt``, with ``tokenizer_config.json``); a ``tokenizer.json`` file also works.
        option: the command-line option that named it, for error messages.

    Raises:
        InvalidArgumentError: one line naming the problem and the fix (no such directory, no tokenizer
            files, a package missing, files transformers cannot read).
    """
    path = Path(directory)
    if path.is_file() and path.suffix == ".json":
        return _from_tokenizer_json(path, f"{path} (tokenizers)", option)
    if not path.is_dir():
        raise InvalidArgumentError(_not_a_directory(option, str(directory), path))
    present = [name for name in TOKENIZER_FILES if (path / name).is_file()]
    if not any(name in present for name in _VOCABULARY_FILES):
        raise InvalidArgumentError(
            f"{option} {directory}: no tokenizer files there (expected tokenizer.json, or vocab.json and "
            "merges.txt, with tokenizer_config.json); point it at the model's or tokenizer's directory"
        )
    if importlib.util.find_spec("transformers") is None:
        if "tokenizer.json" in present:
            return _from_tokenizer_json(path / "tokenizer.json", f"{path}/tokenizer.json (tokenizers)", option)
        raise InvalidArgumentError(
            f"{option} {directory}: reading vocab.json/merges.txt needs transformers: pip install 'transformers>=5'"
        )
    cached = _cache_path(path, present)
    if cached is not None and cached.is_file():
        return _from_tokenizer_json(cached, f"{path} (transformers' tokenizer, cached in {cached.parent})", option)
    return _build_with_transformers(path, option, cached)


def _not_a_directory(option: str, given: str, path: Path) -> str:
    if path.exists():
        return f"{option} {given}: not a directory; give the directory that holds the tokenizer files"
    message = f"{option} {given}: no such directory; give a local tokenizer directory"
    if not path.is_absolute() and len(path.parts) <= 2 and not given.startswith("."):
        # Looks like a model-hub name: specscale is offline by design and never tries the hub.
        message += (
            f" (specscale never downloads: where you have network, `huggingface-cli download {given} "
            "--local-dir DIR`, then pass DIR)"
        )
    return message


def _from_tokenizer_json(file: Path, source: str, option: str) -> Encoder:
    try:
        from tokenizers import Tokenizer
    except ModuleNotFoundError:
        raise InvalidArgumentError(f"{option}: reading {file} needs the tokenizers package: pip install tokenizers") from None
    try:
        backend = Tokenizer.from_file(str(file))
    except Exception as error:  # noqa: BLE001 (tokenizers raises a bare Exception for unreadable files)
        raise InvalidArgumentError(f"{option}: cannot read {file}: {_one_line(error)}") from error
    return Encoder(_backend_encoder(backend), source)


def _backend_encoder(backend: Any) -> Callable[[list[str]], list[list[int]]]:
    def encode_batch(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]

    return encode_batch


def _build_with_transformers(path: Path, option: str, cached: Path | None) -> Encoder:
    import transformers

    name = _tokenizer_class_name(path)
    cls = getattr(transformers, name, None) if name else None
    if cls is None and name and name.endswith("Fast"):
        cls = getattr(transformers, name[: -len("Fast")], None)
    if cls is None:
        # No class named, or one this transformers does not have: the generic fast tokenizer reads a
        # tokenizer.json as it is.
        cls = transformers.PreTrainedTokenizerFast
    try:
        tok = cls.from_pretrained(str(path), local_files_only=True)
    except Exception as error:  # noqa: BLE001 (transformers raises many kinds for unreadable files)
        raise InvalidArgumentError(
            f"{option} {path}: transformers' {cls.__name__} cannot load it: {_one_line(error)}"
        ) from error
    slow: Callable[[list[str]], list[list[int]]] = lambda texts: [  # noqa: E731
        list(tok.encode(t, add_special_tokens=False)) for t in texts
    ]
    backend = getattr(tok, "_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch"):
        return Encoder(slow, f"{path} ({cls.__name__}, transformers)")
    probes = list(_PROBES) + [f"{t} text{t}" for t in getattr(tok, "all_special_tokens", [])]
    fast = _backend_encoder(backend)
    if fast(probes) != slow(probes):
        # The class adds something the backend does not do alone: keep using the class.
        return Encoder(slow, f"{path} ({cls.__name__}, transformers)")
    if cached is not None:
        _save_atomically(backend, cached)
    return Encoder(fast, f"{path} ({cls.__name__}, transformers)")


def _tokenizer_class_name(path: Path) -> str | None:
    config = path / "tokenizer_config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class")
    except (ValueError, OSError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _cache_path(path: Path, present: Sequence[str]) -> Path | None:
    """Where the backend built from ``path`` is cached: a hash of its tokenizer files and the
    transformers version (a new version may build the tokenizer differently)."""
    from specscale.bench.models import cache_root

    digest = hashlib.sha256()
    digest.update(importlib.metadata.version("transformers").encode())
    for name in present:
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update((path / name).read_bytes())
    return cache_root() / "tokenizers" / f"{digest.hexdigest()[:32]}.json"


def _save_atomically(backend: Any, target: Path) -> None:
    """Writes the backend to ``target`` through a temporary file, so a reader never sees half a file;
    an unwritable cache only costs the next load its speed."""
    temporary = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".partial")
        os.close(handle)
        backend.save(temporary)
        os.replace(temporary, target)
    except Exception:  # noqa: BLE001 (an OSError, or tokenizers' bare Exception for a failed write)
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
