"""PIA (Painless Inference Acceleration, Zhao et al., arXiv 2312.12728) as SpecTTS-Bench runs it.

The reference row of the benchmark (``pia``), written after the behaviour of the reference's
``LookaheadCache``, not its code. It is a different algorithm from this project's n-gram trie
(``trie``, :class:`~specscale.NgramTrieDrafter`), which counts n-grams of every order and expands a
Markov tree from them:

- **Storage.** For every position of the text, the branch of up to ``branch_length + 1`` tokens that
  follows it is inserted into a trie keyed by the token at that position; each trie node counts the
  branches through it, prompt ("input") and generated ("output") branches apart. The prompt (all but its
  last token) is inserted at once; generated tokens join a stream and a position is inserted only once
  ``branch_length + 1`` tokens follow it, so the newest text is not draftable yet. One trie serves a
  problem's samples and rounds (its output stream continues from one generation into the next) and is
  dropped with the problem.
- **Retrieval.** The context's last two tokens are the key: the trie of the second-to-last token,
  descended by the last; if that yields fewer than ``branch_length`` nodes, the trie of the last token
  is used whole. Nodes rank by ``(1 - w) * input + w * output`` with ``w = output_weight`` (1e-4: a
  prompt branch outranks ten thousand generated ones).
- **The tree.** Depth first from the best child down, at most ``branch_length`` levels, until
  ``decoding_length`` nodes (the context's last token counted, so ``decoding_length - 1`` drafted).
  When more than ``decoding_length`` nodes qualify, only those that are among the ``decoding_length / 2``
  most frequent output nodes, or rank high enough by the mixed score to fill the rest, are kept.

Cost: inserting costs O(branch_length) dictionary steps per token; a draft walks every node under the
matched key once (the reference's cost too).
"""

from __future__ import annotations

from collections.abc import Sequence

from specscale._core import DraftTree
from specscale.args import check_int, check_number
from specscale.drafters.base import Drafter

__all__ = ["PiaDrafter", "PiaTrie"]


class _Node:
    __slots__ = ("children", "input", "output")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.input = 0.0
        self.output = 0.0


class PiaTrie:
    """One problem's branch tries (one per leading token) and its output stream.

    Args:
        branch_length: most levels a draft descends (12); stored branches hold one token more.
        output_weight: weight of output counts against input counts in the ranking (1e-4).
    """

    def __init__(self, branch_length: int = 12, output_weight: float = 1e-4) -> None:
        self.branch_length = check_int("branch_length", branch_length, 1)
        self.output_weight = check_number("output_weight", output_weight, 0.0, 1.0)
        self.roots: dict[int, dict[int, _Node]] = {}
        #: Generated tokens waiting until ``branch_length + 1`` tokens follow them.
        self.pending: list[int] = []

    @property
    def stored(self) -> int:
        """Length of the stored branches: one more than a draft descends."""
        return self.branch_length + 1

    def _insert(self, key: int, branch: Sequence[int], output: bool) -> None:
        nodes = self.roots.setdefault(int(key), {})
        for token in branch:
            node = nodes.get(token)
            if node is None:
                node = nodes[token] = _Node()
            if output:
                node.output += 1.0
            else:
                node.input += 1.0
            nodes = node.children

    def put_prompt(self, tokens: Sequence[int]) -> None:
        """Inserts the branch after every position of ``tokens`` (a prompt without its last token)."""
        tokens = [int(t) for t in tokens]
        for i in range(len(tokens) - 1):
            self._insert(tokens[i], tokens[i + 1 : i + 1 + self.stored], output=False)

    def stream(self, tokens: Sequence[int]) -> None:
        """Appends generated tokens to the output stream; positions with a full branch after them enter."""
        self.pending.extend(int(t) for t in tokens)
        ready = len(self.pending) - self.stored
        for i in range(max(0, ready)):
            self._insert(self.pending[i], self.pending[i + 1 : i + 1 + self.stored], output=True)
        if ready > 0:
            del self.pending[:ready]

    def draft(self, context: Sequence[int], decoding_length: int) -> DraftTree:
        """The draft tree after ``context`` (its last two tokens are the key), at most
        ``decoding_length - 1`` nodes."""
        key = [int(t) for t in context[-2:]]
        found: tuple[list[int], list[int]] | None = None
        for i, token in enumerate(key):
            nodes = self.roots.get(token)
            if nodes is None:
                continue
            found = self._tree(nodes, key[i + 1 :], decoding_length)
            if len(found[0]) + 1 >= self.branch_length:
                break
        if not found or not found[0]:
            return DraftTree.empty()
        return DraftTree(found[0], found[1])

    def _tree(self, nodes: dict[int, _Node], follow: list[int], size: int) -> tuple[list[int], list[int]]:
        for token in follow:
            node = nodes.get(token)
            nodes = node.children if node is not None and (node.input > 0 or node.output > 0) else {}
            if node is None:
                break
        if not nodes:
            return [], []
        w = self.output_weight
        scored: list[tuple[int, float, float, float]] = []  # (token, input, output, mixed), depth first
        stack = [iter(nodes.items())]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            token, node = entry
            if node.input > 0 or node.output > 0:
                scored.append((token, node.input, node.output, (1 - w) * node.input + w * node.output))
                if node.children:
                    stack.append(iter(node.children.items()))
        min_output = min_mix = float("inf")
        if len(scored) > size:
            # The size/2 most frequent output nodes qualify, and as many of the best by the mixed
            # score as fill the rest (the threshold is counted over distinct tokens, as the reference's).
            by_output = sorted(scored, key=lambda x: x[2], reverse=True)
            kept = max(size // 2, 1)
            min_output = by_output[kept - 1][2]
            chosen = {x[0] for x in by_output[:kept]}
            if len(chosen) < size:
                by_mix = sorted(scored, key=lambda x: x[3], reverse=True)
                rest = size - len(chosen)
                chosen.update(x[0] for x in by_mix[:rest])
                count = len(chosen)
                for x in by_mix[rest : min(rest + size, len(scored))]:
                    if x[0] in chosen:
                        continue
                    count += 1
                    if count >= size:
                        min_mix = x[3]
                        break
        else:
            min_mix = 0.0
        tokens: list[int] = []
        parents: list[int] = []
        self._ravel(nodes, -1, self.branch_length, size, min_output, min_mix, tokens, parents)
        return tokens, parents

    def _ravel(
        self,
        nodes: dict[int, _Node],
        parent: int,
        levels: int,
        size: int,
        min_output: float,
        min_mix: float,
        tokens: list[int],
        parents: list[int],
    ) -> None:
        # ``size`` counts the context's last token, as the reference's decoding length does.
        if len(tokens) + 1 >= size or levels <= 0:
            return
        w = self.output_weight
        ranked = sorted(nodes.items(), key=lambda kv: (1 - w) * kv[1].input + w * kv[1].output, reverse=True)
        for token, node in ranked:
            if len(tokens) + 1 >= size:
                return
            mixed = (1 - w) * node.input + w * node.output
            if node.output < min_output and mixed < min_mix:
                continue
            tokens.append(token)
            parents.append(parent)
            if node.children:
                self._ravel(
                    node.children, len(tokens) - 1, levels - 1, size, min_output, min_mix, tokens, parents
                )


class PiaDrafter(Drafter):
    """Draft trees from a problem's :class:`PiaTrie` (see the module docstring).

    Args:
        trie: the problem's trie, shared by its generations; a new one per drafter when ``None``.
        decoding_length: nodes per step counting the context's last token (64: 63 drafted).
        branch_length, output_weight: of a new trie (see :class:`PiaTrie`).
    """

    def __init__(
        self,
        trie: PiaTrie | None = None,
        decoding_length: int = 64,
        branch_length: int = 12,
        output_weight: float = 1e-4,
    ) -> None:
        if trie is not None and not isinstance(trie, PiaTrie):
            raise TypeError(f"trie must be a PiaTrie or None, got {type(trie).__name__}")
        self.trie = trie if trie is not None else PiaTrie(branch_length, output_weight)
        self.decoding_length = check_int("decoding_length", decoding_length, 2)
        self._length = -1

    def begin(self, prompt: Sequence[int]) -> None:
        prompt = list(prompt)
        self.trie.put_prompt(prompt[:-1])
        # The prompt's last token is the first generated-side token, as the reference's first step
        # streams it with the first accepted tokens.
        self.trie.stream(prompt[-1:])
        self._length = len(prompt)

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        self.trie.stream(new_tokens)
        self._length += len(new_tokens)

    def end(self) -> None:
        self._length = -1

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        if len(context) != self._length:
            # Driven without begin()/observe(): start over from this context with a trie of its own.
            self.trie = PiaTrie(self.trie.branch_length, self.trie.output_weight)
            self.begin(list(context))
        size = min(self.decoding_length, max_tokens + 1)
        if size < 2:
            return DraftTree.empty()
        return self.trie.draft(context, size)

    def __repr__(self) -> str:
        return f"PiaDrafter(decoding_length={self.decoding_length}, branch_length={self.trie.branch_length})"
