"""Cost model: measurement on a tiny random Llama, JSON round trip, interpolation, speedup prediction, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from specscale.bench.costmodel import (
    FORMAT,
    PRESETS,
    CostModel,
    StepRecord,
    format_table,
    measure_cost_model,
    predict_speedup,
)
from specscale.cli import main
from specscale.errors import CorruptDataError, InvalidArgumentError

TINY = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 128,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}


def synthetic(context_lengths, draft_tokens, fn) -> CostModel:
    return CostModel(
        model={"name": "synthetic", "architecture": "none", "params": 0},
        device="cpu",
        dtype="fp32",
        context_lengths=list(context_lengths),
        draft_tokens=list(draft_tokens),
        seconds=[[fn(length, k) for k in draft_tokens] for length in context_lengths],
    )


@pytest.fixture(scope="module")
def measured() -> CostModel:
    return measure_cost_model(
        "tiny-llama", context_lengths=(8, 32), draft_tokens=(1, 4, 8), repeats=2, progress=False
    )


def test_measurement_covers_the_grid_with_positive_times(measured):
    assert measured.context_lengths == [8, 32]
    assert measured.draft_tokens == [1, 4, 8]
    assert len(measured.seconds) == 2 and all(len(row) == 3 for row in measured.seconds)
    assert all(0 < s < 1 for row in measured.seconds for s in row)
    assert measured.model["name"] == "tiny-llama"
    assert measured.model["architecture"] == "LlamaForCausalLM"
    assert measured.model["params"] > 0
    assert measured.model["config"]["hidden_size"] == 64
    assert measured.device == "cpu" and measured.dtype == "fp32"
    assert measured.torch_version == torch.__version__
    assert measured.repeats == 2 and measured.threads >= 1


def test_save_load_round_trip(measured, tmp_path):
    path = tmp_path / "sub" / "cost.json"
    measured.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT == "specscale-costmodel/1"
    loaded = CostModel.load(path)
    assert loaded.to_dict() == measured.to_dict()
    assert loaded.step_seconds(20, 3) == measured.step_seconds(20, 3)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="something-else/9"), "format"),
        (lambda d: d.pop("seconds"), "missing field(s) seconds"),
        (lambda d: d["seconds"].pop(), "2 x 3"),
        (lambda d: d["seconds"][1].__setitem__(2, -1.0), "context 32, k=8"),
        (lambda d: d["seconds"][0].__setitem__(0, "fast"), "positive number"),
        (lambda d: d.update(draft_tokens=[4, 1, 8]), "strictly increasing"),
        (lambda d: d.update(context_lengths=[]), "context_lengths"),
    ],
)
def test_malformed_file_is_a_clear_error(measured, tmp_path, mutate, message):
    data = measured.to_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptDataError, match="bad.json") as info:
        CostModel.load(path)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_not_json_is_a_clear_error(tmp_path):
    path = tmp_path / "cost.json"
    path.write_text("{ not json")
    with pytest.raises(CorruptDataError, match="not valid JSON"):
        CostModel.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(CorruptDataError, match="JSON object"):
        CostModel.load(path)


def test_interpolation_is_exact_at_and_between_grid_points():
    # Bilinear in (L, k): piecewise bilinear interpolation must reproduce it everywhere inside the grid.
    def fn(length, k):
        return 1e-3 + 2e-6 * length + 3e-4 * k + 1e-8 * length * k

    lengths, ks = [100, 200, 400], [1, 2, 4, 8]
    cm = synthetic(lengths, ks, fn)
    for length in lengths:
        for k in ks:
            assert cm.step_seconds(length, k) == fn(length, k)
    for length, k in [(150, 3), (250, 1), (399, 7.5), (100, 5), (333, 8)]:
        assert cm.step_seconds(length, k) == pytest.approx(fn(length, k), rel=1e-12)
    # Past the grid: the outermost segment's slope continues (linear function, so still exact).
    assert cm.step_seconds(800, 16) == pytest.approx(fn(800, 16), rel=1e-12)
    # Below the shortest context: held at the shortest.
    assert cm.step_seconds(10, 2) == pytest.approx(fn(100, 2), rel=1e-12)
    assert cm.ar_token_seconds(150) == cm.step_seconds(150, 1)
    with pytest.raises(InvalidArgumentError, match="tokens"):
        cm.step_seconds(100, 0)


def test_extrapolation_never_goes_down_on_a_noisy_tail():
    cm = synthetic([100, 200], [1, 2, 4], lambda length, k: {1: 1.0, 2: 2.0, 4: 1.5}[k] + length * 0)
    assert cm.step_seconds(100, 64) == 1.5
    single = synthetic([100], [4], lambda length, k: 0.25)
    assert single.step_seconds(5000, 64) == 0.25


def test_ar_seconds_is_the_sum_of_per_token_costs():
    cm = synthetic([10, 110], [1, 5], lambda length, k: (0.01 + 1e-5 * (length - 10)) * (1 if k == 1 else 2))
    expected = sum(cm.ar_token_seconds(50 + t) for t in range(100))
    assert cm.ar_seconds(50, 100) == pytest.approx(expected, rel=1e-12)
    assert cm.ar_seconds(7, 0) == 0.0


def test_predict_speedup_matches_a_hand_computation():
    # Step cost independent of L: 10 ms for one token, +1 ms per extra token.
    flat = synthetic([10, 1000], [1, 2, 4, 8], lambda length, k: 0.010 + 0.001 * (k - 1))
    steps = [(10, 4, 3), StepRecord(13, 4, 5), (18, 0, 1)]
    # AR: 3 + 5 + 1 = 9 tokens at 10 ms = 0.090 s. Method: k = 5, 5, 1 -> 14 + 14 + 10 ms = 0.038 s.
    assert predict_speedup(steps, flat) == pytest.approx(0.090 / 0.038, rel=1e-12)
    # Plus 1 ms of drafting per step: 0.041 s.
    assert predict_speedup(steps, flat, draft_seconds_per_step=0.001) == pytest.approx(
        0.090 / 0.041, rel=1e-12
    )

    # AR cost grows with L: 10 ms at L=10, +0.01 ms per token of context; a pass over k=5 costs twice k=1.
    growing = synthetic(
        [10, 110], [1, 5], lambda length, k: (0.01 + 1e-5 * (length - 10)) * (1 if k == 1 else 2)
    )
    # One step at L=10 with 2 drafts (k=3, halfway between k=1 and k=5: 0.015 s) committing 3 tokens;
    # AR makes them at L=10, 11, 12: 0.030 + 1e-5 * (0 + 1 + 2) = 0.03003 s.
    assert predict_speedup([(10, 2, 3)], growing) == pytest.approx(0.03003 / 0.015, rel=1e-12)


def test_predict_speedup_without_drafts_is_one_and_rejects_bad_steps():
    cm = synthetic([10, 100], [1, 4], lambda length, k: 0.01 * k + 1e-4 * length)
    assert predict_speedup([(L, 0, 1) for L in range(10, 60)], cm) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(InvalidArgumentError, match="empty"):
        predict_speedup([], cm)
    with pytest.raises(InvalidArgumentError, match=r"steps\[1\]"):
        predict_speedup([(10, 0, 1), (11, 2, 0)], cm)
    with pytest.raises(InvalidArgumentError, match=r"steps\[0\]"):
        predict_speedup([(10, 2)], cm)


def test_config_only_directory_and_json_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    from_dir = measure_cost_model(
        tmp_path, context_lengths=(4,), draft_tokens=(1, 2), repeats=1, progress=False
    )
    assert from_dir.model["config"]["vocab_size"] == 128
    assert from_dir.model["name"] == str(tmp_path)
    from_file = measure_cost_model(
        tmp_path / "config.json", context_lengths=(4,), draft_tokens=(2,), repeats=1, progress=False
    )
    assert from_file.model["params"] == from_dir.model["params"]
    assert all(s > 0 for row in from_file.seconds for s in row)


def test_weights_directory_and_module(tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = dict(TINY)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
    model.save_pretrained(tmp_path)
    cm = measure_cost_model(tmp_path, context_lengths=(4,), draft_tokens=(1,), repeats=1, progress=False)
    assert cm.model["params"] == sum(p.numel() for p in model.parameters())
    cm = measure_cost_model(model, context_lengths=(4,), draft_tokens=(1,), repeats=1, progress=False)
    assert cm.model["name"] == "LlamaForCausalLM"


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(InvalidArgumentError, match="tiny-llama"):
        measure_cost_model("no-such-model", progress=False)
    with pytest.raises(InvalidArgumentError, match="dtype"):
        measure_cost_model("tiny-llama", dtype="int3", progress=False)
    with pytest.raises(InvalidArgumentError, match="max_position_embeddings"):
        measure_cost_model("tiny-llama", context_lengths=(10**6,), progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match="config.json"):
        measure_cost_model(tmp_path / "empty", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgumentError, match="CUDA"):
            measure_cost_model("tiny-llama", device="cuda", progress=False)


def test_presets_are_the_published_architectures():
    assert PRESETS["qwen3-8b"]["num_hidden_layers"] == 36
    assert PRESETS["qwen3-8b"]["intermediate_size"] == 12288
    assert PRESETS["qwen3-0.6b"]["tie_word_embeddings"] is True


def test_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "cost.json"
    argv = ["costmodel", "--model", "tiny-llama", "--context-lengths", "8,32", "--draft-tokens", "1,4"]
    assert main([*argv, "--repeats", "1", "--out", str(out), "--no-progress"]) == 0
    cm = CostModel.load(out)
    assert cm.context_lengths == [8, 32] and cm.draft_tokens == [1, 4]
    printed = capsys.readouterr().out
    assert "| context \\ k | 1 | 4 |" in printed
    assert "step(k) / step(1)" in printed
    assert printed == format_table(cm) + "\n" + f"wrote {out}\n"
    ratios = [line for line in printed.splitlines() if line.startswith("| 8 |")][1]
    assert ratios.split("|")[2].strip() == "1.00"


def test_cli_unknown_preset_lists_presets(tmp_path, capsys):
    assert main(["costmodel", "--model", "gpt-9", "--out", str(tmp_path / "x.json"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "gpt-9" in err and "qwen3-8b" in err and "tiny-llama" in err
    assert not (tmp_path / "x.json").exists()
