"""Measured cost model: measurement on a tiny random Llama (robust to noise, warnings on implausible
grids, with an injected clock), JSON round trip, interpolation, speedup prediction, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from specscale.bench import costmodel as costmodel_pkg
from specscale.bench.costmodel import (
    FORMAT,
    PRESETS,
    CostModel,
    StepRecord,
    format_table,
    measure_cost_model,
    plausibility_warnings,
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


# -- robust measurement: warm-up, repeats, medians, spread, warnings ----------------------------------


class ScriptedClock:
    """A clock under which pass number ``n`` of :func:`measure_cost_model` takes ``durations[n]`` seconds.

    The measurement calls the clock just before and just after each pass, in its documented order:
    ``warmup + repeats`` rounds, each over every L and within it every k. ``duration(L, k, round)``
    scripts a pass."""

    def __init__(self, lengths, ks, rounds, duration):
        self.durations = [duration(length, k, r) for r in range(rounds) for length in lengths for k in ks]
        self.calls = 0
        self.now = 100.0

    def __call__(self) -> float:
        if self.calls % 2:  # the end of a pass
            self.now += self.durations[self.calls // 2]
        self.calls += 1
        return self.now


LENGTHS, KS, WARMUP, REPEATS = (8, 32), (1, 4, 8), 2, 3


def measure_with(duration) -> tuple[CostModel, ScriptedClock]:
    clock = ScriptedClock(LENGTHS, KS, WARMUP + REPEATS, duration)
    cm = measure_cost_model(
        "tiny-llama",
        context_lengths=LENGTHS,
        draft_tokens=KS,
        repeats=REPEATS,
        warmup=WARMUP,
        progress=False,
        clock=clock,
    )
    assert clock.calls == 2 * len(clock.durations)  # every pass timed, nothing else
    return cm, clock


def clean(length, k, r):
    """1 ms plus 0.1 ms per token, +10% per 100 tokens of cache; warm-up rounds 50x slower."""
    return (1e-3 + 1e-4 * k) * (1 + length / 1000) * (50 if r < WARMUP else 1)


def test_clean_timer_is_recorded_exactly_without_warnings():
    cm, _ = measure_with(clean)
    for i, length in enumerate(LENGTHS):
        for j, k in enumerate(KS):
            assert cm.seconds[i][j] == pytest.approx(clean(length, k, WARMUP), rel=1e-9)
    # Zero spread proves the 50x slower warm-up rounds were left out.
    assert cm.spread == [[0.0] * len(KS) for _ in LENGTHS]
    assert cm.warnings == []
    assert cm.repeats == REPEATS and cm.warmup == WARMUP and cm.clock == "custom"


@pytest.mark.parametrize("offset", [0, 2, 5, 9, 12])
def test_a_burst_of_load_as_long_as_a_round_moves_no_median(offset):
    # Every round passes over every cell once, so a burst lasting one round's worth of consecutive
    # passes (at any offset) slows each cell at most once: 1 of 3 repeats, and the median holds.
    # Timing cell by cell (all repeats of one cell in a row) would hand the burst to 2 cells whole.
    per_round = len(LENGTHS) * len(KS)
    first = WARMUP * per_round + offset

    def bursty(length, k, r):
        index = r * per_round + LENGTHS.index(length) * len(KS) + KS.index(k)  # the pass's place in time
        return clean(length, k, WARMUP) * (10 if first <= index < first + per_round else 1)

    cm, _ = measure_with(bursty)
    for i, length in enumerate(LENGTHS):
        for j, k in enumerate(KS):
            assert cm.seconds[i][j] == pytest.approx(clean(length, k, WARMUP), rel=1e-9)
    assert not any("costs" in line for line in cm.warnings)


def test_noisy_timer_warns_about_the_spread_of_every_cell():
    def noisy(length, k, r):  # alternate repeats take 1x and 2x
        return clean(length, k, WARMUP) * (1 + (r % 2))

    cm, _ = measure_with(noisy)
    assert all(value > 0.25 for row in cm.spread for value in row)
    spread_lines = [line for line in cm.warnings if "spread" in line]
    assert len(spread_lines) == len(LENGTHS) * len(KS)
    assert spread_lines[0].startswith("L=8 k=1: timed repeats spread")
    # Medians of a 1x, 2x, 1x pattern: the clean figures.
    assert cm.seconds[0][0] == pytest.approx(clean(8, 1, WARMUP), rel=1e-9)


def test_non_monotone_timer_warns_about_each_implausible_figure():
    def bumpy(length, k, r):
        base = clean(length, k, WARMUP)
        if (length, k) == (8, 4):
            return clean(8, 1, WARMUP) * 0.06  # k=4 at 0.06x of k=1 (the symptom)
        if (length, k) == (32, 1):
            return clean(8, 1, WARMUP) * 0.5  # a longer cache cheaper than a shorter one
        if (length, k) == (32, 8):
            return clean(32, 1, WARMUP) * 20  # one pass over 8 tokens dearer than 8 passes over one
        return base

    cm, _ = measure_with(bumpy)
    text = "\n".join(cm.warnings)
    assert "L=8: k=4 costs 0.06x of k=1" in text
    assert "k=1: L=32 costs" in text and "of L=8" in text
    assert "L=32: k=8 costs" in text and "more than 8 passes" in text
    assert len(cm.warnings) == 3
    assert not any("spread" in line for line in cm.warnings)


def test_plausibility_rules_one_by_one():
    lengths, ks = [100, 200], [1, 4, 16]
    hardware_like = [[1.0, 1.2, 2.0], [1.1, 1.3, 2.2]]
    assert plausibility_warnings(lengths, ks, hardware_like, [[0.05] * 3] * 2) == []
    # Within tolerance: a 5% dip on a flat curve is noise a GPU shows, a 16% one a CPU kernel's quirk.
    assert plausibility_warnings(lengths, ks, [[1.0, 0.95, 1.0], [1.0, 1.0, 1.0]]) == []
    assert plausibility_warnings(lengths, ks, [[1.0, 1.2, 2.0], [1.1, 0.92 * 1.1, 2.2]]) == []
    (line,) = plausibility_warnings(lengths, ks, [[1.0, 0.7, 2.0], [1.1, 1.3, 2.2]])
    assert line.startswith("L=100: k=4 costs 0.70x of k=1")
    (line,) = plausibility_warnings(lengths, ks, [[1.0, 1.2, 2.0], [1.1, 1.3, 1.5]])
    assert line.startswith("k=16: L=200 costs 0.75x of L=100")
    (line,) = plausibility_warnings(lengths, ks, [[1.0, 1.2, 25.0], [26.0, 27.0, 28.0]])
    assert "L=100: k=16 costs 25.0x of k=1" in line
    # Up to 1.5x the per-token cost of k=1 passes: CPU kernels can really do that at small k.
    assert plausibility_warnings(lengths, ks, [[1.0, 1.2, 23.0], [26.0, 27.0, 28.0]]) == []
    (line,) = plausibility_warnings(lengths, ks, hardware_like, [[0.05, 0.3, 0.05], [0.05] * 3])
    assert line.startswith("L=100 k=4: timed repeats spread 30%")


def test_cli_prints_each_warning_on_one_stderr_line_and_keeps_them_in_the_json(tmp_path, capsys, monkeypatch):
    from specscale.bench.costmodel import measure

    def noisy(length, k, r):
        return clean(length, k, WARMUP) * (1 + (r % 2))

    clock = ScriptedClock(LENGTHS, KS, WARMUP + REPEATS, noisy)
    original = measure.measure_cost_model  # the CLI passes clock="wall": this one wins
    monkeypatch.setattr(
        measure, "measure_cost_model", lambda *a, **kw: original(*a, **{**kw, "clock": clock})
    )
    out = tmp_path / "cost.json"
    argv = ["costmodel", "--model", "tiny-llama", "--context-lengths", "8,32", "--draft-tokens", "1,4,8"]
    assert (
        main([*argv, "--repeats", str(REPEATS), "--warmup", str(WARMUP), "--out", str(out), "--no-progress"])
        == 0
    )
    captured = capsys.readouterr()
    err_lines = captured.err.splitlines()
    assert len(err_lines) == len(LENGTHS) * len(KS)
    assert all(line.startswith("specscale costmodel: warning: L=") for line in err_lines)
    saved = json.loads(out.read_text())
    assert saved["kind"] == "measured"
    assert [f"specscale costmodel: warning: {w}" for w in saved["warnings"]] == err_lines
    assert saved["spread"][0][0] > 0.25
    assert "6 warning(s): printed on stderr" in captured.out
    assert "largest spread" in captured.out


def test_measurement_arguments_are_checked(tmp_path):
    with pytest.raises(InvalidArgumentError, match="warmup"):
        measure_cost_model("tiny-llama", warmup=-1, progress=False)
    with pytest.raises(InvalidArgumentError, match="repeats"):
        measure_cost_model("tiny-llama", repeats=0, progress=False)
    with pytest.raises(InvalidArgumentError, match="threads"):
        measure_cost_model("tiny-llama", threads=0, progress=False)
    with pytest.raises(InvalidArgumentError, match="threads=1"):
        measure_cost_model("tiny-llama", threads=2, clock="thread", progress=False)
    with pytest.raises(InvalidArgumentError, match="sundial"):
        measure_cost_model("tiny-llama", clock="sundial", progress=False)


def test_the_thread_clock_times_cpu_work_of_one_thread():
    cm = measure_cost_model(
        "tiny-llama",
        context_lengths=(4,),
        draft_tokens=(1, 8),
        repeats=2,
        warmup=1,
        threads=1,
        clock="thread",
        progress=False,
    )
    assert cm.clock == "thread" and cm.threads == 1
    assert all(0 < s < 1 for row in cm.seconds for s in row)


def test_threads_are_set_for_the_measurement_and_restored():
    before = torch.get_num_threads()
    cm = measure_cost_model(
        "tiny-llama", context_lengths=(4,), draft_tokens=(1,), repeats=1, warmup=0, threads=1, progress=False
    )
    assert cm.threads == 1
    assert torch.get_num_threads() == before


def test_old_files_without_the_new_fields_still_load(measured, tmp_path):
    data = measured.to_dict()
    for key in ("kind", "spread", "warnings", "warmup"):
        data.pop(key)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    loaded = CostModel.load(path)
    assert loaded.spread is None and loaded.warnings == []
    assert costmodel_pkg.load_cost_model(path).to_dict()["kind"] == "measured"


def test_pricing_and_the_roofline_cli_never_import_torch(measured, tmp_path):
    path = tmp_path / "cost.json"
    measured.save(path)
    script = f"""
import argparse, sys
import specscale.bench.costmodel as cm
cm.predict_speedup([(8, 3, 2)], cm.load_cost_model({str(path)!r}))
parser = argparse.ArgumentParser()
cm.register(parser.add_subparsers())
args = parser.parse_args(["costmodel", "--roofline", "h200", "--model", "qwen3-8b"])
assert args.run(args) == 0
args = parser.parse_args(["costmodel", "--calibrate", {str(path)!r}])
assert args.run(args) == 0
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
assert not heavy, heavy
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "roofline model, not a measurement" in done.stdout
