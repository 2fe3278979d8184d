"""EAGLE-3 drafting cost against context length, next to the verification pass it feeds, in one run.

For each context length: the time ``Eagle3Drafter.propose`` takes for one tree (60 nodes, depth 5,
top-10: ``depth + 1`` passes of the head over the context's cached keys), and the time of the target's
verification forward pass over those 61 tokens with a KV cache of the same length, both on the same
device. The ratio is what drafting adds to a step. Heads and target have random weights (cost does not
depend on them); shapes are set by ``--hidden``/``--layers``/``--vocab``.

    python benches/eagle3_bench.py --threads 1                         # CPU, a narrow model
    python benches/eagle3_bench.py --device cuda --dtype bf16 --hidden 4096 --layers 32 --vocab 128256
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

import specscale
from specscale.drafters.eagle import Eagle3DraftHead


def timed(fn, repeats: int, device: str) -> float:
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--draft-vocab", type=int, default=16000)
    ap.add_argument("--contexts", default="512,4096,16384")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    heads = max(1, args.hidden // 64)
    shape = dict(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=4 * args.hidden,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 4),
        max_position_embeddings=max(int(c) for c in args.contexts.split(",")) + 128,
    )
    torch.manual_seed(0)
    target = AutoModelForCausalLM.from_config(LlamaConfig(num_hidden_layers=args.layers, **shape), dtype=dtype)
    target = target.to(args.device).eval()
    head = Eagle3DraftHead(LlamaConfig(draft_vocab_size=args.draft_vocab, **shape)).to(args.device, dtype).eval()
    print(f"hidden={args.hidden} layers={args.layers} vocab={args.vocab} draft_vocab={args.draft_vocab} "
          f"device={args.device} dtype={args.dtype} threads={torch.get_num_threads()}")
    print(f"{'context':>8} {'draft ms':>9} {'verify ms':>10} {'draft/verify':>13}")
    for n in (int(c) for c in args.contexts.split(",")):
        context = torch.randint(0, args.vocab, (n + 1,)).tolist()
        drafter = specscale.Eagle3Drafter(head)
        drafter.begin(context[:1])
        drafter.observe_hidden_states(0, torch.randn(n, head.feature_width, device=args.device, dtype=dtype))
        drafter.propose(context, 60)  # reads the context once; later calls draft from its cache
        draft = timed(lambda: drafter.propose(context, 60), args.repeats, args.device)

        verifier = specscale.ModelVerifier(target, tree="auto")
        with torch.inference_mode():
            verifier.prefill(context[:n])
        tree = drafter.propose(context, 60)
        tokens, parents = list(tree.tokens), list(tree.parents)

        def verify() -> None:
            verifier.step(context, tokens, parents)
            verifier.cache.crop(-(len(tokens) + 1))  # back to the prefilled context for the next repeat

        verify_s = timed(verify, args.repeats, args.device)
        print(f"{n:>8} {1e3 * draft:9.2f} {1e3 * verify_s:10.2f} {draft / verify_s:12.2f}x")


if __name__ == "__main__":
    main()
