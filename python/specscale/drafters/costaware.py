"""Cost-aware draft trees: draft what pays on the hardware in use.

Every earlier occurrence of the context's last tokens in the :class:`~specscale.Store` (the
problem's other samples and rounds in the family scope, other problems in the global scope, the
generation's own text) proposes its continuation. They are merged into one tree, grown best first by
the probability that a node is accepted, which an acceptance model learned online estimates from
what backs each edge: the longest match among its occurrences (plus the depth already agreed), their
share of the parent's occurrences (frequency, as SuffixDecoding scores), whether one lies where the
generation is aligned with its sequence (after a divergence, the sample it was copying goes on from
about where it was), and whether one is in the problem's own scope. Where the longest match is long
the tree is a deep chain; where it is short, a bushy tree of the n-gram's frequent continuations.

The tree's size is chosen each step under the cost model in use: of the best-first prefixes, the one
that maximizes ``expected committed tokens - rate * cost(n nodes)``, with ``cost`` the price of
verifying ``n`` nodes relative to a plain step and ``rate`` the run's committed tokens per unit cost
so far. A GPU at batch 1 verifies 64 tokens for the price of one, so trees grow to the node cap; a
CPU pays for every token, so drafts shrink to the few nodes that are likely enough.

The index, the acceptance statistics and the rate live in a :class:`~specscale.CostAwareTrees` shared
by a run's generations (the registry's method ``costaware`` owns one per run); each generation keeps
a :class:`~specscale.TreeCursor`. Both are Rust; a step costs a few microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from specscale._core import CostAwareTrees, DraftTree, Store, TreeCursor
from specscale.args import check_int, check_number
from specscale.drafters.stores import ScopeName, StoreDrafter
from specscale.errors import InvalidArgumentError

__all__ = ["CostAwareDrafter", "RelativeCosts", "StepCost"]


@runtime_checkable
class StepCost(Protocol):
    """What the drafter needs of a cost model (:class:`~specscale.bench.costmodel.StepCostModel`)."""

    def step_seconds(self, context_len: float, tokens: float) -> float: ...


class RelativeCosts:
    """The price of verifying ``n`` draft nodes relative to a plain step, ``c(L, n + 1) / c(L, 1)``
    for ``n = 0..max_nodes``, from a cost model, cached per ``bucket`` tokens of context ``L``.

    One instance serves every generation of a run (the cache fills once per context bucket).
    """

    def __init__(self, cost_model: StepCost, max_nodes: int, bucket: int = 256) -> None:
        if not isinstance(cost_model, StepCost):
            raise InvalidArgumentError(
                f"cost_model must have step_seconds(context_len, tokens), got {type(cost_model).__name__}"
            )
        self.cost_model = cost_model
        self.max_nodes = check_int("max_nodes", max_nodes, 0)
        self.bucket = check_int("bucket", bucket, 1)
        self._cache: dict[int, list[float]] = {}

    def bucket_of(self, context_len: int) -> int:
        """The cache key of a context length."""
        return context_len // self.bucket

    def costs(self, context_len: int) -> list[float]:
        """Relative costs of ``0..max_nodes`` nodes at the middle of ``context_len``'s bucket."""
        key = self.bucket_of(context_len)
        table = self._cache.get(key)
        if table is None:
            middle = key * self.bucket + self.bucket // 2
            one = self.cost_model.step_seconds(middle, 1)
            table = [self.cost_model.step_seconds(middle, n + 1) / one for n in range(self.max_nodes + 1)]
            self._cache[key] = table
        return table


class CostAwareDrafter(StoreDrafter):
    """Trees from every occurrence of the context's suffix, sized by the verification cost.

    Args:
        store: the :class:`~specscale.Store` to draft from (all scopes) and write into (``scope``);
            ``None`` for a fresh store per generation.
        trees: the run's :class:`~specscale.CostAwareTrees` over ``store`` (index, acceptance
            statistics, rate), shared by the run's generations; ``None`` for a new one. It must always
            be used with the same store.
        costs: the verification costs: a :class:`RelativeCosts` over the cost model in use, or
            ``None`` for a linear cost of ``node_cost`` steps per node.
        node_cost: see ``costs``; 0 makes nodes free (the tree then grows to ``max_nodes``).
        max_nodes: most nodes per draft.
        scope: where the generation is written (``"family"`` or ``"request"``).
        write: ``False`` when another drafter over the same store writes the generation.
    """

    def __init__(
        self,
        store: Store | None = None,
        trees: CostAwareTrees | None = None,
        costs: RelativeCosts | None = None,
        node_cost: float = 0.01,
        max_nodes: int = 64,
        scope: ScopeName = "family",
        write: bool = True,
    ) -> None:
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must be a specscale Store (or None), got {type(store).__name__}")
        if trees is not None and not isinstance(trees, CostAwareTrees):
            raise TypeError(f"trees must be a specscale CostAwareTrees (or None), got {type(trees).__name__}")
        if costs is not None and not isinstance(costs, RelativeCosts):
            raise TypeError(f"costs must be a RelativeCosts (or None), got {type(costs).__name__}")
        if trees is not None and store is None:
            raise InvalidArgumentError("trees= belongs to one store: pass store= with it")
        super().__init__(store, scope=scope, write=write, follow=False)
        self.trees = trees if trees is not None else (CostAwareTrees() if store is not None else None)
        self.costs = costs
        self.node_cost = check_number("node_cost", node_cost, 0.0)
        self.max_nodes = check_int("max_nodes", max_nodes, 0)
        self._tree_cursor: TreeCursor | None = None
        self._bucket = -1

    def started(self) -> None:
        if self.trees is None or not self.shared:
            self.trees = CostAwareTrees()  # a store of its own per generation: a run of its own too
        cursor = self.trees.cursor()
        if self.costs is None:
            cursor.set_costs(node_cost=self.node_cost)
        self._tree_cursor = cursor
        self._bucket = -1

    def begin(self, prompt: Sequence[int]) -> None:
        super().begin(prompt)
        assert self._tree_cursor is not None
        self._tree_cursor.extend(list(prompt[-128:]))  # the tail the cursor measures matches against

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        self.in_step(context)
        cursor = self._tree_cursor
        assert cursor is not None
        if self.costs is not None:
            bucket = self.costs.bucket_of(len(context))
            if bucket != self._bucket:
                cursor.set_costs(self.costs.costs(len(context)))
                self._bucket = bucket
        live = self.live
        assert isinstance(live, Store)
        return cursor.draft(live, min(max_tokens, self.max_nodes))

    def learned(self, new_tokens: list[int], drafted: int, accepted: int) -> None:
        cursor = self._tree_cursor
        assert cursor is not None
        live = self.live
        assert isinstance(live, Store)
        cursor.observe(live, new_tokens)

    def end(self) -> None:
        super().end()
        self._tree_cursor = None

    def __repr__(self) -> str:
        pricing = "cost model" if self.costs is not None else f"node_cost={self.node_cost}"
        return f"CostAwareDrafter(shared={self.shared}, max_nodes={self.max_nodes}, {pricing})"


def describe_costs(costs: RelativeCosts | None, node_cost: float, context_len: int = 1024) -> str:
    """One line saying how nodes are priced (for reports)."""
    if costs is None:
        return f"linear: each node costs {node_cost:g} of a step"
    table = costs.costs(context_len)
    points = ", ".join(f"{n} nodes {table[n]:.2f}" for n in (1, 4, 16, 64) if n < len(table))
    return f"from {type(costs.cost_model).__name__} at L={context_len}: {points} (x a plain step)"

