"""The benchmark's datasets and regimes run through vLLM: AR (vLLM without speculation), vLLM's own
``ngram`` and ``suffix`` proposers, and specscale's proposers (:mod:`specscale.vllm`), each on its own
engine, Best-of-N as one ``n=N`` batch.

:func:`run_vllm` returns unit records shaped like the ``units.jsonl`` entries of
:mod:`specscale.bench.runner` (one unit = one method on one problem in one regime), so
:func:`specscale.bench.reports.aggregate` and :func:`~specscale.bench.reports.format_markdown` report
them unchanged. What differs from the Hugging Face engine:

- ``wall_seconds`` of a sample is its batch's wall clock shared equally among the batch's samples
  (the ``n`` samples of a Best-of-N unit are decoded together); a unit's tokens/s is its tokens over
  its batch's wall clock, prefill included.
- ``steps`` of a sample is the number of forward passes that produced its tokens (its new tokens
  minus its accepted draft tokens: every pass yields one token of the target's own), and
  ``accepted_tokens`` / ``draft_tokens`` come from vLLM's per-request speculative-decoding metrics,
  the per-request counterpart of its ``vllm:spec_decode_*`` counters (summed over the unit in
  ``spec_decode``; the Prometheus counters themselves cannot be told apart when several engines share
  a process).
- Round ``k >= 2`` of multi-round thinking is sent after round ``k - 1`` finished; with
  ``feedback="conversation"`` its prompt extends round ``k - 1``'s, so it joins that family store.

Engines on a CPU need vLLM's CPU build in a separate environment (``scripts/vllm_cpu_env.sh``), the
in-process settings of :func:`cpu_settings` and, for temperature > 0 with speculation, the workaround
:func:`fix_cpu_expand` for vLLM issue #55005.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from specscale.bench.answers import answers_match, extract_answer, majority_vote
from specscale.errors import InvalidArgumentError

__all__ = [
    "METHODS",
    "VllmRegime",
    "cpu_expand_bug_present",
    "cpu_settings",
    "fix_cpu_expand",
    "make_llm",
    "random_model_dir",
    "resolve_model",
    "run_vllm",
    "spec_decode_totals",
    "speculative_config",
    "suffix_available",
    "vllm_regimes",
]

#: Method name -> what it runs: ``None`` for no speculation, a vLLM method, or a specscale class.
METHODS: dict[str, str | None] = {
    "ar": None,
    "vllm-ngram": "ngram",
    "vllm-suffix": "suffix",
    "sam+": "specscale.vllm.SuffixAutomatonProposer",
    "trie": "specscale.vllm.NgramTrieProposer",
    "hybrid": "specscale.vllm.HybridProposer",
}


def suffix_available() -> bool:
    """Whether vLLM's ``suffix`` method can run here (it needs the ``arctic-inference`` package)."""
    return importlib.util.find_spec("arctic_inference") is not None


def speculative_config(method: str, num_speculative_tokens: int = 8) -> dict[str, Any] | None:
    """vLLM's ``speculative_config`` for ``method`` (a :data:`METHODS` name, or the dotted path of a
    proposer class such as a subclass of :class:`specscale.vllm.SpecscaleProposer`); ``None`` for
    ``"ar"``.

    vLLM's n-gram lookup gets specscale's prompt-lookup settings (n-grams of 1 to 3 tokens); its
    suffix decoding keeps vLLM's defaults.
    """
    if (
        isinstance(num_speculative_tokens, bool)
        or not isinstance(num_speculative_tokens, int)
        or num_speculative_tokens < 1
    ):
        raise InvalidArgumentError(
            f"num_speculative_tokens must be an int >= 1, got {num_speculative_tokens!r}"
        )
    if method not in METHODS:
        if "." in method:  # a proposer class path
            return {"model": method, "num_speculative_tokens": num_speculative_tokens}
        raise InvalidArgumentError(
            f"unknown vLLM method {method!r}; expected one of {', '.join(METHODS)} or a class path"
        )
    target = METHODS[method]
    if target is None:
        return None
    if target == "ngram":
        return {
            "method": "ngram",
            "num_speculative_tokens": num_speculative_tokens,
            "prompt_lookup_min": 1,
            "prompt_lookup_max": 3,
        }
    if target == "suffix":
        if not suffix_available():
            raise InvalidArgumentError("vllm-suffix needs the arctic-inference package (see the README)")
        return {"method": "suffix", "num_speculative_tokens": num_speculative_tokens}
    return {"model": target, "num_speculative_tokens": num_speculative_tokens}


# ---------------------------------------------------------------------------------------------------
# CPU set-up
# ---------------------------------------------------------------------------------------------------


def cpu_settings(kv_cache_gib: int = 1) -> dict[str, str]:
    """Sets (where unset) the environment for a fast in-process vLLM engine on a CPU and returns it.

    In-process mode (``VLLM_ENABLE_V1_MULTIPROCESSING=0``) starts an engine in about 10-30 s instead of
    about 90 s and lets the caller read its proposer's counters directly; ``OMP_NUM_THREADS=1`` only
    takes effect if set before torch is imported. Call it before the first engine is built.
    """
    env = {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "OMP_NUM_THREADS": "1",
        "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib),
    }
    for k, v in env.items():
        os.environ.setdefault(k, v)
    return {k: os.environ[k] for k in env}


_EXPAND_KERNEL = "vllm.v1.sample.rejection_sampler.expand_kernel"
_STOCK_EXPAND: Callable[..., Any] | None = None


def _expand_tokens(
    output: Any,
    input_val: Any,
    cu_num_tokens: Any,
    replace_from: Any,
    replace_to: Any,
    MAX_NUM_TOKENS: Any = None,
) -> None:
    """vLLM's ``expand_kernel`` on a CPU: ``output[j] = input[i]`` for the tokens ``j`` of request ``i``
    (``replace_from`` mapped to ``replace_to``), written into ``output`` whatever its dtype."""
    import torch

    ends = cu_num_tokens.to(torch.int64)
    counts = torch.diff(ends, prepend=ends.new_zeros(1))
    values = torch.where(input_val == replace_from, torch.full_like(input_val, replace_to), input_val)
    output.copy_(torch.repeat_interleave(values, counts)[: output.numel()].to(output.dtype))


def _stock_expand() -> Callable[..., Any]:
    """The CPU platform's own expand kernel, saved before :func:`fix_cpu_expand` replaces it."""
    global _STOCK_EXPAND
    if _STOCK_EXPAND is None:
        from vllm.utils import cpu_triton_utils

        _STOCK_EXPAND = cpu_triton_utils._expand_kernel_impl
    return _STOCK_EXPAND


def cpu_expand_bug_present() -> bool:
    """Whether vLLM's CPU replacement of the rejection sampler's expand kernel loses its result for
    non-int64 tensors (vLLM issue #55005: it converts ``output`` to int64, writes the copy, and never
    copies it back, so per-token temperatures, top-k and top-p are garbage whenever speculative
    decoding samples at temperature > 0). False where the CPU build is not in use or the bug is fixed."""
    try:
        import torch
        from vllm.platforms import current_platform
        from vllm.triton_utils import HAS_TRITON
    except ImportError:
        return False
    if not current_platform.is_cpu() or HAS_TRITON:
        return False
    current_platform.import_kernels()  # the C++ kernels the CPU platform's stand-ins call
    stock = _stock_expand()
    out = torch.full((5,), -7.0)
    stock(out, torch.tensor([0.5, 0.25]), torch.tensor([2, 5], dtype=torch.int32), -1, 1)
    return not torch.equal(out, torch.tensor([0.5, 0.5, 0.25, 0.25, 0.25]))


def fix_cpu_expand() -> bool:
    """Works around vLLM issue #55005 on the CPU build when the bug is present (see
    :func:`cpu_expand_bug_present`); returns whether it did. The stand-in
    (:func:`_expand_tokens`) replaces the kernel the CPU platform registers for in-process engines
    built after this call, and the registered one if an engine was already built. Drop it once a
    vLLM release with the fix (upstream PR #55006) is the one installed: the test
    ``test_cpu_expand_workaround`` then reports that it is no longer needed."""
    if not cpu_expand_bug_present():
        return False
    from vllm.triton_utils import dispatcher
    from vllm.utils import cpu_triton_utils
    from vllm.v1.sample import rejection_sampler

    cpu_triton_utils._expand_kernel_impl = _expand_tokens  # what a worker registers at start-up
    if isinstance(rejection_sampler.expand_kernel, dispatcher.KernelOverride):
        # An engine already registered the stock one: register the stand-in in its place.
        dispatcher.register_kernels({_EXPAND_KERNEL: _expand_tokens})
    return True


# ---------------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------------


def make_llm(
    model_dir: str,
    method: str = "ar",
    num_speculative_tokens: int = 8,
    *,
    max_model_len: int = 2048,
    max_num_seqs: int = 16,
    seed: int = 0,
    **kwargs: Any,
) -> Any:
    """A vLLM engine for ``model_dir`` running ``method``, with per-request speculative-decoding
    metrics on. On a CPU: float32, eager mode, in-process executor (see :func:`cpu_settings`)."""
    from vllm import LLM
    from vllm.platforms import current_platform

    options: dict[str, Any] = {
        "model": str(model_dir),
        "seed": seed,
        "max_model_len": max_model_len,
        "max_num_seqs": max_num_seqs,
        "disable_log_stats": False,
        "speculative_config": speculative_config(method, num_speculative_tokens),
    }
    if options["speculative_config"] is not None:
        options["per_request_spec_decode_metrics"] = "summary"
    if current_platform.is_cpu():
        options.update(dtype="float32", enforce_eager=True, distributed_executor_backend="uni")
    options.update(kwargs)
    return LLM(**options)


def random_model_dir(
    preset: str, out_dir: str | os.PathLike[str], tokenizer_dir: str | os.PathLike[str]
) -> str:
    """A model directory vLLM loads with ``load_format="dummy"`` (random weights, nothing downloaded):
    ``config.json`` of a :data:`specscale.bench.costmodel.PRESETS` architecture (``qwen3-8b``, ...) and
    the tokenizer files of ``tokenizer_dir`` (for Qwen3: the Qwen2 tokenizer of ``../shared``)."""
    import shutil

    from transformers import AutoConfig

    from specscale.bench.costmodel import PRESETS

    if preset not in PRESETS:
        raise InvalidArgumentError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    kwargs = dict(PRESETS[preset])
    path = os.path.join(os.fspath(out_dir), f"random-{preset}")
    os.makedirs(path, exist_ok=True)
    AutoConfig.for_model(kwargs.pop("model_type"), **kwargs).save_pretrained(path)
    for name in os.listdir(tokenizer_dir):
        if name.endswith((".json", ".txt", ".model", ".jinja")) and name != "config.json":
            shutil.copy(os.path.join(tokenizer_dir, name), path)
    return path


def resolve_model(
    model: str | None,
    random_preset: str | None,
    tokenizer_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
) -> tuple[str, dict[str, Any]]:
    """``(model directory, extra engine options)``: ``model``, or random weights of ``random_preset``
    (:func:`random_model_dir`, ``load_format="dummy"``), or the default SmolLM2-135M-Instruct."""
    if random_preset:
        return random_model_dir(random_preset, out_dir, tokenizer_dir), {"load_format": "dummy"}
    if model:
        return str(model), {}
    from specscale.bench.models import default_model_dir

    return str(default_model_dir()), {}


def spec_decode_totals(outputs: Iterable[Any]) -> dict[str, int]:
    """vLLM's speculative-decoding counters summed over completions (``CompletionOutput`` objects of an
    engine built with ``per_request_spec_decode_metrics``): verification steps with a draft, draft
    tokens, accepted tokens. These are the per-request counterparts of the engine's
    ``vllm:spec_decode_*`` Prometheus counters, which cannot be told apart when several engines share a
    process (a new engine re-registers the metrics)."""
    out = {"num_drafts": 0, "num_draft_tokens": 0, "num_accepted_tokens": 0}
    for o in outputs:
        m = getattr(o, "spec_decode_metrics", None)
        if m is None:
            continue
        d = m.to_dict()
        out["num_drafts"] += int(d["num_spec_steps"])
        out["num_draft_tokens"] += int(d["num_draft_tokens"])
        out["num_accepted_tokens"] += int(d["num_accepted_draft_tokens"])
    return out


@dataclass(frozen=True)
class VllmRegime:
    """A test-time-scaling regime: ``count`` samples of one prompt in one batch (``kind="bon"``), or
    ``count`` rounds one after another (``kind="rounds"``), at ``temperature``."""

    label: str
    kind: Literal["bon", "rounds"]
    temperature: float
    count: int


def vllm_regimes(
    names: Iterable[str],
    n: int = 4,
    rounds: int = 2,
    single_temperature: float = 0.0,
    bon_temperature: float = 0.6,
    rounds_temperatures: Sequence[float] = (0.0,),
) -> list[VllmRegime]:
    """Regimes named as in ``specscale bench --regimes`` (``single``, ``bon``, ``rounds``), labelled as
    the runner labels them (``single``, ``bon{n}``, ``rounds{k}-T{t}``)."""
    out: list[VllmRegime] = []
    for name in names:
        if name == "single":
            out.append(VllmRegime("single", "bon", single_temperature, 1))
        elif name == "bon":
            out.append(VllmRegime(f"bon{n}", "bon", bon_temperature, n))
        elif name == "rounds":
            out += [VllmRegime(f"rounds{rounds}-T{t:g}", "rounds", t, rounds) for t in rounds_temperatures]
        else:
            raise InvalidArgumentError(f"unknown regime {name!r}; expected single, bon or rounds")
    return out


def _sampling(regime: VllmRegime, n: int, max_new_tokens: int, seed: int, top_p: float, top_k: int) -> Any:
    from vllm import SamplingParams

    if regime.temperature <= 0:
        return SamplingParams(n=1, temperature=0.0, max_tokens=max_new_tokens)
    return SamplingParams(
        n=n,
        temperature=regime.temperature,
        top_p=top_p,
        top_k=max(0, top_k),
        max_tokens=max_new_tokens,
        seed=seed,
    )


def _sample_record(
    index: int, prompt_len: int, out: Any, wall: float, tokenizer: Any, reference: str
) -> dict[str, Any]:
    from specscale.bench.prompts import final_answer_text

    tokens = list(out.token_ids)
    metrics = out.spec_decode_metrics.to_dict() if getattr(out, "spec_decode_metrics", None) else {}
    accepted = int(metrics.get("num_accepted_draft_tokens", 0))
    drafted = int(metrics.get("num_draft_tokens", 0))
    new = len(tokens)
    steps = max(1, new - accepted) if new else 0
    text = out.text if out.text is not None else tokenizer.decode(tokens, skip_special_tokens=True)
    answer = extract_answer(final_answer_text(text))
    hist = metrics.get("acceptance_histogram") or []
    return {
        "index": index,
        "prompt_tokens": prompt_len,
        "new_tokens": new,
        "steps": steps,
        "mat": new / steps if steps else 0.0,
        "wall_seconds": wall,
        "tokens_per_second": new / wall if wall > 0 else 0.0,
        "prefill_seconds": 0.0,
        "draft_seconds": 0.0,
        # Accepted draft tokens per verification step with a draft (vLLM's histogram), as the runner's
        # accepted-token histogram counts them plus the target's own token.
        "accepted_histogram": {str(j + 1): int(c) for j, c in enumerate(hist) if c},
        "finish_reason": str(out.finish_reason),
        "forced_think_end": False,
        "reused_prefix_tokens": 0,
        "prefill_saved_seconds": 0.0,
        "answer": answer,
        "correct": answers_match(answer, reference) if reference is not None else False,
        "text": text,
        "tokens": tokens,
        "step_records": [],
        "draft_tokens": drafted,
        "accepted_tokens": accepted,
    }


def _generate(llm: Any, prompt: list[int], params: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    outs = llm.generate([{"prompt_token_ids": prompt}], params, use_tqdm=False)
    return outs[0], time.perf_counter() - t0


def run_unit(
    llm: Any,
    tokenizer: Any,
    method: str,
    problem: Any,
    regime: VllmRegime,
    *,
    dataset: str,
    max_new_tokens: int = 128,
    seed: int = 0,
    top_p: float = 1.0,
    top_k: int = 0,
    feedback: Literal["answer", "conversation"] = "answer",
    round_template: str | None = None,
) -> dict[str, Any]:
    """One method on one problem in one regime, as a unit record of :mod:`specscale.bench.runner`."""
    from specscale.bench.prompts import (
        DEFAULT_ROUND_TEMPLATE,
        DEFAULT_VERIFY_INSTRUCTION,
        build_prompt_ids,
        round_prompt,
    )

    completions: list[Any] = []
    from specscale.bench.runner import unit_header

    unit = unit_header(method, dataset, regime, problem)
    unit["engine"] = "vllm"
    samples: list[dict[str, Any]] = []
    if regime.kind == "bon":
        prompt = build_prompt_ids(tokenizer, problem.prompt)
        if regime.temperature <= 0:
            # vLLM refuses n > 1 when greedy: the same prompt `count` times, in one batch.
            from vllm import SamplingParams

            params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
            t0 = time.perf_counter()
            outs = llm.generate([{"prompt_token_ids": prompt}] * regime.count, params, use_tqdm=False)
            wall = time.perf_counter() - t0
            outputs = [o.outputs[0] for o in outs]
        else:
            params = _sampling(regime, regime.count, max_new_tokens, seed, top_p, top_k)
            res, wall = _generate(llm, prompt, params)
            outputs = list(res.outputs)
        completions += outputs
        share = wall / len(outputs)
        samples = [
            _sample_record(k, len(prompt), o, share, tokenizer, problem.answer) for k, o in enumerate(outputs)
        ]
        unit.update(
            answer=majority_vote([s["answer"] for s in samples]),
            prefix_tokens=0,
            prefix_seconds=0.0,
            prefill_saved_seconds=0.0,
        )
        unit["correct"] = answers_match(unit["answer"], problem.answer)
    else:
        template = round_template or DEFAULT_ROUND_TEMPLATE
        messages: list[dict[str, str]] = []
        previous: str | None = None
        extends: list[bool] = []
        last_prompt: list[int] | None = None
        for r in range(regime.count):
            if feedback == "conversation" and previous is not None:
                messages = messages + [
                    {"role": "assistant", "content": previous},
                    {"role": "user", "content": DEFAULT_VERIFY_INSTRUCTION},
                ]
            else:
                messages = [{"role": "user", "content": round_prompt(problem, previous, template)}]
            prompt = build_prompt_ids(tokenizer, messages)
            if last_prompt is not None:
                extends.append(prompt[: len(last_prompt)] == last_prompt)
            params = _sampling(regime, 1, max_new_tokens, seed + r, top_p, top_k)
            res, wall = _generate(llm, prompt, params)
            completions.append(res.outputs[0])
            sample = _sample_record(r, len(prompt), res.outputs[0], wall, tokenizer, problem.answer)
            samples.append(sample)
            previous = sample["text"]
            last_prompt = prompt + sample["tokens"]
        unit.update(
            answer=samples[-1]["answer"],
            correct=samples[-1]["correct"],
            extends_previous=extends,
            prefill_saved_seconds=0.0,
        )
    unit["samples"] = samples
    unit["spec_decode"] = spec_decode_totals(completions)
    return unit


def _warm_up(llm: Any) -> None:
    """One short greedy and one sampled generation: the first speculative steps compile kernels
    (vLLM's n-gram proposer JIT-compiles for about 20 s), which must not count against a method."""
    from vllm import SamplingParams

    prompt = {"prompt_token_ids": [1, 2, 3, 4, 5, 6, 7, 8] * 4}
    llm.generate([prompt], SamplingParams(temperature=0.0, max_tokens=16), use_tqdm=False)
    llm.generate([prompt], SamplingParams(temperature=0.7, max_tokens=16, n=2, seed=0), use_tqdm=False)


def run_vllm(
    model_dir: str,
    problems: Sequence[Any],
    methods: Sequence[str],
    regimes: Sequence[VllmRegime],
    *,
    dataset: str = "math500",
    num_speculative_tokens: int = 8,
    max_new_tokens: int = 128,
    seed: int = 0,
    top_p: float = 1.0,
    top_k: int = 0,
    feedback: Literal["answer", "conversation"] = "answer",
    llm_options: dict[str, Any] | None = None,
    on_unit: Callable[[dict[str, Any]], None] | None = None,
    interleave: bool = True,
) -> list[dict[str, Any]]:
    """Every method on every problem in every regime, through vLLM; returns the unit records.

    With ``interleave`` (default) all engines are built first (one per method, AR always included and
    first) and warmed up; then, problem by problem and regime by regime, every method runs its unit
    back to back, so that the methods of one problem see the same machine load. Without it each
    engine is built, runs all its units and is freed before the next (one engine's memory at a time;
    the methods then see the machine at different times). ``problems`` are
    :class:`~specscale.bench.datasets.Problem`-like (``.prompt``, ``.answer``, ``.id``).
    """
    import gc

    from transformers import AutoTokenizer

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InvalidArgumentError(f"unknown vLLM method(s) {unknown}; expected some of {', '.join(METHODS)}")
    order = ["ar"] + [m for m in dict.fromkeys(methods) if m != "ar"]
    # vLLM 0.32 (CPU build): once its n-gram proposer has JIT-compiled with numba, a later engine's
    # start-up fails while rebinding kernels in every loaded module ('_lib_fn_wrapper' object has no
    # attribute 'get'); building that engine last avoids it.
    order.sort(key=lambda m: m == "vllm-ngram")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    max_count = max((r.count for r in regimes), default=1)
    options = {"max_num_seqs": max(4, max_count)} | dict(llm_options or {})

    def engine(m: str) -> Any:
        llm = make_llm(str(model_dir), m, num_speculative_tokens, seed=seed, **options)
        _warm_up(llm)
        return llm

    def unit(llm: Any, m: str, problem: Any, regime: VllmRegime) -> dict[str, Any]:
        u = run_unit(
            llm, tokenizer, m, problem, regime, dataset=dataset, max_new_tokens=max_new_tokens,
            seed=seed, top_p=top_p, top_k=top_k, feedback=feedback,
        )  # fmt: skip
        # The most tokens vLLM lets a proposer draft per step (the report's "budget" column).
        u["draft_budget"] = 0 if METHODS[m] is None else num_speculative_tokens
        if on_unit is not None:
            on_unit(u)
        return u

    units: list[dict[str, Any]] = []
    if interleave:
        engines = {m: engine(m) for m in order}
        for problem in problems:
            for regime in regimes:
                units += [unit(engines[m], m, problem, regime) for m in order]
    else:
        for m in order:
            llm = engine(m)
            units += [unit(llm, m, p, r) for p in problems for r in regimes]
            del llm
            gc.collect()
        units.sort(key=lambda u: (u["problem_id"], u["regime"], order.index(u["method"])))
    return units


# ---------------------------------------------------------------------------------------------------
# specscale bench --engine vllm
# ---------------------------------------------------------------------------------------------------

#: What ``specscale bench --engine vllm`` runs when ``--methods`` is not given.
DEFAULT_BENCH_METHODS = ("ar", "vllm-ngram", "vllm-suffix", "sam+", "trie", "hybrid")


def run_bench_cli(config: Any, out: str | os.PathLike[str], *, methods_given: bool, overwrite: bool,
                  resume: bool, plots: bool, num_speculative_tokens: int) -> int:  # fmt: skip
    """``specscale bench --engine vllm``: the bench's datasets and regimes through vLLM, written as
    ``units.jsonl``, ``results.json``, ``results.md`` and plots like the Hugging Face engine's run.
    Returns the exit code; every refusal is one line on stderr before any work."""
    import json
    import sys
    from pathlib import Path

    def refuse(message: str) -> int:
        print(f"specscale bench --engine vllm: {message}", file=sys.stderr)
        return 2

    if importlib.util.find_spec("vllm") is None:
        return refuse(
            "vLLM is not installed here; on a CPU build its environment with `bash scripts/vllm_cpu_env.sh "
            ".venv-vllm` and run `.venv-vllm/bin/specscale bench --engine vllm` (on a GPU: pip install 'specscale[vllm]')"
        )
    if resume:
        return refuse("--resume is not supported with --engine vllm (each run builds its engines afresh); use another --out")
    if methods_given:
        methods = list(config.methods)
    else:
        methods = [m for m in DEFAULT_BENCH_METHODS if m != "vllm-suffix" or suffix_available()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        return refuse(f"--methods: {', '.join(unknown)} cannot run on vLLM; choose from {', '.join(METHODS)}")
    if "vllm-suffix" in methods and not suffix_available():
        return refuse("--methods: 'vllm-suffix' needs arctic-inference (scripts/vllm_cpu_env.sh --with-suffix)")
    out_dir = Path(out)
    units_path = out_dir / "units.jsonl"
    if units_path.exists() and not overwrite:
        return refuse(f"{units_path} exists: pass --overwrite to start again, or another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    units_path.unlink(missing_ok=True)

    from specscale.bench.datasets import load_dataset
    from specscale.bench.reports import write_reports

    cpu_settings()
    from vllm.platforms import current_platform

    if current_platform.is_cpu() and fix_cpu_expand():
        print("specscale bench: CPU build, vLLM issue #55005 worked around (fix_cpu_expand)", file=sys.stderr)
    model_dir, options = resolve_model(config.model, None, "", out_dir)
    regimes = vllm_regimes(
        config.regimes,
        n=config.n,
        rounds=config.rounds,
        single_temperature=config.single_temperature,
        bon_temperature=config.bon_temperature,
        rounds_temperatures=config.rounds_temperatures,
    )
    units: list[dict[str, Any]] = []
    with units_path.open("a", encoding="utf-8") as sink:

        def keep(unit: dict[str, Any]) -> None:
            sink.write(json.dumps(unit) + "\n")
            sink.flush()
            print(f"specscale bench: {unit['dataset']}/{unit['regime']}/{unit['method']}/{unit['problem_id']} done", file=sys.stderr)

        for name in config.datasets:
            units += run_vllm(
                model_dir,
                load_dataset(name, limit=config.limit),
                methods,
                regimes,
                dataset=name,
                num_speculative_tokens=num_speculative_tokens,
                max_new_tokens=config.max_new_tokens,
                seed=config.seed,
                top_p=config.top_p,
                top_k=config.top_k,
                feedback=config.feedback,
                llm_options=options,
                on_unit=keep,
            )
    import vllm

    meta = {
        "engine": f"vllm {vllm.__version__}",
        "model": model_dir,
        "num_speculative_tokens": num_speculative_tokens,
        "units": len(units),
    }
    result = write_reports(units, out_dir, meta, resamples=config.resamples, seed=config.seed, plots=plots)
    print((out_dir / "results.md").read_text(encoding="utf-8"))
    print(f"specscale bench: wrote {out_dir}/results.json, results.md and {len(result['plots'])} plots")
    return 0
