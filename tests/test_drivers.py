"""Test-time scaling drivers on tiny random models: shared stores are used, prefix KV reuse is lossless,
speculation does not change T=0 outputs or accuracy, the thinking budget closes the think block."""

from __future__ import annotations

from pathlib import Path

import pytest
from char_tokenizer import CharTokenizer
from specscale.bench.datasets import Problem
from recording import RecordingRun
from specscale import methods
from specscale.bench.drivers import DecodeSettings, best_of_n, multi_round
from specscale.bench.prompts import build_prompt_ids, final_answer_text
from tiny_models import tiny_model

QWEN2 = Path(__file__).resolve().parents[1] / ".." / "shared" / "tokenizers" / "qwen2"
PROBLEM = Problem(id="p1", dataset="toy", question="What is 1+1?", answer="2")


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", 97, scale=4.0)


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer()


def greedy(n: int = 48, **kw) -> DecodeSettings:
    return DecodeSettings(max_new_tokens=n, temperature=0.0, eos_token_id=[], **kw)


@pytest.mark.parametrize("method", ["sam+", "trie"])
def test_later_samples_draft_from_earlier_samples(model, tok, method):
    log: list = []
    run = methods.get(method).open(target=model)
    result = best_of_n(model, tok, PROBLEM, 3, RecordingRun(run, log), greedy(), end_family=False)
    first = result.samples[0].tokens
    prompt_len = result.samples[0].prompt_tokens
    # Sample 1 starts from the prompt alone; sample 2's very first draft (context = the prompt) is the
    # text sample 1 wrote: tokens no one but an earlier sample produced.
    ctx_len, draft, _ = log[1][0]
    assert ctx_len == prompt_len
    assert len(draft) >= 2 and draft == first[: len(draft)]
    assert log[0][0][1] != draft
    # The family scope holds every token of every sample (prompt included), once.
    assert run.store.num_tokens("family") == sum(prompt_len + s.new_tokens for s in result.samples)
    # ... and it pays: later samples accept far more per step.
    assert result.samples[1].mat > 2 * result.samples[0].mat
    # The problem done, its text moves into the global scope for the next problem (the trie keeps
    # problems apart by default: other problems' counts would outvote the family's).
    run.end_family()
    assert run.store.num_tokens("family") == 0
    moved = sum(prompt_len + s.new_tokens for s in result.samples) if method == "sam+" else 0
    assert run.store.num_tokens("global") == moved


def test_store_persists_across_rounds(model, tok):
    run = methods.get("sam+").open(target=model)
    result = multi_round(model, tok, PROBLEM, 2, run, greedy(40), end_family=False)
    assert len(result.rounds) == 2
    assert run.store.num_tokens("family") == sum(r.prompt_tokens + r.new_tokens for r in result.rounds)
    assert result.rounds[1].mat >= result.rounds[0].mat


def _runnable(method: str) -> bool:
    """Methods that need nothing beyond the model (REST needs a store, SpS a draft model, EAGLE-3 a head)."""
    if method == "suffix-decoding":
        from specscale.drafters.suffix_decoding import suffix_decoding_available

        return suffix_decoding_available()
    return not methods.get(method).requirements({}).files


@pytest.mark.parametrize("method", [m for m in methods.names() if _runnable(m)])
def test_prefix_reuse_is_lossless_in_best_of_n(model, tok, method):
    with_reuse = best_of_n(model, tok, PROBLEM, 2, method, greedy(32))
    without = best_of_n(model, tok, PROBLEM, 2, method, greedy(32, reuse_prefix=False))
    assert [s.tokens for s in with_reuse.samples] == [s.tokens for s in without.samples]
    assert with_reuse.prefix_tokens == with_reuse.samples[0].prompt_tokens - 1
    assert all(s.reused_prefix_tokens == with_reuse.prefix_tokens for s in with_reuse.samples)
    assert without.prefix_tokens == 0 and all(s.reused_prefix_tokens == 0 for s in without.samples)
    assert with_reuse.prefill_saved_seconds >= 0.0


def test_sampled_best_of_n_with_reuse_matches_without(model, tok):
    s = DecodeSettings(max_new_tokens=24, temperature=0.8, eos_token_id=[], seed=5)
    a = best_of_n(model, tok, PROBLEM, 3, "ar", s)
    b = best_of_n(model, tok, PROBLEM, 3, "ar", DecodeSettings(**{**s.__dict__, "reuse_prefix": False}))
    assert [x.tokens for x in a.samples] == [x.tokens for x in b.samples]
    assert len({tuple(x.tokens) for x in a.samples}) > 1  # independent samples differ


def test_conversation_rounds_reuse_the_previous_cache(model, tok):
    a = multi_round(model, tok, PROBLEM, 3, "trie", greedy(24), feedback="conversation")
    b = multi_round(model, tok, PROBLEM, 3, "trie", greedy(24, reuse_prefix=False), feedback="conversation")
    assert [r.tokens for r in a.rounds] == [r.tokens for r in b.rounds]
    assert a.extends_previous == [True, True]
    assert a.rounds[1].reused_prefix_tokens >= a.rounds[0].prompt_tokens + a.rounds[0].new_tokens - 2
    assert all(r.reused_prefix_tokens == 0 for r in b.rounds)
    # Answer feedback: a fresh prompt; only the common question prefix is reused.
    c = multi_round(model, tok, PROBLEM, 2, "ar", greedy(24))
    assert c.extends_previous == [False]
    assert 0 < c.rounds[1].reused_prefix_tokens < c.rounds[1].prompt_tokens


def test_speculation_keeps_t0_tokens_and_accuracy(model, tok):
    ar = best_of_n(model, tok, PROBLEM, 2, "ar", greedy(40))
    # Make the reference whatever AR answers (or a fixed string), so accuracy is not trivially 0.
    answer = ar.samples[0].answer
    problem = Problem(id="p", dataset="toy", question=PROBLEM.question, answer=answer or "7")
    base = best_of_n(model, tok, problem, 2, "ar", greedy(40))
    for method in ("pld", "sam", "trie"):
        spec = best_of_n(model, tok, problem, 2, method, greedy(40))
        assert [s.tokens for s in spec.samples] == [s.tokens for s in base.samples]
        assert [s.correct for s in spec.samples] == [s.correct for s in base.samples]
        assert spec.majority_answer == base.majority_answer and spec.correct == base.correct
        rounds_spec = multi_round(model, tok, problem, 2, method, greedy(24))
        rounds_base = multi_round(model, tok, problem, 2, "ar", greedy(24))
        assert [r.tokens for r in rounds_spec.rounds] == [r.tokens for r in rounds_base.rounds]
        assert rounds_spec.correct == rounds_base.correct


def test_thinking_budget_injects_the_closing_sentence(model, tok):
    settings = greedy(40, force_think_end=True, think_fraction=0.5, think_end_text=" </think> ")
    outs = {m: best_of_n(model, tok, PROBLEM, 1, m, settings).samples[0] for m in ("ar", "sam", "trie")}
    for s in outs.values():
        assert s.forced_think_end
        assert s.new_tokens == 40  # injected tokens are not counted
        assert "</think>" in s.text
    assert outs["ar"].tokens == outs["sam"].tokens == outs["trie"].tokens
    # "auto" does nothing for a tokenizer without a </think> token.
    plain = best_of_n(model, tok, PROBLEM, 1, "ar", greedy(40)).samples[0]
    assert not plain.forced_think_end and "</think>" not in plain.text


def test_final_answer_text():
    assert (
        final_answer_text("<think>a lot</think>\n\nThe answer is \\boxed{4}.") == "The answer is \\boxed{4}."
    )
    assert final_answer_text("no think block: \\boxed{5}") == "no think block: \\boxed{5}"


def test_chat_template_where_the_tokenizer_has_one(tok):
    assert build_prompt_ids(tok, "hi") == tok.encode("hi")
    if not (QWEN2 / "tokenizer_config.json").is_file():
        pytest.skip(f"the Qwen2 tokenizer is not at {QWEN2}")
    from transformers import AutoTokenizer

    qwen = AutoTokenizer.from_pretrained(str(QWEN2))
    ids = build_prompt_ids(qwen, "What is 1+1?")
    text = qwen.decode(ids)
    assert "<|im_start|>user" in text and text.rstrip().endswith("<|im_start|>assistant")
    assert build_prompt_ids(qwen, "What is 1+1?", chat_template=False) == qwen("What is 1+1?")["input_ids"]


def test_methods_that_need_files_say_so_and_load_them(tmp_path) -> None:
    from specscale import SuffixAutomaton
    from specscale.drafters import DraftModelDrafter, RetrievalDrafter, TokenRecyclingDrafter
    from specscale.drafters.retrieval import save_store
    from specscale.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="--rest-store"):
        methods.get("rest").open()
    with pytest.raises(InvalidArgumentError, match="--draft-model"):
        methods.get("sps").open()
    store = SuffixAutomaton(counts=True)
    store.extend([1, 2, 3])
    save_store(store, tmp_path / "s.spsc")
    tiny_model("llama", vocab_size=32).save_pretrained(tmp_path / "draft")
    settings = methods.settings_map({"rest": {"store": str(tmp_path / "s.spsc")}, "sps": {"draft_model": str(tmp_path / "draft")}})
    assert isinstance(methods.get("rest").open(settings).drafter(), RetrievalDrafter)
    assert isinstance(methods.get("sps").open(settings).drafter(), DraftModelDrafter)
    # Stateful drafters are one per problem: shared by its samples, fresh for the next problem (ours)...
    run = methods.get("recycling+").open()
    first = run.drafter()
    assert isinstance(first, TokenRecyclingDrafter) and run.drafter() is first
    run.end_family()
    assert run.drafter() is not first
    # ... or one per run (the reference's table), or one per generation (the reference's Lookahead pool).
    run = methods.get("recycling").open()
    first = run.drafter()
    run.end_family()
    assert run.drafter() is first
    run = methods.get("lookahead").open()
    assert run.drafter() is not run.drafter()


def test_sampled_accuracy_agrees_within_noise(model, tok):
    # At T > 0 speculation must leave accuracy unchanged up to sampling noise. The tiny random model
    # writes no real answers, so the "answer" here is the sample's first generated token (what an
    # answer-extraction step would read off a one-token reply) and "correct" means it is one of a fixed
    # third of the vocabulary; Best-of-N goes through the full driver: shared stores, prefix reuse.
    def rate(method: str) -> tuple[float, int]:
        hits = total = 0
        for seed in range(40):
            s = DecodeSettings(max_new_tokens=3, temperature=0.8, eos_token_id=[], seed=1000 * seed)
            for sample in best_of_n(model, tok, PROBLEM, 8, method, s).samples:
                hits += sample.tokens[0] % 3 == 0
                total += 1
        return hits / total, total

    p_ar, n = rate("ar")
    assert 0.05 < p_ar < 0.95  # the statistic is not degenerate
    for method in ("sam", "trie"):
        p, _ = rate(method)
        pooled = (p_ar + p) / 2
        stderr = (2 * pooled * (1 - pooled) / n) ** 0.5
        assert abs(p - p_ar) < 4.5 * stderr, (method, p, p_ar)


def test_eagle3_in_the_drivers_drafts_from_the_first_step_and_keeps_t0_tokens(model, tok, tmp_path):
    from eagle_training import random_head
    from specscale.drafters import Eagle3Drafter
    from specscale.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="--eagle3-head"):
        methods.get("eagle3").open(target=model)
    random_head(model, seed=5).save_pretrained(tmp_path / "eagle3")
    ms = methods.settings_map({"eagle3": {"head": str(tmp_path / "eagle3"), "total_tokens": 16, "depth": 2, "top_k": 4}})
    with pytest.raises(InvalidArgumentError, match="target model"):
        methods.get("eagle3").open(ms)
    run = methods.get("eagle3").open(ms, target=model)
    drafter = run.drafter()
    assert isinstance(drafter, Eagle3Drafter) and (drafter.total_tokens, drafter.depth, drafter.top_k) == (16, 2, 4)
    assert run.budget == 16

    log: list = []
    spec = best_of_n(model, tok, PROBLEM, 2, RecordingRun(run, log), greedy(32))
    base = best_of_n(model, tok, PROBLEM, 2, "ar", greedy(32))
    assert [s.tokens for s in spec.samples] == [s.tokens for s in base.samples]
    # The prompt's prefill recorded its features, so each sample's very first step has a draft.
    assert all(sample_log[0][1] for sample_log in log)
    rounds = multi_round(model, tok, PROBLEM, 2, run, greedy(24))
    assert [r.tokens for r in rounds.rounds] == [r.tokens for r in multi_round(model, tok, PROBLEM, 2, "ar", greedy(24)).rounds]
