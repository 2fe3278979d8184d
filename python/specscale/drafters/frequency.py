"""Frequency-scored suffix drafting: specscale's answer to SuffixDecoding.

The context's longest suffix that occurred before is found by a cursor over the suffix automata of a
:class:`~specscale.Store` built with occurrence counts (its family scope shared by a problem's samples
and rounds, the request's own text, and other problems' text in the global scope). What followed that
suffix is drafted best first by frequency: a node's score is the product of the conditional frequencies
along its path (how often, among the occurrences of the text so far, the next token was this one), which
is SuffixDecoding's scoring. Counts come from the automaton's occurrence counts, so the frequencies are
conditioned on the whole matched suffix rather than on a fixed n-gram order.

As in SuffixDecoding, the draft budget grows with the match length (``spec_factor`` tokens per matched
token, capped at ``max_tokens``), and nodes whose score falls below ``min_prob`` are not drafted.
``mode="tree"`` drafts up to ``branches`` continuations per node; ``mode="path"`` the single most
frequent continuation (a chain).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from specscale._core import Cursor, DraftTree, Store, SuffixAutomaton
from specscale.args import check_choice, check_int, check_number
from specscale.drafters.stores import ScopeName, StoreDrafter
from specscale.errors import InvalidArgumentError

__all__ = ["FrequencySuffixDrafter"]


class FrequencySuffixDrafter(StoreDrafter):
    """Draft trees (or chains) scored by continuation frequency after the longest matched suffix.

    Args:
        automaton: a shared bare :class:`~specscale.SuffixAutomaton` built with ``counts=True``, or
            ``None``.
        mode: ``"tree"`` (default) or ``"path"``.
        max_tokens: most draft nodes per step (40, SuffixDecoding's setting in the seed benchmark).
        spec_factor: draft at most ``ceil(spec_factor * match_length)`` nodes (0 disables the cap);
            1.0 and ``min_prob=0.1`` are SuffixDecoding's defaults.
        min_prob: leave out nodes whose path frequency is below this.
        branches: most children per node in tree mode.
        depth: most levels.
        min_match: shortest matched suffix drafted from.
        store: a :class:`~specscale.Store` built with ``counts=True`` to draft from (all scopes) and
            write into (``scope``).
        scope: where the generation is written (``"family"`` or ``"request"``).
        write: ``False`` when another drafter over the same store writes the generation.
    """

    def __init__(
        self,
        automaton: SuffixAutomaton | None = None,
        mode: Literal["tree", "path"] = "tree",
        max_tokens: int = 40,
        spec_factor: float = 1.0,
        min_prob: float = 0.1,
        branches: int = 4,
        depth: int = 24,
        min_match: int = 1,
        store: Store | None = None,
        scope: ScopeName = "family",
        write: bool = True,
    ) -> None:
        if automaton is not None and not isinstance(automaton, SuffixAutomaton):
            raise InvalidArgumentError(
                f"automaton must be a specscale.SuffixAutomaton or None, got {type(automaton).__name__}"
            )
        if automaton is not None and store is not None:
            raise InvalidArgumentError("give either automaton= or store=, not both")
        shared = store if store is not None else automaton
        if shared is not None and not shared.has_counts:
            kind = type(shared).__name__
            raise InvalidArgumentError(f"the {kind} must be built with counts: {kind}(counts=True)")
        super().__init__(shared, scope=scope, write=write, counts=True)
        self.automaton = automaton
        self.mode = check_choice("mode", mode, ("tree", "path"))
        self.max_tokens = check_int("max_tokens", max_tokens, 1)
        self.spec_factor = check_number("spec_factor", spec_factor, 0.0)
        self.min_prob = check_number("min_prob", min_prob, 0.0, 1.0)
        self.branches = check_int("branches", branches, 1)
        self.depth = check_int("depth", depth, 1)
        self.min_match = check_int("min_match", min_match, 1)

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        self.in_step(context)
        cursor = self.cursor
        budget = min(max_tokens, self.max_tokens)
        if budget <= 0 or cursor.match_length < self.min_match:
            return DraftTree.empty()
        k = self.branches if self.mode == "tree" else 1
        if isinstance(cursor, Cursor):
            tree = cursor.draft_tree(k=k, depth=self.depth, budget=budget, min_match=self.min_match)
        else:
            tree = cursor.frequency_tree(k=k, depth=self.depth, budget=budget, min_match=self.min_match)
        if not len(tree):
            return tree
        # Nodes come best first, so any cut is a prefix that holds every kept node's ancestors. The
        # match that counts is the one the tree continues (it may be shorter than the cursor's when the
        # longest matched suffix has no continuation yet).
        keep = len(tree)
        if self.spec_factor > 0:
            keep = min(keep, math.ceil(self.spec_factor * tree.match_length))
        scores = tree.scores
        if self.min_prob > 0:
            keep = min(keep, next((i for i, s in enumerate(scores) if s < self.min_prob), keep))
        if keep < len(tree):
            if keep == 0:
                return DraftTree.empty()
            tree = DraftTree(list(tree.tokens[:keep]), list(tree.parents[:keep]), list(scores[:keep]), tree.match_length)
        return tree

    def __repr__(self) -> str:
        return (
            f"FrequencySuffixDrafter(mode={self.mode!r}, shared={self.shared}, max_tokens={self.max_tokens}, "
            f"spec_factor={self.spec_factor}, min_prob={self.min_prob})"
        )
