"""Does the cost model predict the wall-clock speedup that a live run measures? One run, one machine.

1. Live: generate greedily from the same prompts with AR (``NoDraft``) and with each drafter, and measure
   the speedup (AR seconds per token over the method's, prefill excluded on both sides, as the cost model
   excludes it; the figure with prefill is printed too).
2. Cost model: time the same model's verification pass for 1..64 tokens at context lengths spanning the
   run (``specscale.bench.costmodel.measure_cost_model``).
3. Prediction: ``predict_speedup`` over the live runs' own per-step records (context length, draft nodes,
   committed tokens) plus their measured drafting time per step.
4. The roofline: fitted to that measured table (``specscale.bench.costmodel.calibrate``), its error
   against the table, and the speedups it predicts from the same records (a check of the analytic model
   where a measurement exists).

    python benches/costmodel_check.py                    # random-weight Llama, CPU (about 2-4 minutes)
    python benches/costmodel_check.py --model DIR        # any local from_pretrained directory
    python benches/costmodel_check.py --bench-dir DIR    # the units of a finished `specscale bench` run

With ``--bench-dir`` the live figures are those a ``specscale bench`` run recorded (its ``units.jsonl``
keeps every sample's per-step records, wall time and prefill time); the cost model is measured on the
same model (``config.json``'s model, or the default SmolLM2) with the run's thread count.

The issue's bar: prediction and measurement agree within 15%.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import specscale
from specscale.bench.costmodel import calibrate, measure_cost_model, predict_speedup

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def build_model(args: argparse.Namespace):
    from transformers import AutoModelForCausalLM, LlamaConfig

    if args.model:
        return AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=3 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 64,
        num_key_value_heads=max(1, args.hidden // 128),
        max_position_embeddings=4096,
    )
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()


def prompts(vocab: int, count: int, length: int) -> list[list[int]]:
    """Token prompts: repetitive reasoning-like sequences (chunks drawn again from a pool), seeded."""
    gen = torch.Generator().manual_seed(1)
    pool = [torch.randint(0, vocab, (int(torch.randint(4, 16, (1,), generator=gen)),), generator=gen).tolist() for _ in range(30)]
    out = []
    for _ in range(count):
        seq: list[int] = []
        while len(seq) < length:
            seq += pool[int(torch.randint(0, len(pool), (1,), generator=gen))]
        out.append(seq[:length])
    return out


def run(model, drafter_factory, prompt_list, max_new_tokens):
    tokens, seconds, prefill, records, draft_seconds, steps = 0, 0.0, 0.0, [], 0.0, 0
    for p in prompt_list:
        out = specscale.generate(model, p, drafter=drafter_factory(), max_new_tokens=max_new_tokens, eos_token_id=[])
        tokens += out.stats.new_tokens
        seconds += out.stats.wall_seconds
        prefill += out.stats.prefill_seconds
        records += out.stats.step_records[1:]  # the first step carries the prefill
        draft_seconds += out.stats.draft_seconds
        steps += out.stats.steps
    return {
        "tokens": tokens,
        "seconds": seconds,
        "seconds_without_prefill": seconds - prefill,
        "records": records,
        "draft_seconds_per_step": draft_seconds / max(1, steps),
    }


def bench_dir_rows(bench_dir: Path) -> tuple[dict, dict]:
    """Per (regime, method): tokens, wall seconds without prefill, per-step records, drafting per step."""
    config = json.loads((bench_dir / "config.json").read_text())
    pooled: dict[tuple[str, str], dict] = {}
    for line in (bench_dir / "units.jsonl").read_text().splitlines():
        unit = json.loads(line)
        row = pooled.setdefault(
            (unit["regime"], unit["method"]),
            {"tokens": 0, "seconds": 0.0, "seconds_without_prefill": 0.0, "records": [], "draft": 0.0, "steps": 0},
        )
        for sample in unit["samples"]:
            records = [tuple(r) for r in sample["step_records"]]
            row["tokens"] += sample["new_tokens"] - records[0][2]  # the prefill step's tokens
            row["seconds"] += sample["wall_seconds"]
            row["seconds_without_prefill"] += sample["wall_seconds"] - sample["prefill_seconds"]
            row["records"] += records[1:]
            row["draft"] += sample["draft_seconds"]
            row["steps"] += sample["steps"]
    for row in pooled.values():
        row["draft_seconds_per_step"] = row["draft"] / max(1, row["steps"])
    return config, pooled


def check_bench_dir(args: argparse.Namespace) -> None:
    from specscale.bench.models import load_model

    config, pooled = bench_dir_rows(args.bench_dir)
    torch.set_num_threads(int(config.get("threads") or args.threads))
    model, _, name = load_model(config.get("model"))
    longest = max(c for row in pooled.values() for c, _, m in row["records"]) + 8
    shortest = min(c for row in pooled.values() for c, _, _ in row["records"])
    max_nodes = max((n for row in pooled.values() for _, n, _ in row["records"]), default=1) + 1
    draft_axis = sorted({k for k in (1, 2, 4, 8, 16, 32, 64) if k <= max(2, max_nodes)} | {max_nodes})
    cost = measure_cost_model(
        model, device="cpu", dtype="fp32", context_lengths=(shortest, (shortest + longest) // 2, longest),
        draft_tokens=draft_axis, repeats=5, progress=False, clock=args.clock,
    )
    roofline = report_cost_models(f"{name}, ", cost)
    print("| regime | method | MAT | measured speedup (no prefill) | predicted | error | roofline (fitted) | error |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (regime, method), row in sorted(pooled.items()):
        ar = pooled.get((regime, "ar"))
        if ar is None or not row["records"]:
            continue
        measured = (ar["seconds_without_prefill"] / ar["tokens"]) / (row["seconds_without_prefill"] / row["tokens"])
        predicted = predict_speedup(row["records"], cost, row["draft_seconds_per_step"])
        modelled = predict_speedup(row["records"], roofline, row["draft_seconds_per_step"])
        mat = row["tokens"] / len(row["records"])
        print(
            f"| {regime} | {method} | {mat:.2f} | {measured:.2f}x | {predicted:.2f}x | {predicted / measured - 1:+.1%} "
            f"| {modelled:.2f}x | {modelled / measured - 1:+.1%} |"
        )


def report_cost_models(prefix: str, cost):
    """Print the measured table's warnings and the roofline fitted to it; return that roofline."""
    print(f"\n{prefix}cost model: {cost.describe()}")
    for line in cost.warnings:
        print(f"warning: {line}")
    roofline = calibrate(cost)
    cal = roofline.calibration
    print(
        f"roofline fitted to it: {roofline.hardware.label()}; error against the table: median "
        f"{cal['median_relative_error']:.1%}, max {cal['max_relative_error']:.1%}\n"
    )
    return roofline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--prompt-length", type=int, default=200)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--clock", choices=("wall", "thread"), default="wall",
        help="clock of the cost-model measurement (thread: CPU time, needs --threads 1; see specscale costmodel)",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--bench-dir", type=Path, default=None, help="check a finished `specscale bench` run")
    args = parser.parse_args()
    if args.bench_dir is not None:
        check_bench_dir(args)
        return
    torch.set_num_threads(args.threads)
    model = build_model(args)
    vocab = model.config.vocab_size
    prompt_list = prompts(vocab, args.prompts, args.prompt_length)
    methods = {
        "ar": specscale.NoDraft,
        "pld": specscale.PromptLookup,
        "sam": specscale.SuffixAutomatonDrafter,
        "trie": specscale.NgramTrieDrafter,
    }
    specscale.generate(model, prompt_list[0][:16], max_new_tokens=4, eos_token_id=[])  # warm-up
    live = {}
    for name, factory in methods.items():
        start = time.perf_counter()
        live[name] = run(model, factory, prompt_list, args.max_new_tokens)
        print(f"live {name}: {live[name]['tokens']} tokens in {time.perf_counter() - start:.1f} s")
    longest = args.prompt_length + args.max_new_tokens
    max_nodes = max((n for r in live.values() for _, n, _ in r["records"]), default=1) + 1
    draft_axis = sorted({k for k in (1, 2, 4, 8, 16, 32, 64) if k <= max(2, max_nodes)} | {max_nodes})
    cost = measure_cost_model(
        model,
        device="cpu",
        dtype="fp32",
        context_lengths=(args.prompt_length, (args.prompt_length + longest) // 2, longest),
        draft_tokens=draft_axis,
        repeats=5,
        progress=False,
        clock=args.clock,
    )
    roofline = report_cost_models("", cost)
    ar = live["ar"]
    rows = []
    for name, r in live.items():
        measured = (ar["seconds_without_prefill"] / ar["tokens"]) / (r["seconds_without_prefill"] / r["tokens"])
        with_prefill = (ar["seconds"] / ar["tokens"]) / (r["seconds"] / r["tokens"])
        predicted = predict_speedup(r["records"], cost, r["draft_seconds_per_step"])
        modelled = predict_speedup(r["records"], roofline, r["draft_seconds_per_step"])
        # AR's own prediction is ~1 by construction; the baseline's loop overhead is not in the model.
        mat = r["tokens"] / max(1, len(r["records"]) + args.prompts)
        rows.append((name, mat, measured, with_prefill, predicted, modelled))
    print(
        "| method | MAT | measured speedup (no prefill) | measured (with prefill) | predicted | error "
        "| roofline (fitted) | error |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, mat, measured, with_prefill, predicted, modelled in rows:
        print(
            f"| {name} | {mat:.2f} | {measured:.2f}x | {with_prefill:.2f}x | {predicted:.2f}x "
            f"| {predicted / measured - 1:+.1%} | {modelled:.2f}x | {modelled / measured - 1:+.1%} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "cost_model": cost.to_dict(), "roofline": roofline.to_dict()}, indent=2)
        )


if __name__ == "__main__":
    main()
