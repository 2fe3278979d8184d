"""The speculative generation loop: draft, verify, commit, record. No torch here.

:func:`run_loop` drives every run. Each step the drafter proposes a :class:`~specscale.DraftTree` for a
read-only view of the committed context; a :class:`Target` verifies it (one forward pass of a model in
:class:`~specscale.targets.ModelTarget`, the recorded text in :class:`TraceTarget`); the accepted path
plus the target's own token are committed; the drafter observes them; the step is counted.
:func:`specscale.generate` runs it against a model, :func:`generate_from_trace` against a recorded
continuation (exact replay), so the two cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, overload

from specscale.drafters.base import Drafter, NoDraft
from specscale.errors import InvalidArgumentError
from specscale.trees import children_lists, is_chain, tree_to_chain, validate_tree

__all__ = [
    "ContextView",
    "GenerationOutput",
    "GenerationStats",
    "Target",
    "TraceTarget",
    "eos_ids",
    "generate_from_trace",
    "model_vocab_size",
    "run_loop",
    "text_config",
]


class ContextView(Sequence[int]):
    """A read-only view of the committed tokens that drafters receive.

    Indexing, iteration, ``len`` and ``in`` read the live sequence; a slice is a fresh list (a copy of
    that part), so ``context[-8:]`` is cheap and safe to keep. Every attempt to change the context
    (``append``, item assignment, ``+=`` ...) raises :class:`TypeError`: a drafter that wrote into the
    engine's context would silently change what is verified next.
    """

    __slots__ = ("_tokens",)

    def __init__(self, tokens: list[int]) -> None:
        self._tokens = tokens

    def __len__(self) -> int:
        return len(self._tokens)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: int | slice) -> int | list[int]:
        return self._tokens[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self._tokens)

    def __reversed__(self) -> Iterator[int]:
        return reversed(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._tokens

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ContextView):
            return self._tokens == other._tokens
        if isinstance(other, (list, tuple)):
            return self._tokens == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a live view: equal now, different later

    def __add__(self, other: Iterable[int]) -> list[int]:
        return self._tokens + list(other)

    def __radd__(self, other: Iterable[int]) -> list[int]:
        return list(other) + self._tokens

    def tolist(self) -> list[int]:
        """A copy of the tokens as a list."""
        return list(self._tokens)

    def __repr__(self) -> str:
        return f"ContextView({len(self._tokens)} tokens)"

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "the context is read-only: drafters get a view of the committed tokens; keep your own copy "
            "(list(context)) to change it"
        )

    append = extend = insert = pop = remove = clear = sort = reverse = _read_only
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only


@dataclass
class GenerationStats:
    """Counters of one generation.

    ``accepted_histogram[k]`` counts steps that committed ``k`` tokens (accepted draft tokens plus the
    target's own, so ``k >= 1``). ``mean_accepted_tokens`` (MAT) is ``new_tokens / steps``: it counts the
    target's own token, so plain decoding has MAT 1. ``draft_seconds`` is time in the drafter (propose and
    observe); ``verify_seconds`` is the forward pass, acceptance and cache update (the first step includes
    the prefill of the prompt: see ``prefill_seconds``); ``forward_seconds`` is the model's forward passes
    alone; ``overhead_seconds`` is wall time outside them: drafting, draft validation, acceptance, cache
    crop/compaction, stop checks and the loop's bookkeeping.
    """

    steps: int = 0
    new_tokens: int = 0
    draft_tokens: int = 0
    accepted_draft_tokens: int = 0
    accepted_histogram: dict[int, int] = field(default_factory=dict)
    #: One ``(context_len, draft_nodes, committed_tokens)`` per step, for cost models and replay reports.
    step_records: list[tuple[int, int, int]] = field(default_factory=list, repr=False)
    draft_seconds: float = 0.0
    verify_seconds: float = 0.0
    forward_seconds: float = 0.0
    prefill_seconds: float = 0.0
    wall_seconds: float = 0.0
    #: Prompt tokens whose KV cache came from ``prefix_cache`` instead of being prefilled.
    reused_prefix_tokens: int = 0
    #: Time spent copying (and cropping) ``prefix_cache`` (included in ``wall_seconds``).
    cache_copy_seconds: float = 0.0

    @property
    def mean_accepted_tokens(self) -> float:
        """Tokens committed per step (MAT), counting the target's own token: ``>= 1``."""
        return self.new_tokens / self.steps if self.steps else 0.0

    @property
    def acceptance_rate(self) -> float:
        """Accepted draft tokens over drafted nodes (for trees, nodes off the path count as drafted)."""
        return self.accepted_draft_tokens / self.draft_tokens if self.draft_tokens else 0.0

    @property
    def overhead_seconds(self) -> float:
        """Wall time outside the model's forward passes: drafting plus everything else the loop does."""
        return max(0.0, self.wall_seconds - self.forward_seconds)

    @property
    def overhead_per_step_us(self) -> float:
        """:attr:`overhead_seconds` per step, in microseconds."""
        return 1e6 * self.overhead_seconds / self.steps if self.steps else 0.0

    def add(self, other: GenerationStats) -> None:
        """Adds ``other``'s counters to these (sums, step records appended); ``reused_prefix_tokens``
        stays (it describes a generation's start)."""
        self.steps += other.steps
        self.new_tokens += other.new_tokens
        self.draft_tokens += other.draft_tokens
        self.accepted_draft_tokens += other.accepted_draft_tokens
        for k, v in other.accepted_histogram.items():
            self.accepted_histogram[k] = self.accepted_histogram.get(k, 0) + v
        self.step_records.extend(other.step_records)
        self.draft_seconds += other.draft_seconds
        self.verify_seconds += other.verify_seconds
        self.forward_seconds += other.forward_seconds
        self.prefill_seconds += other.prefill_seconds
        self.wall_seconds += other.wall_seconds
        self.cache_copy_seconds += other.cache_copy_seconds

    @classmethod
    def merge(cls, parts: Sequence[GenerationStats]) -> GenerationStats:
        """One generation's counters from consecutive segments of it (e.g. before and after a forced end
        of thinking): sums, concatenated step records, the first segment's reused prefix."""
        total = cls()
        for s in parts:
            total.add(s)
        if parts:
            total.reused_prefix_tokens = parts[0].reused_prefix_tokens
        return total

    def __repr__(self) -> str:
        return (
            f"GenerationStats(steps={self.steps}, new_tokens={self.new_tokens}, "
            f"MAT={self.mean_accepted_tokens:.2f}, draft={self.draft_seconds * 1e3:.1f}ms, "
            f"verify={self.verify_seconds * 1e3:.1f}ms, wall={self.wall_seconds * 1e3:.1f}ms)"
        )


@dataclass
class GenerationOutput:
    """Result of :func:`specscale.generate` (and of :func:`generate_from_trace`).

    Attributes:
        new_tokens: the generated token ids (EOS or the stop sequence included when they ended the run).
        prompt_tokens: the prompt's token ids.
        finish_reason: ``"length"`` (``max_new_tokens`` reached), ``"eos"`` or ``"stop"``.
        stats: :class:`GenerationStats`.
        cache: with ``return_cache=True``, the KV cache of the committed tokens (a
            :class:`~specscale.verify.PrefixCache` to pass as ``prefix_cache`` to a later generation
            whose prompt extends this conversation); else None.
    """

    new_tokens: list[int]
    prompt_tokens: list[int]
    finish_reason: str
    stats: GenerationStats
    cache: Any = field(default=None, repr=False)

    @property
    def sequences(self) -> Any:
        """Prompt plus new tokens as a ``[1, n]`` long tensor, like ``model.generate``'s output."""
        import torch

        return torch.tensor([self.prompt_tokens + self.new_tokens], dtype=torch.long)


class Target:
    """What verifies draft trees for the loop; optional parts have defaults.

    A target scores a draft after the committed context and says which path it accepts and which token
    it adds itself; after :meth:`commit` it is ready for the next step. Targets that have logits or
    hidden states to share (a model) override :meth:`verification_logits`, :meth:`initial_features`
    and :meth:`committed_features`.
    """

    @property
    def tree_enabled(self) -> bool:
        """Whether tree drafts can be verified (otherwise the loop sends only their first chain)."""
        return True

    def verify(
        self,
        context: list[int],
        tokens: list[int],
        parents: list[int],
        children: list[list[int]],
        draft_probs: dict[int, Any] | None = None,
    ) -> tuple[list[int], int, float]:
        """Scores the draft after ``context``: returns the accepted path (node indices from the root),
        the target's own next token after it, and the seconds the target's forward pass took.
        ``draft_probs`` gives the distributions sampled nodes were drawn from (see
        :func:`~specscale.sampling.sample_accept`)."""
        raise NotImplementedError

    def commit(self, path: list[int]) -> None:
        """Keeps the state of ``path`` (and drops the rest) before the next step."""
        raise NotImplementedError

    @property
    def timed(self) -> bool:
        """Whether :meth:`verify` does real work whose wall time the drafter may learn from (a model),
        rather than reading a recorded answer (trace replay)."""
        return False

    def verification_logits(self) -> Any:
        """The last verification's logits ``[n_nodes + 1, vocab]`` (row 0 after the context, row
        ``i + 1`` after node ``i``), or None where the target has none."""
        return None

    def initial_features(self) -> tuple[int, Any] | None:
        """Before the first step: recorded hidden-state features of a reused prefix, as
        ``(0, [rows, width])``, or None."""
        return None

    def committed_features(self, path: list[int]) -> tuple[int, Any] | None:
        """After :meth:`verify`: features of the tokens that step committed before the target's own, as
        ``(position of the first, [rows, width])``, or None."""
        return None


class TraceTarget(Target):
    """A greedy target whose output is known: ``continuation``, what the model wrote after the prompt.

    A step accepts the longest root path of the draft that spells the next recorded tokens, plus the
    recorded token after it (the target's own). Run through :func:`generate_from_trace` with
    ``max_new_tokens = len(continuation)``.
    """

    def __init__(self, continuation: Sequence[int]) -> None:
        self.continuation = [int(t) for t in continuation]
        self.position = 0
        self._pending = 0

    def verify(
        self,
        context: list[int],
        tokens: list[int],
        parents: list[int],
        children: list[list[int]],
        draft_probs: dict[int, Any] | None = None,
    ) -> tuple[list[int], int, float]:
        future = self.continuation
        at = self.position
        path: list[int] = []
        # children[0] are the nodes hanging off the context; children[i + 1] those under node i.
        node_children = children[0]
        while at + len(path) < len(future) - 1:
            want = future[at + len(path)]
            nxt = next((c for c in node_children if tokens[c] == want), None)
            if nxt is None:
                break
            path.append(nxt)
            node_children = children[nxt + 1]
        if at + len(path) >= len(future):
            raise InvalidArgumentError(
                f"the trace ends after {len(future)} tokens; replay it with max_new_tokens <= {len(future)}"
            )
        self._pending = len(path) + 1
        return path, future[at + len(path)], 0.0

    def commit(self, path: list[int]) -> None:
        self.position += self._pending
        self._pending = 0


def generate_from_trace(
    prompt: Sequence[int],
    continuation: Sequence[int],
    drafter: Drafter | None = None,
    max_draft_tokens: int = 64,
) -> GenerationOutput:
    """Replays a recorded greedy generation: what a greedy speculative run with ``drafter`` would accept.

    ``continuation`` is what the model wrote after ``prompt``. The run goes through the same loop as
    :func:`specscale.generate`, with a :class:`TraceTarget` in place of the model, so its steps, accepted
    lengths and MAT are exactly those of a live greedy run of that model with that drafter (drafting time
    is real; verification time is zero). Needs no torch.
    """
    t_start = time.perf_counter()
    prompt_tokens = [int(t) for t in prompt]
    if not prompt_tokens:
        raise InvalidArgumentError("prompt is empty: generation needs at least one prompt token")
    target = TraceTarget(continuation)
    return run_loop(
        target,
        drafter if drafter is not None else NoDraft(),
        prompt_tokens,
        max_new_tokens=len(target.continuation),
        max_draft_tokens=max_draft_tokens,
        t_start=t_start,
    )


# --- the loop -----------------------------------------------------------------------------------------


def run_loop(
    target: Target,
    drafter: Drafter,
    prompt: list[int],
    max_new_tokens: int,
    max_draft_tokens: int,
    eos: frozenset[int] = frozenset(),
    stopper: Stopper | None = None,
    vocab: int | None = None,
    t_start: float | None = None,
) -> GenerationOutput:
    """Generates up to ``max_new_tokens`` after ``prompt``: each step draft, verify, commit, record."""
    if not isinstance(drafter, Drafter):
        raise InvalidArgumentError(
            f"drafter must be a specscale.Drafter (subclass it and implement propose), got {type(drafter).__name__}"
        )
    t_start = time.perf_counter() if t_start is None else t_start
    stopper = stopper if stopper is not None else Stopper(None, None)
    stats = GenerationStats()
    context = list(prompt)
    view = ContextView(context)
    new: list[int] = []
    finish = "length"
    drafter.begin(list(prompt))
    timed = target.timed
    try:
        if drafter.wants_hidden_states:
            _hand_features(drafter, target.initial_features())
        while len(new) < max_new_tokens:
            remaining = max_new_tokens - len(new)
            # Draft. The target adds one token of its own, so drafting beyond remaining - 1 is never used.
            t0 = time.perf_counter()
            tokens, parents, draft_probs = _draft(drafter, view, min(remaining - 1, max_draft_tokens), vocab, target)
            t1 = time.perf_counter()

            # Verify; drafters that learn from the target read what this pass saw (counted as drafting).
            path, own, forward_seconds = target.verify(context, tokens, parents, children_lists(parents), draft_probs)
            t1 += _share_with_drafter(drafter, target, context[-1], tokens, path)

            # Commit: the accepted path and the target's own token, up to EOS, a stop or the budget.
            committed, finish = _committed([tokens[i] for i in path] + [own], remaining, new, eos, stopper)
            done = finish != "length" or len(new) >= max_new_tokens
            if not done:
                target.commit(path)
            t2 = time.perf_counter()
            context.extend(committed)
            accepted = min(len(path), len(committed))
            drafter.observe(list(committed), drafted=len(tokens), accepted=accepted)
            if timed and stats.steps:  # the first step prefills the prompt: not the price of its draft
                drafter.observe_step_time(len(tokens), t2 - t1)
            t3 = time.perf_counter()

            # Record.
            stats.steps += 1
            stats.step_records.append((len(context) - len(committed), len(tokens), len(committed)))
            stats.draft_tokens += len(tokens)
            stats.accepted_draft_tokens += accepted
            stats.accepted_histogram[len(committed)] = stats.accepted_histogram.get(len(committed), 0) + 1
            stats.draft_seconds += (t1 - t0) + (t3 - t2)
            stats.verify_seconds += t2 - t1
            stats.forward_seconds += forward_seconds
            if stats.steps == 1:
                stats.prefill_seconds = t2 - t1
            if done:
                break
    finally:
        drafter.end()
    stats.new_tokens = len(new)
    stats.wall_seconds = time.perf_counter() - t_start
    return GenerationOutput(new_tokens=new, prompt_tokens=list(prompt), finish_reason=finish, stats=stats)


def _draft(
    drafter: Drafter, context: ContextView, limit: int, vocab: int | None, target: Target
) -> tuple[list[int], list[int], dict[int, Any] | None]:
    """The drafter's proposal as checked lists within ``limit`` nodes, flattened to a chain where the
    target verifies chains only; with the sampled nodes' distributions where the drafter has them."""
    if limit <= 0:
        return [], [], None
    draft = drafter.propose(context, limit)
    try:
        tokens, parents = list(draft.tokens), list(draft.parents)
    except AttributeError:
        raise InvalidArgumentError(
            f"{type(drafter).__name__}.propose must return a DraftTree, got {type(draft).__name__}"
        ) from None
    if len(tokens) > limit:
        # Parents come before children, so any prefix of the nodes is a tree.
        tokens, parents = tokens[:limit], parents[:limit]
    validate_tree(tokens, parents, vocab, who=f"draft from {type(drafter).__name__}")
    draft_probs = drafter.draft_probabilities() if tokens else None
    if not target.tree_enabled and not is_chain(parents):
        tokens, parents = tree_to_chain(tokens, parents)
        draft_probs = None  # node indices changed; the deterministic rule is exact for any draft
    return tokens, parents, draft_probs


def _share_with_drafter(drafter: Drafter, target: Target, last: int, tokens: list[int], path: list[int]) -> float:
    """Hands the verification's logits and the committed tokens' features to a drafter that reads them;
    returns the seconds spent (the caller counts them as drafting)."""
    if not (drafter.wants_logits or drafter.wants_hidden_states):
        return 0.0
    start = time.perf_counter()
    if drafter.wants_logits:
        logits = target.verification_logits()
        if logits is not None:
            drafter.observe_logits([last, *tokens], logits)
    if drafter.wants_hidden_states:
        _hand_features(drafter, target.committed_features(path))
    return time.perf_counter() - start


def _hand_features(drafter: Drafter, features: tuple[int, Any] | None) -> None:
    if features is not None:
        drafter.observe_hidden_states(*features)


def _committed(
    emitted: list[int], remaining: int, new: list[int], eos: frozenset[int], stopper: Stopper
) -> tuple[list[int], str]:
    """Appends the emitted tokens to ``new`` up to the budget, an EOS token or a completed stop; returns
    those tokens and the finish reason (``"length"`` while generation may go on)."""
    committed: list[int] = []
    for tok in emitted[:remaining]:
        committed.append(tok)
        new.append(tok)
        if tok in eos:
            return committed, "eos"
        if stopper.active and stopper.hit(new):
            return committed, "stop"
    return committed, "length"


# --- arguments shared by the entry points -------------------------------------------------------------


def text_config(model: Any) -> Any:
    """The text part of a ``transformers`` model's config (the config itself for text-only models)."""
    config = getattr(model, "config", None)
    if config is None:
        raise InvalidArgumentError(
            f"model must be a transformers causal LM with a .config, got {type(model).__name__}"
        )
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def model_vocab_size(model: Any) -> int | None:
    """The vocabulary size of a ``transformers`` model's (text) config; None where it names none."""
    v = getattr(text_config(model), "vocab_size", None)
    return int(v) if v is not None else None


def eos_ids(eos_token_id: Any) -> frozenset[int]:
    """EOS ids from an int, a list of ints or a tensor/array of them (``None`` -> none), checked."""
    if eos_token_id is None:
        return frozenset()
    if hasattr(eos_token_id, "tolist") and not isinstance(eos_token_id, (list, tuple)):
        eos_token_id = eos_token_id.tolist()
    if isinstance(eos_token_id, int) and not isinstance(eos_token_id, bool):
        eos_token_id = [eos_token_id]
    if not isinstance(eos_token_id, Iterable):
        raise InvalidArgumentError(f"eos_token_id must be an int or a list of ints, got {eos_token_id!r}")
    ids = list(eos_token_id)
    for t in ids:
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise InvalidArgumentError(f"eos_token_id must hold ints >= 0, got {eos_token_id!r}")
    return frozenset(ids)


class Stopper:
    """Decides, one committed token at a time, whether a stop string or stop token sequence completed."""

    def __init__(self, stop: Any, tokenizer: Any) -> None:
        self.strings: list[str] = []
        self.sequences: list[list[int]] = []
        if stop is None:
            pass
        elif isinstance(stop, str):
            self.strings = [stop]
        elif isinstance(stop, (list, tuple)):
            for s in stop:
                if isinstance(s, str):
                    self.strings.append(s)
                elif (
                    isinstance(s, (list, tuple))
                    and s
                    and all(isinstance(t, int) and not isinstance(t, bool) for t in s)
                ):
                    self.sequences.append(list(s))
                else:
                    raise InvalidArgumentError(
                        f"stop entries must be non-empty strings or non-empty lists of ints, got {s!r}"
                    )
        else:
            raise InvalidArgumentError(f"stop must be a string or a list of strings / token lists, got {stop!r}")
        if any(s == "" for s in self.strings):
            raise InvalidArgumentError("stop strings must be non-empty")
        if self.strings and tokenizer is None:
            raise InvalidArgumentError(f"stop strings {self.strings!r} need tokenizer= to decode the tokens")
        self.tokenizer = tokenizer
        # Each token decodes to at least one character in practice, so a stop string of c characters
        # completed by the newest token lies within its last c + 1 tokens; a few more cover odd tokens.
        self.window = max((len(s) for s in self.strings), default=0) + 4
        self.active = bool(self.strings or self.sequences)

    def hit(self, new: list[int]) -> bool:
        for seq in self.sequences:
            if len(new) >= len(seq) and new[-len(seq) :] == seq:
                return True
        if self.strings:
            text = self.tokenizer.decode(new[-self.window :])
            return any(s in text for s in self.strings)
        return False
