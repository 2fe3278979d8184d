"""The reference rows of SpecTTS-Bench, pinned on small hand-written sequences: which occurrence each
copies, how long its drafts are, how PIA ranks its branches, and how SAM[EAGLE-3] switches."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from specscale import methods
from specscale._core import DraftTree
from specscale.drafters.base import Drafter
from specscale.drafters.hybrid import HybridDrafter, MatchThreshold
from specscale.drafters.lookup import PromptLookup
from specscale.drafters.pia import PiaDrafter, PiaTrie
from specscale.drafters.recycling import reference_tree_template
from specscale.drafters.samd import EarliestSuffixStream, SamDecodingDrafter

# --- PLD ------------------------------------------------------------------------------------------------


def _pld(context: list[int], occurrence: str, tokens: int = 10) -> list[int]:
    drafter = PromptLookup(max_ngram_size=3, num_output_tokens=tokens, adaptive=False, occurrence=occurrence)
    drafter.begin(context)
    return drafter.propose(context, 64).tokens


# Two earlier occurrences of the tail (7, 8, 9), each followed by 10+ tokens of its own.
TWICE = [7, 8, 9] + list(range(100, 112)) + [7, 8, 9] + list(range(200, 212)) + [7, 8, 9]


def test_reference_pld_copies_after_the_earliest_match_always_10_tokens():
    assert _pld(TWICE, "earliest") == list(range(100, 110))
    assert _pld(TWICE, "latest") == list(range(200, 210))  # ours: the most recent one


def test_reference_pld_skips_a_match_with_fewer_than_10_tokens_after_it():
    # The 3-gram (5, 6, 7) occurs earlier with only 9 tokens after it, the tail included; the 2-gram
    # (6, 7) occurs earlier still, with plenty after it: the reference falls back to the 2-gram.
    context = [6, 7] + list(range(300, 312)) + [5, 6, 7] + list(range(400, 406)) + [5, 6, 7]
    assert _pld(context, "earliest") == list(range(300, 310))
    # With drafts of 9 tokens the 3-gram's match is long enough (its copy runs into the tail).
    assert _pld(context, "earliest", tokens=9) == list(range(400, 406)) + [5, 6, 7]


def test_reference_pld_keeps_its_length_whatever_was_accepted():
    drafter = PromptLookup(adaptive=False, occurrence="earliest")
    context = list(TWICE)
    drafter.begin(context)
    for _ in range(3):
        assert len(drafter.propose(context, 64)) == 10
        drafter.observe([7], drafted=10, accepted=0)  # nothing accepted: ours would shrink
        context.append(7)
        drafter.observe([8, 9], drafted=0, accepted=0)
        context += [8, 9]


# --- SAM-Decoding ----------------------------------------------------------------------------------------


def _samd(stream_tokens: list[int], last: int, mode: str = "match") -> DraftTree:
    drafter = SamDecodingDrafter(mode=mode)
    context = stream_tokens + [last]
    drafter.begin(context)
    return drafter.propose(context, 64)


def test_reference_sam_copies_after_the_earliest_occurrence():
    # "1 2 3" occurs twice before the tail, followed by 10.. then by 20..
    stream = [1, 2, 3] + list(range(10, 60)) + [1, 2, 3] + list(range(20, 70)) + [1, 2]
    draft = _samd(stream, 3)
    assert draft.match_length == 3
    assert draft.tokens[:3] == [10, 11, 12]


@pytest.mark.parametrize("match,length", [(1, 4), (2, 8), (9, 36), (10, 39), (30, 39)])
def test_reference_sam_drafts_min_39_and_4_per_matched_token(match, length):
    text = list(range(1000, 1000 + match))
    stream = [5] + text + list(range(2000, 2100)) + [6] + text[:-1]
    draft = _samd(stream, text[-1])
    assert draft.match_length == match
    assert draft.tokens == list(range(2000, 2000 + length))


def test_reference_sam_full_mode_shortens_the_match_until_39_tokens_follow():
    # The 4-token match first occurs 5 tokens from the end of the stream; its last token alone first
    # occurs at the start, with 50 tokens after it: the hybrid's SAM draws its 39 tokens from there.
    stream = [9] + list(range(100, 150)) + [1, 2, 3, 9] + [50, 51, 52, 53, 54] + [1, 2, 3]
    draft = _samd(stream, 9, mode="full")
    assert draft.match_length == 4  # the threshold test sees the whole match
    assert draft.tokens == list(range(100, 139))
    short = _samd(stream, 9, mode="match")
    assert short.tokens == [50, 51, 52, 53, 54, 1, 2, 3]  # what the 4-token match's first occurrence has


def test_reference_sam_keeps_one_stream_across_a_problems_generations():
    run = methods.get("sam").open()
    first, second = run.drafter(), run.drafter()
    assert first.stream is second.stream
    first.begin([1, 2, 3])
    first.observe([4, 5, 6, 7])
    first.end()
    # The second generation's prompt starts where the first ended; the match "6 7 | 1 2" crosses the
    # boundary between them, which separate sequences would not allow.
    second.begin([1, 2])
    context = [1, 2]
    draft = second.propose(context, 64)
    assert draft.match_length == 2 and draft.tokens[:2] == [3, 4]
    assert first.stream.tokens == [1, 2, 3, 4, 5, 6, 7, 1]
    run.end_family()
    assert run.drafter().stream is not first.stream


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=40), st.integers(0, 3))
def test_earliest_stream_matches_a_brute_force_scan(tokens, last):
    stream = EarliestSuffixStream()
    stream.extend(tokens)
    state, length = stream.lookup(last)
    context = tokens + [last]
    best, first = 0, 0
    for n in range(1, len(context) + 1):
        ends = [e for e in range(n, len(tokens) + 1) if tokens[e - n : e] == context[-n:]]
        if not ends:
            break
        best, first = n, min(ends)
    assert length == best
    if best:
        assert stream.first_end[state] == first


# --- PIA ------------------------------------------------------------------------------------------------


def test_pia_ranks_a_prompt_branch_above_many_output_branches():
    trie = PiaTrie(branch_length=4)
    trie.put_prompt([1, 2, 3, 4, 5])  # after "1 2": 3 4 5 (once, from the prompt)
    for _ in range(50):  # after "1 2": 8 9 ... fifty times in generated text
        trie.stream([1, 2, 8, 9, 8, 9, 7])
    trie.stream([0] * 5)  # push the last one through the 5-token delay
    draft = trie.draft([1, 2], 64)
    first_children = [t for t, p in zip(draft.tokens, draft.parents) if p == -1]
    assert first_children[:2] == [3, 8]
    # Depth first: the whole prompt branch comes before the output branch.
    assert draft.tokens[:3] == [3, 4, 5] and draft.parents[:3] == [-1, 0, 1]


def test_pia_inserts_generated_text_after_a_13_token_delay():
    trie = PiaTrie(branch_length=12)
    trie.stream([1, 2, 50, 51])
    assert trie.draft([1, 2], 64).tokens == []  # "1 2" has not 13 tokens after it yet
    trie.stream(list(range(60, 70)))  # 14 tokens now follow position 0: it enters, with 13
    assert trie.draft([1, 2], 64).tokens == [50, 51] + list(range(60, 70))
    assert trie.draft([1, 2], 64).parents == [-1] + list(range(11))


def test_pia_keys_on_two_tokens_then_falls_back_to_one():
    trie = PiaTrie(branch_length=3)
    trie.put_prompt([1, 2, 3, 4, 5, 6, 1, 9, 8, 7, 6, 5])
    # Key (1, 2): the trie of 1 descended by 2.
    assert trie.draft([1, 2], 64).tokens[:2] == [3, 4]
    # Key (5, 1): nothing after "5 1" in the trie of 5, so the trie of 1 is used whole.
    fallback = trie.draft([5, 1], 64)
    assert fallback.tokens[0] == 2 and {2, 9} <= set(fallback.tokens)


def test_pia_drafts_at_most_63_nodes_12_deep():
    trie = PiaTrie()
    torch.manual_seed(0)
    text = torch.randint(0, 6, (3000,)).tolist()
    trie.put_prompt(text)
    draft = trie.draft(text[-2:], 64)
    assert len(draft) == 63
    assert max(draft.depths()) <= 12


def test_pia_family_run_shares_one_trie_per_problem():
    run = methods.get("pia").open()
    assert run.budget == 63
    a, b = run.drafter(), run.drafter()
    assert isinstance(a, PiaDrafter) and a.trie is b.trie
    run.end_family()
    assert run.drafter().trie is not a.trie


# --- SAM[EAGLE-3] and the lazy policy ------------------------------------------------------------------------


class Fixed(Drafter):
    """Drafts a fixed chain with a fixed match length; counts what reaches it."""

    def __init__(self, tokens: list[int], match: int) -> None:
        self.tokens, self.match = tokens, match
        self.proposed = self.observed = 0

    def propose(self, context, max_tokens):
        self.proposed += 1
        return DraftTree(self.tokens, match_length=self.match)

    def observe(self, new_tokens, drafted=0, accepted=0):
        self.observed += 1


@pytest.mark.parametrize("match,chosen", [(5, 0), (4, 1)])
def test_the_lazy_threshold_asks_the_fallback_only_when_the_match_is_short(match, chosen):
    sam, fallback = Fixed([1, 2, 3], match), Fixed([9], 0)
    hybrid = HybridDrafter([sam, fallback], MatchThreshold(5, lazy=True))
    hybrid.begin([0])
    for _ in range(4):
        draft = hybrid.propose([0], 8)
        hybrid.observe([7], drafted=len(draft), accepted=0)
    assert draft.tokens == ([1, 2, 3] if chosen == 0 else [9])
    assert fallback.proposed == (0 if chosen == 0 else 4)
    assert sam.observed == fallback.observed == 4  # every part sees every token either way
    eager = HybridDrafter([Fixed([1, 2, 3], match), Fixed([9], 0)], MatchThreshold(5))
    assert eager.propose([0], 8).tokens == draft.tokens  # the same choice


def test_sam_eagle3_is_the_lazy_switch_over_the_reference_sam_and_eagle3(tmp_path):
    from eagle_training import random_head
    from tiny_models import tiny_model

    model = tiny_model("llama", 97, scale=4.0)
    random_head(model, seed=1).save_pretrained(tmp_path / "head")
    with pytest.raises(Exception, match="--eagle3-head"):
        methods.get("sam-eagle3").open(target=model)
    settings = methods.settings_map({"eagle3": {"head": str(tmp_path / "head")}})
    run = methods.get("sam-eagle3").open(settings, target=model)
    assert run.budget == 60
    drafter = run.drafter()
    assert isinstance(drafter, HybridDrafter) and drafter.wants_hidden_states
    sam, eagle = drafter.parts
    assert isinstance(sam, SamDecodingDrafter) and sam.mode == "full"
    assert type(eagle).__name__ == "Eagle3Drafter" and eagle.total_tokens == 60
    assert (
        isinstance(drafter.policy, MatchThreshold) and drafter.policy.lazy and drafter.policy.threshold == 5
    )


# --- Token Recycling and SpS ---------------------------------------------------------------------------


def test_reference_recycling_tree_has_8_21_25_15_8_3_nodes_by_depth():
    template = reference_tree_template()
    depth: list[int] = []
    for parent, _ in template:
        depth.append(1 if parent < 0 else depth[parent] + 1)
    assert sorted(Counter(depth).items()) == [(1, 8), (2, 21), (3, 25), (4, 15), (5, 8), (6, 3)]
    # Every node's children are its token's top successors 0..n-1; the argmax chain goes deepest.
    chain, node = 0, -1
    while True:
        below = [i for i, (p, r) in enumerate(template) if p == node and r == 0]
        if not below:
            break
        node, chain = below[0], chain + 1
    assert chain == 6


def test_sps_stops_a_draft_after_an_unsure_token():
    from specscale.drafters.model import DraftModelDrafter
    from tiny_models import tiny_model

    model = tiny_model("llama", 97, seed=3)
    sure = DraftModelDrafter(model, max_tokens=20, adaptive=False, confidence=0.0)
    unsure = DraftModelDrafter(model, max_tokens=20, adaptive=False, confidence=1.0)
    for d in (sure, unsure):
        d.begin([1, 2, 3])
    assert len(sure.propose([1, 2, 3], 64)) == 20
    assert len(unsure.propose([1, 2, 3], 64)) == 1  # no token is certain: the first one ends the draft
