"""The vLLM proposers' request tracking and family stores, driven WITHOUT vLLM: a fake engine lays out
its batch exactly as vLLM's model runner hands it to a ``custom_class`` proposer (``token_ids_cpu`` of
shape ``(max_num_seqs, max_model_len)`` with stale rows past the batch, ``num_tokens_no_spec`` with
``max_num_seqs`` entries, rows reordered between steps) and accepts each draft's longest agreeing
prefix plus one token of its own, like greedy verification."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from specscale import AdaptiveLength, BatchDrafter
from specscale.errors import InvalidArgumentError, InvalidTokenError, SpecscaleError
from specscale.vllm import (
    CONFIG_ENV,
    HybridProposer,
    NgramTrieProposer,
    SpecscaleProposer,
    SuffixAutomatonProposer,
    worker_stats,
)


def vllm_config(k: int = 8) -> SimpleNamespace:
    return SimpleNamespace(speculative_config=SimpleNamespace(num_speculative_tokens=k))


def text(seed: int, n: int, vocab: int = 60, lo: int = 100) -> list[int]:
    return np.random.default_rng(seed).integers(lo, lo + vocab, size=n).tolist()


@dataclass
class Request:
    prompt: list[int]
    target: list[int]  # what the "model" writes
    out: list[int] = field(default_factory=list)
    sampled: list[int] = field(default_factory=list)
    steps: int = 0

    @property
    def done(self) -> bool:
        return len(self.out) >= len(self.target)


class FakeEngine:
    """vLLM's batch layout around a proposer; each step runs every live request once."""

    def __init__(
        self, proposer: SpecscaleProposer, max_num_seqs: int = 16, max_model_len: int = 512, seed: int = 0
    ):
        self.proposer = proposer
        self.rng = np.random.default_rng(seed)
        # Stale rows hold old junk, as vLLM's persistent batch does.
        self.token_ids = self.rng.integers(0, 50_000, size=(max_num_seqs, max_model_len)).astype(np.int32)
        self.num_tokens = self.rng.integers(0, max_model_len, size=max_num_seqs).astype(np.int32)
        self.live: list[Request] = []
        self.drafts: dict[int, list[int]] = {}

    def add(self, req: Request) -> Request:
        # The prefill step samples the first token.
        req.out = [req.target[0]]
        req.sampled = [req.target[0]]
        self.live.append(req)
        return req

    def step(self, shuffle: bool = True) -> None:
        batch = list(self.live)
        if shuffle:
            self.rng.shuffle(batch)  # type: ignore[arg-type]
        for i, r in enumerate(batch):
            row = r.prompt + r.out
            self.token_ids[i, : len(row)] = row
            self.num_tokens[i] = len(row)
        drafts = self.proposer.propose([r.sampled for r in batch], self.num_tokens, self.token_ids)
        assert len(drafts) == len(batch)
        for r, d in zip(batch, drafts):
            assert len(d) <= self.proposer.max_tokens
            at = len(r.out)
            n = 0
            while n < len(d) and at + n < len(r.target) and d[n] == r.target[at + n]:
                n += 1
            take = r.target[at : at + n + 1]
            r.out += take
            r.sampled = take
            r.steps += 1
        self.live = [r for r in self.live if not r.done]

    def run(self, shuffle: bool = True, max_steps: int = 10_000) -> None:
        for _ in range(max_steps):
            if not self.live:
                return
            self.step(shuffle)


def acceptance_by_rank(p: SpecscaleProposer) -> list[float]:
    return [r["accepted"] / max(1, r["drafted"]) for r in p.stats()["by_rank"]]


def test_rows_reordered_and_stale_rows_keep_each_request_tracked():
    p = SuffixAutomatonProposer(vllm_config())
    eng = FakeEngine(p)
    for i in range(10):
        eng.add(Request(prompt=text(i, 30), target=text(100 + i, 150)))
    eng.run()
    s = p.stats()
    assert s["requests_started"] == 10, "a reordered row never looks like a new request"
    assert s["families_created"] == 10 and s["family_joins"] == 0
    assert len(s["by_rank"]) == 1  # all first of their family
    assert s["errors"] == 0


def test_later_samples_of_a_prompt_draft_from_earlier_ones():
    p = SuffixAutomatonProposer(vllm_config())
    prompt, answer = text(1, 40), text(2, 200)
    steps = []
    for _ in range(4):  # the same prompt sent 4 times, one after another
        eng = FakeEngine(p)
        r = eng.add(Request(prompt=prompt, target=answer))
        eng.run()
        steps.append(r.steps)
    rates = acceptance_by_rank(p)
    assert p.stats()["family_joins"] == 3
    assert rates[0] < 0.3 and min(rates[1:]) > 0.95, rates
    assert max(steps[1:]) * 4 < steps[0], steps


def test_without_family_sharing_samples_do_not_help_each_other(monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, json.dumps({"share_family": False, "global_capacity_tokens": 0}))
    p = SuffixAutomatonProposer(vllm_config())
    prompt, answer = text(1, 40), text(2, 200)
    for _ in range(3):
        eng = FakeEngine(p)
        eng.add(Request(prompt=prompt, target=answer))
        eng.run()
    rates = acceptance_by_rank(p)
    assert len(rates) == 1 and rates[0] < 0.3, "every request is a family of its own"


def test_concurrent_samples_read_siblings_while_they_are_written():
    # Four samples of one prompt in one batch; the first started 100 steps earlier and keeps writing one
    # token a step. The others draft from its text as it is being written, 8 accepted tokens a step,
    # until they catch up with it.
    p = SuffixAutomatonProposer(vllm_config())
    prompt, answer = text(3, 30), text(4, 300)
    eng = FakeEngine(p)
    first = eng.add(Request(prompt=prompt, target=answer))
    for _ in range(100):
        eng.step()
    others = [eng.add(Request(prompt=prompt, target=answer)) for _ in range(3)]
    for _ in range(6):
        eng.step()
    assert not first.done and len(first.out) > 100, "the first sample is still being written"
    by_rank = p.stats()["by_rank"]
    assert [r["accepted"] for r in by_rank[1:]] == [40, 40, 40]  # 5 verified drafts of 8 tokens each
    assert [len(o.out) for o in others] == [55, 55, 55]
    assert by_rank[0]["accepted"] < 0.3 * by_rank[0]["drafted"]


def test_a_round_two_prompt_extending_round_one_joins_its_family():
    p = HybridProposer(vllm_config())
    prompt, answer = text(5, 30), text(6, 150)
    eng = FakeEngine(p)
    r1 = eng.add(Request(prompt=prompt, target=answer))
    eng.run()
    follow_up = [7, 7, 7, 9]
    r2 = eng.add(Request(prompt=prompt + answer + follow_up, target=answer))
    eng.run()
    assert p.stats()["family_joins"] == 1
    assert r2.steps * 3 < r1.steps


def test_prompts_sharing_a_system_prefix_stay_separate_families():
    p = NgramTrieProposer(vllm_config())
    system = text(7, 50)
    eng = FakeEngine(p)
    for q in range(4):
        eng.add(Request(prompt=system + text(20 + q, 10), target=text(30 + q, 40)))
    eng.run()
    assert p.stats()["families_created"] == 4 and p.stats()["family_joins"] == 0


def test_finished_requests_free_their_scope_and_nothing_grows_without_bound(monkeypatch):
    monkeypatch.setenv(
        CONFIG_ENV,
        json.dumps({"family_capacity_tokens": 20_000, "global_capacity_tokens": 10_000, "grace_steps": 2}),
    )
    p = HybridProposer(vllm_config())
    eng = FakeEngine(p, max_num_seqs=8)
    peak_requests = 0
    memory = []
    for wave in range(80):
        for j in range(4):
            eng.add(Request(prompt=text(1000 + 4 * wave + j, 40), target=text(5000 + 4 * wave + j, 60)))
        eng.run()
        peak_requests = max(peak_requests, p.drafter.num_requests)
        assert p.drafter.family_tokens <= 20_000 + 4 * 200
        assert p.drafter.global_tokens <= 10_000 + 200
        memory.append(p.drafter.memory_bytes())
    s = p.stats()
    assert s["requests_started"] == 320
    assert peak_requests <= 8, "absent requests are finished after grace_steps"
    assert s["families_evicted"] > 100
    assert max(memory[50:]) < 1.5 * max(memory[25:50]), "memory levels off"
    p.drafter.finish_all()
    assert p.drafter.num_requests == 0 and p.drafter.request_tokens == 0


@settings(max_examples=25, deadline=None)
@given(
    groups=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    seed=st.integers(0, 10_000),
    stagger=st.booleans(),
)
def test_tracking_counts_each_request_once_under_any_row_order(groups, seed, stagger):
    """However rows are shuffled, whatever stale content sits past the batch, and whether the samples
    of a prompt (identical or not) run in lockstep or staggered, every request is started once and
    joins the family of its prompt."""
    p = SuffixAutomatonProposer(vllm_config(4))
    eng = FakeEngine(p, max_num_seqs=24, seed=seed)
    rng = np.random.default_rng(seed)
    total = 0
    for g, size in enumerate(groups):
        prompt = [g] + text(seed + g, int(rng.integers(1, 40)))  # distinct first tokens: distinct families
        for k in range(size):
            same = bool(rng.integers(0, 2))
            target = text(seed + 77 * g + (0 if same else k + 1), int(rng.integers(3, 60)), vocab=8)
            eng.add(Request(prompt=prompt, target=target))
            total += 1
            if stagger:
                eng.step()
    eng.run()
    s = p.stats()
    assert s["requests_started"] == total
    assert s["families_created"] == len(groups)
    assert s["family_joins"] == total - len(groups)
    assert s["errors"] == 0


def test_draft_length_follows_the_adaptive_length_rule():
    # A looping text: a long match every step, so the draft length is the rule's alone.
    p = SuffixAutomatonProposer(vllm_config(8))
    rule = AdaptiveLength(max_tokens=8)
    loop = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] * 40
    prompt, out = loop[:30], [loop[30]]
    tokens = np.zeros((2, 600), dtype=np.int32)
    sampled = [loop[30]]
    rng = np.random.default_rng(3)
    for _ in range(40):
        row = prompt + out
        tokens[0, : len(row)] = row
        (draft,) = p.propose([sampled], np.array([len(row), 0], dtype=np.int32), tokens)
        assert len(draft) == rule.budget(8), (len(draft), rule.current)
        assert draft == loop[len(row) : len(row) + len(draft)]
        accepted = int(rng.integers(0, len(draft) + 1))
        rule.update(len(draft), accepted)
        sampled = loop[len(row) : len(row) + accepted + 1]
        out += sampled


def test_settings_come_from_the_environment_and_subclasses(monkeypatch, tmp_path):
    class Mine(SuffixAutomatonProposer):
        settings: ClassVar[dict[str, Any]] = {"max_order": 3, "max_tokens": 5}

    p = Mine(vllm_config(8))
    assert p.config.max_order == 3 and p.max_tokens == 5
    monkeypatch.setenv(CONFIG_ENV, '{"max_tokens": 20, "grace_steps": 2}')
    p = Mine(vllm_config(6))
    assert p.max_tokens == 6, "num_speculative_tokens caps the draft"
    assert p.config.grace_steps == 2 and p.config.max_order == 3
    path = tmp_path / "specscale.json"
    path.write_text('{"min_match": 2}')
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert SuffixAutomatonProposer(vllm_config()).config.min_match == 2
    for bad, match in [
        ('{"max_tokns": 3}', "max_tokns"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (str(tmp_path / "missing.json"), "neither a JSON object nor"),
    ]:
        monkeypatch.setenv(CONFIG_ENV, bad)
        with pytest.raises(InvalidArgumentError, match=match):
            SuffixAutomatonProposer(vllm_config())
    monkeypatch.delenv(CONFIG_ENV)
    with pytest.raises(InvalidArgumentError, match="num_speculative_tokens"):
        SuffixAutomatonProposer(vllm_config(0))
    monkeypatch.setenv(CONFIG_ENV, '{"max_order": 99}')
    with pytest.raises(InvalidArgumentError, match="max_order"):
        SuffixAutomatonProposer(vllm_config())


def test_bad_batches_raise_clear_errors_and_change_nothing():
    d = BatchDrafter()
    tokens = np.arange(1, 41, dtype=np.int32).reshape(2, 20)
    d.step([[5]], [10, 0], tokens)
    before = d.stats()
    cases = [
        (([[1]], [21, 0], tokens), InvalidArgumentError, r"num_tokens\[0\] = 21"),
        (([[1], [1], [1]], [5, 5, 5], tokens), InvalidArgumentError, "sampled has 3 rows"),
        (([[1], [1]], [5], tokens), InvalidArgumentError, "num_tokens has 1 entries"),
        (([[1]], [3], tokens[0]), InvalidArgumentError, "expected a 2-D array"),
        (([[1]], [3], tokens.astype(np.float32)), TypeError, "dtype"),
        (([[1]], [3], "tokens"), TypeError, "token_ids has type str"),
        (([-1], [3, 0], tokens), InvalidArgumentError, r"sampled\[0\]"),
        (([[1, 2, 3, 4]], [3, 0], tokens), InvalidArgumentError, "sampled 4 tokens but holds only 3"),
    ]
    for args, exc, match in cases:
        with pytest.raises(exc, match=match):
            d.step(*args)
    neg = tokens.copy()
    neg[0, 11] = -5
    with pytest.raises(InvalidArgumentError, match="row 0, position 11 holds -5"):
        d.step([[1]], [12, 0], neg)
    assert d.stats() == before
    for kwargs in ({"method": "eagle"}, {"max_tokens": 0}, {"max_order": 0}, {"min_match": -1}):
        with pytest.raises(SpecscaleError):
            BatchDrafter(**kwargs)  # type: ignore[arg-type]
    assert issubclass(InvalidTokenError, SpecscaleError)


def test_a_failing_step_gives_no_drafts_instead_of_an_exception():
    p = SuffixAutomatonProposer(vllm_config())
    tokens = np.ones((2, 8), dtype=np.int32)
    assert p.propose([[1], [1]], np.array([9, 9], dtype=np.int32), tokens) == [[], []]
    assert p.stats()["errors"] == 1
    assert p.stats() in worker_stats()


def test_the_engine_token_array_is_read_in_place_for_every_int_dtype():
    for dtype in (np.int32, np.int64, np.uint32):
        d = BatchDrafter()
        tokens = np.array([[1, 2, 3, 1, 2, 0, 0, 0], [9, 9, 9, 9, 9, 9, 9, 9]], dtype=dtype)
        assert d.step([[2]], np.array([5, 8]), tokens) == [[3, 1, 2]]
        # Fortran-ordered arrays and torch tensors work too (copied / shared).
        assert BatchDrafter().step([1], [5], np.asfortranarray(tokens)) == [[3, 1, 2]]
    torch = pytest.importorskip("torch")
    t = torch.tensor([[1, 2, 3, 1, 2, 0]], dtype=torch.int32)
    assert BatchDrafter().step([[2]], torch.tensor([5]), t) == [[3, 1, 2]]


def test_import_specscale_never_imports_vllm():
    code = "import sys, specscale, specscale.vllm; assert 'vllm' not in sys.modules, 'vllm imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
