"""Dataset loaders: the shipped problem sets, file formats, GPQA from a synthetic CSV, bad rows, CHAMP."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from specscale.bench.answers import answers_match, extract_answer
from specscale.bench.datasets import (
    BOXED_INSTRUCTION,
    CHOICE_INSTRUCTION,
    DatasetError,
    DatasetNotFoundError,
    Problem,
    load_aime,
    load_dataset,
    load_gpqa,
    load_math500,
    read_rows,
)
from specscale.errors import SpecscaleError

SHARED = (Path(__file__).resolve().parents[1] / "../shared").resolve()
PROBLEMS = SHARED / "data" / "problems"
needs_shared = pytest.mark.skipif(
    not PROBLEMS.is_dir(), reason=f"shared problem sets not found at {PROBLEMS} (../shared is absent)"
)


# ---------------------------------------------------------------------------------------------------
# The shipped sets
# ---------------------------------------------------------------------------------------------------


@needs_shared
def test_math500_from_shared() -> None:
    problems = load_math500(PROBLEMS / "math500.jsonl")
    assert len(problems) == 500
    assert len({p.id for p in problems}) == 500
    first = problems[0]
    assert first.id == "test/precalculus/807.json" and first.dataset == "math500"
    assert first.question.startswith("Convert the point $(0,3)$")
    assert first.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first.meta["subject"] == "Precalculus" and first.meta["level"] == 2
    assert first.choices is None
    assert first.prompt == first.question + "\n" + BOXED_INSTRUCTION
    # Every reference agrees with its own worked solution's boxed answer.
    agree = sum(answers_match(extract_answer(p.meta["solution"]), p.answer) for p in problems)
    assert agree == len(problems)


@needs_shared
@pytest.mark.parametrize(("name", "first_answer"), [("aime24", "204"), ("aime25", "70")])
def test_aime_from_shared(name: str, first_answer: str) -> None:
    problems = load_aime(PROBLEMS / f"{name}.jsonl")
    assert len(problems) == 30
    assert all(p.dataset == name for p in problems)
    assert problems[0].answer == first_answer and problems[0].id == f"{name}-0"
    for p in problems:
        assert p.answer.isdigit() and 0 <= int(p.answer) <= 999
        # The instruction the files append is split off, so the question is the bare problem ...
        assert "\\boxed{}" not in p.question and p.instruction == BOXED_INSTRUCTION
        # ... and the prompt is the file's prompt, unchanged.
        assert p.prompt == p.meta["raw_prompt"]


@needs_shared
def test_load_dataset_by_name_and_limit() -> None:
    assert len(load_dataset("math500", limit=5)) == 5
    assert [p.id for p in load_dataset("aime25", limit=3, shared_dir=SHARED)] == [
        "aime25-0",
        "aime25-1",
        "aime25-2",
    ]
    assert len(load_dataset("AIME24")) == 30
    assert load_dataset(PROBLEMS / "aime24.jsonl", limit=1)[0].dataset == "aime24"
    assert load_dataset(str(PROBLEMS / "math500.jsonl"), limit=0) == []


def test_load_dataset_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="math500.jsonl not found; looked in: .*nowhere") as err:
        load_dataset("math500", shared_dir=tmp_path / "nowhere")
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, SpecscaleError)
    with pytest.raises(DatasetNotFoundError, match="GPQA-Diamond is not shipped.*path of your local copy"):
        load_dataset("gpqa")
    with pytest.raises(DatasetNotFoundError, match="neither a dataset name"):
        load_dataset(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------------

MATH_ROWS = [
    {"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$.", "answer": "2", "subject": "Algebra",
     "level": 1, "unique_id": "a/1"},
    {"problem": "Halve one.", "solution": "$\\boxed{\\frac12}$", "answer": "\\frac{1}{2}", "subject": "Algebra",
     "level": 2, "unique_id": "a/2"},
]  # fmt: skip


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_math_jsonl_csv_json_agree(tmp_path: Path) -> None:
    a = load_math500(_write_jsonl(tmp_path / "m.jsonl", MATH_ROWS))
    b = load_math500(_write_csv(tmp_path / "m.csv", MATH_ROWS))
    (tmp_path / "m.json").write_text(json.dumps(MATH_ROWS))
    c = load_math500(tmp_path / "m.json")
    assert [p.answer for p in a] == [p.answer for p in b] == [p.answer for p in c] == ["2", "\\frac{1}{2}"]
    assert [p.id for p in a] == [p.id for p in b] == ["a/1", "a/2"]
    assert a[1].question == b[1].question == "Halve one."


def test_parquet(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas", reason="Parquet needs pandas")
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    path = tmp_path / "m.parquet"
    pd.DataFrame(MATH_ROWS).to_parquet(path)
    problems = load_math500(path)
    assert [p.answer for p in problems] == ["2", "\\frac{1}{2}"]


def test_parquet_without_pandas_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError, installed or not
    path = tmp_path / "m.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match="pip install pandas pyarrow"):
        load_math500(path)


def test_math500_answer_from_solution_when_absent(tmp_path: Path) -> None:
    rows = [{"problem": "p", "solution": "so \\boxed{\\frac{1}{2}} indeed"}]
    assert load_math500(_write_jsonl(tmp_path / "m.jsonl", rows))[0].answer == "\\frac{1}{2}"


def test_aime_variants(tmp_path: Path) -> None:
    rows = [
        {"problem": "Find it.", "answer": "033", "year": 2025, "id": "x"},
        {"question": "Another.", "answer": 7.0, "year": "2024"},
    ]
    path = _write_jsonl(tmp_path / "combined.jsonl", rows)
    both = load_aime(path)
    assert [p.answer for p in both] == ["33", "7"] and both[0].id == "x" and both[0].dataset == "aime"
    assert both[0].question == "Find it." and both[0].instruction == BOXED_INSTRUCTION
    only25 = load_aime(path, year=2025)
    assert [p.dataset for p in only25] == ["aime25"] and only25[0].answer == "33"


# ---------------------------------------------------------------------------------------------------
# GPQA (synthetic rows in GPQA's format; the real set is not published in plain text)
# ---------------------------------------------------------------------------------------------------

GPQA_ROWS = [
    {
        "Record ID": f"rec{i}",
        "Question": f"Synthetic question {i}: which option is right?",
        "Correct Answer": f"right {i}",
        "Incorrect Answer 1": f"wrong a{i}",
        "Incorrect Answer 2": f"wrong b{i}",
        "Incorrect Answer 3": f"wrong c{i}",
        "Subdomain": "Made-up physics",
        "High-level domain": "Physics",
    }
    for i in range(12)
]


def test_gpqa_csv(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "gpqa_diamond.csv", GPQA_ROWS)
    problems = load_gpqa(path)
    assert len(problems) == 12
    for i, p in enumerate(problems):
        assert p.id == f"rec{i}" and p.dataset == "gpqa"
        assert p.choices is not None and sorted(p.choices) == sorted(
            [f"right {i}", f"wrong a{i}", f"wrong b{i}", f"wrong c{i}"]
        )
        assert p.answer in "ABCD" and p.choices["ABCD".index(p.answer)] == f"right {i}"
        assert f"{p.answer}) right {i}" in p.question and p.question.startswith(f"Synthetic question {i}")
        assert p.instruction == CHOICE_INSTRUCTION and p.meta["subdomain"] == "Made-up physics"
    # The shuffle is real (not always A) and deterministic: per record, independent of the other rows.
    assert len({p.answer for p in problems}) > 1
    again = load_gpqa(path)
    assert [p.choices for p in again] == [p.choices for p in problems]
    alone = load_gpqa(_write_csv(tmp_path / "one.csv", GPQA_ROWS[5:6]))
    assert alone[0].choices == problems[5].choices
    assert [p.choices for p in load_gpqa(path, seed=1)] != [p.choices for p in problems]
    # By path through load_dataset (kind guessed from the file name), with a limit.
    assert [p.id for p in load_dataset(path, limit=2)] == ["rec0", "rec1"]
    # A model's "The answer is (X)" is scored against the letter.
    assert answers_match(extract_answer(f"... The answer is ({problems[0].answer})."), problems[0].answer)


def test_gpqa_lowercase_columns_and_guessing_by_fields(tmp_path: Path) -> None:
    rows = [{k.lower().replace(" ", "_"): v for k, v in r.items()} for r in GPQA_ROWS[:3]]
    path = _write_jsonl(tmp_path / "data.jsonl", rows)  # nothing in the name says gpqa
    problems = load_dataset(path)
    assert [p.dataset for p in problems] == ["gpqa"] * 3
    assert [p.choices for p in problems] == [
        p.choices for p in load_gpqa(_write_csv(tmp_path / "g.csv", GPQA_ROWS[:3]))
    ]


# ---------------------------------------------------------------------------------------------------
# Bad input: the error names the file, the line and the field
# ---------------------------------------------------------------------------------------------------


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(MATH_ROWS[0]) + "\n\n" + json.dumps({"answer": "3", "level": 1}) + "\n")
    with pytest.raises(
        DatasetError, match=r"m\.jsonl line 3: math500 row is missing the field 'problem' or 'question'"
    ) as err:
        load_math500(path)
    assert isinstance(err.value, ValueError) and isinstance(err.value, SpecscaleError)
    path.write_text(json.dumps({"problem": "no answer, no solution"}) + "\n")
    with pytest.raises(DatasetError, match="line 1: .*missing the field 'answer'"):
        load_math500(path)


def test_bad_json_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"prompt": "p", "answer": 1}\n{"prompt": "q", "answer": \n')
    with pytest.raises(DatasetError, match=r"a\.jsonl line 2: not valid JSON"):
        load_aime(path)
    path.write_text('["not", "an", "object"]\n')
    with pytest.raises(DatasetError, match="line 1: expected a JSON object, got list"):
        load_aime(path)


def test_empty_file(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.csv"):
        path = tmp_path / name
        path.write_text("\n" if name.endswith("jsonl") else "")
        with pytest.raises(DatasetError, match="the file has no rows"):
            load_math500(path)


def test_aime_non_integer_answer(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "aime24.jsonl", [{"prompt": "p", "answer": "1/2"}])
    with pytest.raises(DatasetError, match="line 1: aime row has a non-integer 'answer' '1/2'"):
        load_aime(path)


def test_gpqa_missing_incorrect_answer_names_csv_line(tmp_path: Path) -> None:
    rows = [dict(r) for r in GPQA_ROWS[:3]]
    rows[1]["Incorrect Answer 3"] = ""
    path = _write_csv(tmp_path / "gpqa.csv", rows)
    # The header is line 1, so the second record is on line 3.
    with pytest.raises(
        DatasetError, match=r"gpqa\.csv line 3: gpqa row is missing the field 'Incorrect Answer 3'"
    ):
        load_gpqa(path)


def test_read_rows_locations(tmp_path: Path) -> None:
    rows = list(read_rows(_write_csv(tmp_path / "m.csv", MATH_ROWS)))
    assert [where.rsplit(" ", 2)[1:] for where, _ in rows] == [["line", "2"], ["line", "3"]]
    with pytest.raises(DatasetNotFoundError, match="dataset file not found"):
        list(read_rows(tmp_path / "nope.jsonl"))


def test_problem_is_a_plain_dataclass() -> None:
    p = Problem(id="1", dataset="d", question="q", answer="a")
    assert p.choices is None and p.meta == {} and p.prompt == "q\n" + BOXED_INSTRUCTION
    assert Problem(id="1", dataset="d", question="q", answer="a", instruction="").prompt == "q"


# ---------------------------------------------------------------------------------------------------
# CHAMP (optional package champ-dataset)
# ---------------------------------------------------------------------------------------------------


def test_champ_problems_and_solutions() -> None:
    pytest.importorskip("champ_dataset", reason="champ-dataset is not installed (pip install champ-dataset)")
    from specscale.bench.datasets import champ_solutions, champ_trace_rows, load_champ

    problems = load_champ()
    assert len(problems) == 270 and len({p.id for p in problems}) == 270
    assert problems[0].id == "P_Combinatorics_1" and problems[0].answer == "239"
    assert load_dataset("champ", limit=4) == problems[:4]

    everything = list(champ_solutions(limit=2))
    assert len(everything) == 2
    pid, question, texts = everything[0]
    assert pid == "P_Combinatorics_1" and question == problems[0].question
    assert len(texts) == 72  # 4 models x 18 prompt settings
    # Replies to the problem itself: long worked solutions, not one-sentence summaries.
    assert sum(len(t) for t in texts) / len(texts) > 500

    gpt4 = list(champ_solutions(models=["GPT-4"], settings=["0-Shot", "5-Shot"], limit=3))
    assert [len(t) for _, _, t in gpt4] == [2, 2, 2]

    row = next(champ_trace_rows(models=["GPT-4"], limit=1))
    assert set(row) == {"id", "question", "answer", "response"} and row["answer"] == "239"
    assert len(row["response"]) == 18 and all(isinstance(t, str) and t for t in row["response"])
