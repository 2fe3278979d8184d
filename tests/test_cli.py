"""The command line as a new user meets it: every error is one line on stderr naming the problem and the
fix, exit code 2, no traceback (``--debug`` or ``SPECSCALE_DEBUG=1`` shows it); one failing replay
method loses none of the others' figures; ``--help``, ``demo``, ``replay`` and ``bench --dry-run`` never
import torch."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from specscale import methods as registry
from specscale.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "../shared"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECSCALE_CACHE", str(tmp_path / "cache"))


def write_char_tokenizer(directory: Path) -> Path:
    """A character-level tokenizer as a tokenizer.json (written with ``tokenizers`` alone, no torch)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    vocab = {"<s>": 0, "</s>": 1} | {chr(32 + i): 2 + i for i in range(95)} | {"\n": 97}
    core = Tokenizer(models.WordLevel(vocab, unk_token=" "))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    directory.mkdir(parents=True, exist_ok=True)
    core.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))
    return directory


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_char_tokenizer(tmp_path_factory.mktemp("tok") / "char")


def write_traces(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def traces(tmp_path: Path) -> Path:
    text = "First add 3 to both sides, then divide by 2, so x = 4. The answer is 4."
    rows = [{"question": f"Solve 2x - 3 = {5 + i}.", "response": [text, text.replace("4", str(4 + i))]} for i in range(3)]
    return write_traces(tmp_path / "traces.jsonl", rows)


def _error_cases(tmp: Path, traces: Path, tok: Path) -> list[tuple[list[str], str]]:
    """``(argv, what the one line must say)`` for every user error the issue lists, and a few more."""
    empty = write_traces(tmp / "empty.jsonl", [{"question": "", "response": ["a b"]}])
    null = write_traces(tmp / "null.jsonl", [{"question": None, "response": ["a b"]}])
    (tmp / "utf8.jsonl").write_bytes(b'{"question": "q", "response": ["a \xff b"]}\n')
    (tmp / "nested.jsonl").write_text('{"question": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (tmp / "afile").write_text("")
    (tmp / "empty_dir").mkdir()
    replay = ["replay", str(traces), "--tokenizer", str(tok), "--quiet"]
    return [
        (["replay", str(traces), "--tokenizer", "/missing/dir"], "--tokenizer /missing/dir: no such directory"),
        (["replay", str(traces), "--tokenizer", "nosuchtok"], "specscale never downloads"),
        (["replay", str(traces), "--tokenizer", str(tmp / "afile")], "not a directory"),
        (["replay", str(traces), "--tokenizer", str(tmp / "empty_dir")], "no tokenizer files there"),
        ([*replay, "--methods", "foo"], "unknown method 'foo'"),
        ([*replay, "--methods", "pld,recycling"], "'recycling' needs a model"),
        ([*replay, "--set", "sam.nope=1"], "has no setting 'nope'"),
        (["replay", str(empty), "--tokenizer", str(tok)], "line 1: 'question' is empty"),
        (["replay", str(null), "--tokenizer", str(tok)], "line 1: 'question' is null"),
        (["replay", str(tmp / "utf8.jsonl"), "--tokenizer", str(tok)], "line 1: not UTF-8 text (byte 0xff"),
        (["replay", str(tmp / "nested.jsonl"), "--tokenizer", str(tok)], "line 1: JSON nested too deeply"),
        (["replay", str(tmp / "nope.jsonl"), "--tokenizer", str(tok)], "no such file: "),
        ([*replay, "--json", str(tmp / "afile" / "x.json")], "afile is a file, so no file can be created under it"),
        ([*replay, "--limit", "0"], "argument --limit: expected an integer >= 1, got 0"),
        ([*replay, "--limit", "-1"], "argument --limit: expected an integer >= 1, got -1"),
        ([*replay, "--max-draft", "-5"], "argument --max-draft: expected an integer >= 1, got -5"),
        (["demo", "--limit", "0"], "argument --limit: expected an integer >= 1, got 0"),
        (["demo", "--limit", "-3"], "argument --limit: expected an integer >= 1, got -3"),
        (["demo", "--max-draft", "-5"], "argument --max-draft: expected an integer >= 1, got -5"),
        (["demo", "--traces", str(traces), "--tokenizer", "nosuchtok"], "specscale never downloads"),
        (["bench", "--limit", "0", "--dry-run"], "argument --limit: expected an integer >= 1"),
        (["bench", "--methods", "ar,nope", "--dry-run"], "unknown method 'nope'"),
        (["bench", "--out", str(tmp / "afile"), "--dry-run"], "is a file, not a directory"),
        (["bench", "--think-fraction", "1.5", "--dry-run"], "expected a number in [0, 1], got 1.5"),
    ]


def test_every_user_error_is_one_line_with_exit_code_2(
    tmp_path: Path, traces: Path, tokenizer_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = []
    for argv, needle in _error_cases(tmp_path, traces, tokenizer_dir):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse's own exit for a bad option
            code = exit.code
        except BaseException as error:  # noqa: BLE001 (a traceback is what the test rules out)
            failures.append(f"{argv}: raised {type(error).__name__}: {error}")
            continue
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        if code != 2 or len(lines) != 1 or needle not in err or not lines[0].startswith("specscale "):
            failures.append(f"{argv}: exit {code}, stderr {err!r}")
        elif out:
            failures.append(f"{argv}: printed results after an error: {out!r}")
    assert not failures, "\n".join(failures)


def test_bench_run_twice_says_resume_or_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The README's first command, repeated: a one-line answer before the model is even loaded.
    dataset = write_traces(tmp_path / "toy.jsonl", [{"problem": "1+1?", "answer": "2", "unique_id": "t/1"}])
    out = tmp_path / "run"
    out.mkdir()
    (out / "units.jsonl").write_text("")
    assert main(["bench", "--datasets", str(dataset), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --resume to continue" in err and "--overwrite" in err


def test_a_method_whose_package_is_missing_is_refused_before_any_work(
    traces: Path, tokenizer_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "arctic_inference" else real(name, *a))
    argv = ["replay", str(traces), "--tokenizer", str(tokenizer_dir), "--methods", "pld,sam,suffix-decoding,trie"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "'suffix-decoding' needs the optional package 'arctic_inference'" in err and "pip install" in err


def test_a_failing_method_loses_none_of_the_others_figures(
    tmp_path: Path, traces: Path, tokenizer_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A method that breaks once running (an optional package that installed but cannot load, say):
    # the methods before and after it finish, the JSON holds their figures, the exit code says so.
    def broken(*_: object) -> object:
        raise ImportError("libsomething.so: cannot open shared object file")

    monkeypatch.setitem(registry.METHODS, "trie", dataclasses.replace(registry.METHODS["trie"], opener=broken))
    out = tmp_path / "replay.json"
    argv = ["replay", str(traces), "--tokenizer", str(tokenizer_dir), "--methods", "pld,trie,sam", "--json", str(out), "--quiet"]
    assert main(argv) == 1
    stdout, err = capsys.readouterr()
    doc = json.loads(out.read_text())
    assert set(doc["methods"]) == {"pld", "sam"} and doc["methods"]["sam"]["mat"] > 1.0
    assert "libsomething.so" in doc["failed"]["trie"]
    assert "| pld |" in stdout and "| sam |" in stdout
    assert "trie failed (ImportError: libsomething.so" in err and "Traceback" not in err


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specscale", *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=600
    )


def test_debug_shows_the_traceback(traces: Path) -> None:
    quiet = _run(["replay", str(traces), "--tokenizer", "/missing/dir"])
    assert quiet.returncode == 2 and quiet.stderr.count("\n") == 1 and "Traceback" not in quiet.stderr
    for loud in (
        _run(["replay", str(traces), "--tokenizer", "/missing/dir"], SPECSCALE_DEBUG="1"),
        _run(["--debug", "replay", str(traces), "--tokenizer", "/missing/dir"]),
        _run(["replay", str(traces), "--tokenizer", "/missing/dir", "--debug"]),
    ):
        assert "Traceback" in loud.stderr and "InvalidArgumentError: --tokenizer /missing/dir" in loud.stderr


_PROBE = """
import json, resource, sys
from specscale.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
usage = resource.getrusage(resource.RUSAGE_SELF)
heavy = sorted(m for m in ("torch", "transformers", "matplotlib", "numpy") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "cpu": usage.ru_utime + usage.ru_stime}), file=sys.stderr)
"""


def _probe(args: list[str], cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=cwd, timeout=600,
        env={**os.environ, "SPECSCALE_CACHE": str(cwd / "cache")},
    )  # fmt: skip
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_help_is_instant_and_model_free_commands_never_import_torch(
    tmp_path: Path, traces: Path, tokenizer_dir: Path
) -> None:
    # --help builds every command's parser: no torch, transformers, matplotlib or numpy, and well under a
    # second of CPU (CPU time, not wall time: this machine is shared).
    help_ = _probe(["--help"], tmp_path)
    assert help_["code"] == 0 and help_["heavy"] == [] and help_["cpu"] < 1.0, help_
    replay = ["replay", str(traces), "--tokenizer", str(tokenizer_dir), "--methods", "pld,sam,trie", "--quiet"]
    for args in (["bench", "--dry-run"], ["demo", "--limit", "2"], replay, replay):  # replay: built, then cached
        result = _probe(args, tmp_path)
        assert result["code"] == 0 and "torch" not in result["heavy"], (args, result)
    # With the tokenizer cached, replay does not even import transformers.
    assert "transformers" not in _probe(replay, tmp_path)["heavy"]


@pytest.mark.skipif(not (SHARED / "tokenizers/qwen2").is_dir(), reason="needs ../shared (traces and the Qwen2 tokenizer)")
def test_demo_and_replay_on_the_real_traces_never_import_torch(tmp_path: Path) -> None:
    traces = str(SHARED / "data/traces/bon8_math_qwen25math.jsonl")
    tokenizer = str(SHARED / "tokenizers/qwen2")
    for args in (
        ["demo", "--limit", "2", "--traces", traces, "--tokenizer", tokenizer],
        ["replay", traces, "--tokenizer", tokenizer, "--limit", "2", "--quiet"],
    ):
        result = _probe(args, tmp_path)
        assert result["code"] == 0 and "torch" not in result["heavy"], (args, result)


def test_progress_off_a_terminal_prints_plain_lines() -> None:
    import io

    from specscale.progress import Progress

    log = io.StringIO()  # not a terminal: no bar, no carriage returns or cursor escapes
    with Progress(4, desc="specscale bench", unit="generation", initial=1, stream=log) as bar:
        bar.interval = 0.0
        bar.set_postfix_str("math500/single/sam/7")
        bar.update(1)
        bar.update(2)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
    assert lines[0].startswith("specscale bench: 2/4 generations (50%), 0:00 elapsed, about 0:00 left [math500/single/sam/7]")
    assert lines[-1].startswith("specscale bench: 4/4 generations (100%)") and "left" not in lines[-1]
    quiet = io.StringIO()
    with Progress(3, desc="x", unit="problem", stream=quiet, enabled=False) as bar:
        bar.update(3)
    assert quiet.getvalue() == ""
