"""Lookahead decoding (Fu et al., 2024): Jacobi iteration over a 2-D window, and an n-gram pool.

The window holds ``level - 1`` rows ("levels") of ``window`` guessed tokens; column ``i`` of the window
guesses the tokens at positions ``i, i + 1, ...`` after the context's last token. Each step's draft tree
has two parts, verified in one forward pass by the engine's tree attention mask:

- the *lookahead branch*: the oldest level, minus its column 0 (whose place the context's real last token
  takes), is a chain after the context (the trunk), and column ``i`` of the newer levels hangs under
  trunk node ``i`` (column 0 under the context itself), one node per level. A node at level ``l``, column
  ``i`` thus sits at position ``l + i`` and sees the context, the trunk up to ``i`` and the column above
  it: the attention pattern of the reference implementation's 2-D window. The target's argmax after each
  column's newest node is that column's next Jacobi iterate;
- the *verification branch*: up to ``guess_set`` n-grams from the pool that start with the context's
  last token, each a chain of ``level - 1`` tokens (listed first: they are the likely ones).

After each pass every column, read top to bottom with its new iterate, is a ``level``-gram the model
produced along its Jacobi trajectory (column 0's starts with the real last token): it enters the pool
keyed by its first token, and the levels shift up by one with the new iterates as the newest level. As in
the reference implementation the window starts from tokens drawn from the prompt. Every node is a real
draft, so anything the target agrees with is accepted, lookahead nodes included (the reference verifies
only the pool's n-grams).

The pool is cleared per generation unless ``persist_pool=True`` (then it carries across generations and
problems, as the original's does implicitly).
"""

from __future__ import annotations

from collections.abc import Sequence

import random
from collections import OrderedDict
from typing import Any

from specscale._core import DraftTree
from specscale.args import check_int
from specscale.drafters.base import Drafter
from specscale.trees import first_path

__all__ = ["LookaheadDrafter"]


class LookaheadDrafter(Drafter):
    """Lookahead decoding (2-D Jacobi window + n-gram pool) as a drafter.

    Args:
        level: n-gram size ``N`` (the seed benchmark: 5); the window has ``N - 1`` levels and verification
            branches have ``N - 1`` tokens.
        window: Jacobi window width ``W`` (7).
        guess_set: most verification n-grams per step ``G`` (7).
        persist_pool: keep the pool across generations.
        seed: seeds the draw of the window's first tokens from the prompt (one draw per generation).

    A step drafts ``G * (N - 1) + W * (N - 1) - 1`` nodes at most (55 with the seed benchmark's
    settings); under a smaller budget the window narrows to the columns that fit.
    """

    #: The engine passes each verification's logits to :meth:`observe_logits`.
    wants_logits = True

    def __init__(
        self, level: int = 5, window: int = 7, guess_set: int = 7, persist_pool: bool = False, seed: int = 0
    ) -> None:
        self.level = check_int("level", level, 2)
        self.window = check_int("window", window, 1)
        self.guess_set = check_int("guess_set", guess_set, 0)
        self.persist_pool = bool(persist_pool)
        self.seed = int(seed)
        #: first token -> the most recent distinct continuations (``level - 1`` tokens), newest last.
        self.pool: dict[int, OrderedDict[tuple[int, ...], None]] = {}
        #: ``level - 1`` rows of ``window`` tokens, oldest (the trunk) first.
        self.levels: list[list[int]] = []
        self._newest_nodes: list[int] = []  # draft node of each drafted column's newest-level token
        self._iterates: list[int | None] | None = None
        self._draft_tokens: list[int] = []
        self._draft_parents: list[int] = []
        self._anchor = 0  # the context's last token when the window was drafted (column 0's first token)

    def begin(self, prompt: Sequence[int]) -> None:
        if not self.persist_pool:
            self.pool.clear()
        rng = random.Random(self.seed)
        self.levels = [[prompt[rng.randrange(len(prompt))] for _ in range(self.window)] for _ in range(self.level - 1)]
        self._newest_nodes = []
        self._iterates = None

    @property
    def pool_size(self) -> int:
        """Number of n-grams in the pool."""
        return sum(len(v) for v in self.pool.values())

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        if not self.levels:
            self.begin(context)
        tokens: list[int] = []
        parents: list[int] = []
        guesses: OrderedDict[tuple[int, ...], None] = self.pool.get(context[-1], OrderedDict())
        for gram in list(reversed(guesses))[: self.guess_set]:
            if len(tokens) + len(gram) > max_tokens:
                break
            parent = -1
            for t in gram:
                parents.append(parent)
                parent = len(tokens)
                tokens.append(t)
        # The window: trunk = oldest level's columns 1.., column i of the newer levels under trunk node i
        # (column 0 under the context's last token). Under a budget it narrows to the columns that fit.
        room = max(0, max_tokens - len(tokens))
        columns = min(self.window, (room + 1) // (self.level - 1))
        trunk: list[int] = [-1]  # the draft node standing for column i of the oldest level
        for i in range(1, columns):
            parents.append(trunk[-1])
            trunk.append(len(tokens))
            tokens.append(self.levels[0][i])
        self._newest_nodes = []
        for i in range(columns):
            parent = trunk[i]
            for row in self.levels[1:]:
                parents.append(parent)
                parent = len(tokens)
                tokens.append(row[i])
            self._newest_nodes.append(parent)  # -1 (the context) for column 0 when level == 2
        self._anchor = context[-1]
        self._iterates = None
        self._draft_tokens, self._draft_parents = tokens, parents
        return DraftTree(tokens, parents) if tokens else DraftTree.empty()

    def observe_logits(self, input_tokens: list[int], logits: Any) -> None:
        """Reads the next Jacobi iterate of each drafted column (the row after its newest node).

        A target that verifies chains only scores the draft's first chain, not the tree: then only the
        columns whose newest node lies on that chain (or is the context) get a new iterate; the others
        keep their tokens."""
        if not self._newest_nodes:
            return
        import torch  # logits come only from a model target, so torch is there whenever this runs

        if len(input_tokens) - 1 == len(self._draft_tokens):
            row_of = {n: n + 1 for n in range(len(self._draft_tokens))}
        else:
            path = first_path(self._draft_parents)
            if [self._draft_tokens[i] for i in path][: len(input_tokens) - 1] != list(input_tokens[1:]):
                return  # scored something else than our draft: nothing to read
            row_of = {node: j + 1 for j, node in enumerate(path[: len(input_tokens) - 1])}
        row_of[-1] = 0
        columns = [c for c, n in enumerate(self._newest_nodes) if n in row_of]
        if not columns:
            return
        rows = torch.tensor([row_of[self._newest_nodes[c]] for c in columns], device=logits.device)
        found = logits.index_select(0, rows).argmax(dim=-1).tolist()
        iterates: list[int | None] = [None] * len(self._newest_nodes)
        for c, token in zip(columns, found):
            iterates[c] = int(token)
        self._iterates = iterates

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        iterates, self._iterates = self._iterates, None
        self._newest_nodes = []
        if not iterates:
            return
        newest = list(self.levels[-1])  # undrafted (or unscored) columns keep their tokens
        for column, new in enumerate(iterates):
            if new is None:  # not scored this step (a chain-only target)
                continue
            newest[column] = new
            first = self._anchor if column == 0 else self.levels[0][column]
            gram = (first,) + tuple(row[column] for row in self.levels[1:]) + (new,)
            slot = self.pool.setdefault(gram[0], OrderedDict())
            slot.pop(gram[1:], None)
            slot[gram[1:]] = None
            while len(slot) > max(1, self.guess_set):
                slot.popitem(last=False)
        self.levels = self.levels[1:] + [newest]
