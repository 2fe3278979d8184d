"""Invariants of every registered method, in every regime it runs in, on tiny random models.

Lossless output proves nothing about a drafter: a method that never drafts is lossless too. So for each
method of the registry these tests check that it *acts* (proposes draft nodes) in every regime (single
pass, Best-of-N, multi-round; thinking budget forced and off; T = 0 and T > 0; a target that verifies
trees and one that verifies chains only), that greedy output equals plain decoding in each of them, and
that a Best-of-N sample k > 1 drafts from what samples < k wrote for every store-based method, in the
drivers and in trace replay. The wrappers are checked against the declared drafter protocol, and the
loop against drafters that try to change its context.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from char_tokenizer import CharTokenizer
from recording import Recorder, RecordingRun
from specscale import methods
from specscale._core import DraftTree, SuffixAutomaton
from specscale.bench.datasets import Problem
from specscale.bench.drivers import DecodeSettings, ThinkingSegment, best_of_n, multi_round
from specscale.bench.replay import replay_token_rows
from specscale.drafters.base import Drafter, DrafterWrapper, protocol_members
from specscale.drafters.hybrid import HybridDrafter, MatchThreshold
from specscale.drafters.suffix_decoding import suffix_decoding_available
from tiny_models import tiny_model

PROBLEM = Problem(id="p1", dataset="toy", question="Compute 12+12. Then 12+12 again.", answer="24")
VOCAB = 97

#: Store-based methods (a family scope, then a global one across problems).
STORE_METHODS = ["sam+", "trie", "hybrid", "sam-freq", "sam-freq-path", "costaware", "suffix-decoding"]
#: Methods whose Best-of-N sample k > 1 must draft from what samples < k wrote: the store-based ones and
#: the reference rows that keep a problem's text (SAM-Decoding's stream, PIA's tries).
FAMILY_METHODS = STORE_METHODS + ["sam", "pia"]


def _available(name: str) -> bool:
    return name != "suffix-decoding" or suffix_decoding_available()


ALL_METHODS = [
    pytest.param(m, marks=pytest.mark.skipif(not _available(m), reason="needs the optional arctic-inference package"))
    for m in methods.names()
]


@pytest.fixture(scope="module")
def model():
    # A sharp random model loops, so lookup drafters have something to find.
    return tiny_model("llama", VOCAB, scale=4.0)


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer()


@pytest.fixture(scope="module")
def settings(model, tmp_path_factory):
    """Every method runnable: a corpus store for REST and SAM's static store, a draft model, and a
    randomly initialised EAGLE-3 head saved with the public API."""
    from eagle_training import random_head
    from specscale.drafters.retrieval import save_store

    files = tmp_path_factory.mktemp("method-files")
    corpus = SuffixAutomaton(counts=True)
    corpus.extend(CharTokenizer().encode(PROBLEM.prompt + " The answer is 24."))
    save_store(corpus, files / "corpus.spsc")
    tiny_model("llama", VOCAB, seed=3, scale=4.0).save_pretrained(files / "draft")
    random_head(model, seed=1).save_pretrained(files / "eagle3")
    return methods.settings_map(
        {
            "rest": {"store": str(files / "corpus.spsc")},
            "sps": {"draft_model": str(files / "draft")},
            "eagle3": {"head": str(files / "eagle3"), "total_tokens": 16, "depth": 2, "top_k": 4},
        }
    )


@dataclass(frozen=True)
class Regime:
    kind: str  # single, bon, rounds
    think: bool  # thinking budget forced
    temperature: float
    tree: bool | str  # "auto": trees verified; False: chains only

    def __str__(self) -> str:
        return f"{self.kind}/think={'forced' if self.think else 'off'}/T={self.temperature}/tree={self.tree}"

    def decode(self) -> DecodeSettings:
        return DecodeSettings(
            max_new_tokens=24,
            temperature=self.temperature,
            eos_token_id=[],
            seed=11,
            think_fraction=0.5 if self.think else None,
            force_think_end=self.think,
            think_end_text=" so </think> ",
            tree=self.tree,
        )


REGIMES = [Regime(*r) for r in itertools.product(("single", "bon", "rounds"), (False, True), (0.0, 0.8), ("auto", False))]


def _run(model, tok, run, regime: Regime) -> list[Any]:
    """The samples (or rounds) of one problem under ``regime``."""
    if regime.kind == "rounds":
        return multi_round(model, tok, PROBLEM, 2, run, regime.decode()).rounds
    n = 1 if regime.kind == "single" else 3
    return best_of_n(model, tok, PROBLEM, n, run, regime.decode()).samples


@pytest.fixture(scope="module")
def plain(model, tok):
    """Plain decoding's tokens per greedy regime."""
    out = {}
    for regime in REGIMES:
        if regime.temperature == 0.0:
            out[regime] = [s.tokens for s in _run(model, tok, methods.get("ar").open(), regime)]
    return out


@pytest.mark.parametrize("name", ALL_METHODS)
def test_every_method_drafts_and_is_lossless_in_every_regime(name, model, tok, settings, plain):
    run = methods.get(name).open(settings, target=model)
    silent, wrong = [], []
    for regime in REGIMES:
        samples = _run(model, tok, run, regime)
        drafted = sum(s.draft_tokens for s in samples)
        if name == "ar":
            assert drafted == 0
        elif drafted == 0:
            silent.append(str(regime))
        if regime.temperature == 0.0 and [s.tokens for s in samples] != plain[regime]:
            wrong.append(str(regime))
    assert not silent, f"{name} proposed no draft node in: {silent}"
    assert not wrong, f"{name} changed greedy output in: {wrong}"


@pytest.mark.parametrize("fallback", ["trie", "sam-freq", "pld", "recycling", "lookahead", "sps", "eagle3", "rest"])
def test_the_hybrid_fallback_drafts_under_the_thinking_budget(fallback, model, tok, settings):
    # A threshold no match reaches hands every step to the fallback: a fallback that never gets what it
    # needs (logits, hidden states) would leave the hybrid silent.
    hybrid = {"fallback": fallback, "policy": "threshold", "threshold": 10**6}
    run = methods.get("hybrid").open({**settings, "hybrid": methods.settings_map({"hybrid": hybrid})["hybrid"]}, target=model)
    for temperature in (0.0, 0.8):
        regime = Regime("bon", True, temperature, "auto")
        samples = _run(model, tok, run, regime)
        assert sum(s.draft_tokens for s in samples) > 0, (fallback, temperature)


def test_sps_samples_its_drafts_at_t_above_0_through_the_thinking_budget(model, tok, settings):
    log: list = []
    run = RecordingRun(methods.get("sps").open(settings, target=model), log)
    best_of_n(model, tok, PROBLEM, 2, run, Regime("bon", True, 0.8, "auto").decode())
    assert all(r.sampled > 0 for r in run.recorders), "SpS drafted by argmax at T > 0"
    run = RecordingRun(methods.get("sps").open(settings, target=model), log)
    best_of_n(model, tok, PROBLEM, 2, run, Regime("bon", True, 0.0, "auto").decode())
    assert all(r.sampled == 0 for r in run.recorders)


def test_token_recycling_drafts_its_whole_80_node_tree(model, tok):
    log: list = []
    run = RecordingRun(methods.get("recycling").open(), log)
    best_of_n(model, tok, PROBLEM, 2, run, DecodeSettings(max_new_tokens=120, eos_token_id=[]))
    assert run.budget == 80
    assert max(nodes for sample in log for _, _, nodes in sample) > 64


@pytest.mark.parametrize(
    "name",
    [pytest.param(m, marks=pytest.mark.skipif(not _available(m), reason="needs arctic-inference")) for m in FAMILY_METHODS],
)
def test_best_of_n_sample_k_drafts_from_earlier_samples(name, model, tok):
    log: list = []
    run = RecordingRun(methods.get(name).open(target=model), log)
    result = best_of_n(model, tok, PROBLEM, 2, run, Regime("bon", False, 0.0, "auto").decode())
    first, prompt_len = result.samples[0].tokens, result.samples[0].prompt_tokens
    prompt = result.samples[0].prompt_ids
    # Sample 2 (the same greedy text) drafts, at some step, 3+ tokens of what sample 1 wrote next that
    # appear nowhere in its own context yet: they can only have come from sample 1.
    def from_sample_1(ctx_len: int, chain: list[int]) -> bool:
        at = ctx_len - prompt_len
        seen = prompt + first[:at]
        ahead = chain[:3]
        return len(ahead) == 3 and ahead == first[at : at + 3] and not _contains(seen, ahead)

    assert any(from_sample_1(ctx_len, chain) for ctx_len, chain, _ in log[1]), name
    assert not any(from_sample_1(ctx_len, chain) for ctx_len, chain, _ in log[0])
    assert result.samples[1].mat > result.samples[0].mat


@pytest.mark.parametrize(
    "name",
    [pytest.param(m, marks=pytest.mark.skipif(not _available(m), reason="needs arctic-inference")) for m in STORE_METHODS],
)
def test_replay_shares_the_family_store_and_the_global_scope(name):
    torch.manual_seed(0)
    sample = torch.randint(0, 5000, (300,)).tolist()  # text no sample repeats within itself
    prompt = [7, 8, 9]
    reports = replay_token_rows([(prompt, [sample, sample])], [name])
    by_sample = reports[name].to_json()["mat_by_sample"]
    assert by_sample[0] < 1.2 and by_sample[1] > 8, by_sample
    # With a global scope, a second problem writing the same text drafts from the first problem's: 600
    # tokens in about 300 + 300 / 8 steps; with problems kept apart, one token a step.
    def scope(on: bool) -> dict[str, Any]:
        if name == "suffix-decoding":
            return {name: {"global_cache": on}}
        return {"sam+" if name == "hybrid" else name: {"global_tokens": 10**6 if on else 0}}

    rows = [(prompt, [sample]), ([1, 2], [sample])]
    assert replay_token_rows(rows, [name], settings=scope(True))[name].to_json()["mat"] > 1.6
    assert replay_token_rows(rows, [name], settings=scope(False))[name].to_json()["mat"] < 1.2


def _contains(seq: list[int], part: list[int]) -> bool:
    return any(seq[i : i + len(part)] == part for i in range(len(seq) - len(part) + 1))


# --- the declared protocol ------------------------------------------------------------------------------


class Spy(Drafter):
    """Records every member of the protocol that reaches it; every capability is on."""

    wants_logits = True
    wants_hidden_states = True
    samples_drafts = True

    def __init__(self) -> None:
        self.calls: set[str] = set()

    def begin(self, prompt):
        self.calls.add("begin")

    def propose(self, context, max_tokens):
        self.calls.add("propose")
        return DraftTree.chain([1])

    def observe(self, new_tokens, drafted=0, accepted=0):
        self.calls.add("observe")

    def end(self):
        self.calls.add("end")

    def observe_logits(self, input_tokens, logits):
        self.calls.add("observe_logits")

    def hidden_state_layers(self, model):
        self.calls.add("hidden_state_layers")
        return (0, 1, 2)

    def observe_hidden_states(self, start, features):
        self.calls.add("observe_hidden_states")

    def configure_sampling(self, params, generator):
        self.calls.add("configure_sampling")

    def draft_probabilities(self):
        self.calls.add("draft_probabilities")
        return {0: "q"}

    def observe_step_time(self, drafted, seconds):
        self.calls.add("observe_step_time")


def _call_every_member(drafter: Drafter) -> dict[str, Any]:
    """Calls every protocol member on ``drafter`` (a generation's order) and returns what each gave."""
    got: dict[str, Any] = {}
    for name in ("wants_logits", "wants_hidden_states", "samples_drafts"):
        got[name] = getattr(drafter, name)
    drafter.begin([1, 2])
    got["propose"] = drafter.propose([1, 2], 4)
    got["draft_probabilities"] = drafter.draft_probabilities()
    drafter.observe_logits([2, 1], object())
    got["hidden_state_layers"] = drafter.hidden_state_layers(object())
    drafter.observe_hidden_states(0, object())
    drafter.configure_sampling(object(), None)
    drafter.observe([1], drafted=1, accepted=1)
    drafter.observe_step_time(1, 0.01)
    drafter.end()
    return got


def test_the_protocol_declares_every_hook_and_calling_all_of_them_covers_it():
    members = set(protocol_members())
    assert {"begin", "propose", "observe", "end", "wants_logits", "wants_hidden_states", "samples_drafts"} <= members
    spy = Spy()
    _call_every_member(spy)
    # If a hook is added to Drafter, this test (and the wrappers' below) must learn to call it.
    capabilities = {"wants_logits", "wants_hidden_states", "samples_drafts"}
    assert spy.calls | capabilities == members


class StepTimes(Drafter):
    """Drafts one token each step and keeps the step times it is handed."""

    def __init__(self) -> None:
        self.times: list[tuple[int, float]] = []

    def propose(self, context, max_tokens):
        return DraftTree.chain([1])

    def observe_step_time(self, drafted, seconds):
        self.times.append((drafted, seconds))


def test_a_model_target_hands_each_steps_time_and_trace_replay_none(model):
    import specscale
    from specscale.loop import generate_from_trace

    drafter = StepTimes()
    out = specscale.generate(model, [1, 2, 3], drafter=drafter, max_new_tokens=12, eos_token_id=[])
    # Every step but the first, whose time is mostly the prompt's prefill.
    assert len(drafter.times) == out.stats.steps - 1 > 0
    assert [d for d, _ in drafter.times] == [n for _, n, _ in out.stats.step_records[1:]]
    assert all(t > 0 for _, t in drafter.times)
    replayed = StepTimes()
    generate_from_trace([1, 2, 3], out.new_tokens, replayed)
    assert replayed.times == []


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda inner: DrafterWrapper(inner), id="DrafterWrapper"),
        pytest.param(lambda inner: ThinkingSegment(inner, None), id="ThinkingSegment-first"),
        pytest.param(lambda inner: Recorder(inner, []), id="test-Recorder"),
        pytest.param(lambda inner: HybridDrafter([inner]), id="HybridDrafter"),
        # The sampled draft's distributions are the chosen part's: a threshold no match reaches picks it.
        pytest.param(lambda inner: HybridDrafter([Spy(), inner], MatchThreshold(10**6)), id="HybridDrafter-second-part"),
    ],
)
def test_wrappers_forward_every_member_of_the_protocol(wrap):
    spy = Spy()
    got = _call_every_member(wrap(spy))
    expected = set(protocol_members()) - {"wants_logits", "wants_hidden_states", "samples_drafts"}
    if isinstance(wrap(Spy()), ThinkingSegment):
        expected -= {"end"}  # the thinking budget's segments leave ending the generation to the caller
    assert expected <= spy.calls, f"dropped: {sorted(expected - spy.calls)}"
    assert got["wants_logits"] and got["wants_hidden_states"] and got["samples_drafts"]
    assert got["hidden_state_layers"] == (0, 1, 2)


def test_every_drafter_wrapper_subclass_overrides_nothing_it_should_forward_silently():
    # A subclass of DrafterWrapper that overrides a hook must still reach the inner drafter with it.
    for cls in [ThinkingSegment, Recorder]:
        for name in protocol_members():
            if name in vars(cls) and name not in ("begin", "end", "propose", "draft_probabilities"):
                pytest.fail(f"{cls.__name__}.{name} overrides a forwarded hook; check it still forwards")


# --- drafters cannot corrupt the loop -------------------------------------------------------------------


class Vandal(Drafter):
    """Tries to write into the context it is given."""

    def __init__(self, how: str) -> None:
        self.how = how

    def propose(self, context, max_tokens):
        if self.how == "append":
            context.append(5)
        elif self.how == "setitem":
            context[0] = 5
        elif self.how == "extend":
            context.extend([5])
        elif self.how == "iadd":
            context += [5]
        return DraftTree.empty()


@pytest.mark.parametrize("how", ["append", "setitem", "extend", "iadd"])
def test_a_drafter_that_writes_into_the_context_gets_an_error(how, model):
    import specscale

    with pytest.raises(TypeError, match="read-only"):
        specscale.generate(model, [3, 4, 5], drafter=Vandal(how), max_new_tokens=8, eos_token_id=[])
    with pytest.raises(TypeError, match="read-only"):
        specscale.generate_from_trace([3, 4, 5], [6, 7, 8], Vandal(how))


def test_the_context_view_reads_like_a_list(model):
    import specscale

    seen = []

    class Reader(Drafter):
        def propose(self, context, max_tokens):
            seen.append((len(context), context[-1], context[-2:], list(context) == context.tolist(), 3 in context))
            return DraftTree.empty()

    out = specscale.generate(model, [3, 4, 5], drafter=Reader(), max_new_tokens=3, eos_token_id=[])
    assert seen[0] == (3, 5, [4, 5], True, True)
    assert [s[0] for s in seen] == [3, 4]  # the last step drafts nothing (no room for a draft)
    assert out.new_tokens[:1] == [seen[1][1]]
