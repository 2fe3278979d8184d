"""Drafters: objects that propose a :class:`~specscale.DraftTree` for the current context.

See :mod:`specscale.drafters.base` for the protocol. Each drafter is a thin class over a core store or a
model. Each is imported on first access; the drafters that run a model (:class:`DraftModelDrafter`,
:class:`Eagle3Drafter`) load torch, the others need none.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specscale.drafters.automaton import SuffixAutomatonDrafter
    from specscale.drafters.base import AdaptiveLength, Drafter, DrafterWrapper, NoDraft
    from specscale.drafters.costaware import CostAwareDrafter
    from specscale.drafters.eagle import Eagle3DraftHead, Eagle3Drafter
    from specscale.drafters.frequency import FrequencySuffixDrafter
    from specscale.drafters.hybrid import ExpectedAcceptance, HybridDrafter, MatchThreshold
    from specscale.drafters.lookahead import LookaheadDrafter
    from specscale.drafters.lookup import PromptLookup
    from specscale.drafters.model import DraftModelDrafter
    from specscale.drafters.recycling import TokenRecyclingDrafter
    from specscale.drafters.retrieval import RetrievalDrafter
    from specscale.drafters.suffix_decoding import SuffixDecodingDrafter
    from specscale.drafters.trie import NgramTrieDrafter

#: Each public name and the module that defines it, imported on first access: importing one drafter
#: module (the protocol in ``base``, say, which the loop needs) loads no other, so commands that only
#: list methods or replay traces import neither numpy's users nor torch.
_MODULES = {
    "AdaptiveLength": "base",
    "Drafter": "base",
    "DrafterWrapper": "base",
    "NoDraft": "base",
    "SuffixAutomatonDrafter": "automaton",
    "CostAwareDrafter": "costaware",
    "FrequencySuffixDrafter": "frequency",
    "ExpectedAcceptance": "hybrid",
    "HybridDrafter": "hybrid",
    "MatchThreshold": "hybrid",
    "LookaheadDrafter": "lookahead",
    "PromptLookup": "lookup",
    "TokenRecyclingDrafter": "recycling",
    "RetrievalDrafter": "retrieval",
    "SuffixDecodingDrafter": "suffix_decoding",
    "NgramTrieDrafter": "trie",
    "DraftModelDrafter": "model",  # imports torch
    "Eagle3DraftHead": "eagle",  # imports torch
    "Eagle3Drafter": "eagle",  # imports torch
}

__all__ = [
    "AdaptiveLength",
    "CostAwareDrafter",
    "DraftModelDrafter",
    "Drafter",
    "DrafterWrapper",
    "Eagle3DraftHead",
    "Eagle3Drafter",
    "ExpectedAcceptance",
    "FrequencySuffixDrafter",
    "HybridDrafter",
    "LookaheadDrafter",
    "MatchThreshold",
    "NgramTrieDrafter",
    "NoDraft",
    "PromptLookup",
    "RetrievalDrafter",
    "SuffixAutomatonDrafter",
    "SuffixDecodingDrafter",
    "TokenRecyclingDrafter",
]


def __getattr__(name: str) -> Any:
    module_name = _MODULES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'specscale.drafters' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"specscale.drafters.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))
