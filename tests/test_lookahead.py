"""Lookahead decoding: lossless, the pool fills from Jacobi trajectories, and persists when asked."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from collections import OrderedDict

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


def test_window_ngrams_get_accepted() -> None:
    model = tiny_model("llama", vocab_size=24, seed=2)
    drafter = LookaheadDrafter(level=3, window=5, guess_set=4)
    out = specscale.generate(model, [3, 4, 5, 6, 3, 4], drafter=drafter, max_new_tokens=48, eos_token_id=[])
    assert out.new_tokens == reference_greedy(model, [3, 4, 5, 6, 3, 4], 48)
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


def test_draft_layout_is_the_2d_window_as_a_tree() -> None:
    drafter = LookaheadDrafter(level=3, window=4, guess_set=3)
    drafter.begin([5, 6, 7])
    drafter.levels = [[10, 11, 12, 13], [20, 21, 22, 23]]
    drafter.pool[7] = OrderedDict({(1, 2): None, (3, 4): None})
    tree = drafter.propose([5, 6, 7], 64)
    # Pool guesses first (newest first); then the trunk, the oldest level without its column 0 (the
    # context's last token stands there); then column i of the newer level under trunk node i.
    assert tree.tokens == [3, 4, 1, 2, 11, 12, 13, 20, 21, 22, 23]
    assert tree.parents == [-1, 0, -1, 2, -1, 4, 5, -1, 4, 5, 6]
    # A window token at level l, column i stands at position l + i after the context's last token, as
    # in the reference implementation: its depth in the tree.
    assert tree.depths()[4:] == [1, 2, 3, 1, 2, 3, 4]
    # Under a budget the window narrows to the columns that fit, after the guesses.
    small = drafter.propose([5, 6, 7], 8)
    assert small.tokens == [3, 4, 1, 2, 11, 20, 21] and small.parents == [-1, 0, -1, 2, -1, -1, 4]
    tiny = drafter.propose([5, 6, 7], 3)  # one guess, and column 0 (one node under the context)
    assert tiny.tokens == [3, 4, 20] and tiny.parents == [-1, 0, -1]


def test_columns_become_ngrams_and_the_levels_shift() -> None:
    drafter = LookaheadDrafter(level=3, window=3, guess_set=2)
    drafter.begin([5, 6, 7])
    drafter.levels = [[10, 11, 12], [20, 21, 22]]
    tree = drafter.propose([5, 6, 7], 64)
    newest = [i for i, t in enumerate(tree.tokens) if t in (20, 21, 22)]
    logits = torch.zeros(len(tree) + 1, 40)
    for node, iterate in zip(newest, (30, 31, 32)):
        logits[node + 1, iterate] = 1.0  # the target's prediction after each column's newest token
    drafter.observe_logits([7, *tree.tokens], logits)
    drafter.observe([9], drafted=len(tree), accepted=0)
    # Column 0 starts with the context's real last token, the others with the oldest level's token.
    assert drafter.pool[7] == OrderedDict({(20, 30): None})
    assert drafter.pool[12] == OrderedDict({(22, 32): None})
    assert drafter.levels == [[20, 21, 22], [30, 31, 32]]
