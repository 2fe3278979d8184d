"""EAGLE-3 drafting: a one-layer draft head that reads the target's own hidden states (Li et al., 2025).

The target's hidden states entering three of its decoder layers (low, middle, high) are concatenated and
fused by ``fc`` into one vector per token. The draft head is a single Llama decoder layer whose attention
reads ``[input_layernorm(embedding of the next token), hidden_norm(fused feature)]`` (twice the hidden
width), then ``norm`` and its own ``lm_head`` over a reduced draft vocabulary; ``d2t`` maps a draft id
to the target id ``draft_id + d2t[draft_id]``.

Alignment: the target's feature at position ``t`` (which predicts token ``t+1``) is paired with the
embedding of token ``t+1``; the layer's output there predicts token ``t+2``. The engine hands the drafter
the features of every committed token but the last (the target's own token gets its features when the
next pass reads it), so the last pair always predicts the first token to draft. Deeper levels feed the
layer's own output back in place of the target's feature.

Drafting builds a tree as the EAGLE reference does: the ``top_k`` best first tokens; then ``depth``
rounds in which the ``top_k`` best nodes by cumulative log-probability are fed through the layer (with a
tree attention mask over the context and their ancestors) and each proposes its ``top_k`` children;
finally the ``total_tokens`` best nodes of all candidates. A child never scores above its parent, so that
set always contains each node's ancestors. The draft layer's keys/values of the context are kept between
steps; tree entries are dropped after each draft.

Drafts are deterministic given the context, so verification by the engine is lossless at any temperature.

Checkpoints load from a local directory in the published layout (``config.json`` with Llama fields plus
``draft_vocab_size``; ``model.safetensors`` or ``pytorch_model.bin`` with ``fc``, ``midlayer.*``, ``norm``,
``lm_head``, ``d2t``, ``t2d`` and optionally ``embed_tokens``, which is otherwise taken from the target).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from specscale._core import DraftTree
from specscale.args import check_int
from specscale.drafters.base import Drafter
from specscale.drafters.eagle_head import Eagle3DraftHead, GrowingKV
from specscale.errors import InvalidArgumentError

__all__ = ["Eagle3DraftHead", "Eagle3Drafter", "default_feature_layers"]


def default_feature_layers(num_layers: int) -> tuple[int, int, int]:
    """The decoder layers whose *inputs* EAGLE-3 fuses by default: ``(2, L // 2, L - 3)``, as the
    reference code and vLLM choose them (clamped into range for very shallow targets)."""
    check_int("num_layers", num_layers, 1)
    top = num_layers - 1
    return tuple(min(max(i, 0), top) for i in (2, num_layers // 2, num_layers - 3))  # type: ignore[return-value]

class Eagle3Drafter(Drafter):
    """Tree drafts from an EAGLE-3 head reading the target's hidden states.

    Args:
        head: an :class:`Eagle3DraftHead` (see :meth:`from_pretrained`), on the target's device.
        total_tokens: most draft nodes per step (the seed benchmark: 60).
        depth: expansion rounds after the first level, as in the EAGLE reference code, so trees are at
            most ``depth + 1`` tokens deep (the seed benchmark: 5).
        top_k: children kept per expanded node and nodes expanded per round (the seed benchmark: 10).
        feature_layers: decoder layers of the target whose inputs are fused (low, middle, high); default:
            the checkpoint's ``eagle_config.eagle_aux_hidden_state_layer_ids`` (layer outputs, so ``+ 1``)
            when it has them, else :func:`default_feature_layers`.

    With :func:`specscale.generate` only: the engine hands it each verification's hidden states (it sets
    ``wants_hidden_states``). It needs a model target; trace replay has no hidden states.
    """

    #: The engine records :meth:`hidden_state_layers` during verification and calls
    #: :meth:`observe_hidden_states` with the committed tokens' features.
    wants_hidden_states = True

    def __init__(
        self,
        head: Eagle3DraftHead,
        total_tokens: int = 60,
        depth: int = 5,
        top_k: int = 10,
        feature_layers: Sequence[int] | None = None,
    ) -> None:
        if not isinstance(head, Eagle3DraftHead):
            raise InvalidArgumentError(f"head must be an Eagle3DraftHead, got {type(head).__name__}")
        self.head = head.eval()
        self.total_tokens = check_int("total_tokens", total_tokens, 1)
        self.depth = check_int("depth", depth, 0)
        self.top_k = check_int("top_k", top_k, 1)
        if feature_layers is not None:
            feature_layers = tuple(check_int("feature_layers[i]", int(i), 0) for i in feature_layers)
            if len(feature_layers) != 3:
                raise InvalidArgumentError(f"feature_layers must name 3 layers, got {feature_layers!r}")
        self.feature_layers = feature_layers
        self._reset()

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], target: Any, **kwargs: Any) -> Eagle3Drafter:
        """Load the head in ``path`` (see :meth:`Eagle3DraftHead.from_pretrained`) for ``target``."""
        return cls(Eagle3DraftHead.from_pretrained(path, target=target), **kwargs)

    def hidden_state_layers(self, model: Any) -> tuple[int, ...]:
        """The target layers whose inputs this head fuses; checks the head fits ``model``."""
        from specscale.loop import model_vocab_size, text_config
        from specscale.verify import decoder_layers

        num_layers = len(decoder_layers(model))
        config = text_config(model)
        width = 3 * int(config.hidden_size)
        if width != self.head.feature_width:
            raise InvalidArgumentError(
                f"the EAGLE-3 head fuses features of width {self.head.feature_width} (3 x its target's hidden "
                f"size) but this target's hidden size is {config.hidden_size}: the head was trained for another model"
            )
        vocab = model_vocab_size(model)
        if vocab is not None and self.head.config.vocab_size > vocab:
            raise InvalidArgumentError(
                f"the EAGLE-3 head's vocabulary ({self.head.config.vocab_size}) is larger than the target's ({vocab})"
            )
        if self.feature_layers is not None:
            return self.feature_layers
        eagle = getattr(self.head.config, "eagle_config", None) or {}
        ids = eagle.get("eagle_aux_hidden_state_layer_ids") if isinstance(eagle, dict) else None
        if ids:
            # Those ids name layer outputs (SGLang/SpecForge), i.e. the inputs of the layers after them.
            return tuple(int(i) + 1 for i in ids)
        return default_feature_layers(num_layers)

    # --- protocol --------------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._kv = GrowingKV()
        #: Target features of positions ``[_pending_start, _feature_end)`` not yet run through the layer.
        self._pending: list[torch.Tensor] = []
        self._pending_start = 0
        self._feature_end = 0
        self._started = False
        self._last_hidden: torch.Tensor | None = None

    def begin(self, prompt: Sequence[int]) -> None:
        self._reset()

    def end(self) -> None:
        self._reset()

    def observe_hidden_states(self, start: int, features: torch.Tensor) -> None:
        """The target's features of the committed tokens at positions ``start, start + 1, ...``."""
        if features.shape[-1] != self.head.feature_width:
            raise InvalidArgumentError(
                f"EAGLE-3 head expects features of width {self.head.feature_width}, got {features.shape[-1]}"
            )
        if not self._started:
            # The first rows may start past 0 (a reused prefix without recorded features): the head
            # then attends to what it was given, which costs acceptance, never correctness.
            self._started = True
            self._pending_start = self._feature_end = start
        if start > self._feature_end:
            self._reset()  # positions were skipped: the stored context no longer lines up
            self._started = True
            self._pending_start = self._feature_end = start
        skip = self._feature_end - start  # rows fed again after a cache could not keep a tree path
        if skip < features.shape[0]:
            self._pending.append(features[skip:])
            self._feature_end += features.shape[0] - skip

    @torch.inference_mode()
    def _absorb(self, context: Sequence[int]) -> None:
        """Run the pending (feature, next token) pairs through the layer, extending its context cache."""
        if not self._pending:
            return
        head = self.head
        param = head.fc.weight
        features = torch.cat(self._pending, dim=0).to(param.device, param.dtype)
        start, m = self._pending_start, features.shape[0]
        self._pending = []
        self._pending_start += m
        tokens = torch.tensor(context[start + 1 : start + 1 + m], dtype=torch.long, device=param.device)
        positions = torch.arange(start, start + m, device=param.device)
        cached = self._kv.length
        allowed = torch.ones((m, cached + m), dtype=torch.bool, device=param.device)
        allowed[:, cached:] = torch.ones((m, m), dtype=torch.bool, device=param.device).tril()
        out, _, _ = head.step(tokens, head.fuse(features), positions, self._kv, allowed)
        self._last_hidden = out[-1:]

    @torch.inference_mode()
    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        budget = min(max_tokens, self.total_tokens)
        # The last committed token (the target's own) has no features yet; everything before it must.
        if budget <= 0 or not self._started or self._feature_end != len(context) - 1:
            return DraftTree.empty()
        self._absorb(context)
        if self._last_hidden is None:
            return DraftTree.empty()
        return self._tree(len(context), budget)

    def _tree(self, length: int, budget: int) -> DraftTree:
        head = self.head
        device = head.fc.weight.device
        k = min(self.top_k, head.draft_vocab_size)
        last = self._last_hidden
        assert last is not None
        first = torch.topk(head.log_probs(last)[0], k)
        scores = [first.values]
        tokens = [head.to_target_ids(first.indices)]
        parents = [torch.full((k,), -1, dtype=torch.long, device=device)]
        frontier = torch.arange(k, device=device)  # candidate index of each node to expand
        frontier_scores = first.values
        frontier_tokens = tokens[0]
        frontier_hidden = last.expand(k, -1)
        frontier_parent_entry: torch.Tensor | None = None  # tree entry of each frontier node's parent
        # ancestors[e, f]: tree entry f is entry e or one of its ancestors.
        ancestors = torch.zeros((0, 0), dtype=torch.bool, device=device)
        count = k
        # Tree entries are written into the context cache's spare room, then dropped: the context's
        # keys and values are never copied.
        context_length = self._kv.length
        try:
            for level in range(min(self.depth, budget - 1)):
                m = frontier.shape[0]
                entries = ancestors.shape[0]
                rows = torch.zeros((m, entries + m), dtype=torch.bool, device=device)
                if frontier_parent_entry is not None:
                    rows[:, :entries] = ancestors[frontier_parent_entry]
                rows[:, entries:] = torch.eye(m, dtype=torch.bool, device=device)
                grown = torch.zeros((entries + m, entries + m), dtype=torch.bool, device=device)
                grown[:entries, :entries] = ancestors
                grown[entries:] = rows
                ancestors = grown
                allowed = torch.cat([torch.ones((m, context_length), dtype=torch.bool, device=device), rows], dim=1)
                positions = torch.full((m,), length - 1 + level, dtype=torch.long, device=device)
                out, _, _ = head.step(frontier_tokens, frontier_hidden, positions, self._kv, allowed)
                children = torch.topk(head.log_probs(out), k, dim=-1)  # [m, k]
                cumulative = (frontier_scores[:, None] + children.values).reshape(-1)
                child_tokens = head.to_target_ids(children.indices.reshape(-1))
                scores.append(cumulative)
                tokens.append(child_tokens)
                parents.append(frontier.repeat_interleave(k))
                best = torch.topk(cumulative, min(k, cumulative.shape[0]))
                frontier = count + best.indices
                frontier_scores = best.values
                frontier_tokens = child_tokens[best.indices]
                frontier_hidden = out[best.indices // k]
                frontier_parent_entry = entries + best.indices // k
                count += cumulative.shape[0]
        finally:
            self._kv.length = context_length
        return _best_nodes(torch.cat(scores), torch.cat(tokens), torch.cat(parents), budget)

    def __repr__(self) -> str:
        return (
            f"Eagle3Drafter(total_tokens={self.total_tokens}, depth={self.depth}, top_k={self.top_k}, "
            f"draft_vocab={self.head.draft_vocab_size})"
        )


def _best_nodes(scores: torch.Tensor, tokens: torch.Tensor, parents: torch.Tensor, budget: int) -> DraftTree:
    """The ``budget`` best candidates by cumulative log-probability, as a tree in candidate order
    (parents first). Ties go to the earlier candidate, so a node's ancestors always rank before it."""
    order = torch.sort(-scores, stable=True).indices[:budget]
    chosen = torch.sort(order).values.tolist()
    all_tokens = tokens.tolist()
    all_parents = parents.tolist()
    index: dict[int, int] = {}
    out_tokens: list[int] = []
    out_parents: list[int] = []
    for c in chosen:
        parent = all_parents[c]
        if parent >= 0 and parent not in index:
            continue  # cannot happen (children never outscore parents); kept as a guard
        index[c] = len(out_tokens)
        out_tokens.append(all_tokens[c])
        out_parents.append(index[parent] if parent >= 0 else -1)
    return DraftTree(out_tokens, out_parents)
