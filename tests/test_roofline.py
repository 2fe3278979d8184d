"""Roofline cost model: architecture figures against transformers, a hand-computed step, the GPU/CPU
contrast it exists for, JSON round trip through the one loader, calibration against a measured table,
and the CLI."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
from specscale.bench.costmodel import (
    HARDWARE,
    PRESETS,
    Architecture,
    CostModel,
    Hardware,
    RooflineCostModel,
    architecture_from,
    calibrate,
    hardware_from,
    load_cost_model,
    predict_speedup,
    roofline_errors,
)
from specscale.cli import main
from specscale.errors import CorruptDataError, InvalidArgumentError

QWEN3_8B = architecture_from("qwen3-8b")
H200 = HARDWARE["h200"]
#: Roughly a CPU socket: a few FLOPs per byte of bandwidth, where an H200 has ~200.
CPU_LIKE = Hardware("cpu-like", peak_tflops=0.5, bandwidth_gbs=100.0, overhead_us=0.0)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_counted_parameters_equal_the_transformers_model(name):
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    kwargs = dict(PRESETS[name])
    config = AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
    with torch.device("meta"):  # shapes only: a 32B model costs nothing
        model = AutoModelForCausalLM.from_config(config)
    assert architecture_from(name).counted_params == sum(p.numel() for p in model.parameters())


def test_qwen2_biases_are_counted():
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    figures = {
        "vocab_size": 300,
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    }
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model("qwen2", **figures))
    arch = Architecture.from_config({"model_type": "qwen2", **figures}, name="tiny-qwen2")
    assert arch.attention_bias and arch.counted_params == sum(p.numel() for p in model.parameters())


def test_published_sizes():
    # The model cards: Qwen3-8B 8.2B (6.95B without embeddings), Llama-3.1-8B 8.03B, SmolLM2 135M.
    assert QWEN3_8B.counted_params == 8_190_735_360
    assert architecture_from("llama-3.1-8b").counted_params == 8_030_261_248
    assert architecture_from("smollm2-135m").counted_params == 134_515_008


def test_qwen3_8b_on_h200_matches_a_hand_computation():
    model = RooflineCostModel(QWEN3_8B, H200, dtype="bf16")
    # L = 1024, k = 1. Weights read: 8,190,735,360 parameters, less the untied input embedding
    # (151,936 x 4,096 = 622,329,856) but for its k = 1 row (4,096): 7,568,409,600. KV cache:
    # 2 (K, V) x 36 layers x 8 heads x 128 = 73,728 elements per token, over L + k = 1,025 tokens:
    # 75,571,200. Bytes at bf16: 2 x (7,568,409,600 + 75,571,200) = 15,287,961,600.
    assert QWEN3_8B.step_bytes(1024, 1, 2) == 15_287_961_600
    # FLOPs: 2 x (36 x 192,937,984 + 151,936 x 4,096) = 15,136,194,560 for the matrices, plus
    # 4 x 36 x 32 x 128 x (1 x 1024 + 1) = 604,569,600 for attention: 15,740,764,160.
    assert QWEN3_8B.step_flops(1024, 1) == 15_740_764_160
    # 15.7 GFLOP / 989 TFLOP/s = 16 us, far under 15.29 GB / 4.8 TB/s = 3.185 ms: memory-bound.
    expected = 500e-6 + 15_287_961_600 / 4.8e12
    assert model.step_seconds(1024, 1) == pytest.approx(expected, rel=1e-12)
    assert model.step_seconds(1024, 1) == pytest.approx(3.68499e-3, rel=1e-5)


def test_a_gpu_is_flat_in_k_at_batch_1_while_a_cpu_like_device_pays_for_every_token():
    gpu = RooflineCostModel(QWEN3_8B, H200, dtype="bf16")
    cpu = RooflineCostModel(QWEN3_8B, CPU_LIKE, dtype="bf16")
    ks = range(1, 17)
    gpu_ratios = [gpu.step_seconds(1024, k) / gpu.step_seconds(1024, 1) for k in ks]
    cpu_ratios = [cpu.step_seconds(1024, k) / cpu.step_seconds(1024, 1) for k in ks]
    assert max(gpu_ratios) < 1.01  # verifying 16 tokens costs what verifying 1 does
    assert cpu_ratios[-1] > 3.0  # ... and over three times as much on the CPU-like device
    assert all(b >= a for a, b in itertools.pairwise(cpu_ratios))
    assert all(b > a for a, b in itertools.pairwise(cpu_ratios[7:]))  # compute-bound past k ~ 5


def test_attention_grows_with_the_cache_and_compute_with_k():
    arch, b = QWEN3_8B, 2
    per_token_kv = 2 * arch.layers * arch.kv_heads * arch.head_dim * b
    assert arch.step_bytes(5000, 4, b) - arch.step_bytes(1000, 4, b) == 4000 * per_token_kv
    per_position = 4 * arch.layers * arch.attention_heads * arch.head_dim
    assert arch.step_flops(5000, 4) - arch.step_flops(1000, 4) == 4 * 4000 * per_position
    flops = [arch.step_flops(1000, k) for k in range(1, 65)]
    assert all(b > a for a, b in itertools.pairwise(flops))
    # Weights are read once per step: 64 tokens move barely more bytes than one.
    assert arch.step_bytes(1000, 64, b) / arch.step_bytes(1000, 1, b) < 1.002
    gpu = RooflineCostModel(arch, H200)
    assert gpu.step_seconds(32768, 1) > gpu.step_seconds(1024, 1) + 0.5e-3


def test_predict_speedup_and_the_loader_accept_a_roofline_like_a_measured_table(tmp_path):
    # Infinitely fast hardware: every step costs the overhead, so the speedup is tokens per step.
    overhead_only = Hardware("overhead-only", peak_tflops=1e12, bandwidth_gbs=1e15, overhead_us=1000.0)
    model = RooflineCostModel(QWEN3_8B, overhead_only)
    steps = [(100, 7, 4), (104, 7, 2), (106, 0, 1)]
    assert predict_speedup(steps, model) == pytest.approx(7 / 3, rel=1e-6)
    path = tmp_path / "h200.json"
    model.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "specscale-costmodel/1" and data["kind"] == "roofline"
    assert "not a measurement" in data["note"]
    loaded = load_cost_model(path)
    assert isinstance(loaded, RooflineCostModel) and loaded == model
    assert predict_speedup(steps, loaded) == predict_speedup(steps, model)
    with pytest.raises(CorruptDataError, match="load_cost_model"):
        CostModel.load(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(kind="guess"), "unknown cost model kind 'guess'"),
        (lambda d: d["hardware"].update(bandwidth_gbs=-1), "bandwidth_gbs must be a positive number"),
        (lambda d: d["model"]["config"].update(layers=0), "layers must be an integer >= 1"),
        (lambda d: d["model"]["config"].update(wings=2), "wings"),
        (lambda d: d.pop("hardware"), "missing field 'hardware'"),
        (lambda d: d.update(dtype="int3"), "dtype"),
    ],
)
def test_a_malformed_roofline_file_is_a_clear_error(tmp_path, mutate, message):
    data = RooflineCostModel(QWEN3_8B, H200).to_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptDataError, match="bad.json") as info:
        load_cost_model(path)
    assert message in str(info.value)


def test_bad_figures_and_architectures_are_clear_errors(tmp_path):
    with pytest.raises(InvalidArgumentError, match="peak_tflops"):
        Hardware("x", peak_tflops=0, bandwidth_gbs=1)
    with pytest.raises(InvalidArgumentError, match="overhead_us"):
        Hardware("x", peak_tflops=1, bandwidth_gbs=1, overhead_us=-5)
    with pytest.raises(InvalidArgumentError, match="h200"):
        hardware_from("tpu-v9")
    with pytest.raises(InvalidArgumentError, match="mixture of experts"):
        Architecture.from_config({**PRESETS["qwen3-8b"], "num_experts": 128}, name="moe")
    with pytest.raises(InvalidArgumentError, match="intermediate_size"):
        Architecture.from_config(
            {"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "vocab_size": 10},
            name="partial",
        )
    with pytest.raises(InvalidArgumentError, match="qwen3-8b"):
        architecture_from("gpt-9")
    (tmp_path / "config.json").write_text(json.dumps(PRESETS["qwen3-0.6b"]))
    assert architecture_from(tmp_path).counted_params == architecture_from("qwen3-0.6b").counted_params
    figures = tmp_path / "gpu.json"
    figures.write_text(json.dumps({"peak_tflops": 400, "bandwidth_gbs": 1500, "colour": "red"}))
    with pytest.raises(InvalidArgumentError, match="colour"):
        hardware_from(figures)


def synthetic_measurement(arch: Architecture, hardware: Hardware, dtype: str) -> CostModel:
    truth = RooflineCostModel(arch, hardware, dtype=dtype)
    lengths, ks = [64, 256, 1024], [1, 2, 4, 8, 16, 32, 64]
    return CostModel(
        model={
            "name": arch.name,
            "architecture": "LlamaForCausalLM",
            "params": arch.counted_params,
            "config": {k: v for k, v in PRESETS[arch.name].items() if not isinstance(v, (dict, list))},
        },
        device="cpu",
        dtype=dtype,
        context_lengths=lengths,
        draft_tokens=ks,
        seconds=[[truth.step_seconds(length, k) for k in ks] for length in lengths],
        threads=1,
    )


def test_calibration_recovers_the_figures_of_a_roofline_table():
    one_core = Hardware("truth", peak_tflops=0.06, bandwidth_gbs=12.0, overhead_us=2000.0)
    measured = synthetic_measurement(architecture_from("smollm2-135m"), one_core, "fp32")
    fitted = calibrate(measured)
    assert fitted.hardware.peak_tflops == pytest.approx(0.06, rel=0.01)
    assert fitted.hardware.bandwidth_gbs == pytest.approx(12.0, rel=0.01)
    assert fitted.hardware.overhead_us == pytest.approx(2000.0, rel=0.02)
    assert fitted.dtype == "fp32" and fitted.architecture.params == 134_515_008
    cal = fitted.calibration
    assert cal is not None and cal["fitted"] is True
    assert cal["max_relative_error"] < 0.005
    assert "fitted to cpu, fp32, 1 thread" in fitted.hardware.description


def test_checking_given_figures_reports_their_error():
    one_core = Hardware("truth", peak_tflops=0.06, bandwidth_gbs=12.0, overhead_us=2000.0)
    measured = synthetic_measurement(architecture_from("smollm2-135m"), one_core, "fp32")
    twice_as_fast = dataclasses.replace(one_core, name="guess", peak_tflops=0.12, bandwidth_gbs=24.0)
    checked = calibrate(measured, hardware=twice_as_fast)
    cal = checked.calibration
    assert cal is not None and cal["fitted"] is False and checked.hardware == twice_as_fast
    assert cal["relative_errors"] == roofline_errors(measured, checked)
    # Twice the rates halve the roofline term; the 2 ms overhead stays: errors between -50% and 0.
    assert all(-0.5 < e < 0 for row in cal["relative_errors"] for e in row)
    assert 0.2 < cal["median_relative_error"] < 0.5


def test_cli_roofline_prints_a_model_and_writes_what_replay_reads(tmp_path, capsys):
    out = tmp_path / "h200.json"
    assert main(["costmodel", "--roofline", "h200", "--model", "qwen3-8b", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "roofline model, not a measurement" in printed.splitlines()[0]
    assert "| context \\ k | 1 | 2 | 4 | 8 | 16 | 32 | 64 |" in printed
    assert load_cost_model(out) == RooflineCostModel(QWEN3_8B, H200)
    # Given figures: one changed, or all of them.
    assert (
        main(
            [
                "costmodel",
                "--roofline",
                "h200",
                "--model",
                "qwen3-8b",
                "--bandwidth-gbs",
                "2400",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert load_cost_model(out).hardware.bandwidth_gbs == 2400  # type: ignore[attr-defined]
    argv = [
        "costmodel",
        "--roofline",
        "custom",
        "--model",
        "smollm2-135m",
        "--peak-tflops",
        "0.1",
        "--bandwidth-gbs",
        "20",
        "--overhead-us",
        "0",
        "--dtype",
        "fp32",
        "--context-lengths",
        "512",
        "--draft-tokens",
        "1,32",
    ]
    assert main(argv) == 0
    given = RooflineCostModel(architecture_from("smollm2-135m"), Hardware("custom", 0.1, 20.0, 0.0), "fp32")
    ratio = given.step_seconds(512, 32) / given.step_seconds(512, 1)
    assert ratio > 2  # a CPU-like device: 32 tokens cost several times one
    assert f"| 512 | 1.00 | {ratio:.2f} |" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    cases = [
        (["--roofline", "tpu-v9", "--model", "qwen3-8b"], "rtx4090"),
        (["--roofline", "custom", "--model", "qwen3-8b"], "--peak-tflops and --bandwidth-gbs"),
        (["--roofline", "h200"], "--roofline needs --model"),
        (["--roofline", "h200", "--model", "qwen3-8b", "--device", "cuda"], "--device"),
        (["--model", "tiny-llama"], "needs --model and --out"),
        (["--model", "tiny-llama", "--out", "x.json", "--peak-tflops", "3"], "go with --roofline"),
        (["--calibrate", str(tmp_path / "missing.json")], "missing.json"),
    ]
    for argv, message in cases:
        assert main(["costmodel", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("specscale costmodel: error: "), err
        assert message in err, (argv, err)


def test_cli_calibrate_fits_and_reports_the_error(tmp_path, capsys):
    one_core = Hardware("truth", peak_tflops=0.06, bandwidth_gbs=12.0, overhead_us=2000.0)
    measured = tmp_path / "measured.json"
    synthetic_measurement(architecture_from("smollm2-135m"), one_core, "fp32").save(measured)
    out = tmp_path / "fitted.json"
    assert main(["costmodel", "--calibrate", str(measured), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Roofline fitted to: smollm2-135m")
    assert "median |error| 0.0%" in printed
    fitted = load_cost_model(out)
    assert isinstance(fitted, RooflineCostModel) and fitted.calibration is not None
    assert fitted.hardware.bandwidth_gbs == pytest.approx(12.0, rel=0.01)
    # Checking H200 figures against a CPU table: a poor fit, said on stderr.
    assert main(["costmodel", "--calibrate", str(measured), "--roofline", "h200"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Roofline checked against")
    assert "misses the measured table" in captured.err
    # A table that carries plausibility warnings: said before the fit.
    noisy = json.loads(measured.read_text())
    noisy["warnings"] = ["L=64: k=2 costs 0.50x of k=1; ..."]
    measured.write_text(json.dumps(noisy))
    assert main(["costmodel", "--calibrate", str(measured)]) == 0
    assert "carries 1 plausibility warning(s)" in capsys.readouterr().err
