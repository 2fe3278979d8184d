"""REST-style retrieval drafting from a static corpus store.

A :class:`~specscale.SuffixAutomaton` built once from a corpus (texts or token ids) and saved; at
generation time the context follows it with a cursor and each step drafts a tree over the
continuations of the longest matching suffix, scored by how often each continuation occurs in the
corpus. The store is read-only during generation: the request's own text is not added to it.

``specscale build-store`` makes such a store from JSONL text with a tokenizer; loading it back takes
about 0.1 s per million tokens (the automaton is rebuilt from its stored sequences).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from specscale._core import Cursor, DraftTree, Store, SuffixAutomaton
from specscale.args import check_int
from specscale.drafters.base import Drafter
from specscale.drafters.stores import ScopeName
from specscale.errors import InvalidArgumentError

__all__ = ["RetrievalDrafter", "load_into_store", "load_store", "save_store"]


def save_store(store: SuffixAutomaton, path: str | PathLike[str]) -> None:
    """Writes ``store`` to ``path`` (the versioned, checksummed format of ``SuffixAutomaton.to_bytes``)."""
    Path(path).write_bytes(store.to_bytes())


def load_store(path: str | PathLike[str]) -> SuffixAutomaton:
    """Reads a store written by :func:`save_store`; raises ``CorruptDataError`` on a bad file."""
    store = SuffixAutomaton.from_bytes(Path(path).read_bytes())
    store.shrink_to_fit()
    return store


def load_into_store(store: Store, corpus: SuffixAutomaton | str | PathLike[str], scope: ScopeName = "global") -> None:
    """Adds every sequence of a corpus (a saved store's path, or an automaton) to ``scope`` of ``store``
    (SAM-Decoding's static store lives in the global scope). O(corpus tokens)."""
    if not isinstance(corpus, SuffixAutomaton):
        corpus = load_store(corpus)
    for seq_id in corpus.sequence_ids():
        store.begin_sequence(scope)
        store.extend(corpus.sequence(seq_id), scope)
    store.close_sequence(scope)


class RetrievalDrafter(Drafter):
    """Draft trees from the continuations, in a static corpus, of the context's longest matching suffix.

    Args:
        store: a :class:`~specscale.SuffixAutomaton` built with ``counts=True`` (frequencies score the
            branches; without counts the draft is the most recent continuation, a chain), or a path to a
            saved one.
        max_tokens: most draft nodes per step (REST's setting in the seed benchmark: 64).
        branches: most children per node.
        depth: most levels.
        min_match: shortest context suffix that is drafted from.
    """

    def __init__(
        self,
        store: SuffixAutomaton | str | PathLike[str] | None = None,
        max_tokens: int = 64,
        branches: int = 4,
        depth: int = 10,
        min_match: int = 2,
    ) -> None:
        if store is None:
            store = SuffixAutomaton(counts=True)
        elif not isinstance(store, SuffixAutomaton):
            store = load_store(store)
        self.store = store
        self.max_tokens = check_int("max_tokens", max_tokens, 1)
        self.branches = check_int("branches", branches, 1)
        self.depth = check_int("depth", depth, 1)
        self.min_match = check_int("min_match", min_match, 1)
        self._cursor: Cursor | None = None
        self._length = 0

    def begin(self, prompt: Sequence[int]) -> None:
        cursor = self.store.cursor()
        cursor.extend(prompt)
        self._cursor, self._length = cursor, len(prompt)

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        if self._cursor is None or len(context) != self._length:
            self.begin(list(context))  # driven without begin()/observe(): follow this context from scratch
        cursor = self._cursor
        assert cursor is not None
        budget = min(max_tokens, self.max_tokens)
        if budget <= 0:
            return DraftTree.empty()
        return cursor.draft_tree(k=self.branches, depth=self.depth, budget=budget, min_match=self.min_match)

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        if self._cursor is None:
            raise InvalidArgumentError("RetrievalDrafter.observe called before begin()")
        self._cursor.extend(new_tokens)
        self._length += len(new_tokens)
