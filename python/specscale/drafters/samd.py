"""SAM-Decoding as SpecTTS-Bench runs it: one continuous token stream per problem, drafts copied from
the *earliest* occurrence of the longest matching suffix.

This is the reference row of the benchmark (``sam``), written after the behaviour of the reference's
dynamic suffix automaton, not its code:

- every generation of a problem (its Best-of-N samples, its thinking rounds) appends its prompt and what
  it writes to one stream; matches may cross from one generation into the next, and nothing is kept
  across problems;
- the match is the longest suffix of the context that also ends earlier in the stream, and the draft
  copies what followed the *first* place it ended (each automaton state remembers its first end);
- ``mode="match"`` (SAM-Decoding alone): ``min(n_predicts - 1, floor(alpha * match))`` tokens, 39 at
  most with the reference's ``n_predicts=40, alpha=4``;
- ``mode="full"`` (SAM-Decoding inside the SAM[EAGLE-3] hybrid): always up to ``n_predicts - 1`` tokens;
  where the first occurrence is followed by fewer than ``n_predicts`` tokens the match is shortened
  (suffix links) to one whose first occurrence is followed by enough.

The project's own suffix-automaton drafter (``sam+``, :class:`~specscale.SuffixAutomatonDrafter`) keeps
generations apart, copies the most recent occurrence and adapts its length; it lives in Rust. This
reference is Python, as the reference's is: one state per token, amortized O(1) dictionary operations
per token appended, O(draft length) per draft.
"""

from __future__ import annotations

from collections.abc import Sequence

from specscale._core import DraftTree
from specscale.args import check_choice, check_int, check_number
from specscale.drafters.base import Drafter

__all__ = ["EarliestSuffixStream", "SamDecodingDrafter"]


class EarliestSuffixStream:
    """A suffix automaton over one growing token stream, each state keeping where its strings first end,
    and a matcher following the longest suffix of the stream that also ends earlier in it.

    ``first_end[s]`` is the number of stream tokens up to and including the end of the first occurrence
    of state ``s``'s strings: the tokens after that occurrence start at ``tokens[first_end[s]]``.
    """

    def __init__(self) -> None:
        self.next: list[dict[int, int]] = [{}]
        self.link: list[int] = [-1]
        self.length: list[int] = [0]
        self.first_end: list[int] = [0]
        self.tokens: list[int] = []
        self._last = 0
        #: The longest suffix of the stream that also ends before the stream's last token: its state and length.
        self.match_state = 0
        self.match_length = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def transition(self, state: int, length: int, token: int) -> tuple[int, int]:
        """The longest suffix of (the match ``(state, length)`` then ``token``) found in the stream."""
        while state != 0 and token not in self.next[state]:
            state = self.link[state]
            length = self.length[state]
        if token in self.next[state]:
            return self.next[state][token], length + 1
        return 0, 0

    def lookup(self, token: int) -> tuple[int, int]:
        """The state and length of the longest suffix of (the stream then ``token``) that occurs in the
        stream: the match a draft after ``token`` continues."""
        return self.transition(self.match_state, self.match_length, token)

    def extend(self, tokens: Sequence[int]) -> None:
        """Appends ``tokens`` to the stream."""
        for token in tokens:
            self.push(int(token))

    def push(self, token: int) -> None:
        """Appends one token: the matcher moves first (against the stream before this token), so its match
        always ends before the stream's end."""
        self.match_state, self.match_length = self.transition(self.match_state, self.match_length, token)
        self.tokens.append(token)
        end = len(self.tokens)
        cur = self._new_state(end, end, {})
        p = self._last
        while p != -1 and token not in self.next[p]:
            self.next[p][token] = cur
            p = self.link[p]
        if p == -1:
            self.link[cur] = 0
        else:
            q = self.next[p][token]
            if self.length[p] + 1 == self.length[q]:
                self.link[cur] = q
            else:
                # The clone takes q's shorter strings; their first occurrence is q's.
                clone = self._new_state(self.length[p] + 1, self.first_end[q], dict(self.next[q]))
                self.link[clone] = self.link[q]
                while p != -1 and self.next[p].get(token) == q:
                    self.next[p][token] = clone
                    p = self.link[p]
                self.link[q] = self.link[cur] = clone
                if self.match_state == q and self.match_length <= self.length[clone]:
                    self.match_state = clone  # the matched string moved into the clone
        self._last = cur

    def _new_state(self, length: int, first_end: int, transitions: dict[int, int]) -> int:
        self.next.append(transitions)
        self.link.append(-1)
        self.length.append(length)
        self.first_end.append(first_end)
        return len(self.next) - 1

    def after_first(self, state: int, count: int) -> list[int]:
        """Up to ``count`` tokens that followed the first occurrence of ``state``'s strings."""
        start = self.first_end[state]
        return self.tokens[start : start + max(0, count)]

    def with_room(self, state: int, room: int) -> int:
        """``state`` or the nearest state up its suffix links (shorter matches) whose first occurrence is
        followed by at least ``room`` tokens, stopping below the root (the reference's ``to_anc``)."""
        if state == 0:
            return state
        while self.link[state] != 0 and len(self.tokens) - self.first_end[state] < room:
            state = self.link[state]
        return state


class SamDecodingDrafter(Drafter):
    """Chain drafts from the earliest occurrence of the longest matching suffix in a problem's stream.

    The stream holds the context but its last token (the token the draft continues, which the reference
    calls the start token); ``begin`` appends the prompt, ``observe`` the committed tokens, ``end`` the
    last one, so the next generation of the problem continues the same stream.

    Args:
        stream: the problem's :class:`EarliestSuffixStream`, shared by its generations; a new one per
            drafter when ``None``.
        n_predicts: the reference's draft width counting the start token (40): drafts hold at most
            ``n_predicts - 1`` tokens.
        alpha: with ``mode="match"``, tokens drafted per matched token (4).
        mode: ``"match"`` (``min(n_predicts - 1, alpha * match)`` tokens) or ``"full"`` (always
            ``n_predicts - 1`` where the stream has them; see the module docstring).

    Each draft's ``match_length`` is the matched suffix's length, the start token included.
    """

    def __init__(
        self,
        stream: EarliestSuffixStream | None = None,
        n_predicts: int = 40,
        alpha: float = 4.0,
        mode: str = "match",
    ) -> None:
        if stream is not None and not isinstance(stream, EarliestSuffixStream):
            raise TypeError(f"stream must be an EarliestSuffixStream or None, got {type(stream).__name__}")
        self.stream = stream if stream is not None else EarliestSuffixStream()
        self.n_predicts = check_int("n_predicts", n_predicts, 2)
        self.alpha = check_number("alpha", alpha, 0.0)
        self.mode = check_choice("mode", mode, ("match", "full"))
        self._pending: int | None = None  # the context's last token, not in the stream yet
        self._length = 0

    def begin(self, prompt: Sequence[int]) -> None:
        prompt = list(prompt)
        if not prompt:
            self._pending, self._length = None, 0
            return
        self.stream.extend(prompt[:-1])
        self._pending, self._length = int(prompt[-1]), len(prompt)

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        if not new_tokens:
            return
        if self._pending is not None:
            self.stream.push(self._pending)
        self.stream.extend(new_tokens[:-1])
        self._pending = int(new_tokens[-1])
        self._length += len(new_tokens)

    def end(self) -> None:
        if self._pending is not None:
            self.stream.push(self._pending)
        self._pending, self._length = None, 0

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        if self._pending is None or len(context) != self._length:
            # Driven without begin()/observe(): follow this context in a stream of its own.
            self.stream = EarliestSuffixStream()
            self.begin(list(context))
        assert self._pending is not None
        state, match = self.stream.lookup(self._pending)
        if match == 0:
            return DraftTree.empty()
        if self.mode == "full":
            state = self.stream.with_room(state, self.n_predicts)
            count = self.n_predicts - 1
        else:
            count = min(self.n_predicts - 1, int(match * self.alpha))
        draft = self.stream.after_first(state, min(count, max_tokens))
        return DraftTree(draft, match_length=match) if draft else DraftTree.empty()

    def __repr__(self) -> str:
        return f"SamDecodingDrafter(n_predicts={self.n_predicts}, alpha={self.alpha}, mode={self.mode!r})"
