"""Final-answer extraction, normalisation of math answers, majority vote and accuracy.

The pipeline a benchmark applies to every generated text::

    pred = extract_answer(text)          # "\\boxed{\\dfrac12}"  ->  "\\dfrac12"
    ok = answers_match(pred, reference)  # normalises both: "\\frac{1}{2}" == "0.5"

* :func:`extract_answer` takes the last ``\\boxed{...}`` (nested braces, ``\\fbox``, ``\\boxed 5``), else
  the last "final answer is X" / "the answer is (B)" / "Answer: X"; when the text has a ``</think>``
  the part after it (the model's final answer) is searched first.
* :func:`normalize_answer` maps the spellings of one math answer to one string (``\\dfrac`` ->
  ``\\frac``, ``\\frac12`` -> ``\\frac{1}{2}``, units, ``$``, ``\\left``, degrees, percent, ``1,000``,
  leading zeros, ``x = 5``, ``(B)``).
* :func:`answers_match` compares normalised strings, then exact rationals (``0.5`` == ``\\frac{1}{2}``
  == ``1/2``), then comma-separated tuples element by element, then (only when ``sympy`` is importable;
  it is not a dependency) a symbolic check on small expressions.
* :func:`majority_vote`, :func:`accuracy`, :func:`majority_accuracy` and :func:`pass_at_n` aggregate.

All functions are pure and cheap (microseconds per answer without sympy); none raises on odd text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import lru_cache

__all__ = [
    "accuracy",
    "answers_match",
    "extract_answer",
    "grade",
    "is_correct",
    "majority_accuracy",
    "majority_vote",
    "normalize_answer",
    "pass_at_n",
]

# ---------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_THINK_END = "</think>"
# "final answer is X", "The answer is: X", "Answer: X", "**Answer:** X"; the capture is the rest of the line.
_ANSWER_RE = re.compile(
    r"(?:final\s+answer|the\s+answer|\banswer)\s*(?:is|:|is\s*:|would\s+be|will\s+be)\**\s*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)
_CHOICE_RE = re.compile(
    r"^\**\s*(?:\$?\\?(?:text\{|textbf\{|mathrm\{)?)?\(?(?P<letter>[A-J])\)?\}?\$?(?=[\s.,:;)*]|$)"
)


def _match_braces(text: str, open_idx: int) -> str | None:
    """Content of the brace group opening at ``text[open_idx] == "{"``; None when it never closes."""
    depth = 0
    i = open_idx
    while i < len(text):
        c = text[i]
        if c == "\\":  # an escaped char (\{, \}, \\) never opens or closes a group
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[open_idx + 1 : i]
        i += 1
    return None


def _last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed X`` in ``text``."""
    for m in reversed(list(_BOX_RE.finditer(text))):
        j = m.end()
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            content = _match_braces(text, j)
            if content is not None and content.strip():
                return content.strip()
        elif j > m.end():  # "\boxed 5": up to the next space or math delimiter
            word = re.match(r"[^\s$]+", text[j:])
            if word:
                return word.group(0).rstrip(".,;")
    return None


# "the answer is not obvious", "check that the answer is correct": prose, not an answer.
_PROSE_START = re.compile(
    r"(?i)(?:not|correct|incorrect|wrong|right|that|the|to|a|an|in|of|on|at|by|for|with|clearly|indeed|"
    r"likely|probably|therefore|thus|so|as|because|given|found|obtained|still|also|then|here|what|which|"
    r"how|we|it|this|negative|positive|an?\s+integer|reasonable|consistent|valid|different|same)\b"
)


def _clean_line_answer(rest: str) -> str | None:
    """Trim a captured "answer is ..." line down to the answer itself; None when it reads as prose."""
    choice = _CHOICE_RE.match(rest.strip())
    if choice:
        return choice.group("letter")
    s = rest.strip().strip("*").strip()
    if _PROSE_START.match(s):
        return None
    boxed = _last_boxed(s)
    if boxed is not None:
        return boxed
    # inline math: take the first $...$ / \(...\) group when the line has one
    m = re.search(r"\$\$?(.+?)\$\$?|\\\((.+?)\\\)|\\\[(.+?)\\\]", s)
    if m:
        s = next(g for g in m.groups() if g is not None)
    else:
        s = re.split(r"\.\s", s, maxsplit=1)[0]  # "5. Let me check..." -> "5" (decimals have no space)
    s = s.strip().rstrip(".").strip()
    return s or None


def _extract_from(text: str) -> str | None:
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    best: str | None = None
    for m in _ANSWER_RE.finditer(text):  # the last marker that yields something wins
        cand = _clean_line_answer(m.group("rest"))
        if cand is not None:
            best = cand
    return best


def extract_answer(text: str | None) -> str | None:
    """The final answer written in a model's response, or None when it states none.

    Looks for, in order: the last ``\\boxed{...}`` (nested braces balanced; also ``\\fbox{...}`` and
    ``\\boxed 5``), else the last line of the form "final answer is X", "The answer is (B)" (a
    multiple-choice letter A-J is returned bare), "Answer: X". When ``</think>`` occurs, the text after
    its last occurrence is searched first and the thinking only if that yields nothing.

    Args:
        text: a generated response (any length).

    Returns:
        The answer as written (not normalised; see :func:`normalize_answer`), or None.

    Example:
        >>> extract_answer("so $x = \\\\boxed{\\\\frac{1}{2}}$.")
        '\\\\frac{1}{2}'
        >>> extract_answer("<think>maybe (A)</think> The answer is (C).")
        'C'
    """
    if not text:
        return None
    if _THINK_END in text:
        head, _, tail = text.rpartition(_THINK_END)
        found = _extract_from(tail)
        return found if found is not None else _extract_from(head)
    return _extract_from(text)


# ---------------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------------

_UNIT_WORDS = (
    r"(?:square\s+|sq\.?\s+|cubic\s+)?(?:units?|centimeters?|centimetres?|cm|millimeters?|mm|meters?|metres?|"
    r"kilometers?|km|inch(?:es)?|in|feet|foot|ft|yards?|yd|miles?|mi|degrees?|deg|radians?|rad|dollars?|"
    r"cents?|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|mph|kg|grams?|g|"
    r"pounds?|lbs?|ounces?|oz|liters?|litres?|gallons?|people|students?|ways?|points?|percent|times)"
)
_TEXT_CMD = r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|operatorname)"
_UNIT_TEXT_RE = re.compile(
    r"(?<=[\d}).])\s*" + _TEXT_CMD + r"\{\s*" + _UNIT_WORDS + r"\s*\.?\s*\}(?:\^\{?[23]\}?)?"
)
_UNIT_WORD_RE = re.compile(r"(?<=[\d}])\s+" + _UNIT_WORDS + r"(?:\^\{?[23]\}?)?\.?$", re.IGNORECASE)
_TEXT_UNWRAP_RE = re.compile(_TEXT_CMD + r"\{([^{}]*)\}")
_LHS_RE = re.compile(r"\s*(?:[A-Za-z](?:_\{?\w+\}?)?|\\[A-Za-z]+)\s*")
_WORD_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip


def _fix_fracs(s: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{b}`` -> ``\\frac{1}{b}``, ``\\frac{a}2`` -> ``\\frac{a}{2}``."""
    s = re.sub(r"\\frac\s*([0-9A-Za-z])\s*([0-9A-Za-z])", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*([0-9A-Za-z])\s*\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\frac\s*(\{[^{}]*\})\s*([0-9A-Za-z])", r"\\frac\1{\2}", s)
    s = re.sub(r"\\sqrt\s*([0-9A-Za-z])", r"\\sqrt{\1}", s)
    return s


def _strip_math_delimiters(s: str) -> str:
    s = s.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            s = s[len(left) : len(s) - len(right)].strip()
    return s.replace("\\$", "").replace("$", "")


@lru_cache(maxsize=65536)
def normalize_answer(s: str) -> str:
    """One canonical string for the usual spellings of a math answer.

    Applies, in order: unwraps ``\\boxed{}`` and math delimiters (``$``, ``\\(\\)``, ``\\[\\]``); drops
    ``\\left``/``\\right``, spacing commands, ``\\displaystyle``; ``\\dfrac``/``\\tfrac`` -> ``\\frac``;
    degrees (``^\\circ``, ``^{\\circ}``, ``°``), percent (``\\%``), dollar signs; units after a number
    (``5\\text{ cm}^2``, ``12 inches``); ``\\text{...}`` unwrapped; ``x = 5`` -> ``5`` (one ``=`` and a
    single-variable left side); whitespace removed; trailing periods; ``\\frac12`` -> ``\\frac{1}{2}``,
    ``\\sqrt2`` -> ``\\sqrt{2}``; ``a/b`` -> ``\\frac{a}{b}`` for integers; ``1,000`` and ``10{,}000`` ->
    ``1000``; leading zeros and trailing decimal zeros (``007`` -> ``7``, ``37.50`` -> ``37.5``,
    ``5.0`` -> ``5``); a multiple-choice ``(B)`` / ``\\text{(B)}`` -> ``B``; number words one..twelve.

    Args:
        s: an answer string, e.g. from :func:`extract_answer` or a dataset's reference.

    Returns:
        The normalised string (possibly empty). Equal outputs mean equal answers; unequal outputs may still
        be equal numbers (``0.5`` vs ``\\frac{1}{2}``): use :func:`answers_match` to compare.
    """
    s = str(s).strip()
    if _BOX_RE.match(s):
        inner = _last_boxed(s)
        s = inner if inner is not None else s
    s = s.replace("\n", " ")
    s = _strip_math_delimiters(s)
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])\s*", "", s)
    for cmd in ("\\!", "\\,", "\\;", "\\:", "\\ ", "\\displaystyle", "\\quad", "\\qquad"):
        s = s.replace(cmd, " " if cmd.startswith("\\q") else "")
    s = s.replace("~", " ").replace("{,}", ",")
    s = re.sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", s)
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree", "", s)
    s = s.replace("\\%", "").replace("%", "")
    s = _UNIT_TEXT_RE.sub("", s)
    for _ in range(2):  # nested \text{\textbf{...}}
        s = _TEXT_UNWRAP_RE.sub(r"\1", s)
    s = _UNIT_WORD_RE.sub("", s.strip())
    s = s.replace("\\{", "{").replace("\\}", "}")
    if s.count("=") == 1:
        lhs, rhs = s.split("=")
        if _LHS_RE.fullmatch(lhs) and rhs.strip():
            s = rhs
    m = re.fullmatch(r"\s*(?:[A-Za-z]|\\[A-Za-z]+)\s*\\in\s*(.+)", s)
    if m:
        s = m.group(1)
    s = re.sub(r"\s+", "", s).rstrip(".")
    if re.match(r"\d{1,2}:\d\d", s):  # clock times: "4:30 p.m." == "4:30pm"
        s = re.sub(r"([ap])\.?m\.?$", r"\1m", s, flags=re.IGNORECASE).lower()
    s = s.replace("\\infty", "\\infty").replace("infinity", "\\infty")
    s = _fix_fracs(s)
    if s.lower() in _WORD_NUMBERS:
        s = _WORD_NUMBERS[s.lower()]
    while (
        len(s) >= 2 and s[0] == "{" and _match_braces(s, 0) == s[1:-1] and len(_split_top_level(s[1:-1])) == 1
    ):
        s = s[1:-1]  # "{5}" -> "5", but "{1,2}" stays a set
    m = re.fullmatch(r"([-+]?)(\d+)/(\d+)", s)
    if m:
        s = f"{'-' if m.group(1) == '-' else ''}\\frac{{{m.group(2)}}}{{{m.group(3)}}}"
    if re.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")
    if re.fullmatch(r"[-+]?\d*\.?\d+|[-+]?\d+\.", s):
        sign = "-" if s.startswith("-") else ""
        body = s.lstrip("+-")
        if "." in body:
            whole, frac = body.split(".")
            frac = frac.rstrip("0")
            whole = whole.lstrip("0") or "0"
            body = f"{whole}.{frac}" if frac else whole
        else:
            body = body.lstrip("0") or "0"
        s = "0" if body == "0" else sign + body
    m = re.fullmatch(r"\(?([A-J])\)?[.:]?", s)
    if m:
        s = m.group(1)
    return s


# ---------------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------------

_NUM = r"(\d+(?:\.\d+)?|\.\d+)"


def _to_fraction(s: str) -> Fraction | None:
    """Exact value of a normalised plain number: ``12``, ``-0.5``, ``\\frac{3}{4}``, ``1\\frac{1}{4}``."""
    sign = 1
    if s.startswith("-"):
        sign, s = -1, s[1:]
    elif s.startswith("+"):
        s = s[1:]
    if re.fullmatch(_NUM, s):
        return sign * Fraction(s)
    m = re.fullmatch(r"(\d+)?\\frac\{" + _NUM + r"\}\{" + _NUM + r"\}", s)
    if m:
        den = Fraction(m.group(3))
        if den == 0:
            return None
        return sign * (Fraction(m.group(1) or 0) + Fraction(m.group(2)) / den)
    return None


_BRACKETS = {"(": ")", "[": "]", "{": "}"}


def _split_top_level(s: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


def _split_sequence(s: str) -> tuple[str, list[str]] | None:
    """``(a,b]`` -> ("(]", ["a", "b"]); ``a,b`` -> ("", ["a", "b"]); None for a single item."""
    if len(s) >= 2 and s[0] in "([{" and s[-1] in ")]}":
        inner = s[1:-1]
        depth = 0
        for c in inner:  # the outer pair must enclose everything: "(1)+(2)" is not a tuple
            depth += c in "([{"
            depth -= c in ")]}"
            if depth < 0:
                break
        else:
            parts = _split_top_level(inner)
            return (s[0] + s[-1], parts) if len(parts) > 1 else None
    parts = _split_top_level(s)
    return ("", parts) if len(parts) > 1 else None


_SAFE_EXPR_RE = re.compile(r"[0-9a-z+\-*/(). ]+")
_ALLOWED_NAMES = {"sqrt", "pi", "log", "ln", "sin", "cos", "tan", "exp", "E", "I"}


def _latex_to_sympy_source(s: str) -> str | None:
    """A small, whitelisted LaTeX -> sympy-syntax conversion; None when the string is out of scope."""
    if len(s) > 80:
        return None
    t = s
    for _ in range(4):
        t = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", t)
        t = re.sub(r"\\sqrt\[([^\[\]{}]*)\]\{([^{}]*)\}", r"((\2)**(1/(\1)))", t)
        t = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", t)
        t = re.sub(r"\^\{([^{}]*)\}", r"**(\1)", t)
    t = t.replace("^", "**").replace("\\cdot", "*").replace("\\times", "*").replace("\\pi", "pi")
    t = t.replace("\\ln", "log").replace("\\log", "log").replace("\\sin", "sin").replace("\\cos", "cos")
    t = t.replace("\\tan", "tan").replace("\\exp", "exp").replace("{", "(").replace("}", ")")
    if not _SAFE_EXPR_RE.fullmatch(t):
        return None
    for name in re.findall(r"[a-z]+", t):
        if len(name) > 1 and name not in _ALLOWED_NAMES:
            return None
    return t


@lru_cache(maxsize=16384)
def _sympy_equal(a: str, b: str) -> bool:
    """Symbolic equality of two small normalised expressions; False when sympy is absent or unsure."""
    try:
        import sympy  # type: ignore[import-untyped]
        from sympy.parsing.sympy_parser import (  # type: ignore[import-untyped]
            implicit_multiplication_application,
            parse_expr,
            standard_transformations,
        )
    except ImportError:
        return False
    src_a, src_b = _latex_to_sympy_source(a), _latex_to_sympy_source(b)
    if src_a is None or src_b is None:
        return False
    transformations = standard_transformations + (implicit_multiplication_application,)
    try:
        ea = parse_expr(src_a, transformations=transformations, evaluate=True)
        eb = parse_expr(src_b, transformations=transformations, evaluate=True)
        diff = ea - eb
        if not (ea.free_symbols or eb.free_symbols):
            va, vb = complex(sympy.N(ea, 30)), complex(sympy.N(eb, 30))
            return math.isclose(va.real, vb.real, rel_tol=1e-9, abs_tol=1e-12) and math.isclose(
                va.imag, vb.imag, rel_tol=1e-9, abs_tol=1e-12
            )
        return bool(sympy.simplify(diff) == 0)
    except Exception:  # noqa: BLE001 - sympy raises many kinds of error on odd input; unsure means False
        return False


def _equal_normalized(p: str, r: str, depth: int = 0) -> bool:
    if p == r:
        return True
    if not p or not r:
        return False
    if p.isalpha() and r.isalpha() and len(p) > 1 and p.lower() == r.lower():
        return True  # text answers ("Evelyn"), not single-letter choices or variables
    fp, fr = _to_fraction(p), _to_fraction(r)
    if fp is not None and fr is not None:
        return fp == fr
    if depth < 3:
        sp, sr = _split_sequence(p), _split_sequence(r)
        if sp is not None and sr is not None and sp[0] == sr[0] and len(sp[1]) == len(sr[1]):
            if sp[0] in ("", "{}"):  # bare lists and sets: any order
                remaining = list(sr[1])
                for item in sp[1]:
                    hit = next(
                        (k for k, x in enumerate(remaining) if _equal_normalized(item, x, depth + 1)), None
                    )
                    if hit is None:
                        return False
                    remaining.pop(hit)
                return True
            return all(_equal_normalized(x, y, depth + 1) for x, y in zip(sp[1], sr[1]))
    return _sympy_equal(p, r)


def answers_match(pred: str | None, ref: str | None) -> bool:
    """Whether a predicted answer equals the reference answer.

    Both are normalised with :func:`normalize_answer`, then compared as strings, as exact rationals
    (``0.5`` == ``\\frac{1}{2}`` == ``1/2``; ``1\\frac{1}{4}`` == ``\\frac{5}{4}``), element by element for
    tuples and intervals (brackets must agree; bare comma lists and sets in any order), and finally,
    when ``sympy`` is importable, symbolically for small expressions (``2\\sqrt{2}`` == ``\\sqrt{8}``).

    Args:
        pred: the predicted answer (None when the model gave none: never a match).
        ref: the reference answer.

    Returns:
        True when they denote the same answer.
    """
    if pred is None or ref is None:
        return False
    return _equal_normalized(normalize_answer(pred), normalize_answer(ref))


def _text_key(s: str) -> str:
    """A text answer with its notation dropped: ``\\text{}`` wrappers, braces, sub/superscript marks,
    math delimiters, spaces and case (``10^{-4} \\text{ eV}`` and ``10^-4 eV`` read alike)."""
    s = normalize_answer(s)
    s = re.sub(r"\\(?:text|mathrm|mathbf|textbf|operatorname)\s*", "", s)
    return re.sub(r"[\s{}_^$]", "", s).lower()


def grade(pred: str | None, ref: str | None, kind: str = "math") -> bool:
    """Whether ``pred`` answers a problem whose reference answer is ``ref``.

    ``kind="math"``: :func:`answers_match`. ``kind="text"`` (free-form answers such as GPQA's option
    texts): :func:`answers_match`, or equal once notation, spacing and case are dropped.
    """
    if answers_match(pred, ref):
        return True
    if kind != "text" or pred is None or ref is None:
        return False
    key = _text_key(ref)
    return bool(key) and _text_key(pred) == key


def is_correct(text: str | None, ref: str) -> bool:
    """``answers_match(extract_answer(text), ref)``: whether a full response ends in the right answer."""
    return answers_match(extract_answer(text), ref)


def _vote_key(answer: str) -> object:
    norm = normalize_answer(answer)
    value = _to_fraction(norm)
    return ("num", value) if value is not None else ("str", norm)


def majority_vote(answers: Iterable[str | None]) -> str | None:
    """The most frequent answer among samples, comparing normalised answers.

    None entries (no answer extracted) and answers that normalise to "" do not vote. Answers vote
    together when their normalised strings are equal or they are the same rational number (``0.5`` and
    ``\\frac12``). Ties go to the answer whose first occurrence comes first.

    Args:
        answers: extracted answers, one per sample, in sample order.

    Returns:
        The first-written spelling of the winning answer, or None when no sample has an answer.

    Example:
        >>> majority_vote(["\\\\frac12", None, "3", "0.5", "3"])
        '\\\\frac12'
    """
    counts: dict[object, int] = {}
    first: dict[object, tuple[int, str]] = {}
    for i, a in enumerate(answers):
        if a is None or not normalize_answer(a):
            continue
        key = _vote_key(a)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, (i, a))
    if not counts:
        return None
    best = max(counts, key=lambda k: (counts[k], -first[k][0]))
    return first[best][1]


def _check_lengths(a: Sequence[object], b: Sequence[object], what: str) -> None:
    if len(a) != len(b):
        from specscale.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"{what}: got {len(a)} predictions for {len(b)} references; they must pair up"
        )


def accuracy(preds: Sequence[str | None], refs: Sequence[str]) -> float:
    """Fraction of ``preds[i]`` that match ``refs[i]`` (:func:`answers_match`); 0.0 for empty input.

    Raises:
        InvalidArgumentError: when the two sequences have different lengths.
    """
    _check_lengths(preds, refs, "accuracy")
    if not refs:
        return 0.0
    return sum(answers_match(p, r) for p, r in zip(preds, refs)) / len(refs)


def majority_accuracy(sample_preds: Sequence[Sequence[str | None]], refs: Sequence[str]) -> float:
    """Accuracy of the majority-voted answer per problem (maj@N); ``sample_preds[i]`` are problem i's answers.

    Raises:
        InvalidArgumentError: when the number of problems differs from the number of references.
    """
    _check_lengths(sample_preds, refs, "majority_accuracy")
    return accuracy([majority_vote(ps) for ps in sample_preds], refs)


def pass_at_n(sample_preds: Sequence[Sequence[str | None]], refs: Sequence[str]) -> float:
    """Fraction of problems where at least one of the samples is correct (pass@N, i.e. oracle best-of-N).

    Raises:
        InvalidArgumentError: when the number of problems differs from the number of references.
    """
    _check_lengths(sample_preds, refs, "pass_at_n")
    if not refs:
        return 0.0
    return sum(any(answers_match(p, r) for p in ps) for ps, r in zip(sample_preds, refs)) / len(refs)
