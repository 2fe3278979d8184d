"""The engine is lossless: greedy output equals plain greedy decoding, token for token, whatever the drafter.

Adversarial drafters (always wrong, random, a perfect oracle, an oracle path hidden among many branches)
exercise every acceptance length and the KV-cache crop and compaction, on three architectures.
"""

from __future__ import annotations

import random

import pytest
import specscale
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from specscale import DraftTree
from specscale.drafters import AdaptiveLength, Drafter
from specscale.errors import InvalidArgumentError
from specscale.verify import TreeMaskUnsupportedError
from tiny_models import ARCHS, reference_greedy, tiny_model

VOCAB = 96


@pytest.fixture(scope="module", params=ARCHS)
def arch_model(request):
    # Sharpened heads make the models loop, so lookup drafters find matches and get accepted.
    return request.param, tiny_model(request.param, VOCAB, scale=4.0)


# --- adversarial drafters for tests -------------------------------------------------------------------


class Oracle(Drafter):
    """Knows the reference continuation: drafts it exactly (every token accepted)."""

    def __init__(self, answer: list[int], prompt_len: int, length: int = 7):
        self.answer, self.prompt_len, self.length = answer, prompt_len, length

    def propose(self, context, max_tokens):
        done = len(context) - self.prompt_len
        return DraftTree(self.answer[done : done + min(max_tokens, self.length)] or [], None, None)


class AlwaysWrong(Oracle):
    """Drafts a token different from the reference at every position (nothing is ever accepted)."""

    def propose(self, context, max_tokens):
        good = super().propose(context, max_tokens).tokens
        return DraftTree([(t + 1) % VOCAB for t in good], None, None)


class RandomDrafter(Drafter):
    """Random tokens in random tree shapes (chains and branches)."""

    def __init__(self, seed: int, vocab: int = VOCAB, max_nodes: int = 12, tree: bool = True):
        self.rng = random.Random(seed)
        self.vocab, self.max_nodes, self.tree = vocab, max_nodes, tree

    def propose(self, context, max_tokens):
        n = self.rng.randint(0, min(max_tokens, self.max_nodes))
        tokens = [self.rng.randrange(self.vocab) for _ in range(n)]
        parents = [self.rng.randint(-1, i - 1) if self.tree else i - 1 for i in range(n)]
        return DraftTree(tokens, parents, None)


class ManyBranches(Oracle):
    """The reference path hidden among random siblings, placed so that the accepted path is usually not
    a prefix of the flattened tree (forces KV-cache compaction)."""

    def __init__(self, answer, prompt_len, seed: int, width: int = 3, length: int = 5):
        super().__init__(answer, prompt_len, length)
        self.rng = random.Random(seed)
        self.width = width

    def propose(self, context, max_tokens):
        good = super().propose(context, max_tokens).tokens
        tokens: list[int] = []
        parents: list[int] = []
        parent = -1
        for t in good:
            if len(tokens) + self.width > max_tokens:
                break
            slot = self.rng.randrange(self.width)
            mine = -1
            for j in range(self.width):
                tokens.append(t if j == slot else self.rng.randrange(VOCAB))
                parents.append(parent)
                if j == slot:
                    mine = len(tokens) - 1
                elif self.rng.random() < 0.5 and len(tokens) < max_tokens:
                    tokens.append(self.rng.randrange(VOCAB))  # a grandchild on a dead branch
                    parents.append(len(tokens) - 2)
            parent = mine
        return DraftTree(tokens, parents, None)


def all_drafters(answer, prompt_len, seed, k=6, branches=2):
    """Every drafter, with ``k`` (draft length) and ``branches`` as drawn by hypothesis for some."""
    return {
        "none": specscale.NoDraft(),
        "pld": specscale.PromptLookup(),
        "pld_fixed": specscale.PromptLookup(max_ngram_size=2, num_output_tokens=5, adaptive=False),
        "sam": specscale.SuffixAutomatonDrafter(),
        "sam_min1": specscale.SuffixAutomatonDrafter(min_match=1, max_tokens=6, adaptive=False),
        "trie": specscale.NgramTrieDrafter(),
        "trie_wide": specscale.NgramTrieDrafter(branches=4, depth=3, max_tokens=24, adaptive=False),
        "oracle": Oracle(answer, prompt_len),
        "wrong": AlwaysWrong(answer, prompt_len),
        "random_tree": RandomDrafter(seed),
        "random_chain": RandomDrafter(seed + 1, tree=False),
        "many_branches": ManyBranches(answer, prompt_len, seed, width=branches + 1, length=k),
        "pld_k": specscale.PromptLookup(max_ngram_size=branches, num_output_tokens=k),
        "sam_k": specscale.SuffixAutomatonDrafter(
            max_tokens=k, min_match=branches, extend_loops=seed % 2 == 0
        ),
        "trie_k": specscale.NgramTrieDrafter(
            branches=branches, depth=k, max_tokens=2 * k, max_order=branches + 1
        ),
        "oracle_k": Oracle(answer, prompt_len, length=k),
    }


prompts = st.lists(st.integers(min_value=2, max_value=20), min_size=1, max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompt=prompts,
    max_new=st.integers(min_value=1, max_value=28),
    seed=st.integers(0, 10_000),
    k=st.integers(1, 12),
    branches=st.integers(1, 4),
)
def test_greedy_equals_plain_generate(arch_model, prompt, max_new, seed, k, branches):
    arch, model = arch_model
    ref = reference_greedy(model, prompt, max_new, eos_token_id=[])
    for name, drafter in all_drafters(ref, len(prompt), seed, k, branches).items():
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=max_new, eos_token_id=[])
        assert out.new_tokens == ref, f"{arch}/{name}: {out.new_tokens} != {ref}"
        s = out.stats
        assert s.new_tokens == len(ref) and s.steps >= 1 and s.mean_accepted_tokens >= 1.0
        assert sum(s.accepted_histogram.values()) == s.steps
        assert sum(k * c for k, c in s.accepted_histogram.items()) == s.new_tokens
        assert 0 < s.forward_seconds <= s.verify_seconds <= s.wall_seconds
        assert s.draft_seconds <= s.overhead_seconds <= s.wall_seconds
        if name == "none":
            assert s.steps == len(ref) and s.mean_accepted_tokens == 1.0
        if name == "oracle" and max_new > 1:
            assert s.mean_accepted_tokens > 1.0


def test_eager_attention_trees():
    # The 4D tree mask is additive in eager attention and goes through SDPA otherwise: check both.
    model = tiny_model("llama", VOCAB, seed=3, attn="eager", scale=4.0)
    prompt = [4, 5, 6, 4, 5, 6, 7]
    ref = reference_greedy(model, prompt, 24, eos_token_id=[])
    for seed in range(4):
        for drafter in (ManyBranches(ref, len(prompt), seed, width=4), RandomDrafter(seed)):
            out = specscale.generate(
                model, prompt, drafter=drafter, max_new_tokens=24, eos_token_id=[], tree=True
            )
            assert out.new_tokens == ref


def test_oracle_hidden_in_branches_is_accepted_in_full():
    model = tiny_model("qwen3", VOCAB, scale=4.0)
    prompt = [9, 8, 7]
    ref = reference_greedy(model, prompt, 30, eos_token_id=[])
    out = specscale.generate(
        model,
        prompt,
        drafter=ManyBranches(ref, len(prompt), seed=1, length=5),
        max_new_tokens=30,
        eos_token_id=[],
    )
    assert out.new_tokens == ref
    # While the budget allows the whole tree, a step commits 6 tokens: 5 drafted + the target's own.
    assert out.stats.accepted_histogram.get(6, 0) >= 2 and out.stats.mean_accepted_tokens >= 2.5


def test_chain_fallback_where_tree_masks_are_unsupported():
    from transformers import AutoModelForCausalLM, Qwen3Config

    cfg = Qwen3Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        use_sliding_window=True,
        sliding_window=4,
        max_window_layers=0,
        eos_token_id=1,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    prompt = [3, 4, 5, 3, 4, 5, 6, 7, 8, 9, 10]
    ref = reference_greedy(model, prompt, 20, eos_token_id=[])
    drafter = ManyBranches(ref, len(prompt), seed=2)
    out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=20, eos_token_id=[])
    assert out.new_tokens == ref  # trees reduced to a chain: correct, if slower
    with pytest.raises(TreeMaskUnsupportedError, match="sliding|DynamicSlidingWindowLayer"):
        specscale.generate(model, prompt, drafter=drafter, max_new_tokens=5, eos_token_id=[], tree=True)
    out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=20, eos_token_id=[], tree=False)
    assert out.new_tokens == ref


# --- stopping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_eos_inside_a_draft(arch):
    model = tiny_model(arch, VOCAB, scale=4.0)
    prompt = [11, 12, 13, 14]
    free = reference_greedy(model, prompt, 30, eos_token_id=[])
    eos = free[len(free) // 2]  # a token the model really emits mid-run
    ref = reference_greedy(model, prompt, 30, eos_token_id=eos)
    assert ref[-1] == eos and len(ref) < 30
    for drafter in (
        Oracle(free, len(prompt), length=30),
        ManyBranches(free, len(prompt), 0),
        specscale.PromptLookup(),
    ):
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=30, eos_token_id=eos)
        assert out.new_tokens == ref and out.finish_reason == "eos"
    # A list of EOS ids, and the model's own generation_config as the default.
    out = specscale.generate(
        model, prompt, drafter=Oracle(free, len(prompt)), max_new_tokens=30, eos_token_id=[999, eos]
    )
    assert out.new_tokens == ref
    model.generation_config.eos_token_id = eos
    out = specscale.generate(model, prompt, drafter=Oracle(free, len(prompt)), max_new_tokens=30)
    assert out.new_tokens == ref


class CharTokenizer:
    """Token i decodes to one letter: enough to test stop strings without a real tokenizer."""

    def decode(self, ids):
        return "".join(chr(ord("a") + i % 26) for i in ids)


def test_stop_strings_and_sequences_inside_drafts():
    model = tiny_model("llama", VOCAB, scale=4.0)
    prompt = [20, 21, 22]
    free = reference_greedy(model, prompt, 30, eos_token_id=[])
    tok = CharTokenizer()
    stop = tok.decode(free[9:11])
    text = tok.decode(free)
    # Plain decoding stops at the first token whose text completes the stop string.
    end = next(i + 1 for i in range(len(free)) if stop in tok.decode(free[: i + 1]))
    assert text.find(stop) + len(stop) == end
    out = specscale.generate(
        model,
        prompt,
        drafter=Oracle(free, len(prompt), length=20),
        max_new_tokens=30,
        eos_token_id=[],
        stop=[stop],
        tokenizer=tok,
    )
    assert out.new_tokens == free[:end] and out.finish_reason == "stop"
    seq = free[12:14]
    end = next(i + 2 for i in range(len(free) - 1) if free[i : i + 2] == seq)
    out = specscale.generate(
        model,
        prompt,
        drafter=Oracle(free, len(prompt), length=20),
        max_new_tokens=30,
        eos_token_id=[],
        stop=[seq],
    )
    assert out.new_tokens == free[:end] and out.finish_reason == "stop"
    with pytest.raises(InvalidArgumentError, match="tokenizer"):
        specscale.generate(model, prompt, max_new_tokens=3, stop="ab")


@pytest.mark.parametrize("max_new", [0, 1, 2, 3, 7])
def test_max_new_tokens_reached_mid_draft(max_new):
    model = tiny_model("gpt2", VOCAB, scale=4.0)
    prompt = [30, 31, 32, 30, 31]
    free = reference_greedy(model, prompt, 12, eos_token_id=[])
    out = specscale.generate(
        model, prompt, drafter=Oracle(free, len(prompt), length=12), max_new_tokens=max_new, eos_token_id=[]
    )
    assert out.new_tokens == free[:max_new]
    assert out.finish_reason == "length"
    assert out.sequences.tolist() == [prompt + free[:max_new]]


# --- stores shared across generations -----------------------------------------------------------------


def test_shared_stores_speed_up_a_repeated_generation():
    model = tiny_model("llama", VOCAB, seed=5, scale=1.5)  # flatter: the text does not simply loop
    prompt = [40, 41, 42]
    ref = reference_greedy(model, prompt, 40, eos_token_id=[])
    sam = specscale.SuffixAutomaton()
    trie = specscale.NgramTrie(max_order=4)
    for drafter in (specscale.SuffixAutomatonDrafter(automaton=sam), specscale.NgramTrieDrafter(trie=trie)):
        first = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
        second = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
        assert first.new_tokens == ref and second.new_tokens == ref
        # The second sample finds the first one's text in the shared store.
        assert second.stats.mean_accepted_tokens > max(2.0, first.stats.mean_accepted_tokens)


# --- inputs and drafts that make no sense -------------------------------------------------------------


class BadDrafter(Drafter):
    def __init__(self, tokens, parents):
        self.tokens, self.parents = tokens, parents

    def propose(self, context, max_tokens):
        return _Tree(self.tokens, self.parents)


class ListDrafter(Drafter):
    def propose(self, context, max_tokens):
        return [5, 6]


class _Tree:  # duck-typed: bypasses DraftTree's own checks to test the engine's
    def __init__(self, tokens, parents):
        self.tokens, self.parents = tokens, parents


def test_bad_inputs_raise_clear_errors():
    model = tiny_model("llama", VOCAB)
    with pytest.raises(InvalidArgumentError, match="input_ids\\[1\\] = 96"):
        specscale.generate(model, [1, VOCAB], max_new_tokens=2)
    with pytest.raises(InvalidArgumentError, match="empty"):
        specscale.generate(model, [], max_new_tokens=2)
    with pytest.raises(InvalidArgumentError, match="batch size 1"):
        specscale.generate(model, torch.zeros(2, 3, dtype=torch.long), max_new_tokens=2)
    with pytest.raises(InvalidArgumentError, match="integers"):
        specscale.generate(model, torch.zeros(3), max_new_tokens=2)
    with pytest.raises(InvalidArgumentError, match="max_new_tokens"):
        specscale.generate(model, [3], max_new_tokens=-1)
    with pytest.raises(InvalidArgumentError, match="temperature"):
        specscale.generate(model, [3], temperature=-1.0)
    with pytest.raises(InvalidArgumentError, match="top_p"):
        specscale.generate(model, [3], temperature=1.0, top_p=0.0)
    with pytest.raises(InvalidArgumentError, match="drafter"):
        specscale.generate(model, [3], drafter=object())
    with pytest.raises(InvalidArgumentError, match="tokens\\[1\\] = 500"):
        specscale.generate(model, [3, 4], drafter=BadDrafter([5, 500], [-1, 0]), max_new_tokens=4)
    with pytest.raises(InvalidArgumentError, match="parents\\[1\\] = 1"):
        specscale.generate(model, [3, 4], drafter=BadDrafter([5, 6], [-1, 1]), max_new_tokens=4)
    with pytest.raises(InvalidArgumentError, match="must return a DraftTree"):
        specscale.generate(model, [3, 4], drafter=ListDrafter(), max_new_tokens=4)
    with pytest.raises(InvalidArgumentError, match="tree"):
        specscale.generate(model, [3], tree="maybe")
    # numpy and tensor prompts are accepted.
    np = pytest.importorskip("numpy")
    a = specscale.generate(model, np.array([[3, 4, 5]]), max_new_tokens=3).new_tokens
    b = specscale.generate(model, torch.tensor([3, 4, 5]), max_new_tokens=3).new_tokens
    assert a == b


def test_oversized_drafts_are_cut_to_the_budget():
    model = tiny_model("llama", VOCAB, scale=4.0)
    prompt = [3, 4, 5]
    ref = reference_greedy(model, prompt, 10, eos_token_id=[])
    out = specscale.generate(
        model,
        prompt,
        drafter=BadDrafter(ref[:3] + [0] * 40, list(range(-1, 42))),
        max_new_tokens=10,
        eos_token_id=[],
        max_draft_tokens=5,
    )
    assert out.new_tokens == ref


# --- loading a saved model from disk --------------------------------------------------------------------


def test_saved_and_reloaded_model(tmp_path):
    from transformers import AutoModelForCausalLM

    tiny_model("qwen3", VOCAB, seed=7, scale=4.0).save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    prompt = [5, 6, 7, 5, 6]
    ref = reference_greedy(model, prompt, 24, eos_token_id=[])
    for drafter in (
        specscale.PromptLookup(),
        specscale.SuffixAutomatonDrafter(),
        specscale.NgramTrieDrafter(),
    ):
        assert (
            specscale.generate(model, prompt, drafter=drafter, max_new_tokens=24, eos_token_id=[]).new_tokens
            == ref
        )


# --- transformers' own assisted decoding ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [specscale.PromptLookup, specscale.SuffixAutomatonDrafter, specscale.NgramTrieDrafter]
)
def test_candidate_generator_inside_model_generate(make):
    model = tiny_model("llama", VOCAB, scale=4.0)
    prompt = [7, 8, 9, 7, 8]
    ref = reference_greedy(model, prompt, 20, eos_token_id=None)
    ids = torch.tensor([prompt])
    out = specscale.assisted_generate(
        model,
        ids,
        make(),
        attention_mask=torch.ones_like(ids),
        max_new_tokens=20,
        do_sample=False,
        pad_token_id=0,
    )
    assert out[0, len(prompt) :].tolist() == ref
    assert "_get_candidate_generator" not in model.__dict__  # the patch is gone


# --- drafter units --------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(tokens=st.lists(st.integers(0, 4), min_size=1, max_size=40), k=st.integers(1, 8))
def test_prompt_lookup_drafts_real_continuations(tokens, k):
    d = specscale.PromptLookup(adaptive=False, num_output_tokens=k)
    d.begin(tokens[:1])
    d.observe(tokens[1:])
    draft = d.propose(tokens, k).tokens
    # Brute force: the longest n <= 3 whose n-gram occurs earlier with a continuation.
    best = 0
    for n in range(min(3, len(tokens) - 1), 0, -1):
        if any(tokens[e - n : e] == tokens[-n:] for e in range(n, len(tokens))):
            best = n
            break
    if best == 0:
        assert draft == []
        return
    assert 1 <= len(draft) <= k
    n = best
    assert any(
        tokens[e - n : e] == tokens[-n:] and tokens[e : e + len(draft)] == draft
        for e in range(n, len(tokens))
    )


def test_adaptive_length_policy():
    p = AdaptiveLength(max_tokens=10, initial=4, grow=2, shrink_to_accepted=1, match_factor=2)
    assert p.budget(100) == 4
    p.update(drafted=4, accepted=4)
    assert p.budget(100) == 6
    p.update(drafted=6, accepted=1)
    assert p.budget(100) == 2
    assert p.budget(100, match_length=0) == 2
    p.update(drafted=2, accepted=2)
    assert p.budget(100, match_length=1) == 2  # 4 by acceptance, 2 by match
    assert p.budget(1) == 1
    p.reset()
    assert p.budget(100) == 4
    assert AdaptiveLength(max_tokens=7, enabled=False).budget(100, match_length=1) == 7
    with pytest.raises(InvalidArgumentError, match="max_tokens"):
        AdaptiveLength(max_tokens=-1)


def test_public_names():
    for name in (
        "generate",
        "GenerationOutput",
        "GenerationStats",
        "NoDraft",
        "PromptLookup",
        "SuffixAutomatonDrafter",
        "NgramTrieDrafter",
        "Drafter",
        "AdaptiveLength",
        "SpecscaleCandidateGenerator",
        "assisted_generate",
    ):
        assert name in specscale.__all__ and hasattr(specscale, name), name
    for cls in (
        specscale.NoDraft,
        specscale.PromptLookup,
        specscale.SuffixAutomatonDrafter,
        specscale.NgramTrieDrafter,
    ):
        drafter = cls()
        drafter.begin([1, 2, 3, 1, 2])
        assert isinstance(drafter.propose([1, 2, 3, 1, 2], 4), DraftTree)
        repr(drafter)
    with pytest.raises(TypeError, match="SuffixAutomaton"):
        specscale.SuffixAutomatonDrafter(automaton=specscale.NgramTrie())
    with pytest.raises(InvalidArgumentError, match="max_tokens"):
        specscale.NgramTrieDrafter(max_tokens=0)


def test_stop_string_with_a_real_tokenizer():
    from pathlib import Path

    from transformers import AutoTokenizer

    tok_dir = Path(__file__).resolve().parents[2] / "shared" / "tokenizers" / "qwen2"
    if not tok_dir.exists():
        pytest.skip("shared Qwen2 tokenizer not available")
    tok = AutoTokenizer.from_pretrained(tok_dir)
    model = tiny_model("llama", len(tok), seed=2, scale=3.0)
    prompt = tok("def add(a, b):\n    return a + b\n\ndef add(")["input_ids"]
    free = reference_greedy(model, prompt, 40, eos_token_id=[])
    # A stop string spanning a token boundary, from text that decodes cleanly.
    stop = None
    for i in range(3, len(free) - 2):
        text = tok.decode(free[i : i + 2])
        if text.isascii() and text.isprintable() and len(text) >= 3 and len(tok.decode(free[i : i + 1])) >= 1:
            stop = text[1:]
            break
    if stop is None:
        pytest.skip("the random model wrote no clean ASCII text to stop on")
    end = next(i + 1 for i in range(len(free)) if stop in tok.decode(free[: i + 1]))
    for drafter in (
        Oracle(free, len(prompt), length=12),
        specscale.PromptLookup(),
        specscale.NgramTrieDrafter(),
    ):
        out = specscale.generate(
            model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[], stop=stop, tokenizer=tok
        )
        assert out.new_tokens == free[:end] and out.finish_reason == "stop", (stop, out.new_tokens, free)


def test_bf16_runs_trees_and_sampling():
    # bf16 rounding differs between one-token and many-token forwards, so no equality claim here: the
    # engine must run, stay in the vocabulary and follow its own greedy path when the draft is its own.
    model = tiny_model("qwen3", VOCAB, scale=4.0).to(torch.bfloat16)
    prompt = [3, 4, 5, 3, 4]
    for kw in ({}, {"temperature": 0.8, "top_p": 0.9, "seed": 1}):
        out = specscale.generate(
            model, prompt, drafter=specscale.NgramTrieDrafter(), max_new_tokens=20, eos_token_id=[], **kw
        )
        assert len(out.new_tokens) == 20 and all(0 <= t < VOCAB for t in out.new_tokens)


def test_shared_stores_hold_exactly_the_committed_tokens():
    model = tiny_model("llama", VOCAB, scale=4.0)
    sam, trie = specscale.SuffixAutomaton(), specscale.NgramTrie(max_order=3)
    outs = []
    for prompt, eos in (([3, 4, 5], []), ([6, 7], [])):
        for drafter in (
            specscale.SuffixAutomatonDrafter(automaton=sam),
            specscale.NgramTrieDrafter(trie=trie),
        ):
            outs.append(
                (
                    prompt,
                    specscale.generate(model, prompt, drafter=drafter, max_new_tokens=17, eos_token_id=eos),
                )
            )
    sam_outs = [outs[0], outs[2]]
    assert [sam.sequence(i) for i in sam.sequence_ids()] == [p + o.new_tokens for p, o in sam_outs]
    assert trie.num_tokens == sum(len(p) + len(o.new_tokens) for p, o in [outs[1], outs[3]])


def test_the_cache_goes_by_the_name_the_model_takes():
    """transformers >= 5.20 takes ``cache=``, earlier 5.x ``past_key_values=`` (vLLM 0.32 pins < 5.20);
    the other name would be swallowed by ``**kwargs`` and the model would decode without our cache."""
    from specscale.verify import cache_argument

    class New:
        def forward(self, input_ids=None, cache=None, use_cache=None, **kwargs): ...

    class Old:
        def forward(self, input_ids=None, past_key_values=None, use_cache=None, **kwargs): ...

    assert cache_argument(New()) == "cache"
    assert cache_argument(Old()) == "past_key_values"
