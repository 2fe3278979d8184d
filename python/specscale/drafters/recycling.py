"""Token Recycling: drafts from the target's own discarded predictions.

Every verification pass scores the context's last token and every draft node; for each of those input
tokens the target's top-``k`` next tokens are written into an adjacency table (one row per token id).
A draft is a static tree template filled from the table: the root's children are the top-ranked
successors of the context's last token, their children the successors of those, and so on. Nothing but
the table is learned, so drafting costs a few table lookups.

The original implementation kept the table across problems without saying so; here it is reset for
every generation unless ``persist=True`` (then what one problem taught carries to the next, which is the
point for Best-of-N samples of the same problem).

Two tree shapes: the reference's hand-tuned 80-node tree (:func:`reference_tree_template`, 8/21/25/15/8/3
nodes at depths 1 to 6, as SpecTTS-Bench runs Token Recycling) and this project's computed one
(:func:`static_tree_template`, any size).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np

from specscale._core import DraftTree
from specscale.args import check_choice, check_int
from specscale.drafters.base import Drafter
from specscale.errors import InvalidArgumentError

__all__ = ["TokenRecyclingDrafter", "reference_tree_template", "static_tree_template"]

#: The reference's hand-tuned tree as the number of children of each node, by path of ranks from the
#: root (every node's children are its parent token's top successors, ranks 0..n-1); nodes not listed
#: are leaves.
_REFERENCE_CHILDREN: dict[tuple[int, ...], int] = {
    (): 8,
    (0,): 8, (1,): 4, (2,): 3, (3,): 2, (4,): 1, (5,): 1, (6,): 1, (7,): 1,
    (0, 0): 8, (0, 1): 3, (0, 2): 2, (0, 3): 1, (0, 4): 1, (0, 5): 1, (0, 6): 1, (0, 7): 1,
    (1, 0): 2, (1, 1): 1, (2, 0): 1, (3, 0): 1, (4, 0): 1, (5, 0): 1,
    (0, 0, 0): 5, (0, 0, 1): 2, (0, 0, 2): 1, (0, 0, 3): 1, (0, 0, 4): 1, (0, 1, 0): 1, (0, 2, 0): 1,
    (1, 0, 0): 1, (2, 0, 0): 1, (3, 0, 0): 1,
    (0, 0, 0, 0): 3, (0, 0, 0, 1): 1, (0, 0, 0, 2): 1, (0, 0, 1, 0): 1, (0, 1, 0, 0): 1, (1, 0, 0, 0): 1,
    (0, 0, 0, 0, 0): 2, (0, 0, 0, 1, 0): 1,
}  # fmt: skip


def reference_tree_template() -> list[tuple[int, int]]:
    """The reference's 80-node tree (SpecTTS-Bench's Token Recycling, its version "2.2.2") as
    ``(parent, rank)`` pairs, level by level and, within a level, by path of ranks: 8, 21, 25, 15, 8 and 3
    nodes at depths 1 to 6."""
    template: list[tuple[int, int]] = []
    level: list[tuple[tuple[int, ...], int]] = [((), -1)]  # (path, node index)
    while level:
        below = []
        for path, index in level:
            for rank in range(_REFERENCE_CHILDREN.get(path, 0)):
                template.append((index, rank))
                below.append((path + (rank,), len(template) - 1))
        level = below
    return template


def static_tree_template(size: int = 80, top_k: int = 8, max_depth: int = 6, decay: float = 0.55) -> list[tuple[int, int]]:
    """A static draft tree as ``(parent, rank)`` pairs, parents first: the ``size`` most promising nodes
    under a prior in which the rank-``r`` successor is right with weight ``decay ** r`` (rank 0 = the
    target's argmax) and depth multiplies weights. Rank 0 chains go deep; lower ranks stay shallow."""
    check_int("size", size, 0)
    template: list[tuple[int, int]] = []
    depth: list[int] = []
    heap: list[tuple[float, int, int, int]] = [(-(decay**r), r, -1, r) for r in range(top_k)]  # (-score, tie, parent, rank)
    tie = top_k
    while heap and len(template) < size:
        neg, _, parent, rank = heapq.heappop(heap)
        template.append((parent, rank))
        d = 1 if parent < 0 else depth[parent] + 1
        depth.append(d)
        if d < max_depth:
            for r in range(top_k):
                heapq.heappush(heap, (neg * 0.8 * decay**r, tie, len(template) - 1, r))
                tie += 1
    return template


class TokenRecyclingDrafter(Drafter):
    """Tree drafts from an adjacency table of the target's top-``k`` predictions per token id.

    Args:
        vocab_size: rows of the table; grown on demand when ``None``.
        top_k: successors kept per token (the seed benchmark's setting: 8).
        tree_size: nodes of the computed template (80 in the seed benchmark).
        persist: keep the table across generations (default: a fresh table per generation).
        template: ``"prior"`` (:func:`static_tree_template` of ``tree_size`` nodes) or ``"reference"``
            (:func:`reference_tree_template`, 80 nodes; ``tree_size`` is then ignored).
    """

    #: The engine passes each verification's logits to :meth:`observe_logits`.
    wants_logits = True

    def __init__(
        self,
        vocab_size: int | None = None,
        top_k: int = 8,
        tree_size: int = 80,
        persist: bool = False,
        template: str = "prior",
    ) -> None:
        self.top_k = check_int("top_k", top_k, 1)
        check_choice("template", template, ("prior", "reference"))
        if template == "reference":
            self.template = reference_tree_template()
            if self.top_k < 8:
                raise InvalidArgumentError(f"the reference tree reads 8 successors per token; top_k={top_k} is too few")
        else:
            self.template = static_tree_template(check_int("tree_size", tree_size, 1), self.top_k)
        self.persist = bool(persist)
        #: One row of ``top_k`` successor ids per token id (-1: not seen yet). A numpy array: drafting reads
        #: a few dozen rows one by one, and a numpy row costs a fraction of a tensor row.
        self.table = np.full((vocab_size or 0, self.top_k), -1, dtype=np.int64)
        self.updates = 0

    def begin(self, prompt: Sequence[int]) -> None:
        if not self.persist:
            self.table.fill(-1)
            self.updates = 0

    def _ensure_rows(self, n: int) -> None:
        if n > self.table.shape[0]:
            grown = np.full((max(n, 2 * self.table.shape[0]), self.top_k), -1, dtype=np.int64)
            grown[: self.table.shape[0]] = self.table
            self.table = grown

    def observe_logits(self, input_tokens: list[int], logits: Any) -> None:
        """Row ``i`` of ``logits`` scored what follows ``input_tokens[i]``: store its top-k."""
        import torch  # logits come only from a model target, so torch is there whenever this runs

        top = torch.topk(logits.float(), self.top_k, dim=-1).indices.to("cpu", torch.int64)
        self._ensure_rows(max(max(input_tokens) + 1, logits.shape[-1]))
        self.table[np.asarray(input_tokens, dtype=np.int64)] = top.numpy()
        self.updates += 1

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        last = context[-1]
        if max_tokens <= 0 or last >= self.table.shape[0] or int(self.table[last, 0]) < 0:
            return DraftTree.empty()
        rows: dict[int, list[int]] = {}  # the rows this draft reads, each converted once
        tokens: list[int] = []
        parents: list[int] = []
        index: list[int] = []  # template node -> draft node (-2 = pruned)
        for parent, rank in self.template:
            if len(tokens) >= max_tokens:
                break
            if parent >= 0 and index[parent] < 0:
                index.append(-2)
                continue
            source = last if parent < 0 else tokens[index[parent]]
            if source >= self.table.shape[0]:
                token = -1
            else:
                row = rows.get(source)
                if row is None:
                    row = rows[source] = self.table[source].tolist()
                token = row[rank]
            if token < 0:
                index.append(-2)
                continue
            index.append(len(tokens))
            tokens.append(token)
            parents.append(-1 if parent < 0 else index[parent])
        return DraftTree(tokens, parents) if tokens else DraftTree.empty()
