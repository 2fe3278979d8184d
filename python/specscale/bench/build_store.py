"""``specscale build-store``: a static retrieval store (REST) from a JSONL corpus.

Each row's text (``--field``, default ``text``; a list of texts counts as several sequences) becomes
one sequence of a :class:`~specscale.SuffixAutomaton` with occurrence counts, saved to ``--out``.
Rows may instead hold token ids (a list of ints) when no tokenizer is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from specscale._core import SuffixAutomaton
from specscale.errors import InvalidArgumentError


def build_store(corpus: Path, field: str, encode, limit: int | None = None) -> SuffixAutomaton:  # type: ignore[no-untyped-def]
    """Reads ``corpus`` (JSONL) and returns the automaton of its ``field`` values."""
    from specscale.bench.datasets import read_rows

    store = SuffixAutomaton(counts=True)
    for n, (where, row) in enumerate(read_rows(corpus)):
        if limit is not None and n >= limit:
            break
        if field not in row:
            raise InvalidArgumentError(f"{where}: missing the field {field!r} (fields: {sorted(row)})")
        value = row[field]
        items = value if isinstance(value, list) and value and not isinstance(value[0], int) else [value]
        for item in items:
            if isinstance(item, str):
                if encode is None:
                    raise InvalidArgumentError(f"{where}: text needs --tokenizer")
                tokens = encode(item)
            else:
                tokens = item
            store.begin_sequence()
            store.extend(tokens)
    store.shrink_to_fit()
    return store


def _run(args: argparse.Namespace) -> int:
    from specscale.drafters.retrieval import save_store
    from specscale.tokenizer import load_encoder

    encode = load_encoder(args.tokenizer) if args.tokenizer is not None else None
    start = time.perf_counter()
    try:
        store = build_store(args.corpus, args.field, encode, args.limit)
    except (ValueError, OSError) as error:  # bad rows, bad files, bad token ids
        print(f"specscale build-store: {error}", file=sys.stderr)
        return 2
    save_store(store, args.out)
    print(
        f"{store.num_tokens:,} tokens in {len(store.sequence_ids()):,} sequences, "
        f"{store.memory_bytes() / 2**20:.1f} MiB in memory, {args.out.stat().st_size / 2**20:.1f} MiB on disk "
        f"({time.perf_counter() - start:.1f} s): {args.out}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``specscale build-store``."""
    from specscale.args import existing_file, int_option, output_file

    p = sub.add_parser("build-store", help="build a static retrieval store (REST) from a JSONL corpus")
    p.add_argument("corpus", type=existing_file, help="JSONL rows with a text (or token-id list) field")
    p.add_argument("--out", type=output_file, required=True, help="where to write the store")
    p.add_argument("--tokenizer", default=None, help="a local tokenizer directory (nothing is downloaded)")
    p.add_argument("--field", default="text", help="the row field holding text, texts or token ids")
    p.add_argument("--limit", type=int_option(1), default=None, help="first N rows only")
    p.set_defaults(run=_run)
