"""Lookahead decoding: Jacobi iteration over a window, and an n-gram pool from its trajectories.

Each step's draft tree has two kinds of branches, verified in the same forward pass by the engine's tree
attention mask:

- the *lookahead branch*: the window's latest row, ``window`` guessed tokens after the context. The
  target's argmax at each of its positions is the next Jacobi iterate, the window's next row;
- *verification branches*: up to ``guess_set`` n-grams from the pool that start with the context's last
  token, each a chain of ``level - 1`` tokens.

The last ``level`` rows form a 2-D window; every diagonal ``(row0[j], row1[j+1], ..., row_{level-1}[j+level-1])``
is a phrase the model produced along its Jacobi trajectory and enters the pool, keyed by its first token.
Where the original feeds all rows of the window through one pass with a custom 2-D mask, this version
feeds the latest row as one tree branch (the rows before it are past iterates): the same n-gram pool, a
simpler mask. The pool is cleared per generation unless ``persist_pool=True`` (then it carries across
generations and problems, as the original does implicitly).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

import torch

from specscale._core import DraftTree
from specscale.drafters.base import Drafter, _check_int

__all__ = ["LookaheadDrafter"]


class LookaheadDrafter(Drafter):
    """Lookahead decoding (Jacobi window + n-gram pool) as a drafter.

    Args:
        level: n-gram size ``N`` (the seed benchmark: 5); verification branches have ``N - 1`` tokens.
        window: Jacobi window width ``W`` (7).
        guess_set: most verification n-grams per step ``G`` (7).
        persist_pool: keep the pool across generations.
    """

    #: The engine passes each verification's logits to :meth:`observe_logits`.
    wants_logits = True

    def __init__(self, level: int = 5, window: int = 7, guess_set: int = 7, persist_pool: bool = False) -> None:
        self.level = _check_int("level", level, 2)
        self.window = _check_int("window", window, 1)
        self.guess_set = _check_int("guess_set", guess_set, 0)
        self.persist_pool = bool(persist_pool)
        #: first token -> the most recent distinct continuations (``level - 1`` tokens), newest last.
        self.pool: dict[int, OrderedDict[tuple[int, ...], None]] = {}
        self.rows: deque[list[int]] = deque(maxlen=self.level)
        self._lookahead_nodes: list[int] = []

    def begin(self, prompt: list[int]) -> None:
        if not self.persist_pool:
            self.pool.clear()
        self.rows.clear()
        # The first row: the prompt's last tokens (the original seeds the window from the prompt too).
        first = list(prompt[-self.window :])
        first += [prompt[-1]] * (self.window - len(first))
        self.rows.append(first)
        self._lookahead_nodes = []

    @property
    def pool_size(self) -> int:
        """Number of n-grams in the pool."""
        return sum(len(v) for v in self.pool.values())

    def propose(self, context: list[int], max_tokens: int) -> DraftTree:
        if not self.rows:
            self.begin(context)
        tokens: list[int] = []
        parents: list[int] = []
        # The lookahead branch first, so the window always advances, then the pool's guesses.
        self._lookahead_nodes = []
        for t in self.rows[-1][: max(0, max_tokens)]:
            parents.append(len(tokens) - 1)
            self._lookahead_nodes.append(len(tokens))
            tokens.append(t)
        guesses: OrderedDict[tuple[int, ...], None] = self.pool.get(context[-1], OrderedDict())
        for gram in list(reversed(guesses))[: self.guess_set]:
            if len(tokens) + len(gram) > max_tokens:
                break
            parent = -1
            for t in gram:
                parents.append(parent)
                parent = len(tokens)
                tokens.append(t)
        return DraftTree(tokens, parents) if tokens else DraftTree.empty()

    def observe_logits(self, input_tokens: list[int], logits: Any) -> None:
        """Reads the next Jacobi row off the lookahead branch and collects the window's diagonals."""
        nodes = self._lookahead_nodes
        if not nodes:
            return
        # Node i's prediction sits in the row of its parent: row 0 for the first, node i-1's row after.
        rows_index = torch.tensor([0] + [n + 1 for n in nodes[:-1]], device=logits.device)
        new_row = logits.index_select(0, rows_index).argmax(dim=-1).tolist()
        new_row += self.rows[-1][len(new_row) :]  # a truncated branch keeps its old tail
        self.rows.append(new_row)
        if len(self.rows) == self.level:
            for j in range(self.window - self.level + 1):
                gram = tuple(self.rows[r][j + r] for r in range(self.level))
                slot = self.pool.setdefault(gram[0], OrderedDict())
                slot.pop(gram[1:], None)
                slot[gram[1:]] = None
                while len(slot) > max(1, self.guess_set):
                    slot.popitem(last=False)
        self._lookahead_nodes = []
