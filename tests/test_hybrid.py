"""Hybrid drafters: lossless whatever the parts, and the policies pick what pays."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import specscale
from specscale import DraftTree
from specscale.drafters import (
    Drafter,
    ExpectedAcceptance,
    HybridDrafter,
    MatchThreshold,
    NgramTrieDrafter,
    SuffixAutomatonDrafter,
)
from specscale.errors import InvalidArgumentError
from tiny_models import reference_greedy, tiny_model


class AlwaysWrong(Drafter):
    """Drafts tokens the context never continues with (a long match claimed, to tempt the policies)."""

    def propose(self, context: list[int], max_tokens: int) -> DraftTree:
        n = min(max_tokens, 6)
        return DraftTree([(context[-1] + 7) % 23 + 1] * n, match_length=9) if n else DraftTree.empty()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("policy", [MatchThreshold(2), ExpectedAcceptance()])
def test_hybrid_is_lossless(arch: str, policy) -> None:
    torch.manual_seed(0)
    model = tiny_model(arch, vocab_size=24)
    for prompt in ([3, 4, 5, 6, 3, 4], [5, 9, 2]):
        drafter = HybridDrafter([SuffixAutomatonDrafter(), AlwaysWrong(), NgramTrieDrafter()], policy=policy)
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
        assert out.new_tokens == reference_greedy(model, prompt, 40)


def test_match_threshold_prefers_the_first_part_only_on_long_matches() -> None:
    policy = MatchThreshold(threshold=5)
    long_match = DraftTree([1, 2], match_length=6)
    short_match = DraftTree([1, 2], match_length=2)
    fallback = DraftTree([3])
    assert policy.choose([long_match, fallback]) == 0
    assert policy.choose([short_match, fallback]) == 1
    assert policy.choose([short_match, DraftTree.empty()]) == 0


def test_expected_acceptance_learns_to_avoid_a_bad_part() -> None:
    # Replay a repetitive text: the automaton's drafts are right, AlwaysWrong's never are.
    text = [1, 2, 3, 4, 5, 6, 7, 8] * 12
    hybrid = HybridDrafter([AlwaysWrong(), SuffixAutomatonDrafter()], policy=ExpectedAcceptance())
    out = specscale.generate_from_trace([9, 9], text, drafter=hybrid)
    alone = specscale.generate_from_trace([9, 9], text, drafter=SuffixAutomatonDrafter())
    # AlwaysWrong is only picked while the automaton has nothing to offer (the first period of the text).
    assert out.stats.steps <= alone.stats.steps + 2
    assert hybrid.chosen_counts[0] <= 9
    # The threshold rule trusts the claimed match and keeps paying for it.
    naive = HybridDrafter([AlwaysWrong(), SuffixAutomatonDrafter()], policy=MatchThreshold(5))
    worse = specscale.generate_from_trace([9, 9], text, drafter=naive)
    assert worse.stats.mean_accepted_tokens < out.stats.mean_accepted_tokens


def test_bad_parts_are_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="at least one part"):
        HybridDrafter([])
    with pytest.raises(InvalidArgumentError, match=r"parts\[1\]"):
        HybridDrafter([SuffixAutomatonDrafter(), object()])  # type: ignore[list-item]


@pytest.mark.parametrize("fallback", ["recycling", "eagle3", "draft_model"])
def test_model_based_fallbacks_get_what_they_read(fallback: str) -> None:
    """SAM first, and as fallback a drafter that learns from the target (logits, hidden states) or runs
    its own model: the hybrid passes the target's logits and hidden states on, and stays lossless."""
    model = tiny_model("llama", scale=4.0)
    if fallback == "recycling":
        part = specscale.TokenRecyclingDrafter(top_k=4, tree_size=16)
    elif fallback == "eagle3":
        from eagle_training import random_head

        part = specscale.Eagle3Drafter(random_head(model, seed=2), total_tokens=16, depth=2, top_k=4)
    else:
        part = specscale.DraftModelDrafter(tiny_model("llama", seed=5, scale=4.0), max_tokens=4)
    drafter = HybridDrafter([SuffixAutomatonDrafter(), part], policy=MatchThreshold(5))
    for prompt in ([5, 6, 7, 8], [9, 3, 4, 11, 9, 3]):
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
        assert out.new_tokens == reference_greedy(model, prompt, 40, eos_token_id=[])
    assert drafter.chosen_counts[1] > 0  # the fallback drafted
    if fallback == "recycling":
        assert part.updates > 0 and bool((part.table >= 0).any())
    assert drafter.wants_logits == (fallback == "recycling")
    assert drafter.wants_hidden_states == (fallback == "eagle3")
