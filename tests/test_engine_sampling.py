"""Speculative sampling is lossless: sampled tokens have the target's distribution, whatever the draft.

Fixed seeds make every test deterministic; the bounds are several standard deviations wide for a correct
sampler and far too narrow for the usual bugs (accepting a matching draft token with probability 1,
forgetting to zero the rejected token, not renormalizing the residual).
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
import specscale
import torch
from specscale import DraftTree
from specscale.drafters import Drafter
from specscale.sampling import SamplingParams, children_lists, greedy_accept, process_logits, sample_accept
from tiny_models import tiny_model


def chi_square(counts: dict, probs: dict, n: int) -> tuple[float, int]:
    """Pearson's statistic over cells with expected count >= 5 (the rest pooled in one cell), and its df."""
    stat, pooled_obs, pooled_exp, cells = 0.0, 0, 0.0, 0
    for key, p in probs.items():
        expected = p * n
        if expected >= 5:
            stat += (counts.get(key, 0) - expected) ** 2 / expected
            cells += 1
        else:
            pooled_obs += counts.get(key, 0)
            pooled_exp += expected
    stray = sum(c for k, c in counts.items() if k not in probs)  # outcomes of probability 0
    assert stray == 0, f"{stray} draws of probability-zero outcomes"
    if pooled_exp > 0:
        stat += (pooled_obs - pooled_exp) ** 2 / max(pooled_exp, 1e-9)
        cells += 1
    return stat, cells - 1


def chi_square_limit(df: int, z: float = 3.72) -> float:
    """Upper quantile of chi-square(df) at the standard-normal quantile z (Wilson-Hilferty): z=3.72 is
    a one-sided p of 1e-4."""
    h = 2.0 / (9.0 * df)
    return df * (1.0 - h + z * math.sqrt(h)) ** 3


# --- logits processing is transformers' -----------------------------------------------------------------


@pytest.mark.parametrize(
    "temperature,top_k,top_p",
    [(1.0, 0, 1.0), (0.7, 0, 1.0), (1.3, 5, 1.0), (0.9, 0, 0.8), (0.6, 7, 0.5), (1.0, 1, 1.0)],
)
def test_process_logits_matches_transformers_warpers(temperature, top_k, top_p):
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    torch.manual_seed(0)
    logits = torch.randn(6, 40) * 3
    ref = LogitsProcessorList()
    if temperature != 1.0:
        ref.append(TemperatureLogitsWarper(temperature))
    if top_k:
        ref.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        ref.append(TopPLogitsWarper(top_p))
    expected = ref(torch.zeros(6, 1, dtype=torch.long), logits.clone())
    got = process_logits(logits, SamplingParams(temperature, top_k, top_p))
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    finite = ~torch.isinf(got)
    assert torch.allclose(got[finite], expected[finite])


# --- the acceptance rule, on its own ------------------------------------------------------------------------


def _tree_cases():
    # (tokens, parents): chains, siblings, duplicate siblings, a deeper tree.
    return [
        ([2], [-1]),
        ([0, 1, 2], [-1, -1, -1]),
        ([3, 3, 1], [-1, -1, -1]),
        ([0, 4, 1, 2, 0, 5], [-1, 0, -1, 2, 2, -1]),
        ([5, 5, 5, 0], [-1, 0, 1, -1]),
    ]


@pytest.mark.parametrize("case", range(5))
def test_sample_accept_emits_the_target_distribution(case):
    tokens, parents = _tree_cases()[case]
    vocab = 6
    gen = torch.Generator().manual_seed(1234 + case)
    logits = torch.randn(len(tokens) + 1, vocab, generator=gen) * 1.5
    params = SamplingParams(temperature=0.8, top_k=5)
    probs = process_logits(logits, params).softmax(-1)
    children = children_lists(parents)
    n = 12_000
    first: dict[int, int] = {}
    second: dict[int, dict[int, int]] = {}  # after each accepted root child: the next token emitted
    for _ in range(n):
        path, own = sample_accept(logits, tokens, children, params, gen)
        emitted = [tokens[i] for i in path] + [own]
        first[emitted[0]] = first.get(emitted[0], 0) + 1
        if path:
            second.setdefault(path[0], {})
            second[path[0]][emitted[1]] = second[path[0]].get(emitted[1], 0) + 1
    p0 = {t: float(probs[0, t]) for t in range(vocab) if probs[0, t] > 0}
    stat, df = chi_square(first, p0, n)
    assert stat < chi_square_limit(df), (stat, df, first, p0)
    # Given that root child c was accepted, the next token is distributed as the target's after c.
    for node, counts in second.items():
        m = sum(counts.values())
        if m < 500:
            continue
        pn = {t: float(probs[node + 1, t]) for t in range(vocab) if probs[node + 1, t] > 0}
        stat, df = chi_square(counts, pn, m)
        assert df == 0 or stat < chi_square_limit(df), (node, stat, df, counts, pn)


def test_sampled_chain_with_draft_probabilities_is_exact_and_accepts_min_p_q():
    """Speculative sampling proper: draft tokens drawn from q, accepted with min(1, p/q); the emitted
    tokens follow p, and the first draft is accepted with probability sum(min(p, q))."""
    vocab = 6
    gen = torch.Generator().manual_seed(77)
    logits = torch.randn(3, vocab, generator=gen) * 1.5
    params = SamplingParams(temperature=0.8)
    probs = process_logits(logits, params).softmax(-1).double()
    q = [torch.softmax(torch.randn(vocab, generator=gen).double(), -1) for _ in range(2)]
    q[0][3] = 0.0  # a token the draft never proposes must still be emitted with its p
    q[0] /= q[0].sum()
    children = children_lists([-1, 0])
    n = 20_000
    first: dict[int, int] = {}
    second: dict[int, int] = {}
    accepted_first = 0
    for _ in range(n):
        x0 = int(torch.multinomial(q[0], 1, generator=gen))
        x1 = int(torch.multinomial(q[1], 1, generator=gen))
        path, own = sample_accept(logits, [x0, x1], children, params, gen, {0: q[0], 1: q[1]})
        emitted = [[x0, x1][i] for i in path] + [own]
        first[emitted[0]] = first.get(emitted[0], 0) + 1
        accepted_first += bool(path)
        if path:  # given x0 accepted, the next token follows the target's row after x0
            if x0 == 2:
                second[emitted[1]] = second.get(emitted[1], 0) + 1
    p0 = {t: float(probs[0, t]) for t in range(vocab) if probs[0, t] > 0}
    stat, df = chi_square(first, p0, n)
    assert stat < chi_square_limit(df), (stat, df)
    rate = float(torch.minimum(probs[0], q[0]).sum())
    assert abs(accepted_first / n - rate) < 4 * (rate * (1 - rate) / n) ** 0.5
    # Row 1 scores what follows node 0 whatever its token (the logits are given), so after an accepted
    # x0 = 2 the next token follows row 1.
    m = sum(second.values())
    p1 = {t: float(probs[1, t]) for t in range(vocab) if probs[1, t] > 0}
    stat, df = chi_square(second, p1, m)
    assert stat < chi_square_limit(df), (stat, df)


def test_greedy_accept_walks_the_argmax_path():
    logits = torch.full((5, 4), -1.0)
    logits[0, 2] = 1.0  # after the context: 2
    logits[2, 3] = 1.0  # after node 1 (token 2): 3
    logits[4, 0] = 1.0  # after node 3 (token 3): 0
    tokens, parents = [1, 2, 3, 3], [-1, -1, 1, 1]
    path, own = greedy_accept(logits, tokens, children_lists(parents))
    assert path == [1, 2] and own == int(logits[3].argmax())


def test_top_k_one_sampling_is_greedy():
    model = tiny_model("llama", 96, scale=4.0)
    prompt = [4, 5, 6, 4, 5]
    greedy = specscale.generate(
        model, prompt, drafter=specscale.PromptLookup(), max_new_tokens=20, eos_token_id=[]
    )
    sampled = specscale.generate(
        model,
        prompt,
        drafter=specscale.PromptLookup(),
        max_new_tokens=20,
        eos_token_id=[],
        temperature=0.7,
        top_k=1,
        seed=3,
    )
    assert sampled.new_tokens == greedy.new_tokens


# --- end to end on a tiny model ----------------------------------------------------------------------------


class FixedTree(Drafter):
    """The same tree every step, independent of the context."""

    def __init__(self, tokens, parents):
        self.tree = (tokens, parents)

    def propose(self, context, max_tokens):
        tokens, parents = self.tree
        n = min(max_tokens, len(tokens))
        return DraftTree(tokens[:n], parents[:n], None)


class RandomTrees(Drafter):
    def __init__(self, seed, vocab):
        self.rng, self.vocab = random.Random(seed), vocab

    def propose(self, context, max_tokens):
        n = self.rng.randint(0, min(6, max_tokens))
        return DraftTree(
            [self.rng.randrange(self.vocab) for _ in range(n)],
            [self.rng.randint(-1, i - 1) for i in range(n)],
            None,
        )


def exact_two_token_distribution(model, prompt, params, vocab) -> dict[tuple[int, ...], float]:
    """The exact distribution of the model's 2-token continuation of ``prompt`` under ``params``."""
    exact: dict[tuple[int, ...], float] = {}
    with torch.inference_mode():
        p1 = process_logits(model(torch.tensor([prompt])).logits[0, -1:], params).softmax(-1)[0]
        for a in range(vocab):
            if p1[a] == 0:
                continue
            p2 = process_logits(model(torch.tensor([prompt + [a]])).logits[0, -1:], params).softmax(-1)[0]
            for b in range(vocab):
                if p2[b] > 0:
                    exact[(a, b)] = float(p1[a] * p2[b])
    return exact


def _suffix_decoding_available() -> bool:
    from specscale.drafters.suffix_decoding import suffix_decoding_available

    return suffix_decoding_available()


def _sampling_drafter(name, likely, vocab):
    """Each method's drafter, set up so that its drafts are used on the 8-token toy model."""
    if name == "fixed_tree":
        return FixedTree([likely[0], (likely[0] + 1) % vocab, likely[1], likely[1]], [-1, -1, 0, 1])
    if name == "random_trees":
        return RandomTrees(5, vocab)
    if name == "sam":
        return specscale.SuffixAutomatonDrafter(automaton=specscale.SuffixAutomaton(), min_match=1)
    if name == "trie":
        return specscale.NgramTrieDrafter(trie=specscale.NgramTrie(max_order=2))
    if name == "pld":
        return specscale.PromptLookup(min_ngram_size=1)
    if name == "recycling":
        return specscale.TokenRecyclingDrafter(top_k=3, tree_size=8, persist=True)
    if name == "lookahead":
        return specscale.LookaheadDrafter(level=2, window=3, guess_set=3, persist_pool=True)
    if name == "hybrid":
        return specscale.HybridDrafter(
            [specscale.SuffixAutomatonDrafter(automaton=specscale.SuffixAutomaton(), min_match=1), RandomTrees(6, vocab)]
        )
    if name == "retrieval":
        store = specscale.SuffixAutomaton(counts=True)
        rng = random.Random(3)
        for _ in range(20):
            store.begin_sequence()
            store.extend([2, 3, 4, 2] + [rng.randrange(vocab) for _ in range(6)])
        return specscale.RetrievalDrafter(store, branches=2, depth=2, min_match=1)
    if name == "draft_model":
        return specscale.DraftModelDrafter(tiny_model("llama", vocab, seed=12, scale=8.0), max_tokens=2, adaptive=False)
    if name == "sam_freq":
        return specscale.FrequencySuffixDrafter(specscale.SuffixAutomaton(counts=True), min_prob=0.0)
    if name == "eagle3":
        from eagle_training import random_head

        return specscale.Eagle3Drafter(random_head(tiny_model("llama", vocab, seed=11, scale=8.0), seed=2), top_k=3, total_tokens=6, depth=1)
    if name == "suffix_decoding":
        from specscale.drafters.suffix_decoding import SuffixDecodingDrafter

        return SuffixDecodingDrafter(use_tree_spec=True)
    raise AssertionError(name)


SAMPLING_DRAFTERS = ["fixed_tree", "random_trees", "sam", "trie", "pld", "recycling", "lookahead", "hybrid", "retrieval", "eagle3", "sam_freq"]


@pytest.mark.parametrize(
    "drafter_name",
    SAMPLING_DRAFTERS
    + [
        pytest.param(
            "suffix_decoding",
            marks=pytest.mark.skipif(not _suffix_decoding_available(), reason="arctic-inference is not installed"),
        )
    ],
)
def test_sampled_sequences_have_the_target_distribution(drafter_name):
    vocab, steps = 8, 2
    model = tiny_model("llama", vocab, seed=11, scale=8.0)
    prompt = [2, 3, 4, 2]
    exact = exact_two_token_distribution(model, prompt, SamplingParams(temperature=0.9, top_k=6), vocab)
    likely = max(exact, key=exact.get)
    drafter = _sampling_drafter(drafter_name, likely, vocab)
    extra = {}
    if getattr(drafter, "wants_hidden_states", False):
        # Two steps leave no room for a feature drafter's first draft unless the prompt's features exist.
        layers = drafter.hidden_state_layers(model)
        extra["prefix_cache"] = specscale.PrefixCache.prefill(model, prompt[:-1], feature_layers=layers)
    n = 2500
    gen = torch.Generator().manual_seed(99)
    counts: dict[tuple[int, ...], int] = {}
    accepted = 0
    for _ in range(n):
        out = specscale.generate(
            model,
            prompt,
            drafter=drafter,
            max_new_tokens=steps,
            eos_token_id=[],
            temperature=0.9,
            top_k=6,
            generator=gen,
            **extra,
        )
        key = tuple(out.new_tokens)
        counts[key] = counts.get(key, 0) + 1
        accepted += out.stats.accepted_draft_tokens
    assert accepted > 0  # the drafts were really used
    stat, df = chi_square(counts, exact, n)
    assert stat < chi_square_limit(df), (stat, df)


def test_sampling_is_reproducible_with_a_seed():
    model = tiny_model("gpt2", 96, scale=2.0)
    runs = [
        specscale.generate(
            model,
            [5, 6, 7],
            drafter=specscale.NgramTrieDrafter(),
            max_new_tokens=16,
            temperature=1.0,
            top_p=0.9,
            seed=42,
            eos_token_id=[],
        ).new_tokens
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert len(set(itertools.chain(runs[0]))) > 1
