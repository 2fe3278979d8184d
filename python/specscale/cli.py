"""The ``specscale`` command line.

Each subcommand lives in the module that does its work and registers itself through a
``register(subparsers)`` function listed in ``_COMMANDS``; this file only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

#: Modules with a ``register(subparsers)`` function, in the order ``--help`` lists them. A module whose
#: optional dependencies are missing still registers; it reports what to install when run.
_COMMANDS = (
    "specscale.cli",
    "specscale.bench.replay",
    "specscale.bench.runner",
    "specscale.bench.costmodel",
    "specscale.bench.build_store",
)


def _demo(args: argparse.Namespace) -> int:
    from specscale.demo import run_demo

    run_demo(traces=args.traces, tokenizer=args.tokenizer, limit=args.limit, max_draft=args.max_draft)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``specscale demo``."""
    demo = sub.add_parser("demo", help="offline demo: exact greedy replay of Best-of-N samples with a shared store")
    demo.add_argument("--traces", type=Path, default=None, help="JSONL with 'question' and 'response' (list) fields")
    demo.add_argument("--tokenizer", type=Path, default=None, help="a local Hugging Face tokenizer directory")
    demo.add_argument("--limit", type=int, default=20, help="number of problems (default 20)")
    demo.add_argument("--max-draft", type=int, default=40, help="longest draft per step (default 40)")
    demo.set_defaults(run=_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specscale", description="Lossless speculative decoding for test-time scaling.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:  # not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``specscale`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
