"""Frequency-scored suffix drafting: specscale's answer to SuffixDecoding.

The context's longest suffix that occurred before is found by a cursor over a suffix automaton built with
occurrence counts (shared by a problem's samples and rounds, plus the request's own text). What followed
that suffix is drafted best first by frequency: a node's score is the product of the conditional
frequencies along its path (how often, among the occurrences of the text so far, the next token was
this one), which is SuffixDecoding's scoring. Counts come from the automaton's occurrence counts, so the
frequencies are conditioned on the whole matched suffix rather than on a fixed n-gram order.

As in SuffixDecoding, the draft budget grows with the match length (``spec_factor`` tokens per matched
token, capped at ``max_tokens``), and nodes whose score falls below ``min_prob`` are not drafted.
``mode="tree"`` drafts up to ``branches`` continuations per node; ``mode="path"`` the single most
frequent continuation (a chain).
"""

from __future__ import annotations

import math
from typing import Literal

from specscale._core import Cursor, DraftTree, SuffixAutomaton
from specscale.drafters.base import Drafter, _check_int, _check_number
from specscale.errors import InvalidArgumentError, SpecscaleError

__all__ = ["FrequencySuffixDrafter"]


class FrequencySuffixDrafter(Drafter):
    """Draft trees (or chains) scored by continuation frequency after the longest matched suffix.

    Args:
        automaton: a shared :class:`~specscale.SuffixAutomaton` built with ``counts=True`` (a problem's
            samples and rounds share it), or ``None`` for a fresh one per generation.
        mode: ``"tree"`` (default) or ``"path"``.
        max_tokens: most draft nodes per step (40, SuffixDecoding's setting in the seed benchmark).
        spec_factor: draft at most ``ceil(spec_factor * match_length)`` nodes (0 disables the cap);
            1.0 and ``min_prob=0.1`` are SuffixDecoding's defaults.
        min_prob: leave out nodes whose path frequency is below this.
        branches: most children per node in tree mode.
        depth: most levels.
        min_match: shortest matched suffix drafted from.
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
    ) -> None:
        if automaton is not None:
            if not isinstance(automaton, SuffixAutomaton):
                raise InvalidArgumentError(
                    f"automaton must be a specscale.SuffixAutomaton or None, got {type(automaton).__name__}"
                )
            if not automaton.has_counts:
                raise InvalidArgumentError("automaton must be built with counts: SuffixAutomaton(counts=True)")
        if mode not in ("tree", "path"):
            raise InvalidArgumentError(f"mode must be 'tree' or 'path', got {mode!r}")
        self.automaton = automaton
        self.shared = automaton is not None
        self.mode = mode
        self.max_tokens = _check_int("max_tokens", max_tokens, 1)
        self.spec_factor = _check_number("spec_factor", spec_factor, 0.0)
        self.min_prob = _check_number("min_prob", min_prob, 0.0, 1.0)
        self.branches = _check_int("branches", branches, 1)
        self.depth = _check_int("depth", depth, 1)
        self.min_match = _check_int("min_match", min_match, 1)
        self._sam: SuffixAutomaton | None = None
        self._cursor: Cursor | None = None
        self._length = 0

    def begin(self, prompt: list[int]) -> None:
        sam = self.automaton if self.automaton is not None else SuffixAutomaton(counts=True)
        sam.begin_sequence()
        sam.extend(prompt)
        cursor = sam.cursor()
        cursor.extend(prompt)
        self._sam, self._cursor, self._length = sam, cursor, len(prompt)

    def propose(self, context: list[int], max_tokens: int) -> DraftTree:
        if self._cursor is None or len(context) != self._length:
            self.begin(context)  # driven without begin()/observe(): follow this context from scratch
        cursor = self._cursor
        assert cursor is not None
        budget = min(max_tokens, self.max_tokens)
        if budget <= 0 or cursor.match_length < self.min_match:
            return DraftTree.empty()
        k = self.branches if self.mode == "tree" else 1
        tree = cursor.draft_tree(k=k, depth=self.depth, budget=budget, min_match=self.min_match)
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

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        if self._sam is None or self._cursor is None:
            raise SpecscaleError(f"{type(self).__name__}: observe() before begin()")
        # Store first, then cursor: the cursor may then match into text this very sequence just wrote.
        self._sam.extend(new_tokens)
        self._cursor.extend(new_tokens)
        self._length += len(new_tokens)

    def end(self) -> None:
        self._cursor = None
        if not self.shared:
            self._sam = None

    def __repr__(self) -> str:
        return (
            f"FrequencySuffixDrafter(mode={self.mode!r}, shared={self.shared}, max_tokens={self.max_tokens}, "
            f"spec_factor={self.spec_factor}, min_prob={self.min_prob})"
        )
