"""Drafters: objects that propose a :class:`~specscale.DraftTree` for the current context.

See :mod:`specscale.drafters.base` for the protocol. Each drafter is a thin class over a core store.
"""

from specscale.drafters.automaton import SuffixAutomatonDrafter
from specscale.drafters.base import AdaptiveLength, Drafter, NoDraft
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

__all__ = [
    "AdaptiveLength",
    "DraftModelDrafter",
    "Drafter",
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
