"""The drafter protocol, the adaptive draft-length policy, and the no-op drafter.

A drafter proposes a :class:`~specscale.DraftTree` for the current context and learns which tokens
were finally committed. The engine calls, for one generation::

    drafter.begin(prompt)                       # once: a new generation starts from `prompt`
    loop:
        tree = drafter.propose(context, budget) # at most `budget` nodes; empty tree = no draft
        ...verify...
        drafter.observe(new_tokens, drafted=len(tree), accepted=k)
    drafter.end()                               # once: the generation is over

``context`` is the whole committed sequence (prompt + generated) as a list of ints; ``new_tokens`` are
the tokens appended to it this step (the accepted draft tokens plus the target's own), so stores can be
updated incrementally.

Optional hooks, for drafters that learn from the target itself (:func:`specscale.generate` calls them;
trace replay has no model and does not):

- ``wants_logits = True`` and ``observe_logits(input_tokens, logits)``: every verification's logits,
  row ``i`` scoring what follows ``input_tokens[i]`` (Token Recycling, Lookahead).
- ``wants_hidden_states = True``, ``hidden_state_layers(model)`` and
  ``observe_hidden_states(start, features)``: the inputs of the named decoder layers, concatenated, for
  every committed token but the last, from position ``start`` on (EAGLE-3).
- ``samples_drafts = True``, ``configure_sampling(params, generator)`` and, after each ``propose``,
  ``draft_probabilities`` (node index -> the distribution it was sampled from): speculative sampling
  with ``min(1, p/q)`` acceptance (SpS with sampled drafts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from specscale._core import DraftTree
from specscale.errors import InvalidArgumentError

__all__ = ["AdaptiveLength", "Drafter", "NoDraft"]


def _check_int(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise InvalidArgumentError(f"{name} must be an int >= {lo}, got {value!r}")
    return value


def _check_number(name: str, value: object, lo: float | None = None, hi: float | None = None) -> float:
    """``value`` as a float; :class:`InvalidArgumentError` naming it unless it is a real number (not a
    bool, not NaN) within ``[lo, hi]`` (either bound optional)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != value
        or (lo is not None and value < lo)
        or (hi is not None and value > hi)
    ):
        low = "-inf" if lo is None else lo
        high = "inf" if hi is None else hi
        raise InvalidArgumentError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


@dataclass
class AdaptiveLength:
    """Chooses how many tokens to draft from recent acceptance and the current match length.

    The draft length starts at ``initial`` (default ``max_tokens``); after a step in which every drafted
    token was accepted it grows by ``grow`` (up to ``max_tokens``); otherwise it becomes
    ``accepted + shrink_to_accepted`` (the run that was just accepted, plus a margin), never below
    ``min_tokens``. Growth is fast and shrinking mild because long runs of correct drafts are where lookup
    drafters earn their speed, while a wrong tail only widens one forward pass.

    The defaults were chosen by exact replay of the Best-of-8 MATH traces in ``shared/data`` (Qwen2
    tokenizer, store shared by a problem's samples): for the suffix-automaton drafter they keep MAT
    within 2% of never adapting at 32 tokens while drafting less than half as many tokens per step.

    Where the drafter knows how long a context suffix its draft was conditioned on (``match_length``),
    the draft is further capped at ``match_factor * match_length`` tokens: a one-token match predicts
    little. ``match_factor = 0`` disables that cap.

    Set ``enabled=False`` to always draft ``max_tokens``.
    """

    max_tokens: int = 10
    initial: int | None = None
    min_tokens: int = 1
    grow: int = 8
    shrink_to_accepted: int = 4
    match_factor: int = 4
    enabled: bool = True
    current: int = field(init=False)

    def __post_init__(self) -> None:
        _check_int("max_tokens", self.max_tokens, 0)
        _check_int("min_tokens", self.min_tokens, 0)
        _check_int("grow", self.grow, 0)
        _check_int("shrink_to_accepted", self.shrink_to_accepted, 0)
        _check_int("match_factor", self.match_factor, 0)
        if self.initial is not None:
            _check_int("initial", self.initial, 0)
        self.reset()

    def reset(self) -> None:
        """Forget the acceptance history (a new generation starts)."""
        self.current = self.max_tokens if self.initial is None else min(self.initial, self.max_tokens)

    def budget(self, limit: int, match_length: int = 0) -> int:
        """How many tokens to draft now, given the engine's ``limit`` and the current match length."""
        n = min(limit, self.max_tokens)
        if not self.enabled:
            return n
        n = min(n, self.current)
        if self.match_factor and match_length > 0:
            n = min(n, self.match_factor * match_length)
        return max(0, n)

    def update(self, drafted: int, accepted: int) -> None:
        """Record that ``accepted`` of ``drafted`` draft tokens (along the best path) were accepted."""
        if not self.enabled or drafted <= 0:
            return
        if accepted >= drafted:
            self.current = min(self.max_tokens, self.current + self.grow)
        else:
            self.current = min(self.max_tokens, max(self.min_tokens, accepted + self.shrink_to_accepted))


class Drafter:
    """Base class of drafters: the protocol, with no-op defaults.

    Subclasses override :meth:`propose` and usually :meth:`begin` and :meth:`observe`. A drafter is used
    by one generation at a time; :meth:`begin` starts the next one.
    """

    def begin(self, prompt: list[int]) -> None:
        """A new generation starts with ``prompt`` as its context."""

    def propose(self, context: list[int], max_tokens: int) -> DraftTree:
        """Return a draft tree of at most ``max_tokens`` nodes continuing ``context`` (may be empty)."""
        raise NotImplementedError

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        """``new_tokens`` were appended to the context; ``accepted`` of the ``drafted`` nodes of the last
        proposal were on the accepted path."""

    def end(self) -> None:
        """The generation is over (its tokens stay in any shared store)."""


class NoDraft(Drafter):
    """Never drafts: the engine's loop then is plain autoregressive decoding (the AR baseline)."""

    def propose(self, context: list[int], max_tokens: int) -> DraftTree:
        return DraftTree.empty()

    def __repr__(self) -> str:
        return "NoDraft()"
