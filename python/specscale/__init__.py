"""specscale: lossless speculative decoding for test-time scaling.

The native core (:class:`SuffixAutomaton`, :class:`NgramTrie`, :class:`Store`, :class:`DraftTree`)
holds what the model already wrote, across Best-of-N samples and thinking rounds, and drafts from it
in microseconds. The engine verifies drafts against a ``transformers`` causal LM so that the output is
exactly what plain decoding would produce.
"""

from specscale._core import (
    BatchDrafter,
    CostAwareTrees,
    Cursor,
    DraftTree,
    NgramTrie,
    Store,
    StoreCursor,
    SuffixAutomaton,
    TreeCursor,
    __version__,
)
from specscale.errors import (
    CorruptDataError,
    InternalError,
    InvalidArgumentError,
    InvalidTokenError,
    SizeLimitError,
    SpecscaleError,
    TokenOverflowError,
    UnknownSequenceError,
)

__all__ = [
    "BatchDrafter",
    "CostAwareTrees",
    "Cursor",
    "DraftTree",
    "NgramTrie",
    "Store",
    "StoreCursor",
    "SuffixAutomaton",
    "TreeCursor",
    "__version__",
    "CorruptDataError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidTokenError",
    "SizeLimitError",
    "SpecscaleError",
    "TokenOverflowError",
    "UnknownSequenceError",
]

# --- engine and drafters: loaded on first use, so `import specscale` stays fast and the core works where
# torch and transformers are not installed. Each name maps to the module that defines it; the loop, trace
# replay and the model-free drafters need no torch.
_LAZY = {
    "AdaptiveLength": "specscale.drafters",
    "CostAwareDrafter": "specscale.drafters",
    "Drafter": "specscale.drafters",
    "DrafterWrapper": "specscale.drafters",
    "DraftModelDrafter": "specscale.drafters",
    "Eagle3DraftHead": "specscale.drafters",
    "Eagle3Drafter": "specscale.drafters",
    "ExpectedAcceptance": "specscale.drafters",
    "FrequencySuffixDrafter": "specscale.drafters",
    "HybridDrafter": "specscale.drafters",
    "LookaheadDrafter": "specscale.drafters",
    "MatchThreshold": "specscale.drafters",
    "NgramTrieDrafter": "specscale.drafters",
    "NoDraft": "specscale.drafters",
    "PromptLookup": "specscale.drafters",
    "RetrievalDrafter": "specscale.drafters",
    "SuffixAutomatonDrafter": "specscale.drafters",
    "SuffixDecodingDrafter": "specscale.drafters",
    "TokenRecyclingDrafter": "specscale.drafters",
    "GenerationOutput": "specscale.loop",
    "GenerationStats": "specscale.loop",
    "generate_from_trace": "specscale.loop",
    "ModelVerifier": "specscale.verify",
    "PrefixCache": "specscale.verify",
    "TreeMaskUnsupportedError": "specscale.verify",
    "SamplingParams": "specscale.sampling",
    "generate": "specscale.engine",
    "SpecscaleCandidateGenerator": "specscale.hf",
    "assisted_generate": "specscale.hf",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'specscale' has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(module_name)
        value = getattr(module, name)
    except ModuleNotFoundError as error:
        raise ImportError(
            f"specscale.{name} needs the engine's dependencies ({error.name} is missing): "
            "pip install 'specscale[engine]'"
        ) from error
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
