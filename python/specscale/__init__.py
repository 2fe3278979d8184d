"""specscale: lossless speculative decoding for test-time scaling.

The native core (:class:`SuffixAutomaton`, :class:`NgramTrie`, :class:`Store`, :class:`DraftTree`)
holds what the model already wrote, across Best-of-N samples and thinking rounds, and drafts from it
in microseconds. The engine verifies drafts against a ``transformers`` causal LM so that the output is
exactly what plain decoding would produce.
"""

from specscale._core import (
    BatchDrafter,
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
    "BatchDrafter",
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

# --- engine: torch and transformers load on first use, so `import specscale` stays fast and the
# core works where they are not installed.
_ENGINE_NAMES = (
    "AdaptiveLength",
    "Drafter",
    "GenerationOutput",
    "GenerationStats",
    "ModelVerifier",
    "NgramTrieDrafter",
    "NoDraft",
    "PrefixCache",
    "PromptLookup",
    "SamplingParams",
    "SpecscaleCandidateGenerator",
    "SuffixAutomatonDrafter",
    "TreeMaskUnsupportedError",
    "assisted_generate",
    "generate",
    "generate_from_trace",
)
#: Drafters that are not in ``engine.__all__``, loaded with the engine all the same.
_DRAFTER_NAMES = (
    "DraftModelDrafter",
    "Eagle3DraftHead",
    "Eagle3Drafter",
    "ExpectedAcceptance",
    "FrequencySuffixDrafter",
    "HybridDrafter",
    "LookaheadDrafter",
    "MatchThreshold",
    "RetrievalDrafter",
    "SuffixDecodingDrafter",
    "TokenRecyclingDrafter",
)
__all__ += list(_ENGINE_NAMES) + list(_DRAFTER_NAMES)


def __getattr__(name: str) -> object:
    if name in _ENGINE_NAMES or name in _DRAFTER_NAMES:
        try:
            import specscale.drafters as drafters
            import specscale.engine as engine
        except ModuleNotFoundError as error:
            raise ImportError(
                f"specscale.{name} needs the engine's dependencies ({error.name} is missing): "
                "pip install 'specscale[engine]'"
            ) from error
        value = getattr(engine if name in _ENGINE_NAMES else drafters, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'specscale' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENGINE_NAMES) | set(_DRAFTER_NAMES))
