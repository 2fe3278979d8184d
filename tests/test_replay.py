"""Trace replay: exactly what a live greedy run accepts, without the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import specscale
from specscale import NgramTrie, SuffixAutomaton
from specscale.bench.replay import markdown_table, read_traces, replay_token_rows
from specscale.cli import main
from specscale.bench.datasets import DatasetError
from specscale.errors import InvalidArgumentError
from tiny_models import tiny_model

SHARED = Path(__file__).resolve().parents[1] / "../shared"
TRACES = SHARED / "data/traces/bon8_math_qwen25math.jsonl"
TOKENIZER = SHARED / "tokenizers/qwen2"


def _drafter_pairs():
    """Each method twice: one instance for the live runs, one for the replays (same settings)."""
    live_sam, replay_sam = SuffixAutomaton(), SuffixAutomaton()
    live_trie, replay_trie = NgramTrie(max_order=3), NgramTrie(max_order=3)
    return {
        "pld": (lambda: specscale.PromptLookup(), lambda: specscale.PromptLookup()),
        "sam": (
            lambda: specscale.SuffixAutomatonDrafter(automaton=live_sam),
            lambda: specscale.SuffixAutomatonDrafter(automaton=replay_sam),
        ),
        "trie": (
            lambda: specscale.NgramTrieDrafter(trie=live_trie),
            lambda: specscale.NgramTrieDrafter(trie=replay_trie),
        ),
    }


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_replay_equals_a_live_greedy_run_on_the_recording_model(arch: str) -> None:
    # Record the model's own greedy outputs for a few prompts (the "samples" of one problem), then
    # replay them: every step, accepted length and so MAT must equal the live speculative runs'.
    torch.manual_seed(0)
    model = tiny_model(arch, vocab_size=24)  # a small vocabulary makes the model repeat itself
    prompts = [[3, 4, 5, 6, 3, 4], [3, 4, 5, 7, 3, 4, 5], [9, 3, 4, 5, 6]]
    recorded = [specscale.generate(model, p, max_new_tokens=40, eos_token_id=[]).new_tokens for p in prompts]
    for method, (make_live, make_replay) in _drafter_pairs().items():
        for prompt, expected in zip(prompts, recorded):
            live = specscale.generate(model, prompt, drafter=make_live(), max_new_tokens=40, eos_token_id=[])
            replay = specscale.generate_from_trace(prompt, live.new_tokens, drafter=make_replay())
            assert live.new_tokens == expected  # lossless, so the trace is the model's own output
            assert replay.new_tokens == live.new_tokens
            assert replay.stats.accepted_histogram == live.stats.accepted_histogram, method
            assert replay.stats.steps == live.stats.steps, method
            assert replay.stats.step_records == live.stats.step_records
            assert replay.stats.mean_accepted_tokens == live.stats.mean_accepted_tokens


def test_replay_of_token_rows_shares_the_store_across_samples() -> None:
    prompt = list(range(100, 130))
    sample = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] * 6
    reports = replay_token_rows([(prompt, [sample, sample, sample])], ["ar", "sam", "sam-request"])
    assert reports["ar"].mat == 1.0 and reports["ar"].tokens == 180
    by_sample = reports["sam"].to_json()["mat_by_sample"]
    assert by_sample[1] > 3 * by_sample[0] / 2  # sample 2 drafts from sample 1
    request = reports["sam-request"].to_json()["mat_by_sample"]
    assert request[0] == pytest.approx(request[2])  # a request store forgets earlier samples
    with pytest.raises(InvalidArgumentError, match="unknown method"):
        replay_token_rows([(prompt, [sample])], ["nope"])


def test_read_traces_names_bad_rows(tmp_path: Path) -> None:
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"question": "q", "response": ["a"]}\n{"question": "q"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="line 2: missing the field 'response'"):
        read_traces(bad, "question", "response", None)
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 1"):
        read_traces(bad, "question", "response", None)


@pytest.mark.skipif(not TRACES.is_file(), reason="needs ../shared/data/traces and ../shared/tokenizers/qwen2")
def test_replay_command_on_real_traces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "replay.json"
    args = [str(TRACES), "--tokenizer", str(TOKENIZER), "--methods", "pld,sam,trie", "--json", str(out)]
    assert main(["replay", *args, "--limit", "12", "--quiet"]) == 0
    doc = json.loads(out.read_text())
    for method in ("pld", "sam", "trie"):
        figures = doc["methods"][method]
        assert figures["mat"] >= 1.0 and len(figures["mat_by_sample"]) == 8
    # A store shared by the problem's samples beats prompt lookup, and more so for later samples.
    sam = doc["methods"]["sam"]
    assert sam["mat"] > doc["methods"]["pld"]["mat"]
    assert sam["mat_by_sample"][-1] > sam["mat_by_sample"][0]
    assert "| sam |" in capsys.readouterr().out
    assert "| pld |" in markdown_table(doc["methods"])


def test_cost_model_turns_replay_figures_into_predicted_speedup(tmp_path: Path) -> None:
    from specscale.bench.costmodel import CostModel

    # A step costs 10 ms plus 1 ms per token beyond the first, at any context length.
    cost = CostModel(
        model={"name": "synthetic"}, device="cpu", dtype="fp32", context_lengths=[1, 10_000],
        draft_tokens=[1, 65], seconds=[[0.010, 0.074], [0.010, 0.074]],
    )
    prompt = list(range(100, 130))
    sample = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] * 6
    reports = replay_token_rows([(prompt, [sample, sample])], ["ar", "sam"])
    ar, sam = reports["ar"].to_json(cost), reports["sam"].to_json(cost)
    assert ar["predicted_speedup"] == pytest.approx(1.0, rel=0.02)  # only drafting time differs
    records = reports["sam"].total.step_records
    expected_method = sum(0.010 + 0.001 * nodes for _, nodes, _ in records) + reports["sam"].total.draft_seconds
    expected = 0.010 * reports["sam"].tokens / expected_method
    assert sam["predicted_speedup"] == pytest.approx(expected, rel=1e-6)
    assert sam["predicted_speedup"] > 1.0 and len(sam["predicted_speedup_by_sample"]) == 2
