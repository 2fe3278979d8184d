"""specscale: lossless speculative decoding for test-time scaling.

The native core (:class:`SuffixAutomaton`, :class:`NgramTrie`, :class:`Store`, :class:`DraftTree`)
holds what the model already wrote, across Best-of-N samples and thinking rounds, and drafts from it
in microseconds. The engine verifies drafts against a ``transformers`` causal LM so that the output is
exactly what plain decoding would produce.
"""

from specscale._core import (
    Cursor,
    DraftTree,
    NgramTrie,
    Store,
    StoreCursor,
    SuffixAutomaton,
    __version__,
)
from specscale.errors import (
    CorruptDataError,
    InvalidArgumentError,
    InvalidTokenError,
    SpecscaleError,
    TokenOverflowError,
    UnknownSequenceError,
)

__all__ = [
    "Cursor",
    "DraftTree",
    "NgramTrie",
    "Store",
    "StoreCursor",
    "SuffixAutomaton",
    "__version__",
    "CorruptDataError",
    "InvalidArgumentError",
    "InvalidTokenError",
    "SpecscaleError",
    "TokenOverflowError",
    "UnknownSequenceError",
]

# --- engine (torch/transformers are optional: the core works without them) -------------------------
try:
    from specscale.engine import *  # noqa: F401,F403
    from specscale.engine import __all__ as _engine_all
except ModuleNotFoundError as _engine_import_error:  # torch / transformers not installed
    if _engine_import_error.name not in ("torch", "transformers", "specscale.engine"):
        raise
    _engine_all = []
__all__ += list(_engine_all)
