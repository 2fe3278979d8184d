"""SuffixDecoding (ArcticInference's ``SuffixDecodingCache``) behind the drafter protocol.

Lossless like every drafter (greedy output equals ``model.generate(do_sample=False)``), its drafts are
valid trees, a shared cache lets later generations draft from earlier ones, and exact replay of the
Best-of-8 traces reproduces the published figure (MAT 3.71, 1.52 -> 6.17).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip(
    "arctic_inference.suffix_decoding",
    reason="needs the optional 'arctic-inference' (pip install 'specscale[peers]', see the README)",
)

import specscale
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from specscale.drafters.suffix_decoding import (
    SuffixDecodingDrafter,
    new_cache,
    suffix_decoding_available,
    to_draft_tree,
)
from specscale.errors import InvalidArgumentError
from tiny_models import ARCHS, reference_greedy, tiny_model

VOCAB = 96
SHARED = Path(__file__).resolve().parents[1] / "../shared"
TRACES = SHARED / "data/traces/bon8_math_qwen25math.jsonl"
TOKENIZER = SHARED / "tokenizers/qwen2"


@pytest.fixture(scope="module", params=ARCHS)
def arch_model(request):
    # Sharpened heads make the models loop, so the suffix trees find matches and drafts get accepted.
    return request.param, tiny_model(request.param, VOCAB, scale=4.0)


def drafters(k: int, shared_cache) -> dict[str, SuffixDecodingDrafter]:
    return {
        "chain": SuffixDecodingDrafter(),
        "tree": SuffixDecodingDrafter(use_tree_spec=True),
        "chain_k": SuffixDecodingDrafter(max_spec_tokens=k, max_spec_factor=2.0, min_token_prob=0.0),
        "tree_k": SuffixDecodingDrafter(max_spec_tokens=k, use_tree_spec=True, min_token_prob=0.0),
        "no_prompt": SuffixDecodingDrafter(use_prompt=False, max_tree_depth=8),
        "shared": SuffixDecodingDrafter(cache=shared_cache, use_tree_spec=k % 2 == 0),
    }


def test_available():
    assert suffix_decoding_available()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompt=st.lists(st.integers(min_value=2, max_value=20), min_size=1, max_size=12),
    max_new=st.integers(min_value=1, max_value=32),
    k=st.integers(1, 12),
)
def test_greedy_equals_plain_generate(arch_model, prompt, max_new, k):
    arch, model = arch_model
    ref = reference_greedy(model, prompt, max_new, eos_token_id=[])
    shared = new_cache()
    for _ in range(2):  # the second pass drafts from the first through the shared cache
        for name, drafter in drafters(k, shared).items():
            out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=max_new, eos_token_id=[])
            assert out.new_tokens == ref, f"{arch}/{name}: {out.new_tokens} != {ref}"
            assert out.stats.new_tokens == len(ref) and out.stats.mean_accepted_tokens >= 1.0


def test_drafts_are_trees_with_parents_first():
    text = [9, 1, 2, 3, 4, 9, 1, 2, 5, 6, 9, 1, 2, 3, 4, 9, 1, 2, 5, 6, 7, 9, 1, 2]
    drafter = SuffixDecodingDrafter(use_tree_spec=True, max_spec_factor=4.0, min_token_prob=0.0)
    drafter.begin(text)
    tree = drafter.propose(text, 16)
    assert len(tree) > 2 and not tree.is_chain  # 9 1 2 -> {3, 5}: a branching draft
    assert all(-1 <= p < i for i, p in enumerate(tree.parents))
    assert {tree.tokens[i] for i, p in enumerate(tree.parents) if p == -1} == {3, 5}
    paths = [[tree.tokens[i] for i in path] for path in tree.paths()]
    assert [3, 4, 9, 1, 2] in [path[:5] for path in paths]
    assert tree.match_length == 3 and all(0.0 < s <= 1.0 for s in tree.scores)
    assert len(drafter.propose(text, 2)) <= 2  # the budget is respected
    chain = SuffixDecodingDrafter(max_spec_factor=4.0, min_token_prob=0.0)
    chain.begin(text)
    assert chain.propose(text, 16).is_chain
    for d in (drafter, chain):
        d.end()


def test_conversion_orders_parents_first_and_cuts_breadth_first():
    # SuffixDecoding's own order may put a child before its parent: reorder, keep the structure.
    tree = to_draft_tree([30, 10, 20, 40], [2, -1, 1, 1], [0.2, 1.0, 0.6, 0.4], 3, 10)
    assert tree.tokens == [10, 20, 40, 30] and tree.parents == [-1, 0, 0, 1]
    assert tree.scores == pytest.approx([1.0, 0.6, 0.4, 0.2]) and tree.match_length == 3
    assert sorted(tree.paths()) == [[0, 1, 3], [0, 2]]
    cut = to_draft_tree([30, 10, 20, 40], [2, -1, 1, 1], [0.2, 1.0, 0.6, 0.4], 3, 3)
    assert cut.tokens == [10, 20, 40] and cut.parents == [-1, 0, 0]
    chain = to_draft_tree([5, 6, 7], [-1, 0, 1], [1.0, 1.0, 1.0], 2, 2)
    assert chain.tokens == [5, 6] and chain.is_chain
    assert len(to_draft_tree([], [], [], 0, 5)) == 0


def test_shared_cache_drafts_the_next_generation_from_the_first():
    model = tiny_model("llama", VOCAB, seed=5, scale=1.5)  # flatter: the text does not simply loop
    prompt = [40, 41, 42]
    ref = reference_greedy(model, prompt, 40, eos_token_id=[])
    cache = new_cache()
    drafter = SuffixDecodingDrafter(cache=cache)
    first = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
    second = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
    assert first.new_tokens == ref and second.new_tokens == ref
    assert second.stats.mean_accepted_tokens > max(2.0, first.stats.mean_accepted_tokens)
    # Directly: a new request on the same cache, with a different prompt, drafts the first response.
    other = SuffixDecodingDrafter(cache=cache, max_spec_factor=8.0)
    other.begin([7, 8])
    other.observe(ref[:6])
    tree = other.propose([7, 8, *ref[:6]], 10)
    assert tree.tokens and tree.tokens == ref[6 : 6 + len(tree.tokens)]
    other.end()
    assert len(cache.cached_requests) == 3 and len(cache.active_requests) == 0


def test_private_cache_forgets_between_generations():
    text = [3, 4, 5, 6, 7, 8, 9, 10]
    drafter = SuffixDecodingDrafter()
    drafter.begin([1, 2])
    drafter.observe(text)
    drafter.end()
    drafter.begin([50, 51])
    assert len(drafter.propose([50, 51, 3, 4, 5, 6], 8)) == 0  # nothing of the first generation is left
    drafter.end()
    shared = SuffixDecodingDrafter(cache=new_cache())
    shared.begin([1, 2])
    shared.observe(text)
    shared.end()
    shared.begin([50, 51])
    assert shared.propose([50, 51, 3, 4, 5, 6], 8).tokens[:2] == [7, 8]
    shared.end()


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(InvalidArgumentError, match="max_spec_tokens"):
        SuffixDecodingDrafter(max_spec_tokens=0)
    with pytest.raises(InvalidArgumentError, match="min_token_prob"):
        SuffixDecodingDrafter(min_token_prob=1.5)
    with pytest.raises(TypeError, match="SuffixDecodingCache"):
        SuffixDecodingDrafter(cache=specscale.SuffixAutomaton())
    drafter = SuffixDecodingDrafter()
    with pytest.raises(specscale.SpecscaleError, match="before begin"):
        drafter.observe([1])


@pytest.mark.skipif(not TRACES.is_file(), reason="needs ../shared/data/traces and ../shared/tokenizers/qwen2")
def test_replay_reproduces_the_published_figure():
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(TOKENIZER))
    tokens, steps = [0] * 8, [0] * 8
    with open(TRACES, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            prompt = tok.encode(row["question"], add_special_tokens=False)
            cache = new_cache()
            for i, response in enumerate(row["response"]):
                sample = tok.encode(response, add_special_tokens=False)
                out = specscale.generate_from_trace(prompt, sample, SuffixDecodingDrafter(cache=cache))
                assert out.new_tokens == sample
                tokens[i] += out.stats.new_tokens
                steps[i] += out.stats.steps
    # shared/README.md: ArcticInference 0.3.0, one cache per problem, up to 40 tokens.
    assert round(sum(tokens) / sum(steps), 2) == 3.71
    assert round(tokens[0] / steps[0], 2) == 1.52 and round(tokens[7] / steps[7], 2) == 6.17


def test_missing_package_names_the_install_commands(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "arctic_inference.suffix_decoding", None)  # import fails
    assert not suffix_decoding_available()
    with pytest.raises(ImportError, match="pip install --no-build-isolation arctic-inference==0.3.0"):
        SuffixDecodingDrafter()
