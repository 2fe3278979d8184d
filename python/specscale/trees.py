"""Flattened draft trees as plain lists: checks, shapes and reductions (no torch).

A draft crosses from drafting to verification as ``tokens`` and ``parents`` (node ``i`` continues
``parents[i]``; ``-1`` is the context's last token; parents come before their children). These helpers
serve the generate loop, verification and drafters alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from specscale.errors import InvalidArgumentError

__all__ = [
    "children_lists",
    "common_prefix_length",
    "first_path",
    "is_chain",
    "node_depths",
    "tree_depth",
    "tree_to_chain",
    "validate_tree",
]


def is_chain(parents: Sequence[int]) -> bool:
    """True when every node's parent is the node before it (``[-1, 0, 1, ...]``)."""
    return all(p == i - 1 for i, p in enumerate(parents))


def validate_tree(
    tokens: Sequence[int], parents: Sequence[int], vocab_size: int | None, who: str = "draft"
) -> None:
    """Raise :class:`~specscale.errors.InvalidArgumentError` unless ``tokens``/``parents`` form a
    flattened tree (same length, ``-1 <= parents[i] < i``) of token ids in ``[0, vocab_size)``."""
    if len(tokens) != len(parents):
        raise InvalidArgumentError(f"{who}: {len(tokens)} tokens but {len(parents)} parents")
    for i, p in enumerate(parents):
        if not (-1 <= p < i):
            raise InvalidArgumentError(f"{who}: parents[{i}] = {p}, expected -1 <= parent < {i}")
    for i, t in enumerate(tokens):
        if t < 0 or (vocab_size is not None and t >= vocab_size):
            raise InvalidArgumentError(f"{who}: tokens[{i}] = {t} is outside the vocabulary [0, {vocab_size})")


def tree_to_chain(tokens: Sequence[int], parents: Sequence[int]) -> tuple[list[int], list[int]]:
    """The chain that follows the first child at every level (drafters list their best branch first).

    Returns ``(tokens, parents)`` of that chain. Verifying it instead of the tree loses speed, never
    correctness.
    """
    chain = [tokens[i] for i in first_path(parents)]
    return chain, list(range(-1, len(chain) - 1))


def first_path(parents: Sequence[int]) -> list[int]:
    """Node indices of the root-to-leaf path that takes the first child at every level."""
    path: list[int] = []
    want_parent = -1
    for i, p in enumerate(parents):
        if p == want_parent:
            path.append(i)
            want_parent = i
    return path


def node_depths(parents: Sequence[int]) -> list[int]:
    """Depth of every node, the root's children being at depth 1."""
    depth: list[int] = []
    for p in parents:
        depth.append(1 if p < 0 else depth[p] + 1)
    return depth


def tree_depth(parents: Sequence[int]) -> int:
    """Depth of the deepest node (0 for an empty tree)."""
    return max(node_depths(parents), default=0)


def children_lists(parents: Sequence[int]) -> list[list[int]]:
    """``children[p + 1]`` lists the children of node ``p`` (``p == -1``: the root), in node order."""
    children: list[list[int]] = [[] for _ in range(len(parents) + 1)]
    for i, p in enumerate(parents):
        children[p + 1].append(i)
    return children


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
