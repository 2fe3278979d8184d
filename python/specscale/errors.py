"""Exceptions raised by specscale.

Every error is a :class:`SpecscaleError`; the subclasses also derive from the built-in exception a
caller would naturally catch (``ValueError``, ``OverflowError``, ``KeyError``), so code that does not
know specscale still handles them. The native core raises these same classes.
"""


class SpecscaleError(Exception):
    """Base class of every error raised by specscale."""


class InvalidTokenError(SpecscaleError, ValueError):
    """A token id is not a valid unsigned 32-bit integer (negative, or not an integer at all)."""


class TokenOverflowError(SpecscaleError, OverflowError):
    """A token id is ``>= 2**32`` and cannot be stored as ``u32``."""


class InvalidArgumentError(SpecscaleError, ValueError):
    """An argument has a value or shape that makes no sense for the call (the message names it)."""


class UnknownSequenceError(SpecscaleError, KeyError):
    """A sequence id does not name a live sequence of the structure (never issued, or removed)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class CorruptDataError(SpecscaleError, ValueError):
    """Serialized bytes are truncated, corrupted, or written by an incompatible version."""


__all__ = [
    "SpecscaleError",
    "InvalidTokenError",
    "TokenOverflowError",
    "InvalidArgumentError",
    "UnknownSequenceError",
    "CorruptDataError",
]
