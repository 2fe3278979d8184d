"""Prefix KV-cache reuse is lossless: a generation started from a precomputed cache of its prompt (or of
an earlier conversation it extends) writes the same tokens as one that prefills everything."""

from __future__ import annotations

import pytest
import torch
from specscale import NgramTrieDrafter, PrefixCache, PromptLookup, generate
from specscale.errors import InvalidArgumentError
from tiny_models import reference_greedy, tiny_model

VOCAB = 96


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", VOCAB, scale=4.0)


@pytest.mark.parametrize("drafter", [None, PromptLookup, NgramTrieDrafter])
def test_prefix_cache_is_lossless_and_not_modified(model, drafter):
    prompt = [5, 6, 7, 8, 9, 10, 11, 12, 5, 6]
    ref = reference_greedy(model, prompt, 30, eos_token_id=[])
    prefix = PrefixCache.prefill(model, prompt[:-1])
    for _ in range(2):  # the second run proves the first did not modify the shared prefix
        out = generate(
            model,
            prompt,
            drafter=drafter() if drafter else None,
            max_new_tokens=30,
            eos_token_id=[],
            prefix_cache=prefix,
        )
        assert out.new_tokens == ref
        assert out.stats.reused_prefix_tokens == len(prompt) - 1
    assert prefix.cache.get_seq_length() == len(prompt) - 1


def test_full_prompt_cache_keeps_last_token_and_mismatch_uses_common_prefix(model):
    prompt = [5, 6, 7, 8, 9, 10]
    ref = reference_greedy(model, prompt, 12, eos_token_id=[])
    full = PrefixCache.prefill(model, prompt)
    out = generate(model, prompt, max_new_tokens=12, eos_token_id=[], prefix_cache=full)
    assert out.new_tokens == ref and out.stats.reused_prefix_tokens == len(prompt) - 1
    other = PrefixCache.prefill(model, [5, 6, 7, 40, 41, 42, 43])
    out = generate(model, prompt, max_new_tokens=12, eos_token_id=[], prefix_cache=other)
    assert out.new_tokens == ref and out.stats.reused_prefix_tokens == 3
    unrelated = PrefixCache.prefill(model, [50, 51])
    out = generate(model, prompt, max_new_tokens=12, eos_token_id=[], prefix_cache=unrelated)
    assert out.new_tokens == ref and out.stats.reused_prefix_tokens == 0


def test_returned_cache_continues_a_conversation(model):
    prompt = [5, 6, 7, 8, 9, 10]
    first = generate(
        model, prompt, drafter=PromptLookup(), max_new_tokens=20, eos_token_id=[], return_cache=True
    )
    assert first.cache is not None
    assert first.cache.tokens == (prompt + first.new_tokens)[: len(first.cache.tokens)]
    assert first.cache.cache.get_seq_length() == len(first.cache.tokens)
    longer = prompt + first.new_tokens + [3, 4, 3]
    out = generate(
        model, longer, drafter=PromptLookup(), max_new_tokens=15, eos_token_id=[], prefix_cache=first.cache
    )
    assert out.stats.reused_prefix_tokens == len(first.cache.tokens)
    assert out.new_tokens == reference_greedy(model, longer, 15, eos_token_id=[])


def test_sampling_with_prefix_cache_matches_without(model):
    prompt = [5, 6, 7, 8, 9, 10]
    prefix = PrefixCache.prefill(model, prompt[:-1])
    a = generate(model, prompt, max_new_tokens=20, temperature=0.8, seed=3, eos_token_id=[])
    b = generate(
        model, prompt, max_new_tokens=20, temperature=0.8, seed=3, eos_token_id=[], prefix_cache=prefix
    )
    assert a.new_tokens == b.new_tokens


def test_bad_prefix_cache(model):
    with pytest.raises(InvalidArgumentError):
        generate(model, [1, 2, 3], prefix_cache=torch.zeros(3))
