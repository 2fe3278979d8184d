"""PIA-style tree drafts: the most frequent continuations of the context's tail, from n-gram counts."""

from __future__ import annotations

from collections.abc import Sequence

from specscale._core import DraftTree, NgramTrie, Store
from specscale.args import check_int
from specscale.drafters.base import AdaptiveLength
from specscale.drafters.lookup import _policy
from specscale.drafters.stores import ScopeName, StoreDrafter
from specscale.errors import InvalidArgumentError
from specscale.trees import tree_depth

__all__ = ["NgramTrieDrafter"]


class NgramTrieDrafter(StoreDrafter):
    """Multi-branch tree drafts from the n-gram tries of a :class:`~specscale.Store` (or a bare trie).

    Each step asks for the ``branches`` most frequent continuations of the last ``max_order - 1``
    context tokens, counts summed over the store's scopes, expanded to ``depth`` levels, at most
    ``max_tokens`` nodes in all. Verification accepts the longest path the target agrees with, so several
    guesses per position cost one forward pass. With a shared store the counts of every generation that
    wrote into it inform the next.

    The adaptive policy bounds the tree's depth by recent acceptance; the node budget stays
    ``max_tokens``.

    Args:
        trie: a shared bare :class:`~specscale.NgramTrie` (no scopes), or ``None``.
        max_order: n-gram order of the store built when neither ``trie`` nor ``store`` is given
            (default 4; a given store or trie brings its own).
        branches: children tried per node (default 3).
        depth: deepest path drafted (default 8).
        max_tokens: most nodes per tree (default 24).
        adaptive: an :class:`AdaptiveLength` over the depth, ``True`` (default policy) or ``False``.
        store: a :class:`~specscale.Store` to draft from (all scopes) and write into (``scope``).
        scope: where the generation is written (``"family"`` or ``"request"``).
        write: ``False`` when another drafter over the same store writes the generation.
    """

    def __init__(
        self,
        trie: NgramTrie | None = None,
        max_order: int = 4,
        branches: int = 3,
        depth: int = 8,
        max_tokens: int = 24,
        adaptive: AdaptiveLength | bool = True,
        store: Store | None = None,
        scope: ScopeName = "family",
        write: bool = True,
    ) -> None:
        if trie is not None and not isinstance(trie, NgramTrie):
            raise TypeError(f"trie must be a specscale.NgramTrie or None, got {type(trie).__name__}")
        if trie is not None and store is not None:
            raise InvalidArgumentError("give either trie= or store=, not both")
        check_int("max_order", max_order, 2)
        shared = store if store is not None else trie
        #: The trie's order: the last ``max_order - 1`` context tokens key each draft.
        self.max_order = shared.max_order if shared is not None else max_order
        super().__init__(
            store if store is not None else trie, scope=scope, write=write, follow=False, max_order=self.max_order
        )
        self.trie = trie
        self.branches = check_int("branches", branches, 1)
        self.depth = check_int("depth", depth, 1)
        self.max_tokens = check_int("max_tokens", max_tokens, 1)
        self.policy = _policy(adaptive, depth)
        self._depth = 0

    def started(self) -> None:
        self.policy.reset()

    def learned(self, new_tokens: list[int], drafted: int, accepted: int) -> None:
        # The policy tracks depth: a tree "fully accepted" means its deepest path was taken.
        self.policy.update(self._depth if drafted else 0, accepted)

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        self.in_step(context)
        depth = self.policy.budget(min(self.depth, max_tokens))
        budget = min(self.max_tokens, max_tokens)
        if depth <= 0 or budget <= 0:
            self._depth = 0
            return DraftTree.empty()
        tail = context[-(self.max_order - 1) :]
        live = self.live
        assert isinstance(live, (Store, NgramTrie))
        tree = live.top_continuations(tail, k=self.branches, depth=depth, budget=budget)
        self._depth = tree_depth(tree.parents)
        return tree

    def __repr__(self) -> str:
        return (
            f"NgramTrieDrafter(shared={self.shared}, scope={self.scope!r}, branches={self.branches}, "
            f"depth={self.depth}, max_tokens={self.max_tokens})"
        )
