"""Argument checks shared by every public entry point: one wording, one exception type.

Each check returns the value it accepted (converted where that is the point, e.g. a number to float),
so a constructor reads ``self.k = check_int("k", k, 1)``. The ``*_option`` and ``*_file`` functions are
the command line's argparse types: they check a value when the command line is parsed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

from specscale.errors import InvalidArgumentError

__all__ = [
    "check_choice",
    "check_int",
    "check_number",
    "existing_file",
    "int_option",
    "number_option",
    "output_dir",
    "output_file",
]

_T = TypeVar("_T")


def check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    """``value`` if it is an int (not a bool) in ``[lo, hi]``; else :class:`InvalidArgumentError`
    naming ``name``, the value and the accepted range."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        expected = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise InvalidArgumentError(f"{name} must be an int {expected}, got {value!r}")
    return value


def check_number(name: str, value: object, lo: float | None = None, hi: float | None = None) -> float:
    """``value`` as a float if it is a real number (not a bool, not NaN) within ``[lo, hi]`` (either
    bound optional); else :class:`InvalidArgumentError` naming it."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != value
        or (lo is not None and value < lo)
        or (hi is not None and value > hi)
    ):
        low = "-inf" if lo is None else lo
        high = "inf" if hi is None else hi
        raise InvalidArgumentError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def check_choice(name: str, value: _T, choices: Collection[_T]) -> _T:
    """``value`` if it is one of ``choices``; else :class:`InvalidArgumentError` listing them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise InvalidArgumentError(f"{name} must be one of {listed}, got {value!r}")
    return value


# --- command-line option types: argparse calls them on the text given and reports what they raise in one
# line naming the option (see specscale.cli), before the command does any work.


def int_option(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` accepting an integer in ``[lo, hi]`` (``hi`` optional)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            expected = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            raise argparse.ArgumentTypeError(f"expected an integer {expected}, got {text}")
        return value

    parse.__name__ = "int"  # argparse names the type in some messages
    return parse


def number_option(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """An argparse ``type`` accepting a finite number in ``[lo, hi]`` (either bound optional)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or (lo is not None and value < lo) or (
            hi is not None and value > hi
        ):
            low = "-inf" if lo is None else f"{lo:g}"
            high = "inf" if hi is None else f"{hi:g}"
            raise argparse.ArgumentTypeError(f"expected a number in [{low}, {high}], got {text}")
        return value

    parse.__name__ = "number"
    return parse


def existing_file(text: str) -> Path:
    """An argparse ``type`` accepting the path of an existing file."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def output_file(text: str) -> Path:
    """An argparse ``type`` accepting a path a file can be written to: not a directory, and no existing
    file where one of its parent directories would have to be (checked before any work is done)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file path")
    _check_parents(path, text, "file")
    return path


def output_dir(text: str) -> Path:
    """An argparse ``type`` accepting a directory to write into (existing or not), checked as
    :func:`output_file` checks a file's parents."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a directory; give another path")
    _check_parents(path, text, "directory")
    return path


def _check_parents(path: Path, text: str, what: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(
                    f"{text}: {parent} is a file, so no {what} can be created under it; give another path"
                )
            return
