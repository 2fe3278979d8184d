"""Tokenize the Best-of-8 math traces into the binary workload the benches read.

    python benches/workload.py [--traces PATH] [--tokenizer DIR] [--out DIR]

Reads ``../shared/data/traces/bon8_math_qwen25math.jsonl`` (one problem a row: ``question`` and a list of
8 ``response`` strings), tokenizes every question and response with the Qwen2 tokenizer in
``../shared/tokenizers/qwen2`` and writes, under ``target/bench-data/`` (ignored by git):

- ``bon8_qwen2.tokens.u32``: every sequence's token ids back to back, little-endian u32;
- ``bon8_qwen2.seqs.u32``: one ``(length, kind)`` pair of little-endian u32 per sequence, in file order,
  where ``kind`` is 0 for a question and ``k`` (1..=8) for the problem's k-th response;
- ``bon8_qwen2.json``: counts and provenance.

Per problem the order is: question, response 1, ..., response 8. The benches store every sequence but
each problem's last response and replay those last responses as the live contexts (a new Best-of-N
sample drafting from its question and its 7 siblings). Exits 0 with a message, writing nothing, when
the traces or the tokenizer are absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TRACES = ROOT.parent / "shared" / "data" / "traces" / "bon8_math_qwen25math.jsonl"
DEFAULT_TOKENIZER = ROOT.parent / "shared" / "tokenizers" / "qwen2"
DEFAULT_OUT = ROOT / "target" / "bench-data"
STEM = "bon8_qwen2"


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), use_fast=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    if not args.traces.is_file():
        print(f"workload: no traces at {args.traces}; nothing written", file=sys.stderr)
        return 0
    if not args.tokenizer.is_dir():
        print(f"workload: no tokenizer at {args.tokenizer}; nothing written", file=sys.stderr)
        return 0

    t0 = time.perf_counter()
    tok = load_tokenizer(args.tokenizer)
    texts: list[tuple[int, str]] = []
    problems = 0
    with args.traces.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            problems += 1
            texts.append((0, row["question"]))
            texts.extend((k + 1, r) for k, r in enumerate(row["response"]))

    ids = tok([t for _, t in texts], add_special_tokens=False)["input_ids"]
    tokens = np.fromiter((t for seq in ids for t in seq), dtype="<u4")
    seqs = np.array([(len(seq), kind) for seq, (kind, _) in zip(ids, texts)], dtype="<u4").reshape(-1, 2)

    args.out.mkdir(parents=True, exist_ok=True)
    tokens.tofile(args.out / f"{STEM}.tokens.u32")
    seqs.tofile(args.out / f"{STEM}.seqs.u32")
    meta = {
        "source": str(args.traces),
        "tokenizer": str(args.tokenizer),
        "problems": problems,
        "sequences": len(ids),
        "tokens": int(tokens.size),
        "max_token_id": int(tokens.max()) if tokens.size else 0,
        "layout": "per problem: question (kind 0), responses 1..8 (kind k); seqs = (length, kind) u32 LE pairs",
    }
    (args.out / f"{STEM}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(
        f"workload: {problems} problems, {len(ids)} sequences, {tokens.size} tokens "
        f"-> {args.out}/{STEM}.* ({time.perf_counter() - t0:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
