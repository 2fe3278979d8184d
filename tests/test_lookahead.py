"""Lookahead decoding: lossless, the pool fills from Jacobi trajectories, and persists when asked."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import specscale
from specscale.drafters import LookaheadDrafter
from tiny_models import reference_greedy, tiny_model


@pytest.mark.parametrize("arch", ["llama", "qwen3", "gpt2"])
def test_greedy_output_equals_plain_decoding(arch: str) -> None:
    model = tiny_model(arch, vocab_size=24, seed=2)
    drafter = LookaheadDrafter(level=3, window=5, guess_set=4)
    for prompt in ([3, 4, 5, 6, 3, 4], [7, 1, 9]):
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=48, eos_token_id=[])
        assert out.new_tokens == reference_greedy(model, prompt, 48)
    assert out.stats.accepted_draft_tokens > 0


def test_pool_fills_and_is_cleared_per_generation_unless_persisted() -> None:
    model = tiny_model("llama", vocab_size=24, seed=2)
    drafter = LookaheadDrafter(level=3, window=5, guess_set=4)
    specscale.generate(model, [3, 4, 5], drafter=drafter, max_new_tokens=24, eos_token_id=[])
    assert drafter.pool_size > 0
    assert all(len(g) == 2 for grams in drafter.pool.values() for g in grams)
    assert all(len(grams) <= 4 for grams in drafter.pool.values())
    drafter.begin([1, 2])
    assert drafter.pool_size == 0
    keeper = LookaheadDrafter(level=3, window=5, guess_set=4, persist_pool=True)
    specscale.generate(model, [3, 4, 5], drafter=keeper, max_new_tokens=24, eos_token_id=[])
    size = keeper.pool_size
    keeper.begin([1, 2])
    assert keeper.pool_size == size > 0


def test_drafts_respect_the_budget_and_are_trees() -> None:
    drafter = LookaheadDrafter(level=3, window=4, guess_set=3)
    drafter.begin([5, 6, 7])
    drafter.pool[7] = {(1, 2): None, (3, 4): None}  # type: ignore[assignment]
    tree = drafter.propose([5, 6, 7], 8)
    assert len(tree) == 8 and tree.tokens[:4] == [5, 6, 7, 7]
    assert all(p < i for i, p in enumerate(tree.parents))
    assert tree.parents[4] == -1 and tree.parents[6] == -1
    assert len(drafter.propose([5, 6, 7], 3)) == 3
