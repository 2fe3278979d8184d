"""The SpecTTS-Bench protocol as its code runs: prompts and rounds, free-form GPQA, warm-ups, the Overall
column, provenance, device choices; and the preset end to end on a tiny model directory."""

from __future__ import annotations

import csv
import json

import pytest
from char_tokenizer import CharTokenizer
from specscale.bench.answers import grade
from specscale.bench.datasets import Problem, load_dataset
from specscale.bench.prompts import SPECTTS_ROUND_TEMPLATE, round_prompt
from specscale.bench.runner import BenchConfig, read_units, run_bench
from specscale.cli import main
from tiny_models import tiny_model

QUESTION = Problem(id="q", dataset="toy", question="What is 2+2?", answer="4", instruction="")


def test_round_two_is_the_question_and_the_text_after_the_last_think_close():
    text = "  <think>maybe 5</think> no </think>\n\nThe answer is \\boxed{4}.\n"
    prompt = round_prompt(QUESTION, text, SPECTTS_ROUND_TEMPLATE, "after-think")
    assert prompt == (
        "What is 2+2?\nPreviously I tried to solve the problem. Now I need to double check and verify my "
        "previous answer and re-answer the question. My previous answer is: <answer> \n\nThe answer is "
        "\\boxed{4}. </answer>, and please re-answer."
    )
    # No </think>, or nothing after it: the bare question.
    assert round_prompt(QUESTION, "I think it is 4", SPECTTS_ROUND_TEMPLATE, "after-think") == "What is 2+2?"
    assert round_prompt(QUESTION, "4 </think>  ", SPECTTS_ROUND_TEMPLATE, "after-think") == "What is 2+2?"
    # The project's own feedback keeps the whole text when there is no think block.
    assert "I think it is 4" in round_prompt(QUESTION, "I think it is 4")


def _gpqa_file(path):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "Record ID",
                "Question",
                "Correct Answer",
                "Incorrect Answer 1",
                "Incorrect Answer 2",
                "Incorrect Answer 3",
            ]
        )
        w.writerow(
            [
                "rec1",
                "Which energy difference resolves the two levels?",
                "10^-4 eV",
                "10^-8 eV",
                "10^-9 eV",
                "10^-11 eV",
            ]
        )
        w.writerow(["rec2", "Name the product.", "3-ethylpent-2-ene", "hexane", "pentene", "octane"])
    return path


def test_gpqa_free_form_drops_the_options_and_grades_the_answer_text(tmp_path):
    path = _gpqa_file(tmp_path / "gpqa_diamond.csv")
    free = load_dataset(path, gpqa="free")
    assert [p.question for p in free] == [
        "Which energy difference resolves the two levels?",
        "Name the product.",
    ]
    assert [p.answer for p in free] == ["10^-4 eV", "3-ethylpent-2-ene"] and all(
        p.choices is None for p in free
    )
    assert all(p.answer_kind == "text" for p in free)
    assert grade("10^{-4} \\text{ eV}", "10^-4 eV", "text") and not grade("10^{-8} eV", "10^-4 eV", "text")
    assert grade("\\text{3-Ethylpent-2-ene}", "3-ethylpent-2-ene", "text")
    choice = load_dataset(path)
    assert choice[0].answer in "ABCD" and "A) " in choice[0].question


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", 97, scale=4.0)


def _toy(tmp_path, name, start):
    path = tmp_path / f"{name}_math.jsonl"
    rows = [
        {"problem": f"Compute {i}+{i}. Then {i}+{i} again.", "answer": str(2 * i), "unique_id": f"{name}/{i}"}
        for i in range(start, start + 2)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_warm_ups_run_uncounted_and_reports_carry_provenance_and_overall(model, tmp_path, capsys):
    datasets = [_toy(tmp_path, "a", 1), _toy(tmp_path, "b", 5)]
    config = BenchConfig(
        datasets=datasets, methods=["ar", "sam"], regimes=["bon"], limit=1, n=2, max_new_tokens=16,
        resamples=50, chat_template="off", warmup=2, prompt_style="raw",
    )  # fmt: skip
    result = run_bench(
        config, tmp_path / "out", model=model, tokenizer=CharTokenizer(), progress=False, plots=False
    )
    err = capsys.readouterr().err
    assert "warmed up ar (2 generations" in err and "warmed up sam (2 generations" in err
    units = read_units(tmp_path / "out" / "units.jsonl")
    assert len(units) == 4 and all(len(u["samples"]) == 2 for u in units)  # warm-ups recorded nowhere
    assert all(
        u["samples"][0]["prompt_ids"] == CharTokenizer().encode(f"Compute {k}+{k}. Then {k}+{k} again.")
        for u, k in zip(units, (1, 1, 5, 5))
    )
    meta = json.loads((tmp_path / "out" / "results.json").read_text())["meta"]
    for key in ("device", "device_name", "dtype", "versions", "threads", "timestamp", "model", "git"):
        assert key in meta, key
    assert meta["device"] == "cpu" and meta["dtype"] == "fp32" and meta["versions"]["torch"]
    assert set(meta["versions"]) >= {"torch", "transformers", "specscale", "python"}
    (overall,) = result["overall"]
    assert overall["dataset"] == "overall" and overall["methods"]["sam"]["problems"] == 2
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| regime | method | a_math.jsonl | b_math.jsonl | Overall |" in md.replace(
        str(tmp_path) + "/", ""
    )


def test_the_spectts_preset_runs_on_a_tiny_model_with_every_reference_row_drafting(model, tmp_path):
    """`specscale bench --protocol spectts --limit 1 --model DIR` (with the files the reference rows need)
    completes on the CPU: every reference row proposes draft nodes, results.json records it, and the
    report has its Overall column. Fewer samples and tokens than the protocol's, to keep it short."""
    from char_tokenizer import save_char_tokenizer
    from eagle_training import random_head
    from specscale import SuffixAutomaton
    from specscale.bench.runner import SPECTTS_REFERENCE_METHODS
    from specscale.drafters.retrieval import save_store

    model.save_pretrained(tmp_path / "target")
    save_char_tokenizer(tmp_path / "target")
    tiny_model("llama", 97, seed=3, scale=4.0).save_pretrained(tmp_path / "draft")
    random_head(model, seed=1).save_pretrained(tmp_path / "eagle3")
    corpus = SuffixAutomaton(counts=True)
    corpus.extend(CharTokenizer().encode("Compute 1+1. Then 1+1 again. The answer is 2."))
    save_store(corpus, tmp_path / "corpus.spsc")
    gpqa = _gpqa_file(tmp_path / "gpqa_diamond.csv")
    argv = [
        "bench", "--protocol", "spectts", "--model", str(tmp_path / "target"), "--limit", "1",
        "--datasets", _toy(tmp_path, "math", 1), "--gpqa", str(gpqa),
        "--methods", ",".join(["ar", *SPECTTS_REFERENCE_METHODS]),
        "--max-new-tokens", "40", "--n", "2", "--rounds-temperatures", "0", "--warmup", "1",
        "--device", "cpu", "--dtype", "fp32", "--draft-model", str(tmp_path / "draft"),
        "--eagle3-head", str(tmp_path / "eagle3"), "--rest-store", str(tmp_path / "corpus.spsc"),
        "--out", str(tmp_path / "out"), "--no-plots", "--bootstrap", "50",
    ]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {g["dataset"] for g in results["groups"]} == {str(gpqa), _toy(tmp_path, "math", 1)}
    assert (
        results["meta"]["config"]["prompt_style"] == "raw"
        and results["meta"]["config"]["feedback"] == "after-think"
    )
    for group in results["overall"]:
        for name in SPECTTS_REFERENCE_METHODS:
            assert group["methods"][name]["draft_tokens"] > 0, (group["regime"], name)
        assert group["methods"]["ar"]["draft_tokens"] == 0
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| Overall |" in md
    units = read_units(tmp_path / "out" / "units.jsonl")
    gpqa_units = [u for u in units if u["dataset"] == str(gpqa)]
    assert gpqa_units and all(u["reference"] == "10^-4 eV" for u in gpqa_units)
    # The raw question, no options and no instruction, is what the model read.
    prompt = CharTokenizer().decode(gpqa_units[0]["samples"][0]["prompt_ids"])
    assert prompt == "Which energy difference resolves the two levels?"


def test_the_draft_model_and_the_eagle3_head_follow_the_targets_dtype(tmp_path):
    import torch
    from eagle_training import random_head
    from specscale import methods

    target = tiny_model("llama", 97, scale=4.0).to(torch.bfloat16)
    tiny_model("llama", 97, seed=3).save_pretrained(tmp_path / "draft")  # saved in float32
    random_head(tiny_model("llama", 97, scale=4.0), seed=1).save_pretrained(tmp_path / "head")
    settings = methods.settings_map(
        {"sps": {"draft_model": str(tmp_path / "draft")}, "eagle3": {"head": str(tmp_path / "head")}}
    )
    for name in ("sps", "sps+"):
        drafter = methods.get(name).open(settings, target=target).drafter()
        assert next(drafter.model.parameters()).dtype == torch.bfloat16, name
    head = methods.get("eagle3").open(settings, target=target).drafter().head
    assert head.fc.weight.dtype == torch.bfloat16
