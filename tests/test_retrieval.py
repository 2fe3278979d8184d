"""REST-style retrieval drafting from a static corpus store, and `specscale build-store`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import specscale
from specscale import SuffixAutomaton
from specscale.cli import main
from specscale.drafters.retrieval import RetrievalDrafter, load_store, save_store
from specscale.errors import CorruptDataError
from tiny_models import reference_greedy, tiny_model

SHARED = Path(__file__).resolve().parents[1] / "../shared"


def corpus_store(model, prompts: list[list[int]], n: int) -> SuffixAutomaton:
    """A corpus of the model's own continuations, so retrieval drafts are often right."""
    store = SuffixAutomaton(counts=True)
    for p in prompts:
        store.begin_sequence()
        store.extend(p + reference_greedy(model, p, n))
    return store


@pytest.mark.parametrize("arch", ["llama", "qwen3", "gpt2"])
def test_retrieval_drafts_are_lossless(arch: str) -> None:
    torch.manual_seed(0)
    model = tiny_model(arch, vocab_size=40)
    store = corpus_store(model, [[3, 4, 5, 6], [7, 8, 3, 4]], 30)
    for prompt in ([3, 4, 5, 6], [9, 3, 4, 5], [11, 12, 13]):
        out = specscale.generate(model, prompt, drafter=RetrievalDrafter(store), max_new_tokens=30, eos_token_id=[])
        assert out.new_tokens == reference_greedy(model, prompt, 30)
    # A prompt that is in the corpus is continued from it: many tokens a step.
    out = specscale.generate(model, [3, 4, 5, 6], drafter=RetrievalDrafter(store), max_new_tokens=30, eos_token_id=[])
    assert out.stats.mean_accepted_tokens > 3


def test_store_round_trips_and_serves_drafts_after_reload(tmp_path: Path) -> None:
    store = SuffixAutomaton(counts=True)
    for seq in ([1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [1, 2, 3, 7]):
        store.begin_sequence()
        store.extend(seq)
    path = tmp_path / "corpus.spsc"
    save_store(store, path)
    drafter = RetrievalDrafter(path, branches=2)
    drafter.begin([9, 1, 2])
    tree = drafter.propose([9, 1, 2], 8)
    assert tree.tokens[0] == 3 and tree.match_length == 2
    assert sorted(tree.tokens[i] for i, p in enumerate(tree.parents) if p == 0) == [4, 7]
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptDataError):
        load_store(path)


def test_build_store_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps({"ids": [1, 2, 3, i]}) for i in range(5)) + "\n", encoding="utf-8")
    out = tmp_path / "s.spsc"
    assert main(["build-store", str(corpus), "--field", "ids", "--out", str(out)]) == 0
    store = load_store(out)
    assert store.num_tokens == 20 and store.occurrences([1, 2, 3]) == 5
    corpus.write_text('{"text": "a"}\n', encoding="utf-8")
    assert main(["build-store", str(corpus), "--out", str(out)]) == 2
    assert "needs --tokenizer" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED / "tokenizers/qwen2").is_dir(), reason="needs ../shared/tokenizers/qwen2")
def test_build_store_from_text(tmp_path: Path) -> None:
    corpus = tmp_path / "t.jsonl"
    corpus.write_text(json.dumps({"text": ["Let x = 2. Then x + 1 = 3.", "So the answer is 3."]}) + "\n")
    out = tmp_path / "t.spsc"
    assert main(["build-store", str(corpus), "--tokenizer", str(SHARED / "tokenizers/qwen2"), "--out", str(out)]) == 0
    assert len(load_store(out).sequence_ids()) == 2


def test_sam_with_a_static_store_uses_it_only_past_the_bias(tmp_path) -> None:
    torch.manual_seed(0)
    model = tiny_model("llama", vocab_size=40)
    prompt = [3, 4, 5, 6]
    store = corpus_store(model, [prompt], 40)
    save_store(store, tmp_path / "static.spsc")
    expected = reference_greedy(model, prompt, 40)
    runs = {}
    for name, bias in (("static", 5), ("never", 10_000)):
        drafter = specscale.SuffixAutomatonDrafter(static=str(tmp_path / "static.spsc"), static_bias=bias)
        out = specscale.generate(model, prompt, drafter=drafter, max_new_tokens=40, eos_token_id=[])
        assert out.new_tokens == expected
        runs[name] = (drafter.static_drafts, out.stats.mean_accepted_tokens)
    # The corpus holds this very continuation: once the match outgrows the bias, the static store drafts.
    assert runs["static"][0] > 0 and runs["never"][0] == 0
    assert runs["static"][1] > runs["never"][1]
    with pytest.raises(specscale.errors.InvalidArgumentError, match="static_bias"):
        specscale.SuffixAutomatonDrafter(static=store, static_bias=-1)
