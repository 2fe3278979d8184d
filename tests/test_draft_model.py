"""Draft-model speculation (SpS): lossless, and the draft model's cache stays aligned."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import specscale
from specscale.drafters import DraftModelDrafter
from specscale.sampling import SamplingParams
from specscale.verify import cache_argument
from test_engine_sampling import chi_square, chi_square_limit, exact_two_token_distribution
from tiny_models import reference_greedy, tiny_model


@pytest.mark.parametrize("arch", ["llama", "qwen3", "gpt2"])
def test_greedy_output_equals_plain_decoding(arch: str) -> None:
    target = tiny_model(arch, vocab_size=48, seed=0)
    other = tiny_model("llama", vocab_size=48, seed=5)  # a different model: drafts often wrong
    for draft_model in (other, target):
        for prompt in ([3, 4, 5, 6, 3, 4], [7, 1, 9]):
            drafter = DraftModelDrafter(draft_model, max_tokens=4)
            out = specscale.generate(target, prompt, drafter=drafter, max_new_tokens=30, eos_token_id=[])
            assert out.new_tokens == reference_greedy(target, prompt, 30)
    # The target drafting for itself is always right: every step commits the whole draft plus one.
    out = specscale.generate(
        target, [3, 4, 5], drafter=DraftModelDrafter(target, max_tokens=4, adaptive=False),
        max_new_tokens=30, eos_token_id=[],
    )
    assert out.stats.mean_accepted_tokens == pytest.approx(5.0, abs=0.5)


def test_cache_stays_aligned_after_rejections() -> None:
    target = tiny_model("llama", vocab_size=48, seed=0)
    draft_model = tiny_model("llama", vocab_size=48, seed=5)
    drafter = DraftModelDrafter(draft_model, max_tokens=4, adaptive=False)
    prompt = [3, 4, 5, 6]
    context = list(prompt)
    drafter.begin(prompt)
    rejections = 0
    for _ in range(10):
        draft = drafter.propose(context, 4).tokens
        truth = reference_greedy(target, context, len(draft) + 1)
        accepted = next((i for i, (d, t) in enumerate(zip(draft, truth)) if d != t), len(draft))
        rejections += accepted < len(draft)
        committed = truth[: accepted + 1]
        drafter.observe(committed, drafted=len(draft), accepted=accepted)
        context += committed
        # The cache holds keys and values of a prefix of the context, and exactly those.
        assert drafter.cached == context[: len(drafter.cached)]
        assert drafter.cache.get_seq_length() == len(drafter.cached)
        with torch.inference_mode():
            fresh = draft_model(torch.tensor([drafter.cached])).logits[0, -1]
            from_cache = draft_model(
                torch.tensor([[drafter.cached[-1]]]),
                position_ids=torch.tensor([[len(drafter.cached) - 1]]),
                use_cache=True,
                **{cache_argument(draft_model): _cropped_copy(drafter.cache, 1)},
            ).logits[0, -1]
        torch.testing.assert_close(from_cache, fresh, rtol=1e-4, atol=1e-4)
    assert rejections > 0


def _cropped_copy(cache, n):
    import copy

    c = copy.deepcopy(cache)
    c.crop(-n)
    return c


@pytest.mark.parametrize("sample", [False, True], ids=["argmax-drafts", "sampled-drafts"])
def test_sampled_sequences_have_the_target_distribution(sample: bool) -> None:
    vocab, steps = 8, 2
    model = tiny_model("llama", vocab, seed=11, scale=8.0)
    draft_model = tiny_model("llama", vocab, seed=12, scale=8.0)
    prompt = [2, 3, 4, 2]
    exact = exact_two_token_distribution(model, prompt, SamplingParams(temperature=0.9, top_k=6), vocab)
    drafter = DraftModelDrafter(draft_model, max_tokens=2, adaptive=False, sample=sample)
    n = 1500
    gen = torch.Generator().manual_seed(7)
    counts: dict[tuple[int, ...], int] = {}
    accepted = 0
    for _ in range(n):
        out = specscale.generate(
            model, prompt, drafter=drafter, max_new_tokens=steps, eos_token_id=[],
            temperature=0.9, top_k=6, generator=gen,
        )
        counts[tuple(out.new_tokens)] = counts.get(tuple(out.new_tokens), 0) + 1
        accepted += out.stats.accepted_draft_tokens
    assert accepted > 0
    stat, df = chi_square(counts, exact, n)
    assert stat < chi_square_limit(df), (stat, df)


def test_sampled_drafts_from_the_target_itself_are_always_accepted() -> None:
    """With q = p, speculative sampling accepts every drafted token (min(1, p/q) = 1): the engine really
    uses the draft probabilities. Argmax drafts of the same model are rejected at T=1 now and then."""
    model = tiny_model("llama", 96, seed=4)
    twin = tiny_model("llama", 96, seed=4)
    runs = {}
    for sample in (True, False):
        drafter = DraftModelDrafter(twin, max_tokens=4, adaptive=False, sample=sample)
        out = specscale.generate(model, [5, 6, 7], drafter=drafter, max_new_tokens=60, eos_token_id=[], temperature=1.0, seed=3)
        runs[sample] = out.stats
    assert runs[True].draft_tokens > 0
    assert runs[True].accepted_draft_tokens == runs[True].draft_tokens
    assert runs[False].accepted_draft_tokens < runs[False].draft_tokens
    # Greedy runs ignore `sample`: argmax drafts, equal to plain decoding.
    out = specscale.generate(model, [5, 6, 7], drafter=DraftModelDrafter(twin, sample=True), max_new_tokens=30, eos_token_id=[])
    assert out.new_tokens == reference_greedy(model, [5, 6, 7], 30, eos_token_id=[])
    assert out.stats.accepted_draft_tokens == out.stats.draft_tokens
