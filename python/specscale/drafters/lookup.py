"""Prompt lookup decoding (PLD): draft what followed an earlier occurrence of the context's tail.

Two ways to choose the occurrence: ``"earliest"``, as the reference implementation (and SpecTTS-Bench's
code) does, which scans the context from the left and copies after the first match that still has
``num_output_tokens`` tokens after it; and ``"latest"``, this project's choice (see :class:`PromptLookup`).
"""

from __future__ import annotations

from collections.abc import Sequence

from specscale._core import DraftTree
from specscale.args import check_choice, check_int
from specscale.drafters.base import AdaptiveLength, Drafter
from specscale.errors import InvalidArgumentError

__all__ = ["PromptLookup"]


class PromptLookup(Drafter):
    """N-gram lookup over the prompt plus the generated text, as ``transformers``' prompt lookup.

    For ``n`` from ``max_ngram_size`` down to ``min_ngram_size``, the last ``n`` context tokens are looked
    up among earlier positions; the tokens that followed the match are the draft (a chain of up to
    ``num_output_tokens``).

    ``occurrence="earliest"`` (the reference): the first match from the left whose continuation holds
    the whole draft length; an ``n`` with no such match gives way to ``n - 1``. Since the first match
    has the longest continuation, that is the first match or none. ``occurrence="latest"`` (ours): the
    most recent match where enough tokens follow it (in reasoning traces and repeated samples the latest
    repetition is the best predictor); where the latest match runs into the end of the context (a loop),
    the first one, which has the longest continuation, is used instead, whatever its length.

    The index is a dict per ``n`` from n-gram to its first and latest end positions, updated
    incrementally as tokens are committed: O(max_ngram_size) per token, O(1) per lookup, no scan.

    Args:
        max_ngram_size: longest n-gram matched (default 3).
        num_output_tokens: most tokens drafted (default 10).
        min_ngram_size: shortest n-gram matched (default 1).
        adaptive: an :class:`AdaptiveLength` policy, ``True`` for the default one, ``False`` for a fixed
            ``num_output_tokens``.
        occurrence: ``"latest"`` (default) or ``"earliest"`` (the reference's rule, see above).
    """

    def __init__(
        self,
        max_ngram_size: int = 3,
        num_output_tokens: int = 10,
        min_ngram_size: int = 1,
        adaptive: AdaptiveLength | bool = True,
        occurrence: str = "latest",
    ) -> None:
        self.max_ngram_size = check_int("max_ngram_size", max_ngram_size, 1)
        self.min_ngram_size = check_int("min_ngram_size", min_ngram_size, 1)
        if self.min_ngram_size > self.max_ngram_size:
            raise InvalidArgumentError(
                f"min_ngram_size ({min_ngram_size}) must be <= max_ngram_size ({max_ngram_size})"
            )
        self.num_output_tokens = check_int("num_output_tokens", num_output_tokens, 1)
        self.policy = _policy(adaptive, num_output_tokens)
        self.occurrence = check_choice("occurrence", occurrence, ("latest", "earliest"))
        self._tokens: list[int] = []
        self._index: list[dict[tuple[int, ...], list[int]]] = []
        self._indexed = 0  # end positions < _indexed are in the index

    def begin(self, prompt: Sequence[int]) -> None:
        self._tokens = list(prompt)
        self._index = [{} for _ in range(self.max_ngram_size + 1)]
        self._indexed = 0
        self.policy.reset()

    def _sync(self, context: Sequence[int]) -> None:
        # The engine keeps us in sync through observe(); a caller driving propose() alone still works.
        if len(context) != len(self._tokens) or (context and context[-1] != self._tokens[-1]):
            self.begin(context)
        tokens = self._tokens
        # An n-gram ending at e (exclusive) is indexed once a continuation tokens[e] exists: e < len.
        for e in range(max(self._indexed, 1), len(tokens)):
            for n in range(self.min_ngram_size, min(self.max_ngram_size, e) + 1):
                key = tuple(tokens[e - n : e])
                seen = self._index[n].get(key)
                if seen is None:
                    self._index[n][key] = [e, e]
                else:
                    seen[1] = e
        self._indexed = max(self._indexed, len(tokens))

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        self._sync(context)
        tokens = self._tokens
        for n in range(min(self.max_ngram_size, len(tokens)), self.min_ngram_size - 1, -1):
            ends = self._index[n].get(tuple(tokens[-n:]))
            if ends is None:
                continue
            k = self.policy.budget(max_tokens, match_length=n)
            first, last = ends
            if self.occurrence == "earliest":
                # The reference skips matches whose continuation is shorter than the draft, and matches
                # that overlap the tail itself; the first match is the least likely to do either.
                if k <= 0 or first + k > len(tokens) or first >= len(tokens) - n:
                    continue
                end = first
            else:
                end = last if len(tokens) - last >= k else first
            draft = tokens[end : end + k]
            return DraftTree(draft) if draft else DraftTree.empty()
        return DraftTree.empty()

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        self._tokens.extend(new_tokens)
        self.policy.update(drafted, accepted)

    def __repr__(self) -> str:
        return (
            f"PromptLookup(max_ngram_size={self.max_ngram_size}, num_output_tokens={self.num_output_tokens}, "
            f"occurrence={self.occurrence!r})"
        )


def _policy(adaptive: AdaptiveLength | bool, max_tokens: int) -> AdaptiveLength:
    if isinstance(adaptive, AdaptiveLength):
        return adaptive
    if adaptive is True or adaptive is False:
        return AdaptiveLength(max_tokens=max_tokens, enabled=adaptive)
    raise TypeError(f"adaptive must be an AdaptiveLength or a bool, got {adaptive!r}")
