"""A second real Best-of-N workload: CHAMP's model-written solutions grouped per problem, as replay traces.

    python benches/champ_traces.py                    # -> target/bench-data/champ_gpt4turbo_bo8.jsonl
    specscale replay target/bench-data/champ_gpt4turbo_bo8.jsonl --tokenizer ../shared/tokenizers/qwen2 \\
        --methods pld,sam,sam+,trie,hybrid,sam-freq,suffix-decoding,costaware

The ``champ-dataset`` package (MIT) holds, for each of its 270 competition problems, the replies of
GPT-3.5, GPT-4, GPT-4 Turbo and PaLM 2 Medium under 18 prompt settings. The selection, fixed before any
drafter was run on it: GPT-4 Turbo (the longest replies: median about 2,000 characters against 940 to
1,440 for the others), every problem, its first ``--n`` replies (default 8) in CHAMP's conversation
order, as the problem's Best-of-N samples (``question`` + ``response`` rows, the shape of the traces in
``../shared``). No method was tuned on it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from specscale.bench.datasets import champ_trace_rows

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "target" / "bench-data" / "champ_gpt4turbo_bo8.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="GPT-4 Turbo", help="the CHAMP model whose replies are the samples")
    ap.add_argument("--n", type=int, default=8, help="samples per problem (the first n in CHAMP's order)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    samples = 0
    with args.out.open("w", encoding="utf-8") as f:
        for row in champ_trace_rows(models=[args.model]):
            row["response"] = row["response"][: args.n]
            if len(row["response"]) < args.n:
                continue
            f.write(json.dumps(row) + "\n")
            rows += 1
            samples += len(row["response"])
    print(f"champ_traces: {rows} problems x {args.n} replies of {args.model} ({samples} samples) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
