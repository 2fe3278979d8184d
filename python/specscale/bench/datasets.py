"""Benchmark problem sets: MATH-500, AIME 2024/2025, GPQA-Diamond and CHAMP, as :class:`Problem` lists.

Files are read from local JSONL (one object per line), JSON (a list of objects), CSV, TSV or Parquet
(Parquet needs ``pandas`` and ``pyarrow``). Field names are matched exactly first, then ignoring case,
spaces, hyphens and underscores (``"Correct Answer"`` == ``correct_answer``).

=============  ==========================================================  ===============================
dataset        fields read (first present wins)                            reference answer
=============  ==========================================================  ===============================
``math500``    question: ``problem`` | ``question``;                       ``answer`` (string); without it,
               answer: ``answer`` (else the last ``\\boxed{}`` of          the solution's last ``\\boxed``
               ``solution``); id: ``unique_id`` | ``id``;
               meta: ``subject``, ``level``, ``solution``
``aime24/25``  question: ``prompt`` | ``problem`` | ``question``;          ``answer`` as an integer string
               answer: ``answer``; id: ``id`` | ``ID`` | ``unique_id``;     (``"033"`` -> ``"33"``)
               optional ``year`` (filters when ``year=`` is given)
``gpqa``       ``Question``, ``Correct Answer``, ``Incorrect Answer 1``,   the letter (``"A"``..``"D"``) of
               ``Incorrect Answer 2``, ``Incorrect Answer 3``, optional     the correct option after a
               ``Record ID``, ``Subdomain``, ``High-level domain``          seeded per-record shuffle; free-
                                                                           form (``gpqa="free"``): the
                                                                           correct option's text
``champ``      the ``champ-dataset`` package (no file): problem text and   ``Problem.answer`` of CHAMP
               answer of its 270 problems
=============  ==========================================================  ===============================

The shipped sets live in ``../shared/data/problems/`` (``math500.jsonl``, ``aime24.jsonl``,
``aime25.jsonl``); :func:`load_dataset` finds them by name. GPQA-Diamond is not shipped (its authors ask
that it not be published in plain text): pass the path of your own copy.

Every :class:`Problem` carries its ``question`` (the problem statement, with the options for multiple
choice) and an ``instruction`` asking for a ``\\boxed{}`` answer; :attr:`Problem.prompt` joins them.
The AIME files' prompts already end in that instruction: it is split off into ``instruction``, so the
question reads the same across datasets (``meta["raw_prompt"]`` keeps the original).

A malformed row raises :class:`DatasetError` naming the file, the line (JSONL, CSV) or row (Parquet,
JSON) and the missing field; a missing file raises :class:`DatasetNotFoundError`.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from specscale.errors import SpecscaleError

__all__ = [
    "BOXED_INSTRUCTION",
    "CHOICE_INSTRUCTION",
    "DATASET_NAMES",
    "DatasetError",
    "DatasetNotFoundError",
    "Problem",
    "champ_solutions",
    "champ_trace_rows",
    "default_shared_dirs",
    "load_aime",
    "load_champ",
    "load_dataset",
    "load_gpqa",
    "load_math500",
    "read_rows",
]

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""The instruction appended to math questions (the wording of the AIME files and Qwen's evaluations)."""

CHOICE_INSTRUCTION = (
    "Please reason step by step, and put the letter of the correct option (A, B, C or D) within \\boxed{}."
)
"""The instruction appended to multiple-choice (GPQA) questions."""

DATASET_NAMES = ("math500", "aime24", "aime25", "gpqa", "champ")
"""Names :func:`load_dataset` accepts besides a path."""

_LETTERS = "ABCDEFGHIJ"


class DatasetError(SpecscaleError, ValueError):
    """A dataset file or row cannot be read as the dataset it should be (the message says where and why)."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset file does not exist (the message lists where it was looked for)."""


@dataclass
class Problem:
    """One benchmark problem.

    Attributes:
        id: stable identifier, unique within its dataset (``"test/precalculus/807.json"``, ``"aime24-0"``).
        dataset: the dataset's name (``"math500"``, ``"aime24"``, ``"gpqa"``, ``"champ"``, ...).
        question: the problem statement (for multiple choice, with the lettered options), no instruction.
        answer: the reference answer as a string (for multiple choice, the letter).
        choices: the options in the order shown (multiple choice only), else None.
        meta: anything else the source carries (subject, level, solution, record id, ...).
        instruction: what to append to the question to ask for a ``\\boxed{}`` answer.
        answer_kind: how answers are graded (:func:`~specscale.bench.answers.grade`): ``"math"``, or
            ``"text"`` for free-form text answers (GPQA without its options).
    """

    id: str
    dataset: str
    question: str
    answer: str
    choices: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    instruction: str = BOXED_INSTRUCTION
    answer_kind: str = "math"

    @property
    def prompt(self) -> str:
        """The user message to send: the question, a newline, and the instruction (if any)."""
        return f"{self.question}\n{self.instruction}" if self.instruction else self.question


# ---------------------------------------------------------------------------------------------------
# Reading rows
# ---------------------------------------------------------------------------------------------------


def _canon(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def read_rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a JSONL, JSON, CSV, TSV or Parquet file, each with a location for error messages.

    The format follows the suffix (``.jsonl``/``.ndjson``, ``.json``, ``.csv``, ``.tsv``, ``.parquet``/
    ``.pq``; anything else is read as JSONL). Blank JSONL lines are skipped.

    Args:
        path: the file.

    Yields:
        ``(where, row)``: ``where`` like ``"data.jsonl line 7"`` or ``"data.parquet row 3"``.

    Raises:
        DatasetNotFoundError: the file does not exist.
        DatasetError: a line is not valid JSON or not an object, the file has no rows, or Parquet is
            asked for without pandas/pyarrow installed.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"dataset file not found: {path} (resolved to {path.resolve()})")
    suffix = path.suffix.lower()
    count = 0
    if suffix in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
            try:
                for row in reader:
                    count += 1
                    # reader.line_num is the physical line where this record ended (quoted fields can span lines)
                    yield f"{path} line {reader.line_num}", {k: v for k, v in row.items() if k is not None}
            except UnicodeDecodeError as e:
                raise DatasetError(
                    f"{path} after line {reader.line_num}: not UTF-8 text; save the file as UTF-8"
                ) from e
    elif suffix in (".parquet", ".pq"):
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError as e:
            raise DatasetError(
                f"reading {path} needs pandas and pyarrow: pip install pandas pyarrow "
                "(or convert the file to JSONL or CSV)"
            ) from e
        try:
            frame = pd.read_parquet(path)
        except ImportError as e:
            raise DatasetError(f"reading {path} needs pyarrow: pip install pyarrow ({e})") from e
        for i, row in enumerate(frame.to_dict(orient="records")):
            count += 1
            yield f"{path} row {i}", row
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}: not valid JSON ({e})") from e
        except UnicodeDecodeError as e:
            raise DatasetError(f"{path}: not UTF-8 text (at byte {e.start}); save the file as UTF-8") from e
        except RecursionError as e:
            raise DatasetError(f"{path}: {_TOO_DEEP}") from e
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise DatasetError(
                f"{path}: expected a JSON list of objects (or JSONL), got {type(data).__name__}"
            )
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise DatasetError(f"{path} row {i}: expected a JSON object, got {type(row).__name__}")
            count += 1
            yield f"{path} row {i}", row
    else:
        with path.open("rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DatasetError(
                        f"{path} line {lineno}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1}); "
                        "save the file as UTF-8"
                    ) from e
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DatasetError(
                        f"{path} line {lineno}: not valid JSON ({e.msg} at column {e.colno})"
                    ) from e
                except RecursionError as e:
                    raise DatasetError(f"{path} line {lineno}: {_TOO_DEEP}") from e
                if not isinstance(row, dict):
                    raise DatasetError(
                        f"{path} line {lineno}: expected a JSON object, got {type(row).__name__}"
                    )
                count += 1
                yield f"{path} line {lineno}", row
    if count == 0:
        raise DatasetError(f"{path}: the file has no rows")


#: json raises RecursionError (cleanly: its parser checks the depth) for input nested deeper than the
#: interpreter's recursion limit; no dataset row is.
_TOO_DEEP = "JSON nested too deeply to parse; a row is an object of texts and lists"


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):  # a missing cell read by pandas
        return True
    return isinstance(v, str) and not v.strip()


def _get(row: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    """The first present, non-empty field among ``names`` (exact, then canonical match), else None."""
    for n in names:
        if n in row and not _is_missing(row[n]):
            return row[n]
    canon = {_canon(k): v for k, v in row.items()}
    for n in names:
        v = canon.get(_canon(n))
        if not _is_missing(v):
            return v
    return None


def _require(row: Mapping[str, Any], names: tuple[str, ...], where: str, dataset: str) -> Any:
    v = _get(row, names)
    if v is None:
        alts = " or ".join(repr(n) for n in names)
        have = ", ".join(repr(k) for k in row) or "none"
        raise DatasetError(f"{where}: {dataset} row is missing the field {alts} (fields present: {have})")
    return v


def _apply_limit(problems: list[Problem], limit: int | None) -> list[Problem]:
    if limit is None:
        return problems
    if limit < 0:
        from specscale.errors import InvalidArgumentError

        raise InvalidArgumentError(f"limit must be >= 0 or None, got {limit}")
    return problems[:limit]


# ---------------------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------------------


def load_math500(path: str | Path, limit: int | None = None) -> list[Problem]:
    """MATH-500 (or any MATH-format file) as problems.

    Fields: ``problem`` (or ``question``) and ``answer``; without ``answer``, the last ``\\boxed{}`` of
    ``solution`` is the reference. Optional: ``unique_id`` / ``id`` (else ``"math500-<index>"``),
    ``subject``, ``level``, ``solution`` (kept in ``meta``).

    Args:
        path: JSONL/JSON/CSV/Parquet file, e.g. ``../shared/data/problems/math500.jsonl``.
        limit: keep only the first ``limit`` problems.

    Raises:
        DatasetError: a row lacks the problem, or both the answer and a boxed solution.
    """
    from specscale.bench.answers import _last_boxed

    problems = []
    for i, (where, row) in enumerate(read_rows(path)):
        question = str(_require(row, ("problem", "question"), where, "math500"))
        answer = _get(row, ("answer",))
        solution = _get(row, ("solution",))
        if answer is None and solution is not None:
            answer = _last_boxed(str(solution))
        if answer is None:
            raise DatasetError(
                f"{where}: math500 row is missing the field 'answer' (and has no 'solution' with a \\boxed{{}} answer)"
            )
        meta: dict[str, Any] = {
            k: row[k] for k in ("subject", "level", "solution") if k in row and not _is_missing(row[k])
        }
        pid = _get(row, ("unique_id", "id"))
        problems.append(
            Problem(
                id=str(pid) if pid is not None else f"math500-{i}",
                dataset="math500",
                question=question,
                answer=str(answer).strip(),
                meta=meta,
            )
        )
        if limit is not None and len(problems) >= limit:
            break
    return _apply_limit(problems, limit)


def _split_instruction(prompt: str) -> tuple[str, str]:
    """``"...problem.\\nPlease reason ... \\boxed{}."`` -> (problem, instruction)."""
    m = re.search(r"\n\s*(Please reason step by step[^\n]*\\boxed\{\}\.?)\s*$", prompt)
    if m:
        return prompt[: m.start()].rstrip(), m.group(1)
    return prompt.strip(), BOXED_INSTRUCTION


def _int_answer(value: Any, where: str) -> str:
    text = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if re.fullmatch(r"[+-]?\d+", text):
        return str(int(text))
    raise DatasetError(
        f"{where}: aime row has a non-integer 'answer' {text!r} (AIME answers are integers 0..999)"
    )


def load_aime(path: str | Path, year: int | None = None, limit: int | None = None) -> list[Problem]:
    """AIME problems (integer answers) as problems.

    Fields: ``prompt`` (or ``problem`` / ``question``) and ``answer`` (an integer, or its string).
    Optional: ``id`` / ``ID`` / ``unique_id`` (else ``"aime<yy>-<index>"``), ``year``. A trailing
    "Please reason step by step ... \\boxed{}." in the prompt becomes the problem's ``instruction``.

    Args:
        path: e.g. ``../shared/data/problems/aime24.jsonl``.
        year: 2024, 24, 2025, ...: names the dataset ``aime24``/``aime25`` and, when rows carry a
            ``year`` field (combined files), keeps only that year's rows. Default: taken from the file
            name (``aime24.jsonl`` -> 2024) when it has one.
        limit: keep only the first ``limit`` problems.

    Raises:
        DatasetError: a row lacks the problem text or the answer, or the answer is not an integer.
    """
    if year is None:
        m = re.search(r"(?:20)?(\d{2})(?!\d)", Path(path).stem)
        year = int(m.group(1)) if m else None
    yy = None if year is None else year % 100
    name = "aime" if yy is None else f"aime{yy:02d}"
    problems = []
    for i, (where, row) in enumerate(read_rows(path)):
        row_year = _get(row, ("year",))
        if yy is not None and row_year is not None:
            try:
                if int(str(row_year).strip()[:4]) % 100 != yy:
                    continue
            except ValueError:
                pass
        raw = str(_require(row, ("prompt", "problem", "question"), where, "aime"))
        answer = _int_answer(_require(row, ("answer",), where, "aime"), where)
        question, instruction = _split_instruction(raw)
        pid = _get(row, ("id", "ID", "unique_id"))
        meta: dict[str, Any] = {"raw_prompt": raw}
        if row_year is not None:
            meta["year"] = row_year
        problems.append(
            Problem(
                id=str(pid) if pid is not None else f"{name}-{i}",
                dataset=name,
                question=question,
                answer=answer,
                meta=meta,
                instruction=instruction,
            )
        )
        if limit is not None and len(problems) >= limit:
            break
    return _apply_limit(problems, limit)


def _gpqa_problem(row: Mapping[str, Any], where: str, index: int, seed: int, free_form: bool = False) -> Problem:
    question = str(_require(row, ("Question",), where, "gpqa")).strip()
    correct = str(_require(row, ("Correct Answer",), where, "gpqa")).strip()
    record = _get(row, ("Record ID", "id"))
    record_id = str(record).strip() if record is not None else f"gpqa-{index}"
    if free_form:
        meta_free: dict[str, Any] = {"record_id": record_id}
        for key, out in (("Subdomain", "subdomain"), ("High-level domain", "domain")):
            v = _get(row, (key,))
            if v is not None:
                meta_free[out] = v
        return Problem(
            id=record_id, dataset="gpqa", question=question, answer=correct, meta=meta_free, answer_kind="text"
        )
    wrong = [str(_require(row, (f"Incorrect Answer {k}",), where, "gpqa")).strip() for k in (1, 2, 3)]
    options = [correct, *wrong]
    # One RNG per record, seeded by the record's id: the order does not depend on file order or on the
    # other rows, and it is the same on every run and platform (str seeds hash with SHA-512).
    random.Random(f"{seed}:{record_id}").shuffle(options)
    correct_index = options.index(correct)
    lines = [question, ""] + [f"{_LETTERS[k]}) {opt}" for k, opt in enumerate(options)]
    meta: dict[str, Any] = {"record_id": record_id, "correct_index": correct_index}
    for key, out in (("Subdomain", "subdomain"), ("High-level domain", "domain")):
        v = _get(row, (key,))
        if v is not None:
            meta[out] = v
    return Problem(
        id=record_id,
        dataset="gpqa",
        question="\n".join(lines),
        answer=_LETTERS[correct_index],
        choices=options,
        meta=meta,
        instruction=CHOICE_INSTRUCTION,
    )


def load_gpqa(path: str | Path, limit: int | None = None, seed: int = 0, free_form: bool = False) -> list[Problem]:
    """GPQA (Diamond, or any GPQA-format file) as four-option multiple-choice problems, or free-form.

    Fields (GPQA's CSV column names; lowercase / snake_case variants such as ``correct_answer`` are
    accepted): ``Question``, ``Correct Answer``, ``Incorrect Answer 1``, ``Incorrect Answer 2``,
    ``Incorrect Answer 3``; optional ``Record ID`` (the problem id; else ``"gpqa-<index>"``),
    ``Subdomain``, ``High-level domain``. The four options are shuffled by an RNG seeded with
    ``(seed, record id)``, so each record's order is deterministic; the question lists them as
    ``A) ...`` to ``D) ...`` and the reference answer is the correct option's letter.

    Args:
        path: your local copy (GPQA is not shipped with specscale), e.g. ``gpqa_diamond.csv``.
        limit: keep only the first ``limit`` problems.
        seed: changes every record's option order (keep 0 to compare with other runs).
        free_form: as SpecTTS-Bench asks GPQA: the question without its options, the correct option's
            text as the reference answer (graded as text, ``answer_kind="text"``); the incorrect options
            are then not needed.

    Raises:
        DatasetError: a row lacks the question, the correct answer or (multiple choice) one of the three
            incorrect ones.
    """
    problems = []
    for i, (where, row) in enumerate(read_rows(path)):
        problems.append(_gpqa_problem(row, where, i, seed, free_form))
        if limit is not None and len(problems) >= limit:
            break
    return _apply_limit(problems, limit)


# ---------------------------------------------------------------------------------------------------
# CHAMP (PyPI package champ-dataset)
# ---------------------------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _champ_dataset(version: str) -> Any:
    """CHAMP's ``Dataset``, loaded once per process (a 70 MB JSON; read-only use)."""
    try:
        import champ_dataset  # type: ignore[import-untyped]
    except ImportError as e:
        raise DatasetError(
            "the CHAMP dataset needs the champ-dataset package: pip install champ-dataset"
        ) from e
    return champ_dataset.load(version)


def load_champ(limit: int | None = None, version: str = "v0") -> list[Problem]:
    """The 270 CHAMP competition math problems (package ``champ-dataset``, MIT) as problems.

    ``id`` is CHAMP's identifier (``"P_Combinatorics_1"``), ``answer`` its reference answer (free-form
    text for some problems, e.g. "239" or a sentence), ``meta`` holds ``category`` and the reference
    ``solution`` (its steps joined by newlines). Loading takes about a second (a 70 MB JSON).

    Raises:
        DatasetError: ``champ-dataset`` is not installed.
    """
    ds = _champ_dataset(version)
    problems = []
    for pid, p in ds.problems.items():
        steps = [s.text for s in (p.solution.steps if p.solution and p.solution.steps else [])]
        problems.append(
            Problem(
                id=str(pid),
                dataset="champ",
                question=p.text,
                answer=str(p.answer),
                meta={"category": p.category, "solution": "\n".join(steps)},
            )
        )
        if limit is not None and len(problems) >= limit:
            break
    return _apply_limit(problems, limit)


def _champ_solution_text(problem: Any, conversation: Any, include_truncated: bool) -> str | None:
    """The model's answer to the message that states the problem (not a concept explanation or summary)."""
    messages = conversation.messages or []
    asked = None
    for k, m in enumerate(messages):
        if m.role == "User" and m.text and problem.text in m.text:
            asked = k
    if asked is None:
        return None
    for m in messages[asked + 1 :]:
        if m.role.startswith("Model."):
            if m.text is None or (m.error is not None and not include_truncated):
                return None
            return m.text
    return None


def champ_solutions(
    models: tuple[str, ...] | list[str] | None = None,
    settings: tuple[str, ...] | list[str] | None = None,
    limit: int | None = None,
    include_truncated: bool = True,
    version: str = "v0",
) -> Iterator[tuple[str, str, list[str]]]:
    """Real model-written solutions from CHAMP, grouped by problem: ready-made replay traces.

    Each CHAMP problem was answered by GPT-3.5, GPT-4, GPT-4 Turbo and PaLM 2 Medium under 18 prompt
    settings (0-shot, 5-shot, with concepts and hints, with partial solutions, ...). For every
    conversation this takes the model's reply to the message that states the problem (not the concept
    explanations before it nor the one-sentence summary after it).

    Args:
        models: keep only these models (``"GPT-3.5"``, ``"GPT-4"``, ``"GPT-4 Turbo"``,
            ``"PaLM 2 Medium"``); default all.
        settings: keep only these prompt settings (``"0-Shot"``, ``"5-Shot"``, ``"No C w/o H"``, ...).
        limit: stop after this many problems.
        include_truncated: keep replies cut at the model's length limit (CHAMP's ``LENGTH_CURRENT``).
        version: the CHAMP release (``"v0"``, the one the package ships).

    Yields:
        ``(problem_id, question, texts)`` with the texts in CHAMP's conversation order; problems with no
        text left after filtering are skipped.

    Raises:
        DatasetError: ``champ-dataset`` is not installed.
    """
    ds = _champ_dataset(version)
    wanted_models = None if models is None else set(models)
    wanted_settings = None if settings is None else set(settings)
    produced = 0
    for pid, p in ds.problems.items():
        if limit is not None and produced >= limit:
            return
        texts = []
        for key, conv in (p.conversations or {}).items():
            model, _, setting = key.partition("|")
            if wanted_models is not None and model not in wanted_models:
                continue
            if wanted_settings is not None and setting not in wanted_settings:
                continue
            text = _champ_solution_text(p, conv, include_truncated)
            if text:
                texts.append(text)
        if texts:
            produced += 1
            yield str(pid), p.text, texts


def champ_trace_rows(**kwargs: Any) -> Iterator[dict[str, Any]]:
    """:func:`champ_solutions` as trace rows ``{"id", "question", "answer", "response": [texts]}``.

    The rows have the shape of ``../shared/data/traces/*.jsonl`` (``question`` + ``response``), so
    writing them one per line gives a file ``specscale replay`` reads. Keyword arguments are those of
    :func:`champ_solutions`.
    """
    answers = {p.id: p.answer for p in load_champ(version=kwargs.get("version", "v0"))}
    for pid, question, texts in champ_solutions(**kwargs):
        yield {"id": pid, "question": question, "answer": answers.get(pid), "response": texts}


# ---------------------------------------------------------------------------------------------------
# By name
# ---------------------------------------------------------------------------------------------------

_SHIPPED = {"math500": "math500.jsonl", "aime24": "aime24.jsonl", "aime25": "aime25.jsonl"}


def default_shared_dirs() -> list[Path]:
    """Where the shared data directory is looked for, in order: ``$SPECSCALE_SHARED``, ``./../shared``,
    ``<repo root>/../shared`` (the repository that holds this package), ``./shared``."""
    import os

    dirs = []
    env = os.environ.get("SPECSCALE_SHARED")
    if env:
        dirs.append(Path(env))
    repo_root = Path(__file__).resolve().parents[3]
    dirs += [Path.cwd() / ".." / "shared", repo_root / ".." / "shared", Path.cwd() / "shared"]
    seen, out = set(), []
    for d in dirs:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _guess_kind(path: Path) -> str:
    stem = path.name.lower()
    for kind in ("gpqa", "aime", "math"):
        if kind in stem:
            return "math500" if kind == "math" else kind
    where, row = next(read_rows(path))
    keys = {_canon(k) for k in row}
    if "correctanswer" in keys:
        return "gpqa"
    if "prompt" in keys or (
        {"problem", "answer"} <= keys and "solution" not in keys and "subject" not in keys
    ):
        return "aime"
    if "problem" in keys or "question" in keys:
        return "math500"
    raise DatasetError(
        f"{where}: cannot tell which dataset this file is (fields: {sorted(row)}); "
        "pass kind='math500' | 'aime' | 'gpqa'"
    )


def load_dataset(
    name_or_path: str | Path,
    limit: int | None = None,
    shared_dir: str | Path | None = None,
    kind: str | None = None,
    gpqa: str = "choice",
) -> list[Problem]:
    """Problems by dataset name or from a file.

    Names: ``math500``, ``aime24``, ``aime25`` (read from ``<shared>/data/problems/<name>.jsonl``),
    ``champ`` (the ``champ-dataset`` package), ``gpqa`` (not shipped: give the path of your copy
    instead, e.g. ``load_dataset("data/gpqa_diamond.csv")``). Anything else is a path; its dataset
    is ``kind``, else guessed from the file name (``gpqa``, ``aime``, ``math`` in it), else from the
    first row's fields.

    Args:
        name_or_path: a name above or a file path.
        limit: keep only the first ``limit`` problems (``--limit`` of the benchmark).
        shared_dir: the shared data directory; default: the first of :func:`default_shared_dirs`
            that holds the file.
        kind: ``"math500"``, ``"aime"`` or ``"gpqa"`` to read a path as that format.
        gpqa: GPQA as ``"choice"`` (four lettered options) or ``"free"`` (free-form, see :func:`load_gpqa`).

    Raises:
        DatasetNotFoundError: the file is absent (the message lists every place looked in), or
            ``gpqa`` was asked for by name.
        DatasetError: a malformed row, or an unknown ``kind``.
    """
    text = str(name_or_path)
    key = text.lower()
    if key == "champ":
        return load_champ(limit=limit)
    if key == "gpqa":
        raise DatasetNotFoundError(
            "GPQA-Diamond is not shipped (its authors ask that it not be published in plain text): "
            "pass the path of your local copy, e.g. load_dataset('gpqa_diamond.csv') or --dataset path/to/gpqa.csv"
        )
    if key in _SHIPPED:
        dirs = [Path(shared_dir)] if shared_dir is not None else default_shared_dirs()
        candidates = [d / "data" / "problems" / _SHIPPED[key] for d in dirs]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            looked = ", ".join(str(c.resolve()) for c in candidates)
            raise DatasetNotFoundError(
                f"dataset {key!r}: {_SHIPPED[key]} not found; looked in: {looked} "
                "(set shared_dir= or $SPECSCALE_SHARED to the directory holding data/problems/)"
            )
        if key == "math500":
            return load_math500(found, limit=limit)
        return load_aime(found, year=2000 + int(key[4:]), limit=limit)
    path = Path(name_or_path)
    if not path.exists():
        raise DatasetNotFoundError(
            f"{text!r} is neither a dataset name ({', '.join(DATASET_NAMES)}) nor an existing file "
            f"(looked for {path.resolve()})"
        )
    kind = kind or _guess_kind(path)
    if kind == "math500" or kind == "math":
        return load_math500(path, limit=limit)
    if kind.startswith("aime"):
        year = 2000 + int(kind[4:]) if kind[4:].isdigit() else None
        return load_aime(path, year=year, limit=limit)
    if kind == "gpqa":
        if gpqa not in ("choice", "free"):
            raise DatasetError(f"gpqa must be 'choice' or 'free', got {gpqa!r}")
        return load_gpqa(path, limit=limit, free_form=gpqa == "free")
    raise DatasetError(
        f"unknown dataset kind {kind!r}: expected 'math500', 'aime', 'aime24', 'aime25' or 'gpqa'"
    )
