"""An offline demo of the native core: exact greedy replay of recorded Best-of-N samples.

Each problem's samples are replayed in order through the generate loop, with a suffix-automaton drafter
over the problem's family store: at every step it drafts up to ``max_draft`` tokens, the step accepts the
longest prefix that agrees with what the model really wrote plus the model's own next token (exactly
what a greedy speculative run of that model would accept), and the accepted tokens go back into the
store. Sample k drafts from samples 1..k-1, so acceptance grows with the sample index. Needs no torch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from specscale._core import Store
from specscale.drafters.automaton import SuffixAutomatonDrafter
from specscale.loop import generate_from_trace

#: Where the demo finds real traces and a tokenizer when run from a checkout beside ``shared/``.
SHARED = Path("../shared")
DEFAULT_TRACES = SHARED / "data/traces/bon8_math_qwen25math.jsonl"
DEFAULT_TOKENIZER = SHARED / "tokenizers/qwen2"


@dataclass
class ReplayTally:
    """Accepted tokens and verification steps, per sample index."""

    tokens: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    draft_seconds: float = 0.0

    def add(self, sample_index: int, tokens: int, steps: int) -> None:
        while len(self.tokens) <= sample_index:
            self.tokens.append(0)
            self.steps.append(0)
        self.tokens[sample_index] += tokens
        self.steps[sample_index] += steps

    @property
    def mat(self) -> float:
        """Mean accepted tokens per step, counting the target's own token (>= 1)."""
        return sum(self.tokens) / max(1, sum(self.steps))

    @property
    def mat_by_sample(self) -> list[float]:
        return [t / max(1, s) for t, s in zip(self.tokens, self.steps)]


def replay_problem(
    prompt: Sequence[int], samples: Sequence[Sequence[int]], tally: ReplayTally, max_draft: int = 40
) -> None:
    """Replays one problem's samples in order, each through the generate loop
    (:func:`~specscale.loop.generate_from_trace`) with a suffix automaton drafter over a store whose
    family scope the samples share: fixed drafts of up to ``max_draft`` tokens."""
    store = Store()
    for index, sample in enumerate(samples):
        if not sample:
            continue
        drafter = SuffixAutomatonDrafter(store=store, max_tokens=max_draft, adaptive=False, extend_loops=False)
        out = generate_from_trace(prompt, sample, drafter, max_draft_tokens=max_draft)
        tally.draft_seconds += out.stats.draft_seconds
        tally.add(index, out.stats.new_tokens, out.stats.steps)


def word_tokenizer() -> Callable[[str], list[int]]:
    """A vocabulary built on the fly from words and punctuation (no model files needed)."""
    vocab: dict[str, int] = {}
    pattern = re.compile(r"\w+|[^\w\s]|\s+")

    def encode(text: str) -> list[int]:
        return [vocab.setdefault(piece, len(vocab)) for piece in pattern.findall(text)]

    return encode


def load_tokenizer(directory: Path | str | None, required: bool = False) -> tuple[Callable[[str], list[int]], str]:
    """The tokenizer in the local ``directory`` (read without torch, see :mod:`specscale.tokenizer`), else
    the word tokenizer. ``required``: the user named the directory, so a failure is an error, not a
    fallback."""
    from specscale.errors import InvalidArgumentError
    from specscale.tokenizer import load_encoder

    if directory is not None and (required or Path(directory).is_dir()):
        try:
            encoder = load_encoder(directory)
            return encoder, f"{Path(directory).name} BPE"
        except InvalidArgumentError as error:
            if required:
                raise
            print(f"(could not load the tokenizer in {directory}: {error}; using word tokens)")
    return word_tokenizer(), "word-level"


def synthetic_problems(count: int, seed: int = 0) -> list[tuple[list[int], list[list[int]]]]:
    """Problems whose 8 samples reuse phrases from a shared pool, like sampled reasoning does."""
    rng = np.random.default_rng(seed)
    pool = [list(rng.integers(0, 5000, rng.integers(4, 24))) for _ in range(400)]
    problems = []
    for _ in range(count):
        favourites = rng.choice(len(pool), 40)
        prompt = [int(t) for t in rng.integers(0, 5000, 60)]
        samples = []
        for _ in range(8):
            tokens: list[int] = []
            while len(tokens) < 600:
                tokens += [int(t) for t in pool[int(rng.choice(favourites))]]
            samples.append(tokens)
        problems.append((prompt, samples))
    return problems


def run_demo(
    traces: Path | None = None, tokenizer: Path | str | None = None, limit: int = 20, max_draft: int = 40
) -> ReplayTally:
    """Replays recorded traces (or synthetic ones) and prints MAT by sample index.

    ``traces``: a JSONL file of ``question`` and ``response`` (a list of samples) rows; default the
    Best-of-8 traces beside a checkout, else synthetic samples. ``tokenizer``: a local tokenizer
    directory (default the Qwen2 one beside a checkout, else word tokens). ``limit``: problems (>= 1);
    ``max_draft``: longest draft per step (>= 1)."""
    from specscale.args import check_int

    check_int("limit", limit, 1)
    check_int("max_draft", max_draft, 1)
    traces = traces if traces is not None else (DEFAULT_TRACES if DEFAULT_TRACES.is_file() else None)
    if traces is None:
        print("No recorded traces found (looked for ../shared/data/traces); replaying synthetic samples.")
        problems = synthetic_problems(limit)
        source = "synthetic samples"
    else:
        from specscale.bench.replay import read_traces

        encode, name = load_tokenizer(
            tokenizer if tokenizer is not None else DEFAULT_TOKENIZER, required=tokenizer is not None
        )
        rows = read_traces(Path(traces), "question", "response", limit)
        problems = [(encode(question), [encode(r) for r in responses]) for question, responses in rows]
        source = f"{Path(traces).name} ({name} tokens)"
    tally = ReplayTally()
    start = time.perf_counter()
    for prompt, samples in problems:
        replay_problem(prompt, samples, tally, max_draft=max_draft)
    elapsed = time.perf_counter() - start
    steps = sum(tally.steps)
    print(f"Exact greedy replay of {len(problems)} problems from {source}, family suffix automaton,")
    print(f"drafts of up to {max_draft} tokens: {sum(tally.tokens):,} tokens in {steps:,} steps.\n")
    print("| sample | MAT |")
    print("|---:|---:|")
    for i, mat in enumerate(tally.mat_by_sample, start=1):
        print(f"| {i} | {mat:.2f} |")
    print(f"| all | {tally.mat:.2f} |\n")
    print(
        f"Drafting cost: {1e6 * tally.draft_seconds / max(1, steps):.1f} µs per step through Python "
        f"(replay wall time {elapsed:.1f} s)."
    )
    return tally
