"""SuffixDecoding, the real one: a drafter over ArcticInference's ``SuffixDecodingCache``.

This wraps the implementation vLLM ships (PyPI ``arctic-inference``, ``arctic_inference.suffix_decoding``)
rather than re-implementing it, so that benchmarks compare specscale against the peer itself. The package
is an optional dependency (``pip install specscale[peers]``); it builds from source::

    pip install torch cmake ninja nanobind==2.9.2 protobuf==5.29.6 grpcio-tools wheel
    CMAKE_ARGS="-DPython_EXECUTABLE=$(python -c 'import sys; print(sys.executable)')" \\
        pip install --no-build-isolation arctic-inference==0.3.0

How the cache maps onto the drafter protocol:

- :meth:`begin` is ``start_request(req_id, prompt)``: a per-request suffix tree of the prompt, and a slot
  in the cache's global tree for the response about to be written.
- :meth:`observe` is ``add_active_response(req_id, new_tokens)``: the committed tokens go into both
  trees, so later steps of this generation and every later generation sharing the cache draft from them.
- :meth:`propose` is ``speculate(req_id, context, ...)``: the better-scoring draft of the two trees, a
  chain or (``use_tree_spec=True``) a tree, converted to a :class:`~specscale.DraftTree` with the
  estimated token probabilities as node scores and the context match length.
- :meth:`end` is ``stop_request(req_id)``: the prompt tree is dropped; the response stays in the global
  tree (until evicted by ``max_cached_requests``).
"""

from __future__ import annotations

from collections.abc import Sequence

import itertools
from typing import Any

from specscale._core import DraftTree
from specscale.args import check_int, check_number
from specscale.drafters.base import Drafter
from specscale.errors import InvalidArgumentError, SpecscaleError

__all__ = ["SuffixDecodingDrafter", "new_cache", "suffix_decoding_available"]

_INSTALL_HINT = (
    "SuffixDecodingDrafter needs ArcticInference's SuffixDecoding (PyPI 'arctic-inference', an optional "
    "dependency: pip install 'specscale[peers]'). It builds from source, so install its build requirements "
    "first: pip install torch cmake ninja nanobind==2.9.2 protobuf==5.29.6 grpcio-tools wheel; then "
    "CMAKE_ARGS=\"-DPython_EXECUTABLE=$(python -c 'import sys; print(sys.executable)')\" "
    "pip install --no-build-isolation arctic-inference==0.3.0"
)

# Request ids unique within the process: a cache shared by several drafters must never see one twice
# (``start_request`` with the id of a cached response silently evicts that response).
_REQUEST_IDS = itertools.count()


def _cache_class() -> Any:
    try:
        from arctic_inference.suffix_decoding import SuffixDecodingCache  # type: ignore[import-untyped,unused-ignore]
    except ImportError as error:
        raise ImportError(f"{_INSTALL_HINT} ({error})") from error
    return SuffixDecodingCache


def suffix_decoding_available() -> bool:
    """Whether ``arctic_inference.suffix_decoding`` imports (the drafter can be built)."""
    try:
        _cache_class()
    except ImportError:
        return False
    return True


def new_cache(max_tree_depth: int = 64, max_cached_requests: int = -1) -> Any:
    """A fresh ``SuffixDecodingCache`` to share across generations (``SuffixDecodingDrafter(cache=...)``).

    Args:
        max_tree_depth: depth of its suffix trees: the longest context suffix matched and the longest
            draft (ArcticInference's default, 64).
        max_cached_requests: responses kept in the global tree, oldest evicted first; ``-1`` keeps all.
    """
    return _cache_class()(max_tree_depth=max_tree_depth, max_cached_requests=max_cached_requests)


class SuffixDecodingDrafter(Drafter):
    """Drafts with ArcticInference's SuffixDecoding (Oliaro et al., 2024, arXiv:2411.04975).

    Each generation is one request of a ``SuffixDecodingCache``: it drafts from a suffix tree of its own
    prompt and output and from a global suffix tree of every response the cache holds, taking whichever
    draft scores higher (the sum of its tokens' estimated probabilities). With a shared ``cache`` the
    samples of one problem (Best-of-N) draft from each other; without one, each generation gets a fresh
    cache (request scope, the global tree then holds only its own response).

    Cost: a draft costs O(max_tree_depth + drafted tokens) in the C++ trees (the context is cut to its
    last ``max_tree_depth`` tokens before matching); an update costs O(max_tree_depth) per token.

    Args:
        cache: a ``SuffixDecodingCache`` to share (see :func:`new_cache`), or ``None`` for one per
            generation built with ``max_tree_depth`` and ``max_cached_requests``.
        max_spec_tokens: most tokens drafted per step (default 40, the seed benchmark's setting); the
            engine's budget caps it further.
        max_spec_factor, max_spec_offset: a draft is at most ``max_spec_factor * match_length +
            max_spec_offset`` tokens (ArcticInference's defaults 1.0 and 0.0; vLLM's default factor is 1.0).
        min_token_prob: tokens whose estimated probability (frequency of the continuation among the
            matched suffix's occurrences, multiplied along the path) falls below this are not drafted
            (default 0.1, as in ArcticInference and vLLM).
        use_tree_spec: draft a tree of the likely continuations instead of one chain (default ``False``,
            vLLM's choice).
        use_prompt: store the prompt in the request's suffix tree (default ``True``); ``False`` drafts
            from the outputs alone.
        max_tree_depth, max_cached_requests: for a cache built here (ignored when ``cache`` is given).
        global_cache: a second ``SuffixDecodingCache`` that outlives the problem (every problem's
            responses, its ``max_cached_requests`` bounding it), drafted from beside ``cache``: each
            step takes the better-scoring of the two drafts, by the rule SuffixDecoding itself uses
            between its request and global trees. ``cache`` is then the problem's family cache.
    """

    def __init__(
        self,
        cache: Any = None,
        max_spec_tokens: int = 40,
        max_spec_factor: float = 1.0,
        max_spec_offset: float = 0.0,
        min_token_prob: float = 0.1,
        use_tree_spec: bool = False,
        use_prompt: bool = True,
        max_tree_depth: int = 64,
        max_cached_requests: int = -1,
        global_cache: Any = None,
    ) -> None:
        cls = _cache_class()
        for name, given in (("cache", cache), ("global_cache", global_cache)):
            if given is not None and not isinstance(given, cls):
                raise TypeError(
                    f"{name} must be an arctic_inference.suffix_decoding.SuffixDecodingCache or None, "
                    f"got {type(given).__name__}"
                )
        self.max_spec_tokens = check_int("max_spec_tokens", max_spec_tokens, 1)
        self.max_tree_depth = check_int("max_tree_depth", max_tree_depth, 1)
        if isinstance(max_cached_requests, bool) or not isinstance(max_cached_requests, int):
            raise InvalidArgumentError(f"max_cached_requests must be an int, got {max_cached_requests!r}")
        self.max_cached_requests = max_cached_requests
        self.max_spec_factor = check_number("max_spec_factor", max_spec_factor)
        self.max_spec_offset = check_number("max_spec_offset", max_spec_offset)
        self.min_token_prob = check_number("min_token_prob", min_token_prob, 0.0, 1.0)
        self.use_tree_spec = bool(use_tree_spec)
        self.use_prompt = bool(use_prompt)
        self.cache = cache
        self.global_cache = global_cache
        self.shared = cache is not None
        self._live_cache: Any = None
        self._request: int | None = None
        self._length = 0

    def begin(self, prompt: Sequence[int]) -> None:
        if self._request is not None:
            self.end()  # the previous generation was not closed: release its request
        if self.cache is not None:
            cache = self.cache
        else:
            cache = new_cache(self.max_tree_depth, self.max_cached_requests)
        request = next(_REQUEST_IDS)
        for c in self._caches(cache):
            c.start_request(request, list(prompt) if self.use_prompt else [])
        self._live_cache, self._request = cache, request
        self._length = len(prompt)

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        if self._request is None or len(context) != self._length:
            # Driven without begin()/observe(): (re)start from this context so drafts stay real.
            self.begin(list(context))
        k = min(max_tokens, self.max_spec_tokens)
        if k <= 0:  # 0 would mean "the tree depth" to SuffixDecoding
            return DraftTree.empty()
        # speculate() keeps only the last max_tree_depth tokens: slice first, not after a list copy.
        draft = None
        for c in self._caches(self._live_cache):
            d = c.speculate(
                self._request,
                context[-c.max_tree_depth :],
                max_spec_tokens=k,
                max_spec_factor=self.max_spec_factor,
                max_spec_offset=self.max_spec_offset,
                min_token_prob=self.min_token_prob,
                use_tree_spec=self.use_tree_spec,
            )
            if draft is None or d.score > draft.score:  # the family cache wins ties
                draft = d
        assert draft is not None
        return to_draft_tree(draft.token_ids, draft.parents, draft.probs, draft.match_len, k)

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        if self._request is None:
            raise SpecscaleError(f"{type(self).__name__}: observe() before begin()")
        for c in self._caches(self._live_cache):
            c.add_active_response(self._request, list(new_tokens))
        self._length += len(new_tokens)

    def end(self) -> None:
        if self._request is not None:
            for c in self._caches(self._live_cache):
                c.stop_request(self._request)
        self._request = None
        if not self.shared:
            self._live_cache = None

    def _caches(self, cache: Any) -> tuple[Any, ...]:
        return (cache,) if self.global_cache is None else (cache, self.global_cache)

    def __repr__(self) -> str:
        return (
            f"SuffixDecodingDrafter(shared={self.shared}, max_spec_tokens={self.max_spec_tokens}, "
            f"max_spec_factor={self.max_spec_factor}, min_token_prob={self.min_token_prob}, "
            f"use_tree_spec={self.use_tree_spec})"
        )


def to_draft_tree(
    tokens: list[int], parents: list[int], probs: list[float], match_length: int, max_nodes: int
) -> DraftTree:
    """A SuffixDecoding draft (``token_ids``, ``parents`` with ``-1`` = the root, ``probs``) as a DraftTree.

    Nodes are reordered so that parents come before their children (breadth-first from the root, siblings
    in their original order) and cut to the first ``max_nodes``: a breadth-first prefix of a tree is a
    tree, and keeps the shallow, most probable nodes.
    """
    n = len(tokens)
    if n == 0:
        return DraftTree.empty()
    if all(-1 <= p < i for i, p in enumerate(parents)) and n <= max_nodes:
        return DraftTree(list(tokens), list(parents), list(probs), match_length)
    children: dict[int, list[int]] = {}
    for i, p in enumerate(parents):
        if not -1 <= p < n or p == i:
            raise SpecscaleError(f"SuffixDecoding returned an invalid parent {p} for node {i} of {n}")
        children.setdefault(p, []).append(i)
    order: list[int] = []
    frontier = children.get(-1, [])
    while frontier and len(order) < max_nodes:
        order.extend(frontier)
        frontier = [c for node in frontier for c in children.get(node, [])]
    order = order[:max_nodes]
    new_index = {old: new for new, old in enumerate(order)}
    return DraftTree(
        [tokens[i] for i in order],
        [-1 if parents[i] == -1 else new_index[parents[i]] for i in order],
        [probs[i] for i in order],
        match_length,
    )
