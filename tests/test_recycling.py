"""Token Recycling: lossless, learns from the verifier's logits, resets per generation unless told."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import specscale
from specscale.drafters import TokenRecyclingDrafter
from specscale.drafters.recycling import static_tree_template
from tiny_models import reference_greedy, tiny_model


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_greedy_output_equals_plain_decoding(arch: str) -> None:
    model = tiny_model(arch, vocab_size=32, seed=1)
    drafter = TokenRecyclingDrafter(top_k=4, tree_size=24)
    for prompt in ([3, 4, 5, 6, 3, 4], [7, 1, 9]):
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
        assert out.new_tokens == reference_greedy(model, prompt, 40)
        assert out.stats.accepted_draft_tokens > 0  # the recycled predictions were really used


def test_the_table_learns_from_each_pass_and_resets_per_generation() -> None:
    model = tiny_model("llama", vocab_size=32, seed=1)
    drafter = TokenRecyclingDrafter(top_k=4, tree_size=16)
    specscale.generate(model, [3, 4, 5], drafter=drafter, max_new_tokens=6, eos_token_id=[])
    learned = drafter.table.copy()
    assert drafter.updates > 0 and (learned[5] >= 0).all()
    # After one pass (the prompt, nothing drafted yet) row 5 is exactly the target's top-4 after [3, 4, 5].
    one = TokenRecyclingDrafter(top_k=4, tree_size=16)
    specscale.generate(model, [3, 4, 5], drafter=one, max_new_tokens=1, eos_token_id=[])
    with torch.inference_mode():
        logits = model(torch.tensor([[3, 4, 5]])).logits[0, -1]
    assert one.updates == 1
    assert one.table[5].tolist() == torch.topk(logits, 4).indices.tolist()
    drafter.begin([1])
    assert (drafter.table == -1).all()
    keeper = TokenRecyclingDrafter(top_k=4, tree_size=16, persist=True)
    specscale.generate(model, [3, 4, 5], drafter=keeper, max_new_tokens=6, eos_token_id=[])
    keeper.begin([1])
    assert (keeper.table[5] >= 0).all()


def test_static_template_is_a_tree_with_parents_first() -> None:
    template = static_tree_template(80, 8)
    assert len(template) == 80
    assert all(-1 <= p < i for i, (p, _) in enumerate(template))
    assert all(0 <= r < 8 for _, r in template)
    assert len(set(template)) == 80
