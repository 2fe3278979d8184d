"""The drafter protocol, the adaptive draft-length policy, and the no-op drafter.

A drafter proposes a :class:`~specscale.DraftTree` for the current context and learns which tokens
were finally committed. The generate loop calls, for one generation::

    drafter.begin(prompt)                       # once: a new generation starts from `prompt`
    loop:
        tree = drafter.propose(context, budget) # at most `budget` nodes; empty tree = no draft
        ...verify...
        drafter.observe(new_tokens, drafted=len(tree), accepted=k)
    drafter.end()                               # once: the generation is over

``context`` is a read-only view of the whole committed sequence (prompt + generated): it can be indexed,
sliced (slices are fresh lists), iterated and measured, never changed. ``new_tokens`` are the tokens
appended to it this step (the accepted draft tokens plus the target's own), so stores can be updated
incrementally.

Every optional capability and hook is declared on :class:`Drafter` with a default that does nothing, so
the loop calls them directly and a wrapper (:class:`DrafterWrapper`) forwards all of them by
construction:

- ``wants_logits`` and :meth:`Drafter.observe_logits`: every verification's logits, row ``i`` scoring
  what follows ``input_tokens[i]`` (Token Recycling, Lookahead).
- ``wants_hidden_states``, :meth:`Drafter.hidden_state_layers` and :meth:`Drafter.observe_hidden_states`:
  the inputs of the named decoder layers, concatenated, for every committed token but the last, from
  position ``start`` on (EAGLE-3).
- ``samples_drafts``, :meth:`Drafter.configure_sampling` and, after each ``propose``,
  :meth:`Drafter.draft_probabilities` (node index -> the distribution it was sampled from): speculative
  sampling with ``min(1, p/q)`` acceptance (SpS with sampled drafts).

- :meth:`Drafter.observe_step_time`: how long each verification took, for drafters that price nodes
  by what they cost on the machine in use.

Trace replay has no model: it never calls the logits, hidden-state and step-time hooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from specscale._core import DraftTree
from specscale.args import check_int, check_number

__all__ = ["AdaptiveLength", "Drafter", "DrafterWrapper", "NoDraft", "protocol_members"]

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
        check_int("max_tokens", self.max_tokens, 0)
        check_int("min_tokens", self.min_tokens, 0)
        check_int("grow", self.grow, 0)
        check_int("shrink_to_accepted", self.shrink_to_accepted, 0)
        check_int("match_factor", self.match_factor, 0)
        if self.initial is not None:
            check_int("initial", self.initial, 0)
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
    """Base class of drafters: the whole protocol, every optional part with a no-op default.

    Subclasses override :meth:`propose` and usually :meth:`begin` and :meth:`observe`; a drafter that
    learns from the target sets the capability attributes it needs and overrides their hooks. A drafter
    is used by one generation at a time; :meth:`begin` starts the next one.
    """

    @property
    def wants_logits(self) -> bool:
        """Whether the loop hands every verification's logits to :meth:`observe_logits`."""
        return False

    @property
    def wants_hidden_states(self) -> bool:
        """Whether the loop records the target's hidden states (:meth:`hidden_state_layers`) and hands them
        to :meth:`observe_hidden_states`."""
        return False

    @property
    def samples_drafts(self) -> bool:
        """Whether drafts are sampled from a known distribution (:meth:`draft_probabilities`); the loop
        then calls :meth:`configure_sampling` before a generation."""
        return False

    def begin(self, prompt: Sequence[int]) -> None:
        """A new generation starts with ``prompt`` as its context."""

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        """Return a draft tree of at most ``max_tokens`` nodes continuing ``context`` (may be empty)."""
        raise NotImplementedError

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        """``new_tokens`` were appended to the context; ``accepted`` of the ``drafted`` nodes of the last
        proposal were on the accepted path."""

    def end(self) -> None:
        """The generation is over (its tokens stay in any shared store)."""

    def observe_logits(self, input_tokens: list[int], logits: Any) -> None:
        """With ``wants_logits``: the verification's logits ``[len(input_tokens), vocab]``; row ``i``
        scores what follows ``input_tokens[i]`` (the context's last token, then the draft's nodes)."""

    def hidden_state_layers(self, model: Any) -> tuple[int, ...]:
        """With ``wants_hidden_states``: the decoder layers of ``model`` whose inputs to record."""
        return ()

    def observe_hidden_states(self, start: int, features: Any) -> None:
        """With ``wants_hidden_states``: recorded features ``[rows, width]`` of committed tokens, the
        first at position ``start``."""

    def configure_sampling(self, params: Any, generator: Any) -> None:
        """With ``samples_drafts``: the run's :class:`~specscale.SamplingParams` and its CPU generator."""

    def draft_probabilities(self) -> dict[int, Any] | None:
        """With ``samples_drafts``: for the last proposal, node index -> the distribution it was
        sampled from (a 1-D probability tensor over the vocabulary); ``None`` for deterministic drafts."""
        return None

    def observe_step_time(self, drafted: int, seconds: float) -> None:
        """After :meth:`observe`, where the target's time is real work (a model; trace replay never calls
        it): verifying the last proposal's ``drafted`` nodes took ``seconds`` of wall clock (the forward
        pass, acceptance and the cache's update). Not called for a generation's first step, whose time
        is mostly the prompt's prefill."""


def protocol_members() -> tuple[str, ...]:
    """The names :class:`Drafter` declares: every capability and hook a wrapper must forward."""
    return tuple(name for name in vars(Drafter) if not name.startswith("_"))


class DrafterWrapper(Drafter):
    """Stands in front of ``inner`` and forwards every member of the protocol to it.

    Subclass it to change one part of a drafter's life (the thinking budget presents one drafter to two
    ``generate`` calls, tests record drafts) and inherit the forwarding of everything else, including
    hooks added to :class:`Drafter` later (a test fails if this class misses one).
    """

    def __init__(self, inner: Drafter) -> None:
        if not isinstance(inner, Drafter):
            raise TypeError(f"inner must be a specscale Drafter, got {type(inner).__name__}")
        self.inner = inner

    @property
    def wants_logits(self) -> bool:
        return self.inner.wants_logits

    @property
    def wants_hidden_states(self) -> bool:
        return self.inner.wants_hidden_states

    @property
    def samples_drafts(self) -> bool:
        return self.inner.samples_drafts

    def begin(self, prompt: Sequence[int]) -> None:
        self.inner.begin(prompt)

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        return self.inner.propose(context, max_tokens)

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        self.inner.observe(new_tokens, drafted=drafted, accepted=accepted)

    def end(self) -> None:
        self.inner.end()

    def observe_logits(self, input_tokens: list[int], logits: Any) -> None:
        self.inner.observe_logits(input_tokens, logits)

    def hidden_state_layers(self, model: Any) -> tuple[int, ...]:
        return self.inner.hidden_state_layers(model)

    def observe_hidden_states(self, start: int, features: Any) -> None:
        self.inner.observe_hidden_states(start, features)

    def configure_sampling(self, params: Any, generator: Any) -> None:
        self.inner.configure_sampling(params, generator)

    def draft_probabilities(self) -> dict[int, Any] | None:
        return self.inner.draft_probabilities()

    def observe_step_time(self, drafted: int, seconds: float) -> None:
        self.inner.observe_step_time(drafted, seconds)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


class NoDraft(Drafter):
    """Never drafts: the engine's loop then is plain autoregressive decoding (the AR baseline)."""

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        return DraftTree.empty()

    def __repr__(self) -> str:
        return "NoDraft()"
