"""The benchmark through vLLM: AR (vLLM without speculation), vLLM's ``ngram`` and ``suffix`` proposers and
specscale's SAM / trie / hybrid proposers, single pass and Best-of-N as one ``n=N`` batch, on
SmolLM2-135M-Instruct (CPU) or any local model (GPU).

    python benches/vllm_bench.py                          # SmolLM2-135M on the CPU, 5 MATH-500 problems
    python benches/vllm_bench.py --model /models/Qwen3-8B --limit 30 --max-new-tokens 1024   # a GPU

Prints the Markdown table of ``specscale bench`` (speedup over AR with 95% bootstrap intervals over
problems, MAT from vLLM's speculative-decoding counters) and writes ``units.jsonl`` and ``results.md``
under ``--out``. Needs vLLM (on a CPU its CPU build: ``scripts/vllm_cpu_env.sh``); ``vllm-suffix`` runs
where ``arctic-inference`` is installed and is left out, with a note, elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


def record(out: Path, unit: dict) -> None:
    """Appends a finished unit to ``units.jsonl`` (so an interrupted run keeps it) and says so."""
    with (out / "units.jsonl").open("a") as f:
        f.write(json.dumps(unit) + "\n")
    tokens = sum(s["new_tokens"] for s in unit["samples"])
    print(
        f"  {unit['method']:>11} {unit['regime']:>7} {unit['problem_id']}: {tokens} tokens",
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="local model directory (default: SmolLM2-135M-Instruct)")
    ap.add_argument(
        "--random-model",
        default=None,
        metavar="PRESET",
        help="random weights of a preset architecture (qwen3-8b, ...; load_format=dummy, no download) "
        "with the tokenizer of --tokenizer",
    )
    ap.add_argument(
        "--tokenizer", default=str(Path(__file__).resolve().parents[2] / "shared" / "tokenizers" / "qwen2")
    )
    ap.add_argument(
        "--dtype", default=None, help="vLLM dtype (default: float32 on a CPU, the model's elsewhere)"
    )
    ap.add_argument("--dataset", default="math500")
    ap.add_argument("--limit", type=int, default=5, help="problems (the first LIMIT)")
    ap.add_argument("--methods", default="ar,vllm-ngram,vllm-suffix,sam+,trie,hybrid")
    ap.add_argument("--regimes", default="single,bon", help="single, bon, rounds")
    ap.add_argument("--n", type=int, default=4, help="Best-of-N samples (one n=N batch)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--bon-temperature", type=float, default=0.6)
    ap.add_argument("--k", type=int, default=8, help="num_speculative_tokens")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--out", default="specscale-bench-vllm")
    ap.add_argument("--report-only", action="store_true", help="only print the table of the units in --out")
    ap.add_argument(
        "--one-engine-at-a-time",
        action="store_true",
        help="build, run and free one method's engine at a time (less memory; methods then run at "
        "different times instead of back to back per problem)",
    )
    args = ap.parse_args(argv)

    from specscale.bench.reports import aggregate, format_markdown

    out = Path(args.out)
    if args.report_only:
        units = [json.loads(line) for line in (out / "units.jsonl").read_text().splitlines() if line.strip()]
        print(
            format_markdown(
                aggregate(units, resamples=args.resamples, seed=args.seed),
                title="specscale bench --engine vllm",
            )
        )
        return 0
    from specscale.bench import vllm_engine as ve

    ve.cpu_settings()  # only takes effect on a CPU; harmless elsewhere
    from vllm.platforms import current_platform

    on_cpu = current_platform.is_cpu()
    notes = []
    if on_cpu and ve.fix_cpu_expand():
        notes.append(
            "CPU build: vLLM issue #55005 worked around (specscale.bench.vllm_engine.fix_cpu_expand)."
        )
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "vllm-suffix" in methods and not ve.suffix_available():
        methods.remove("vllm-suffix")
        notes.append("vllm-suffix left out: arctic-inference is not installed.")

    from specscale.bench.datasets import load_dataset
    from specscale.bench.models import default_model_dir

    out.mkdir(parents=True, exist_ok=True)
    (out / "units.jsonl").write_text("")

    llm_options: dict[str, object] = {"max_model_len": args.max_model_len}
    if args.dtype:
        llm_options["dtype"] = args.dtype
    if args.random_model:
        model = ve.random_model_dir(args.random_model, out, args.tokenizer)
        llm_options["load_format"] = "dummy"
        notes.append(
            f"Random weights ({args.random_model} shape): speed and mechanics only; acceptance is not a real model's."
        )
    else:
        model = args.model or str(default_model_dir())
    from specscale.bench.datasets import DatasetNotFoundError

    try:
        problems = load_dataset(args.dataset, limit=args.limit)
    except DatasetNotFoundError as e:  # no ../shared beside this checkout: CHAMP's problems (a wheel)
        notes.append(f"{args.dataset} not found ({e}); CHAMP problems instead.")
        args.dataset = "champ"
        problems = load_dataset("champ", limit=args.limit)
    regimes = ve.vllm_regimes(
        args.regimes.split(","), n=args.n, rounds=args.rounds, bon_temperature=args.bon_temperature
    )
    t0 = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    units = ve.run_vllm(
        model,
        problems,
        methods,
        regimes,
        dataset=args.dataset,
        num_speculative_tokens=args.k,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        llm_options=llm_options,
        interleave=not args.one_engine_at_a_time,
        on_unit=lambda u: record(out, u),
    )
    elapsed = time.perf_counter() - t0
    groups = aggregate(units, resamples=args.resamples, seed=args.seed)
    device = (
        current_platform.get_device_name()
        if not on_cpu
        else f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    )
    notes = [
        (
            f"Model: {Path(model).name}; vLLM, {device}; {len(problems)} {args.dataset} problems; "
            f"num_speculative_tokens={args.k}; max {args.max_new_tokens} new tokens; Best-of-{args.n} as one n={args.n} "
            f"batch at T={args.bon_temperature}; speedup = mean tokens/s over AR's (wall clock incl. prefill), 95% "
            f"bootstrap CI over problems; MAT from vLLM's per-request speculative-decoding counters. "
            f"Load average at start {load:.1f}; {elapsed:.0f} s in all."
        ),
        *notes,
    ]
    md = format_markdown(groups, title="specscale bench --engine vllm", notes=notes)
    (out / "results.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
