"""The offline demo: exact greedy replay with a family automaton shared by Best-of-N samples."""

from __future__ import annotations

from pathlib import Path

import pytest
from specscale.cli import main
from specscale.demo import ReplayTally, replay_problem, synthetic_problems

TRACES = Path(__file__).resolve().parents[1] / "../shared/data/traces/bon8_math_qwen25math.jsonl"


def test_replay_counts_every_token_and_accepts_only_what_was_written() -> None:
    # A sample that repeats the prompt verbatim is accepted in long runs; a fresh one token a step.
    prompt = list(range(50))
    tally = ReplayTally()
    replay_problem(prompt, [list(range(50)), [1000 + i for i in range(30)]], tally, max_draft=10)
    assert tally.tokens == [50, 30]
    # Sample 1: first token alone (the context's end matches nothing continued), then 10 + 1 per step.
    assert tally.steps[0] == 1 + 5 and tally.steps[1] == 30
    assert tally.mat_by_sample[1] == 1.0


def test_later_samples_draft_from_earlier_ones() -> None:
    tally = ReplayTally()
    for prompt, samples in synthetic_problems(3):
        replay_problem(prompt, samples, tally)
    by_sample = tally.mat_by_sample
    assert len(by_sample) == 8 and all(m >= 1.0 for m in by_sample)
    assert by_sample[-1] > by_sample[0]


def test_demo_command_runs_offline_on_synthetic_samples(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no ../shared from here: the demo falls back to synthetic samples
    assert main(["demo", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out and "| 8 |" in out


@pytest.mark.skipif(not TRACES.is_file(), reason="needs ../shared/data/traces (the real Best-of-8 samples)")
def test_demo_on_real_traces_beats_prompt_lookup(capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--limit", "10", "--traces", str(TRACES)])
    out = capsys.readouterr().out
    overall = float(out.split("| all | ")[1].split(" |")[0])
    # transformers' prompt lookup reaches MAT 1.65 on these traces (../shared/README.md).
    assert overall > 1.65, out
