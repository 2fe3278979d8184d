"""Exceptions raised by specscale.

Every error is a :class:`SpecscaleError`; the subclasses also derive from the built-in exception a
caller would naturally catch (``ValueError``, ``OverflowError``, ``KeyError``), so code that does not
know specscale still handles them. The native core raises these same classes.
"""


class SpecscaleError(Exception):
    """Base class of every error raised by specscale."""


class InvalidTokenError(SpecscaleError, ValueError):
    """A token id is negative (token ids are integers from 0 to ``2**32 - 1``; a value that is not an
    integer at all raises ``TypeError``)."""


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


class SizeLimitError(SpecscaleError, MemoryError):
    """A size exceeds what specscale can hold, checked before anything is allocated (the message
    names the limit): for example more than ``2**32`` token ids passed in one call."""


class InternalError(SpecscaleError, RuntimeError):
    """A bug inside specscale (an internal check of the native core failed). Unlike ``PanicException``
    it is an ``Exception``, so ``except Exception`` handlers see it. If it interrupted a change, the
    structure refuses every later call: rebuild it, or load it again from bytes saved before."""


__all__ = [
    "CorruptDataError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidTokenError",
    "SizeLimitError",
    "SpecscaleError",
    "TokenOverflowError",
    "UnknownSequenceError",
]
