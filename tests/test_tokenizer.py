"""Tokenizers read without torch give exactly AutoTokenizer's ids, built once and then read from the
cache; names that are not local directories are refused at once (nothing is downloaded)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from specscale.errors import InvalidArgumentError
from specscale.tokenizer import load_encoder
from test_cli import write_char_tokenizer

SHARED = Path(__file__).resolve().parents[1] / "../shared"
TRACES = SHARED / "data/traces/bon8_math_qwen25math.jsonl"
QWEN2 = SHARED / "tokenizers/qwen2"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SPECSCALE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _auto_ids(directory: Path, texts: list[str]) -> list[list[int]]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    return [tok.encode(t, add_special_tokens=False) for t in texts]


@pytest.mark.skipif(not TRACES.is_file() or not QWEN2.is_dir(), reason="needs ../shared (Best-of-8 traces, Qwen2 tokenizer)")
def test_ids_equal_autotokenizer_on_every_best_of_8_trace(private_cache: Path) -> None:
    rows = [json.loads(line) for line in TRACES.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [t for row in rows for t in [row["question"], *row["response"]]]
    built = load_encoder(QWEN2)  # vocab.json + merges.txt: built by transformers' Qwen2Tokenizer, cached
    assert "Qwen2Tokenizer" in built.source and list((private_cache / "tokenizers").glob("*.json"))
    cached = load_encoder(QWEN2)  # read back with `tokenizers` alone
    assert "cached" in cached.source
    expected = _auto_ids(QWEN2, texts)
    assert len(texts) == 630 and sum(map(len, expected)) > 100_000
    assert built.encode_batch(texts) == expected
    assert cached.encode_batch(texts) == expected
    assert cached(texts[0]) == expected[0]


def test_a_tokenizer_json_directory_and_the_cache(tmp_path: Path, private_cache: Path) -> None:
    directory = write_char_tokenizer(tmp_path / "char")
    texts = ["Solve 2x + 3 = 11.\nSo x = 4.", "  spaces  ", "\\boxed{4}"]
    first = load_encoder(directory)
    assert first.encode_batch(texts) == _auto_ids(directory, texts)
    (cache_file,) = (private_cache / "tokenizers").glob("*.json")
    again = load_encoder(str(directory))
    assert "cached" in again.source and again.encode_batch(texts) == first.encode_batch(texts)
    # A changed tokenizer file is a different tokenizer: a new cache entry, never the stale one.
    config = json.loads((directory / "tokenizer.json").read_text())
    config["model"]["vocab"]["S"], config["model"]["vocab"]["T"] = config["model"]["vocab"]["T"], config["model"]["vocab"]["S"]
    (directory / "tokenizer.json").write_text(json.dumps(config))
    changed = load_encoder(directory)
    assert "cached" not in changed.source and changed("ST") == first("TS")
    assert len(list((private_cache / "tokenizers").glob("*.json"))) == 2 and cache_file.is_file()
    # A tokenizer.json file given directly is read with `tokenizers` alone.
    assert load_encoder(directory / "tokenizer.json")("ST") == changed("ST")


def test_without_transformers_a_tokenizer_json_is_read_directly(
    tmp_path: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    directory = write_char_tokenizer(tmp_path / "char")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    encoder = load_encoder(directory)
    assert encoder.source.endswith("tokenizer.json (tokenizers)") and encoder("ab") == [67, 68]
    (directory / "tokenizer.json").unlink()
    (directory / "vocab.json").write_text("{}")
    with pytest.raises(InvalidArgumentError, match=r"needs transformers: pip install"):
        load_encoder(directory)


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ("Qwen/Qwen2.5-Math-7B", "specscale never downloads: where you have network, `huggingface-cli download"),
        ("nosuchtok", "--tokenizer nosuchtok: no such directory"),
        ("/missing/dir", "--tokenizer /missing/dir: no such directory; give a local tokenizer directory"),
    ],
)
def test_names_that_are_not_local_directories_are_refused_at_once(given: str, needle: str) -> None:
    start = time.perf_counter()
    with pytest.raises(InvalidArgumentError, match=None) as caught:
        load_encoder(given)
    assert needle in str(caught.value) and "\n" not in str(caught.value)
    assert time.perf_counter() - start < 1.0  # no hub round trip
    assert ("never downloads" in str(caught.value)) == (not given.startswith("/"))


def test_unreadable_tokenizer_files_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(InvalidArgumentError) as caught:
        load_encoder(tmp_path)
    assert str(tmp_path) in str(caught.value) and "\n" not in str(caught.value)
