"""The ``specscale`` command line.

Each subcommand lives in the module that does its work and registers itself through a
``register(subparsers)`` function listed in ``_COMMANDS``; this file only dispatches. Registering is
cheap: command modules import their heavy dependencies (torch, transformers, matplotlib) inside the
functions that run a command, so ``specscale --help`` and the model-free commands start at once.

Errors a user can act on (a bad option, a missing file or package, a malformed input row: every
:class:`~specscale.SpecscaleError` and ``OSError``) end the command with one line on stderr naming the
problem and the fix, and exit code 2; ``--debug`` or ``SPECSCALE_DEBUG=1`` shows the traceback instead.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from specscale.args import int_option
from specscale.errors import SpecscaleError

#: Modules with a ``register(subparsers)`` function, in the order ``--help`` lists them. A module whose
#: optional dependencies are missing still registers; it reports what to install when run.
_COMMANDS = (
    "specscale.cli",
    "specscale.bench.replay",
    "specscale.bench.runner",
    "specscale.bench.costmodel",
    "specscale.bench.build_store",
)

#: Exit code of a command that stopped on a user error (argparse uses the same for bad options).
USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: the command, the problem, where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _demo(args: argparse.Namespace) -> int:
    from specscale.demo import run_demo

    run_demo(traces=args.traces, tokenizer=args.tokenizer, limit=args.limit, max_draft=args.max_draft)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``specscale demo``."""
    from specscale.args import existing_file

    demo = sub.add_parser("demo", help="offline demo: exact greedy replay of Best-of-N samples with a shared store")
    demo.add_argument("--traces", type=existing_file, default=None, help="JSONL with 'question' and 'response' (list) fields")
    demo.add_argument("--tokenizer", default=None, help="a local Hugging Face tokenizer directory")
    demo.add_argument("--limit", type=int_option(1), default=20, help="number of problems (default 20)")
    demo.add_argument("--max-draft", type=int_option(1), default=40, help="longest draft per step (default 40)")
    demo.set_defaults(run=_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="specscale",
        description="Lossless speculative decoding for test-time scaling.",
        epilog="Errors print one line; --debug (or SPECSCALE_DEBUG=1) shows the traceback.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:  # not written yet
                continue
            raise
        module.register(sub)
    for command in sub.choices.values():  # `specscale replay ... --debug` works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def debugging(args: argparse.Namespace) -> bool:
    """Whether to show tracebacks: ``--debug`` or ``SPECSCALE_DEBUG`` set (and not ``0``)."""
    return bool(getattr(args, "debug", False)) or os.environ.get("SPECSCALE_DEBUG", "") not in ("", "0")


def describe_error(error: BaseException) -> str:
    """One line for a user error: an ``OSError`` as ``path: reason``, a missing module with what to
    install, anything else as its message with line breaks folded."""
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename is not None else ""
        return f"{where}{error.strerror}"
    if isinstance(error, ModuleNotFoundError):
        return (
            f"the Python module {error.name!r} is not installed; install the extra that brings it "
            "(pip install -e '.[bench]' from a checkout, see the README)"
        )
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``specscale`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (SpecscaleError, OSError, ModuleNotFoundError) as error:
        if debugging(args):
            raise
        print(f"specscale {args.command}: {describe_error(error)}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        if debugging(args):
            raise
        print(f"\nspecscale {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
