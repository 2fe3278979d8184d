"""Targets: what verifies a draft. The one generate loop (:mod:`specscale.loop`) drives either of them.

- :class:`ModelTarget`: the real thing, one forward pass of a ``transformers`` model over the draft tree
  (:class:`~specscale.verify.ModelVerifier`), then greedy acceptance or lossless speculative sampling.
- :class:`TraceTarget`: a recorded continuation stands in for a greedy model. It accepts exactly what a
  greedy run of the model that wrote the trace would accept, with no model at all: that is trace replay,
  and because it runs through the same loop as live generation the two cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from specscale.loop import Target, TraceTarget
from specscale.sampling import SamplingParams, greedy_accept, sample_accept
from specscale.verify import ModelVerifier, PrefixCache

__all__ = ["ModelTarget", "Target", "TraceTarget"]


class ModelTarget(Target):
    """A ``transformers`` causal LM with a KV cache, greedy or sampling."""

    def __init__(
        self,
        model: Any,
        params: SamplingParams,
        generator: torch.Generator | None = None,
        tree: bool | str = "auto",
        cache: Any = None,
        cached: int = 0,
        feature_layers: Any = None,
        prefix_features: torch.Tensor | None = None,
        keep_features: bool = False,
    ) -> None:
        self.verifier = ModelVerifier(model, tree=tree, cache=cache, cached=cached, feature_layers=feature_layers)
        self.params = params
        self.generator = generator
        self.feature_layers = tuple(feature_layers) if feature_layers is not None else None
        # Features of a reused prefix, handed to the drafter before the first step (initial_features).
        self._prefix_features = prefix_features
        self._feature_start = 0
        #: With ``keep_features``: every committed token's features, in order, for :meth:`export`.
        self._kept: list[torch.Tensor] | None = [] if keep_features and feature_layers is not None else None
        self._kept_rows = 0  # rows in _kept (a running count: summing the chunks each step would be quadratic)
        self.last_logits: torch.Tensor | None = None

    @property
    def tree_enabled(self) -> bool:
        return self.verifier.tree_enabled

    @property
    def timed(self) -> bool:
        return True

    def verify(
        self,
        context: list[int],
        tokens: list[int],
        parents: list[int],
        children: list[list[int]],
        draft_probs: dict[int, torch.Tensor] | None = None,
    ) -> tuple[list[int], int, float]:
        start = time.perf_counter()
        self._feature_start = self.verifier.cached
        logits = self.verifier.step(context, tokens, parents)
        if logits.is_cuda:
            # Acceptance syncs right after anyway; syncing here lets the forward be timed alone.
            torch.cuda.synchronize(logits.device)
        forward = time.perf_counter() - start
        self.last_logits = logits
        if self.params.greedy:
            path, own = greedy_accept(logits, tokens, children)
        else:
            path, own = sample_accept(logits, tokens, children, self.params, self.generator, draft_probs)
        return path, own, forward

    def verification_logits(self) -> torch.Tensor | None:
        """The last verification's logits, ``[n_nodes + 1, vocab]``, for drafters that learn from them."""
        return self.last_logits

    def initial_features(self) -> tuple[int, torch.Tensor] | None:
        """Before the first step: the reused prefix's recorded features, as ``(0, [rows, features])``,
        so a feature drafter can draft from the very first step; None when there are none."""
        prefix, self._prefix_features = self._prefix_features, None
        if prefix is None or self.feature_layers is None:
            return None
        if self._kept is not None:
            self._keep(0, prefix)
        return 0, prefix

    def committed_features(self, path: list[int]) -> tuple[int, torch.Tensor] | None:
        """After :meth:`verify`: the recorded features of the tokens that step committed before the
        target's own, as ``(position of the first, [rows, features])``; None without feature layers.

        Those are the uncached context tokens fed this step and the accepted path; the target's own
        token gets its features when the next step feeds it.
        """
        features = self.verifier.last_features
        if self.feature_layers is None or features is None:
            return None
        pending = features.shape[0] - self.verifier.last_draft_size
        rows = list(range(pending)) + [pending + i for i in path]
        index = torch.tensor(rows, dtype=torch.long, device=features.device)
        chosen = features.index_select(0, index)
        start = self._feature_start
        if self._kept is not None:
            self._keep(start, chosen)
        return start, chosen

    def _keep(self, start: int, rows: torch.Tensor) -> None:
        """Append committed rows to the record for :meth:`export`; give up where positions would gap."""
        assert self._kept is not None
        if start > self._kept_rows:  # a prefix without recorded features: the record could not be complete
            self._kept = None
            return
        if start < self._kept_rows:  # rows fed again (a cache that could not keep a tree path): same values
            self._kept = [torch.cat(self._kept, dim=0)[:start]]
            self._kept_rows = start
        self._kept.append(rows)
        self._kept_rows += rows.shape[0]

    def commit(self, path: list[int]) -> None:
        self.verifier.commit(path)

    def export(self, context: list[int]) -> PrefixCache:
        """The KV cache of the committed ``context`` once the generation is over (with the committed
        tokens' features when the target was made with ``keep_features``)."""
        cache = self.verifier.export(context)
        if self._kept:
            features = torch.cat(self._kept, dim=0)[: len(cache.tokens)]
            if features.shape[0] == len(cache.tokens):
                cache.features, cache.feature_layers = features, self.feature_layers
        return cache
