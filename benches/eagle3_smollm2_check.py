"""EAGLE-3 end to end on a real model, offline: SmolLM2-135M-Instruct, a head trained for a few minutes.

No EAGLE-3 checkpoint can be had offline, so this trains a small one on the model's own greedy answers
to MATH-500 problems (the first ``--train`` problems), with the same recipe as the tests (next-token
targets two and three positions ahead of each feature). Then, on held-out problems, it runs plain
decoding and EAGLE-3 through ``specscale.generate`` and reports MAT, that the outputs are identical, and
the head's save/load round trip in the published layout. It is a check that the target's hidden states
reach the head aligned on a real 30-layer model, not a measure of what a properly trained head reaches.

    python benches/eagle3_smollm2_check.py --threads 2          # ~8 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the training helper the tests use

import specscale  # noqa: E402
from eagle_training import fit_head, head_config  # noqa: E402
from specscale.bench.models import load_model  # noqa: E402
from specscale.drafters.eagle import Eagle3DraftHead, default_feature_layers  # noqa: E402


def prompts(tok, n: int, skip: int = 0) -> list[list[int]]:
    path = ROOT.parent / "shared" / "data" / "problems" / "math500.jsonl"
    rows = [json.loads(line) for line in path.open()][skip : skip + n]
    out = []
    for row in rows:
        msg = [{"role": "user", "content": row["problem"] + "\nPut the final answer within \\boxed{}."}]
        ids = tok.apply_chat_template(msg, add_generation_prompt=True, tokenize=True)
        out.append(list(ids["input_ids"] if hasattr(ids, "keys") else ids))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=24, help="MATH-500 problems whose answers train the head")
    ap.add_argument("--test", type=int, default=3, help="held-out problems decoded with the head")
    ap.add_argument("--tokens", type=int, default=160, help="new tokens per answer")
    ap.add_argument("--steps", type=int, default=600, help="training steps")
    ap.add_argument("--draft-vocab", type=int, default=4096, help="draft vocabulary size (most frequent tokens)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok, name = load_model(None)
    layers = default_feature_layers(model.config.num_hidden_layers)
    t0 = time.perf_counter()
    sequences = []
    for p in prompts(tok, args.train):
        out = specscale.generate(model, p, drafter=specscale.SuffixAutomatonDrafter(), max_new_tokens=args.tokens)
        sequences.append(p + out.new_tokens)
    print(f"{name}: {len(sequences)} training answers in {time.perf_counter() - t0:.0f} s; layers {layers}")
    # The draft vocabulary: the most frequent tokens of the training answers, as EAGLE-3 heads keep the
    # most frequent 32k of a 128k vocabulary (d2t maps draft id i to target id i + d2t[i]).
    counts = torch.bincount(torch.tensor([t for seq in sequences for t in seq]), minlength=model.config.vocab_size)
    kept = torch.sort(torch.topk(counts, min(args.draft_vocab, int((counts > 0).sum()))).indices).values
    torch.manual_seed(0)
    config = head_config(
        model, num_attention_heads=9, num_key_value_heads=3, intermediate_size=1536, draft_vocab_size=len(kept)
    )
    head = Eagle3DraftHead(config)
    with torch.no_grad():
        head.embed_tokens.weight.copy_(model.get_input_embeddings().weight)  # as the reference heads do
        head.d2t.copy_(kept - torch.arange(len(kept)))
        head.t2d[kept] = True
    t0 = time.perf_counter()
    fit_head(model, head, layers, sequences, steps=args.steps, lr=1e-3)
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.0f} s")
    folder = Path(tempfile.mkdtemp()) / "eagle3-smollm2"
    head.save_pretrained(folder)
    drafter = specscale.Eagle3Drafter.from_pretrained(folder, target=model)
    print(f"{'problem':>8} {'AR steps':>9} {'EAGLE-3 steps':>14} {'MAT':>6} {'same':>5}")
    total_tokens = total_steps = 0
    for i, p in enumerate(prompts(tok, args.test, skip=args.train)):
        plain = specscale.generate(model, p, max_new_tokens=args.tokens)
        spec = specscale.generate(model, p, drafter=drafter, max_new_tokens=args.tokens)
        same = spec.new_tokens == plain.new_tokens
        total_tokens += spec.stats.new_tokens
        total_steps += spec.stats.steps
        print(f"{i + 1:>8} {plain.stats.steps:>9} {spec.stats.steps:>14} {spec.stats.mean_accepted_tokens:6.2f} {'yes' if same else 'NO':>5}")
    print(f"held-out MAT {total_tokens / total_steps:.2f} (60-node trees, depth 5, top-10; draft vocabulary {len(kept)})")


if __name__ == "__main__":
    main()
