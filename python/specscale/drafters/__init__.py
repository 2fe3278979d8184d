"""Drafters: objects that propose a :class:`~specscale.DraftTree` for the current context.

See :mod:`specscale.drafters.base` for the protocol. Each drafter is a thin class over a core store or a
model. The drafters that run a model (:class:`DraftModelDrafter`, :class:`Eagle3Drafter`) load torch on
first use; the others need none.
"""

from typing import Any

from specscale.drafters.automaton import SuffixAutomatonDrafter
from specscale.drafters.base import AdaptiveLength, Drafter, DrafterWrapper, NoDraft
from specscale.drafters.costaware import CostAwareDrafter
from specscale.drafters.frequency import FrequencySuffixDrafter
from specscale.drafters.hybrid import ExpectedAcceptance, HybridDrafter, MatchThreshold
from specscale.drafters.lookahead import LookaheadDrafter
from specscale.drafters.lookup import PromptLookup
from specscale.drafters.recycling import TokenRecyclingDrafter
from specscale.drafters.retrieval import RetrievalDrafter
from specscale.drafters.suffix_decoding import SuffixDecodingDrafter
from specscale.drafters.trie import NgramTrieDrafter

#: Drafters whose modules import torch, loaded on first access.
_TORCH_DRAFTERS = {
    "DraftModelDrafter": "specscale.drafters.model",
    "Eagle3DraftHead": "specscale.drafters.eagle",
    "Eagle3Drafter": "specscale.drafters.eagle",
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
    module_name = _TORCH_DRAFTERS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'specscale.drafters' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
