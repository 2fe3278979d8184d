"""Hybrid drafting: several drafters behind one, with a pluggable policy choosing whose draft to verify.

The seed benchmark (SpecTTS-Bench) finds hybrids promising but limited by how their parts are combined,
so the combination is a policy object: :class:`MatchThreshold` (a suffix-automaton or suffix-tree draft
when its match is long enough, otherwise the fallback) and :class:`ExpectedAcceptance` (per step, the
draft with the highest expected accepted length, learned online from what each drafter's drafts
achieved at a similar match length). Every part observes every committed token, so all stores stay in
step whichever draft was verified.

A policy also decides which parts are asked for a draft at all (:meth:`CombinePolicy.draft`): by default
every part drafts every step and the policy chooses among the drafts; a lazy :class:`MatchThreshold`
asks the first part, and the next ones only when its match falls short, as SpecTTS-Bench's SAM[EAGLE-3]
computes the EAGLE-3 tree only when SAM's match is too short. Parts that are not asked still begin,
observe, end and receive logits and hidden states like the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from specscale._core import DraftTree
from specscale.args import check_int
from specscale.drafters.base import Drafter
from specscale.errors import InvalidArgumentError
from specscale.trees import first_path

__all__ = ["CombinePolicy", "ExpectedAcceptance", "HybridDrafter", "MatchThreshold"]


class CombinePolicy:
    """Chooses which of the parts' drafts to verify this step, and learns from the outcome."""

    def draft(self, ask: Callable[[int], DraftTree], parts: int) -> tuple[int, DraftTree]:
        """The chosen part and its draft; ``ask(i)`` is part ``i``'s draft for this step (each part is
        asked at most once). By default every part is asked and :meth:`choose` picks."""
        drafts = [ask(i) for i in range(parts)]
        chosen = self.choose(drafts)
        return chosen, drafts[chosen]

    def choose(self, drafts: Sequence[DraftTree]) -> int:
        """Index of the draft to verify (drafts are in the order of the hybrid's parts)."""
        raise NotImplementedError

    def update(self, chosen: int, draft: DraftTree, accepted: int) -> None:
        """``accepted`` tokens of ``draft`` (from part ``chosen``) were accepted."""


@dataclass
class MatchThreshold(CombinePolicy):
    """The first part's draft when its suffix match is at least ``threshold`` tokens, else the next part
    with a non-empty draft (the seed paper's rule; its SAM threshold is 5).

    With ``lazy=True`` the parts are asked in order and no further than the chosen one: the choice is
    the same, but a fallback drafts only on the steps it is used (SpecTTS-Bench's SAM[EAGLE-3]). Leave it
    off for parts whose drafting advances their own state (Lookahead's window), which must draft every
    step to stay in step."""

    threshold: int = 5
    lazy: bool = False

    def draft(self, ask: Callable[[int], DraftTree], parts: int) -> tuple[int, DraftTree]:
        if not self.lazy:
            return super().draft(ask, parts)
        first = ask(0)
        if len(first) and first.match_length >= self.threshold:
            return 0, first
        for i in range(1, parts):
            d = ask(i)
            if len(d):
                return i, d
        return 0, first

    def choose(self, drafts: Sequence[DraftTree]) -> int:
        first = drafts[0]
        if len(first) and first.match_length >= self.threshold:
            return 0
        for i, d in enumerate(drafts[1:], start=1):
            if len(d):
                return i
        return 0


def _bucket(match_length: int) -> int:
    """Match lengths grouped roughly logarithmically: 0, 1, 2-3, 4-7, 8-15, 16+."""
    return min(match_length.bit_length(), 5)


@dataclass
class ExpectedAcceptance(CombinePolicy):
    """Per step, the draft with the highest expected number of accepted tokens.

    For each part and match-length bucket it keeps an exponential moving average of the accepted
    fraction of that part's drafts; a draft's expected acceptance is that fraction times its length
    (capped by what the average accepted count has been). Unseen (part, bucket) pairs start at
    ``prior``, so every part gets tried.
    """

    decay: float = 0.9
    prior: float = 0.5
    _fraction: dict[tuple[int, int], float] = field(default_factory=dict, repr=False)

    def expected(self, part: int, draft: DraftTree) -> float:
        if not len(draft):
            return 0.0
        return self._fraction.get((part, _bucket(draft.match_length)), self.prior) * len(first_path(draft.parents))

    def choose(self, drafts: Sequence[DraftTree]) -> int:
        scores = [self.expected(i, d) for i, d in enumerate(drafts)]
        return max(range(len(drafts)), key=lambda i: (scores[i], -i))

    def update(self, chosen: int, draft: DraftTree, accepted: int) -> None:
        if not len(draft):
            return
        key = (chosen, _bucket(draft.match_length))
        observed = accepted / max(1, len(first_path(draft.parents)))
        old = self._fraction.get(key, self.prior)
        self._fraction[key] = self.decay * old + (1 - self.decay) * observed


class HybridDrafter(Drafter):
    """Several drafters behind one; ``policy`` picks whose draft is verified each step.

    Every member of the drafter protocol reaches the parts: each part begins, observes and ends every
    generation (so every store stays in step whichever draft was verified); logits, hidden states and
    sampling settings go to the parts that ask for them; the hybrid asks for them whenever a part does.

    Args:
        parts: the drafters, the preferred one first (e.g. a ``SuffixAutomatonDrafter`` then a fallback).
        policy: a :class:`CombinePolicy`; default :class:`ExpectedAcceptance`.
    """

    def __init__(self, parts: Sequence[Drafter] | None = None, policy: CombinePolicy | None = None) -> None:
        if parts is None:
            from specscale._core import Store
            from specscale.drafters.automaton import SuffixAutomatonDrafter
            from specscale.drafters.trie import NgramTrieDrafter

            store = Store()  # one store per generation, written once and read by both parts
            parts = [
                SuffixAutomatonDrafter(store=store, scope="request"),
                NgramTrieDrafter(store=store, scope="request", write=False),
            ]
        parts = list(parts)
        if not parts:
            raise InvalidArgumentError("HybridDrafter needs at least one part")
        for i, p in enumerate(parts):
            if not isinstance(p, Drafter):
                raise InvalidArgumentError(f"parts[{i}] is not a specscale Drafter: {p!r}")
        self.parts = parts
        self.policy = policy if policy is not None else ExpectedAcceptance()
        self.chosen_counts = [0] * len(parts)
        self._last: tuple[int, DraftTree] | None = None
        self._timed = -1  # the part whose draft the last observed step verified

    @property
    def wants_logits(self) -> bool:
        return any(p.wants_logits for p in self.parts)

    @property
    def wants_hidden_states(self) -> bool:
        return any(p.wants_hidden_states for p in self.parts)

    @property
    def samples_drafts(self) -> bool:
        return any(p.samples_drafts for p in self.parts)

    def begin(self, prompt: Sequence[int]) -> None:
        for p in self.parts:
            p.begin(prompt)
        self._last = None

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        check_int("max_tokens", max_tokens, 0)
        chosen, draft = self.policy.draft(lambda i: self.parts[i].propose(context, max_tokens), len(self.parts))
        self.chosen_counts[chosen] += 1
        self._last = (chosen, draft)
        return draft

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        chosen = self._last[0] if self._last is not None else -1
        for i, p in enumerate(self.parts):
            # Only the part whose draft was verified learns from its acceptance; all see the tokens.
            p.observe(new_tokens, drafted=drafted if i == chosen else 0, accepted=accepted if i == chosen else 0)
        if self._last is not None:
            self.policy.update(chosen, self._last[1], accepted)
            self._last = None
        self._timed = chosen

    def observe_step_time(self, drafted: int, seconds: float) -> None:
        # The verified draft was the chosen part's: only it learns what its nodes cost (for the other
        # parts the step was neither their draft nor a plain step).
        if self._timed >= 0:
            self.parts[self._timed].observe_step_time(drafted, seconds)
        self._timed = -1

    def end(self) -> None:
        for p in self.parts:
            p.end()

    def observe_logits(self, input_tokens: list[int], logits: Any) -> None:
        for p in self.parts:
            if p.wants_logits:
                p.observe_logits(input_tokens, logits)

    def hidden_state_layers(self, model: Any) -> tuple[int, ...]:
        layers = {tuple(p.hidden_state_layers(model)) for p in self.parts if p.wants_hidden_states}
        if len(layers) > 1:
            raise InvalidArgumentError(f"the hybrid's feature drafters read different target layers: {sorted(layers)}")
        return layers.pop() if layers else ()

    def observe_hidden_states(self, start: int, features: Any) -> None:
        for p in self.parts:
            if p.wants_hidden_states:
                p.observe_hidden_states(start, features)

    def configure_sampling(self, params: Any, generator: Any) -> None:
        for p in self.parts:
            if p.samples_drafts:
                p.configure_sampling(params, generator)

    def draft_probabilities(self) -> dict[int, Any] | None:
        """The chosen part's sampled distributions (None when its draft is deterministic)."""
        if self._last is None:
            return None
        return self.parts[self._last[0]].draft_probabilities()

    def __repr__(self) -> str:
        return f"HybridDrafter({self.parts!r}, policy={self.policy!r})"
