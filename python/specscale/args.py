"""Argument checks shared by every public entry point: one wording, one exception type.

Each check returns the value it accepted (converted where that is the point, e.g. a number to float),
so a constructor reads ``self.k = check_int("k", k, 1)``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

from specscale.errors import InvalidArgumentError

__all__ = ["check_choice", "check_int", "check_number"]

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
