"""SAM-Decoding style drafting: the longest context suffix seen before, and what followed it."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Literal

from specscale._core import DraftTree, Store, StoreCursor, SuffixAutomaton
from specscale.args import check_int
from specscale.drafters.base import AdaptiveLength
from specscale.drafters.lookup import _policy
from specscale.drafters.stores import ScopeName, StoreDrafter
from specscale.errors import InvalidArgumentError

__all__ = ["SuffixAutomatonDrafter"]


class SuffixAutomatonDrafter(StoreDrafter):
    """Chain drafts from the suffix automata of a :class:`~specscale.Store` (or a bare automaton).

    A cursor tracks the longest suffix of the context that occurs in the store; the draft is what followed
    its most recent earlier occurrence (the live sequence's own end excluded). Each generation is a new
    sequence of the store's ``scope``: with a store shared by a problem's samples and rounds (its family
    scope), every generation drafts from all the text the earlier ones (and their prompts) wrote, and a
    global scope adds text from other problems. Without a store, each generation gets a fresh one.

    Cost: the cursor advances in amortized O(1) per committed token and scope; a draft costs O(tokens
    drafted).

    Args:
        automaton: a shared bare :class:`~specscale.SuffixAutomaton` (one sequence per generation, no
            scopes), or ``None``.
        max_tokens: most tokens drafted per step (default 32; the adaptive policy drafts ~7 on average
            on the Best-of-8 traces, capped at 4 tokens per matched token).
        min_match: shortest suffix match that is drafted from (default 1).
        adaptive: an :class:`AdaptiveLength`, ``True`` for the default policy, ``False`` for fixed length.
        policy: which earlier occurrence of the match to copy from: ``"recent"`` (default) or
            ``"frequent"`` (needs a store built with ``counts=True``).
        extend_loops: when the copied text runs into the end of the context because the context is
            looping (the match's occurrence ends ``d`` tokens before the end and the tail has period
            ``d``), continue the copy through the tokens it is producing, as prompt lookup's
            overlapping copy does, instead of stopping after one period.
        static: SAM-Decoding's static store, a read-only corpus: a :class:`~specscale.SuffixAutomaton` or
            the path of one saved by ``specscale build-store``. It is loaded into the store's global
            scope, whose draft is used instead of the others when its match is longer by more than
            ``static_bias`` tokens (the seed benchmark's bias: 5): text the model wrote itself predicts
            its continuation better than a corpus match of the same length.
        static_bias: see ``static``; applies to every global-scope draft.
        store: a :class:`~specscale.Store` to draft from (all scopes) and write into (``scope``).
        scope: where the generation is written (``"family"`` or ``"request"``).
        write: ``False`` when another drafter over the same store writes the generation.
    """

    def __init__(
        self,
        automaton: SuffixAutomaton | None = None,
        max_tokens: int = 32,
        min_match: int = 1,
        adaptive: AdaptiveLength | bool = True,
        policy: Literal["recent", "most_recent", "frequent", "most_frequent", "earliest"] = "recent",
        extend_loops: bool = True,
        static: SuffixAutomaton | str | PathLike[str] | None = None,
        static_bias: int = 5,
        store: Store | None = None,
        scope: ScopeName = "family",
        write: bool = True,
    ) -> None:
        if automaton is not None and not isinstance(automaton, SuffixAutomaton):
            raise TypeError(
                f"automaton must be a specscale.SuffixAutomaton or None, got {type(automaton).__name__}"
            )
        if automaton is not None and store is not None:
            raise InvalidArgumentError("give either automaton= or store=, not both")
        if static is not None and automaton is not None:
            raise InvalidArgumentError("static= loads the corpus into a Store's global scope: pass store= (or neither)")
        if static is not None:
            from specscale.drafters.retrieval import load_into_store

            if store is None:
                store, scope = Store(), "request"
            load_into_store(store, static)
        super().__init__(store if store is not None else automaton, scope=scope, write=write)
        self.automaton = automaton
        self.max_tokens = check_int("max_tokens", max_tokens, 1)
        self.min_match = check_int("min_match", min_match, 1)
        self.policy = _policy(adaptive, max_tokens)
        self.policy_name = policy
        self.extend_loops = bool(extend_loops)
        self.static_bias = check_int("static_bias", static_bias, 0)
        #: Steps whose draft came from the global scope (the static store, other problems' text).
        self.static_drafts = 0

    def started(self) -> None:
        self.policy.reset()

    def learned(self, new_tokens: list[int], drafted: int, accepted: int) -> None:
        self.policy.update(drafted, accepted)

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        self.in_step(context)
        k = self.policy.budget(min(max_tokens, self.max_tokens))
        if k <= 0:
            return DraftTree.empty()
        cursor = self.cursor
        if isinstance(cursor, StoreCursor):
            draft = cursor.draft(k, min_match=self.min_match, policy=self.policy_name, global_bias=self.static_bias)
            if cursor.last_draft_scope == "global":
                self.static_drafts += 1
        else:
            draft = cursor.draft(k, min_match=self.min_match, policy=self.policy_name)
        tokens = draft.tokens
        if not tokens:
            return draft
        match = draft.match_length
        if len(tokens) < k and self.extend_loops:
            tokens = _extend_loop(context, tokens, match, k)
        # The cursor's match length is the one its draft was conditioned on: cap by it only now.
        k = self.policy.budget(k, match_length=match)
        if len(tokens) > k or tokens is not draft.tokens:
            return DraftTree(tokens[:k], None, None, match)
        return draft

    def __repr__(self) -> str:
        return (
            f"SuffixAutomatonDrafter(shared={self.shared}, scope={self.scope!r}, max_tokens={self.max_tokens}, "
            f"min_match={self.min_match})"
        )


def _extend_loop(context: Sequence[int], tokens: list[int], match: int, k: int) -> list[int]:
    """Extend a draft cut short by the context's own end, where the context repeats with its period."""
    d = len(tokens)
    span = min(match, 64)  # enough evidence of a loop, bounded cost
    if span < 1 or len(context) < span + d or context[-(span + d) : -d] != context[-span:]:
        return tokens
    if context[-d:] != tokens:  # the copy came from the period just before: it must repeat the tail
        return tokens
    return [tokens[j % d] for j in range(k)]
