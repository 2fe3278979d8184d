"""PIA-style tree drafts: the most frequent continuations of the context's tail, from n-gram counts."""

from __future__ import annotations

from specscale._core import DraftTree, NgramTrie
from specscale.drafters.base import AdaptiveLength, Drafter, _check_int
from specscale.drafters.lookup import _policy
from specscale.errors import SpecscaleError

__all__ = ["NgramTrieDrafter"]


class NgramTrieDrafter(Drafter):
    """Multi-branch tree drafts from an :class:`~specscale.NgramTrie`.

    Each step asks the trie for the ``branches`` most frequent continuations of the last
    ``max_order - 1`` context tokens, expanded to ``depth`` levels, at most ``max_tokens`` nodes in all.
    Verification accepts the longest path the target agrees with, so several guesses per position cost
    one forward pass. With a shared ``trie`` the counts of every generation that used it inform the next.

    The adaptive policy bounds the tree's depth by recent acceptance; the node budget stays
    ``max_tokens``.

    Args:
        trie: a shared :class:`~specscale.NgramTrie`, or ``None`` for one per generation.
        max_order: n-gram order of the trie built when ``trie`` is ``None`` (default 4).
        branches: children tried per node (default 3).
        depth: deepest path drafted (default 8).
        max_tokens: most nodes per tree (default 24).
        adaptive: an :class:`AdaptiveLength` over the depth, ``True`` (default policy) or ``False``.
    """

    def __init__(
        self,
        trie: NgramTrie | None = None,
        max_order: int = 4,
        branches: int = 3,
        depth: int = 8,
        max_tokens: int = 24,
        adaptive: AdaptiveLength | bool = True,
    ) -> None:
        if trie is not None and not isinstance(trie, NgramTrie):
            raise TypeError(f"trie must be a specscale.NgramTrie or None, got {type(trie).__name__}")
        self.trie = trie
        self.shared = trie is not None
        self.max_order = _check_int("max_order", max_order, 2)
        self.branches = _check_int("branches", branches, 1)
        self.depth = _check_int("depth", depth, 1)
        self.max_tokens = _check_int("max_tokens", max_tokens, 1)
        self.policy = _policy(adaptive, depth)
        self._trie: NgramTrie | None = None
        self._length = 0
        self._depth = 0

    def begin(self, prompt: list[int]) -> None:
        trie = self.trie if self.trie is not None else NgramTrie(max_order=self.max_order)
        trie.begin_sequence()
        trie.extend(prompt)
        self._trie = trie
        self._length = len(prompt)
        self.policy.reset()

    def propose(self, context: list[int], max_tokens: int) -> DraftTree:
        if self._trie is None or len(context) != self._length:
            self.begin(context)
        depth = self.policy.budget(min(self.depth, max_tokens))
        budget = min(self.max_tokens, max_tokens)
        if depth <= 0 or budget <= 0:
            self._depth = 0
            return DraftTree.empty()
        tail = context[-(self.max_order - 1) :]
        tree = self._live().top_continuations(tail, k=self.branches, depth=depth, budget=budget)
        self._depth = _tree_depth(tree.parents)
        return tree

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        self._live().extend(new_tokens)
        self._length += len(new_tokens)
        # The policy tracks depth: a tree "fully accepted" means its deepest path was taken.
        self.policy.update(self._depth if drafted else 0, accepted)

    def _live(self) -> NgramTrie:
        if self._trie is None:
            raise SpecscaleError(f"{type(self).__name__}: observe() or propose() before begin()")
        return self._trie

    def end(self) -> None:
        if not self.shared:
            self._trie = None

    def __repr__(self) -> str:
        return (
            f"NgramTrieDrafter(shared={self.shared}, branches={self.branches}, depth={self.depth}, "
            f"max_tokens={self.max_tokens})"
        )


def _tree_depth(parents: list[int]) -> int:
    depth: list[int] = []
    for p in parents:
        depth.append(1 if p < 0 else depth[p] + 1)
    return max(depth, default=0)
