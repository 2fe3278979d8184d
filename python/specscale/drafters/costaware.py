"""Cost-aware draft trees: draft what pays on the hardware in use.

Every earlier occurrence of the context's last tokens in the :class:`~specscale.Store` (the
problem's other samples and rounds in the family scope, other problems in the global scope, the
generation's own text) proposes its continuation. They are merged into one tree, grown best first by
the probability that a node is accepted, which an acceptance model learned online estimates from
what backs each edge: the longest match among its occurrences (plus the depth already agreed), their
share of the parent's occurrences (frequency, as SuffixDecoding scores), whether one lies where the
generation is aligned with its sequence (after a divergence, the sample it was copying goes on from
about where it was), and whether one is in the problem's own scope, scaled by a factor learned for
how the generation's previous step went (acceptance runs in streaks). Where the longest match is long
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

import math
import statistics
from collections import deque
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

    With ``live=True`` the prices are corrected by what verification costs in this process:
    :meth:`observe` takes each step's measured time, and the table's prices ``t`` become
    ``offset + slope * t``, fitted to the measured ratios (a step's time over the median of the
    recent plain steps) by least squares pulled towards the table itself (``offset = 0``,
    ``slope = 1``) with the weight of ``live_weight`` steps. A table timed in a quiet process can
    misprice the same passes inside a generation (allocations, the cache's growth, acceptance): on
    this project's 2-core VM a drafting step cost about 0.7 x the table plus 0.8 of a plain step.
    The correction keeps the table's shape, so a few dozen steps fit it. Drafts then depend on
    timing (still lossless).

    One instance serves every generation of a run (the cache fills once per context bucket).
    """

    #: Refit the live correction after this many new drafting steps.
    REFIT_EVERY = 8
    #: Plain steps whose median is the unit of the live ratios.
    PLAIN_WINDOW = 31

    def __init__(
        self, cost_model: StepCost, max_nodes: int, bucket: int = 256, live: bool = False, live_weight: float = 8.0
    ) -> None:
        if not isinstance(cost_model, StepCost):
            raise InvalidArgumentError(
                f"cost_model must have step_seconds(context_len, tokens), got {type(cost_model).__name__}"
            )
        self.cost_model = cost_model
        self.max_nodes = check_int("max_nodes", max_nodes, 0)
        self.bucket = check_int("bucket", bucket, 1)
        self.live = bool(live)
        self.live_weight = check_number("live_weight", live_weight, 0.0)
        if self.live and self.live_weight <= 0:
            raise InvalidArgumentError(f"live_weight must be > 0 with live=True, got {live_weight!r}")
        self._cache: dict[int, list[float]] = {}
        self._plain: deque[float] = deque(maxlen=self.PLAIN_WINDOW)
        self._sums = [0.0] * 5  # drafting steps: count, sum x, sum y, sum x^2, sum x*y
        self._pending = 0
        #: The live correction ``offset + slope * price`` (0 and 1 until fitted).
        self.offset, self.slope = 0.0, 1.0
        #: Bumped at each refit: a drafter re-reads :meth:`costs` when it changes.
        self.version = 0

    def bucket_of(self, context_len: int) -> int:
        """The cache key of a context length."""
        return context_len // self.bucket

    def table(self, context_len: int) -> list[float]:
        """The cost model's relative costs of ``0..max_nodes`` nodes at the middle of ``context_len``'s
        bucket, uncorrected."""
        key = self.bucket_of(context_len)
        table = self._cache.get(key)
        if table is None:
            middle = key * self.bucket + self.bucket // 2
            one = self.cost_model.step_seconds(middle, 1)
            table = [self.cost_model.step_seconds(middle, n + 1) / one for n in range(self.max_nodes + 1)]
            self._cache[key] = table
        return table

    def costs(self, context_len: int) -> list[float]:
        """Relative costs of ``0..max_nodes`` nodes at ``context_len``: the table's, live-corrected."""
        table = self.table(context_len)
        if self.version == 0:
            return table
        return [1.0] + [max(1.0, self.offset + self.slope * t) for t in table[1:]]

    def observe(self, context_len: int, drafted: int, seconds: float) -> None:
        """With ``live``: a verification of ``drafted`` nodes at context ``context_len`` took
        ``seconds`` (see :meth:`~specscale.Drafter.observe_step_time`); without, nothing."""
        if not self.live or not (math.isfinite(seconds) and seconds > 0.0):
            return
        if drafted == 0:
            self._plain.append(seconds)
            return
        if len(self._plain) < 3:
            return
        # A burst of load elsewhere must not swing the fit: ratios are clipped to a plausible range.
        ratio = min(max(seconds / statistics.median(self._plain), 0.5), 8.0)
        price = self.table(context_len)[min(drafted, self.max_nodes)]
        n, sx, sy, sxx, sxy = self._sums
        self._sums = [n + 1, sx + price, sy + ratio, sxx + price * price, sxy + price * ratio]
        self._pending += 1
        if self._pending >= self.REFIT_EVERY:
            self._refit()

    def _refit(self) -> None:
        # Ridge least squares of ratio = offset + slope * price, towards offset 0 and slope 1.
        n, sx, sy, sxx, sxy = self._sums
        w = self.live_weight
        a11, a12, a22 = n + w, sx, sxx + w
        b1, b2 = sy, sxy + w
        det = a11 * a22 - a12 * a12
        if det <= 1e-12:
            return
        self.offset = (b1 * a22 - a12 * b2) / det
        self.slope = (a11 * b2 - a12 * b1) / det
        self._pending = 0
        self.version += 1


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
        self._costs_version = -1
        self._context_len = 0

    def started(self) -> None:
        if self.trees is None or not self.shared:
            self.trees = CostAwareTrees()  # a store of its own per generation: a run of its own too
        cursor = self.trees.cursor()
        if self.costs is None:
            cursor.set_costs(node_cost=self.node_cost)
        self._tree_cursor = cursor
        self._bucket = -1
        self._costs_version = -1

    def begin(self, prompt: Sequence[int]) -> None:
        super().begin(prompt)
        assert self._tree_cursor is not None
        self._tree_cursor.extend(list(prompt[-128:]))  # the tail the cursor measures matches against

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        self.in_step(context)
        cursor = self._tree_cursor
        assert cursor is not None
        self._context_len = len(context)
        if self.costs is not None:
            bucket = self.costs.bucket_of(len(context))
            if bucket != self._bucket or self.costs.version != self._costs_version:
                cursor.set_costs(self.costs.costs(len(context)))
                self._bucket, self._costs_version = bucket, self.costs.version
        live = self.live
        assert isinstance(live, Store)
        return cursor.draft(live, min(max_tokens, self.max_nodes))

    def learned(self, new_tokens: list[int], drafted: int, accepted: int) -> None:
        cursor = self._tree_cursor
        assert cursor is not None
        live = self.live
        assert isinstance(live, Store)
        cursor.observe(live, new_tokens)

    def observe_step_time(self, drafted: int, seconds: float) -> None:
        if self.costs is not None:
            self.costs.observe(self._context_len, drafted, seconds)

    def end(self) -> None:
        super().end()
        self._tree_cursor = None

    def __repr__(self) -> str:
        pricing = f"node_cost={self.node_cost}"
        if self.costs is not None:
            pricing = "cost model, live-corrected" if self.costs.live else "cost model"
        return f"CostAwareDrafter(shared={self.shared}, max_nodes={self.max_nodes}, {pricing})"
