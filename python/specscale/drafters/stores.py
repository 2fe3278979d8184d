"""Drafters over the core's stores: one generation written into a scope and followed by a cursor.

A :class:`~specscale.Store` keeps three scopes, each a suffix automaton and an n-gram trie over the
same sequences: ``request`` (one generation), ``family`` (a problem's Best-of-N samples and thinking
rounds) and ``global`` (across problems, with a capacity). A store drafter writes its generation (prompt
and committed tokens) into one scope, where later generations read it, and drafts from every scope at
once. Several drafters may read one store while one of them writes (``write=False`` for the others), as
the parts of a hybrid do. A bare :class:`~specscale.SuffixAutomaton` or :class:`~specscale.NgramTrie`
also works as the store: one sequence per generation, no scopes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from specscale._core import Cursor, NgramTrie, Store, StoreCursor, SuffixAutomaton
from specscale.args import check_choice
from specscale.drafters.base import Drafter
from specscale.errors import InvalidArgumentError, SpecscaleError

__all__ = ["ScopeName", "StoreDrafter"]

ScopeName = Literal["request", "family", "global"]
_SCOPES: tuple[ScopeName, ...] = ("request", "family", "global")
Structure = Store | SuffixAutomaton | NgramTrie


class StoreDrafter(Drafter):
    """Base of the drafters that read a store: keeps it in step with the generation.

    Args:
        store: a :class:`~specscale.Store`, a bare structure, or ``None`` for a fresh store per
            generation (its request scope).
        scope: where this generation is written in a :class:`~specscale.Store`: ``"family"`` shares it
            with the problem's other samples and rounds, ``"request"`` keeps it to this generation (the
            scope is cleared when the generation ends).
        write: whether this drafter writes the generation (``False`` when another drafter over the same
            store does).
        follow: whether to keep a cursor over the store (chain and frequency drafts need one; trie
            drafts read the context's tail instead).
        store_options: how to build the store of one generation when ``store`` is ``None``
            (``max_order``, ``counts``).
    """

    def __init__(
        self,
        store: Structure | None,
        scope: ScopeName = "family",
        write: bool = True,
        follow: bool = True,
        **store_options: object,
    ) -> None:
        if store is not None and not isinstance(store, (Store, SuffixAutomaton, NgramTrie)):
            raise TypeError(
                f"store must be a specscale Store, SuffixAutomaton or NgramTrie (or None), got {type(store).__name__}"
            )
        self.store = store
        self.shared = store is not None
        self.scope: ScopeName = check_choice("scope", scope, _SCOPES)
        if store is None and self.scope != "request":
            self.scope = "request"  # a store of our own lives one generation: its request scope
        self.write = bool(write)
        self.follow = bool(follow)
        self._store_options = store_options
        self._live: Structure | None = None
        self._cursor: Cursor | StoreCursor | None = None
        self._length = 0

    # --- the store's life --------------------------------------------------------------------------

    def begin(self, prompt: Sequence[int]) -> None:
        live = self.store if self.store is not None else Store(**self._store_options)  # type: ignore[arg-type]
        if self.write:
            if isinstance(live, Store):
                live.begin_sequence(self.scope)
                live.extend(prompt, self.scope)
            else:
                live.begin_sequence()
                live.extend(prompt)
        self._live = live
        self._cursor = None
        if self.follow:
            if isinstance(live, NgramTrie):
                raise InvalidArgumentError(f"{type(self).__name__} needs a Store or a SuffixAutomaton, not an NgramTrie")
            self._cursor = live.cursor()
            self._cursor.extend(prompt)
        self._length = len(prompt)
        self.started()

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        live = self.live
        # Store first, then cursor: the cursor may then match into text this very sequence just wrote.
        if self.write:
            if isinstance(live, Store):
                live.extend(new_tokens, self.scope)
            else:
                live.extend(new_tokens)
        if self._cursor is not None:
            self._cursor.extend(new_tokens)
        self._length += len(new_tokens)
        self.learned(new_tokens, drafted, accepted)

    def end(self) -> None:
        live = self._live
        if self.write and isinstance(live, Store):
            if self.scope == "request":
                live.clear("request")  # the request is done
            else:
                live.close_sequence(self.scope)
        self._cursor = None
        if not self.shared:
            self._live = None

    def in_step(self, context: Sequence[int]) -> None:
        """Called by ``propose``: (re)starts from ``context`` when driven without begin()/observe(), so
        drafts stay real continuations."""
        if self._live is None or len(context) != self._length:
            if self._live is not None:
                self.end()
            self.begin(list(context))

    @property
    def live(self) -> Structure:
        """The structure this generation reads and writes."""
        if self._live is None:
            raise SpecscaleError(f"{type(self).__name__}: observe() or propose() before begin()")
        return self._live

    @property
    def cursor(self) -> Cursor | StoreCursor:
        """The cursor following this generation's context."""
        if self._cursor is None:
            raise SpecscaleError(f"{type(self).__name__}: no cursor (propose() before begin()?)")
        return self._cursor

    # --- what subclasses add -----------------------------------------------------------------------

    def started(self) -> None:
        """A generation began (reset per-generation policies here)."""

    def learned(self, new_tokens: list[int], drafted: int, accepted: int) -> None:
        """The step's outcome, after the store took the new tokens."""
