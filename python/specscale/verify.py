"""Verification of draft trees against a ``transformers`` causal LM with a KV cache.

One forward pass scores the whole draft: the committed tokens whose keys/values are not cached yet
(the prompt on the first step, the target's own last token afterwards) followed by the flattened draft
tree. A chain uses the model's ordinary causal mask; a tree with branches gets a 4D additive mask in
which every node sees the context and its own ancestors only, and position ids equal to its depth, so
each node is scored exactly as if its branch had been decoded alone.

After acceptance the cache is brought back to "every committed token except the last": cropped for a
chain (the accepted nodes are a prefix), compacted to the accepted path for a tree.

Tree masks are used only where they are known to be honoured: ``eager`` or ``sdpa`` attention and a
cache made only of full-attention :class:`~transformers.cache_utils.DynamicLayer` layers (a sliding
window or a recurrent layer would silently ignore or mis-apply a custom mask). Elsewhere a tree is
reduced to one of its chains (:func:`tree_to_chain`), which is always correct; ``tree=True`` makes that
situation an error instead.
"""

from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from specscale.errors import InvalidArgumentError, SpecscaleError
from specscale.loop import model_vocab_size
from specscale.trees import common_prefix_length, is_chain, node_depths, tree_to_chain, validate_tree

__all__ = [
    "FeatureRecorder",
    "ModelVerifier",
    "PrefixCache",
    "TreeMaskUnsupportedError",
    "common_prefix_length",
    "is_chain",
    "tree_attention_mask",
    "tree_to_chain",
    "validate_tree",
]

_TREE_ATTENTION = ("eager", "sdpa")


class TreeMaskUnsupportedError(SpecscaleError, ValueError):
    """The model cannot verify a tree draft with a custom attention mask (asked for with ``tree=True``)."""


def cache_argument(model: Any) -> str:
    """The name under which ``model``'s forward takes its KV cache: ``cache`` from transformers 5.20 on,
    ``past_key_values`` before (vLLM 0.32 pins transformers < 5.20). Passing the other name does not fail:
    the model files it under ``**kwargs`` and decodes without our cache, so it must be asked."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def tree_attention_mask(
    parents: list[int], n_pending: int, n_cached: int, dtype: torch.dtype, device: torch.device | str
) -> torch.Tensor:
    """Additive 4D mask ``[1, 1, n_pending + n, n_cached + n_pending + n]`` for one verification pass.

    Query rows are the ``n_pending`` uncached context tokens, then the ``n`` tree nodes. Everyone sees the
    cached prefix; pending tokens see each other causally; a node sees all pending tokens, its ancestors
    and itself. Allowed entries are 0, the rest the dtype's most negative value (what ``transformers``
    uses, so that fully-masked softmax rows cannot produce NaN).
    """
    n = len(parents)
    q = n_pending + n
    # Ancestor-or-self rows among the nodes, built in Python (n is tens) and converted once: per-row
    # tensor ops would cost a few microseconds each.
    ancestors: list[list[bool]] = []
    for i, p in enumerate(parents):
        row = ancestors[p].copy() if p >= 0 else [False] * n
        row[i] = True
        ancestors.append(row)
    allowed = torch.zeros((q, n_cached + q), dtype=torch.bool)
    allowed[:, :n_cached] = True
    allowed[:n_pending, n_cached : n_cached + n_pending] = torch.ones(
        n_pending, n_pending, dtype=torch.bool
    ).tril()
    allowed[n_pending:, n_cached : n_cached + n_pending] = True
    if n:
        allowed[n_pending:, n_cached + n_pending :] = torch.tensor(ancestors, dtype=torch.bool)
    mask = torch.zeros((q, n_cached + q), dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None].to(device)


def decoder_layers(model: Any) -> Any:
    """The ``ModuleList`` of a ``transformers`` causal LM's decoder layers (Llama/Qwen ``model.layers``,
    GPT-2 ``transformer.h``, or whatever ``get_decoder()`` exposes)."""
    candidates = []
    if hasattr(model, "get_decoder"):
        try:
            candidates.append(model.get_decoder())
        except (AttributeError, NotImplementedError, ValueError):
            pass
    candidates += [getattr(model, "model", None), getattr(model, "transformer", None), model]
    for owner in candidates:
        for name in ("layers", "h", "blocks"):
            layers = getattr(owner, name, None) if owner is not None else None
            if isinstance(layers, torch.nn.ModuleList) and len(layers):
                return layers
    raise InvalidArgumentError(
        f"cannot find the decoder layers of {type(model).__name__} (looked for .layers, .h and .blocks)"
    )


class FeatureRecorder:
    """Records the hidden states that enter chosen decoder layers during a forward pass.

    Layer ``i``'s input is the residual stream after ``i`` layers: ``hidden_states[i]`` of
    ``output_hidden_states=True``, without materializing the other layers. EAGLE-3 fuses three of them
    (low, middle, high). Hooks are installed for one forward pass only (``with recorder: model(...)``), so
    the model is left exactly as it was.

    After the pass, :attr:`features` is ``[rows, len(layers) * hidden]``: the chosen layers' inputs for
    every row of the batch-1 input, concatenated in the order of ``layers``.
    """

    def __init__(self, model: Any, layers: Any) -> None:
        self.modules = decoder_layers(model)
        self.layers = tuple(int(i) for i in layers)
        if not self.layers:
            raise InvalidArgumentError("feature layers must name at least one decoder layer")
        for i in self.layers:
            if not 0 <= i < len(self.modules):
                raise InvalidArgumentError(
                    f"feature layer {i} is outside the model's decoder layers [0, {len(self.modules)})"
                )
        self.features: torch.Tensor | None = None
        self._captured: dict[int, torch.Tensor] = {}
        self._handles: list[Any] = []

    def _hook(self, index: int) -> Any:
        def capture(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            hidden = args[0] if args else kwargs["hidden_states"]
            self._captured[index] = hidden[0]

        return capture

    def __enter__(self) -> FeatureRecorder:
        self._captured = {}
        self.features = None
        for i in sorted(set(self.layers)):
            self._handles.append(self.modules[i].register_forward_pre_hook(self._hook(i), with_kwargs=True))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if exc[0] is None:
            missing = [i for i in self.layers if i not in self._captured]
            if missing:
                raise SpecscaleError(f"decoder layers {missing} did not run during the forward pass")
            self.features = torch.cat([self._captured[i] for i in self.layers], dim=-1)
        self._captured = {}


@dataclass
class PrefixCache:
    """A model's KV cache for ``tokens`` (positions ``0..len(tokens)-1``), to start generations from.

    Made by :meth:`prefill` (a prompt computed once, copied for every Best-of-N sample) or returned by
    ``generate(..., return_cache=True)`` (a finished conversation, reused where the next round's input
    extends it). :func:`~specscale.engine.generate` never modifies it: it uses a copy cropped to the
    longest common prefix with its prompt (:meth:`fork`).

    Attributes:
        tokens: the token ids whose keys/values the cache holds.
        cache: a ``transformers`` ``DynamicCache``.
        seconds: the time it took to compute (prefill), for reports of time saved.
        features, feature_layers: optionally, the target's hidden states entering ``feature_layers`` for
            the first ``len(features)`` tokens (``[n, len(feature_layers) * hidden]``), for drafters that
            read them (EAGLE-3): a generation started from this cache then hands them to its drafter
            instead of leaving it blind to the reused prefix.
    """

    tokens: list[int]
    cache: Any
    seconds: float = 0.0
    features: torch.Tensor | None = field(default=None, repr=False)
    feature_layers: tuple[int, ...] | None = None

    @classmethod
    def prefill(cls, model: Any, tokens: list[int], feature_layers: Any = None) -> PrefixCache:
        """Compute the cache of ``tokens`` with one forward pass of ``model`` (batch size 1); with
        ``feature_layers``, also record those layers' input hidden states (see :class:`FeatureRecorder`)."""
        from specscale.device import synchronize

        verifier = ModelVerifier(model, tree=False, feature_layers=feature_layers)
        synchronize(verifier.device)
        start = time.perf_counter()
        verifier.prefill(list(tokens))
        synchronize(verifier.device)  # the forward pass is queued, not done, when prefill returns
        seconds = time.perf_counter() - start
        features = verifier.last_features if feature_layers is not None else None
        layers = tuple(int(i) for i in feature_layers) if feature_layers is not None else None
        return cls(list(tokens), verifier.cache, seconds, features, layers)

    def features_for(self, layers: Any, n: int) -> torch.Tensor | None:
        """The recorded features of the first ``n`` tokens for ``layers``, or None when not recorded."""
        if self.features is None or self.feature_layers != tuple(int(i) for i in layers):
            return None
        if self.features.shape[0] < n:
            return None
        return self.features[:n]

    def fork(self, n: int | None = None) -> Any:
        """A deep copy of the cache holding only its first ``n`` tokens (default: all)."""
        n = len(self.tokens) if n is None else n
        if not 0 <= n <= len(self.tokens):
            raise InvalidArgumentError(f"fork({n}): the prefix cache holds {len(self.tokens)} tokens")
        with torch.inference_mode():
            cache = copy.deepcopy(self.cache)
            if n < len(self.tokens):
                cache.crop(-(len(self.tokens) - n))
        return cache

    def __repr__(self) -> str:
        return f"PrefixCache(tokens={len(self.tokens)}, seconds={self.seconds:.3f})"


class ModelVerifier:
    """Holds a model's KV cache for one generation and scores draft trees against it.

    Invariant between steps: the cache holds keys/values for ``context[:cached]``; ``step`` feeds
    ``context[cached:]`` plus the draft, ``commit`` keeps what was accepted.

    Args:
        model: a ``transformers`` causal LM (``AutoModelForCausalLM``), batch size 1.
        tree: ``"auto"`` verifies trees where the model honours custom masks and falls back to chains
            elsewhere; ``True`` raises :class:`TreeMaskUnsupportedError` where it does not; ``False``
            always reduces trees to chains.
        cache, cached: start from a cache that already holds the first ``cached`` context tokens (owned
            by the verifier from now on: pass a copy, see :meth:`PrefixCache.fork`).
        feature_layers: decoder layers whose input hidden states every pass records in
            :attr:`last_features` (one row per input token), for drafters that read them; None: none.
    """

    def __init__(
        self,
        model: Any,
        tree: bool | str = "auto",
        cache: Any = None,
        cached: int = 0,
        feature_layers: Any = None,
    ) -> None:
        from transformers.cache_utils import DynamicCache, DynamicLayer

        if tree not in (True, False, "auto"):
            raise InvalidArgumentError(f"tree must be True, False or 'auto', got {tree!r}")
        self.model = model
        self.device = model.device
        dtype = getattr(model, "dtype", None)
        # The mask must be in the compute dtype; quantized weights report an integer dtype.
        self.dtype = dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else torch.float32
        if cache is None:
            cache = DynamicCache(config=model.config)
            cached = 0
            # Sliding-window and recurrent layers keep states that a crop would otherwise discard for good.
            if hasattr(cache, "activate_past_recording"):
                cache.activate_past_recording()
        self.cache = cache
        self.cached = int(cached)
        self.vocab_size = model_vocab_size(model)
        attn = getattr(model.config, "_attn_implementation", None)
        full_layers = bool(self.cache.layers) and all(
            type(layer) is DynamicLayer for layer in self.cache.layers
        )
        supported = attn in _TREE_ATTENTION and full_layers
        if tree is True and not supported:
            raise TreeMaskUnsupportedError(
                f"tree verification needs eager/sdpa attention and full-attention DynamicCache layers; "
                f"this model has attn_implementation={attn!r} and cache layers "
                f"{sorted({type(layer).__name__ for layer in self.cache.layers})}; use tree='auto' or False"
            )
        self.tree_enabled = supported and tree is not False
        self._compactable = full_layers
        self._logits_to_keep = "logits_to_keep" in inspect.signature(model.forward).parameters
        self._cache_arg = cache_argument(model)
        self._recorder = FeatureRecorder(model, feature_layers) if feature_layers is not None else None
        #: With ``feature_layers``: the last pass's recorded hidden states, one row per input token
        #: (the uncached context tokens, then the draft nodes).
        self.last_features: torch.Tensor | None = None

    def _forward(self, ids: torch.Tensor, kwargs: dict[str, Any]) -> Any:
        with torch.inference_mode():
            if self._recorder is None:
                return self.model(input_ids=ids, use_cache=True, **{self._cache_arg: self.cache}, **kwargs)
            with self._recorder:
                out = self.model(input_ids=ids, use_cache=True, **{self._cache_arg: self.cache}, **kwargs)
            self.last_features = self._recorder.features
            return out

    def prefill(self, tokens: list[int]) -> None:
        """Feed ``tokens`` (the context after what is cached) into the cache without drafting."""
        if not tokens:
            return
        positions = list(range(self.cached, self.cached + len(tokens)))
        ids = torch.tensor([list(tokens)], dtype=torch.long, device=self.device)
        kwargs: dict[str, Any] = {
            "position_ids": torch.tensor([positions], dtype=torch.long, device=self.device)
        }
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        self._forward(ids, kwargs)
        self.cached += len(tokens)

    def export(self, context: list[int]) -> PrefixCache:
        """The cache of the committed context (draft entries of an uncommitted last step dropped), as a
        :class:`PrefixCache`; the verifier must not be used afterwards."""
        extra = self.cache.get_seq_length() - self.cached
        if extra > 0:
            self.cache.crop(-extra)
        return PrefixCache(list(context[: self.cached]), self.cache)

    def step(self, context: list[int], tokens: list[int], parents: list[int]) -> torch.Tensor:
        """Score a draft tree after ``context``; return float logits ``[len(tokens) + 1, vocab]``.

        Row 0 is the target's prediction after ``context[-1]``, row ``i + 1`` after node ``i``. A tree
        with branches must only be passed when :attr:`tree_enabled` (the engine reduces it otherwise).
        """
        pending = context[self.cached :]
        if not pending:
            raise SpecscaleError("internal: verifier has no uncached context token to predict from")
        n = len(tokens)
        n_pending = len(pending)
        ids = torch.tensor([pending + list(tokens)], dtype=torch.long, device=self.device)
        kwargs: dict[str, Any] = {}
        chain = is_chain(parents)
        if chain:
            positions = list(range(self.cached, self.cached + n_pending + n))
        else:
            if not self.tree_enabled:
                raise TreeMaskUnsupportedError("internal: tree draft passed to a chain-only verifier")
            base = self.cached + n_pending
            positions = list(range(self.cached, base)) + [base + d - 1 for d in node_depths(parents)]
            kwargs["attention_mask"] = tree_attention_mask(
                parents, n_pending, self.cached, self.dtype, self.device
            )
        kwargs["position_ids"] = torch.tensor([positions], dtype=torch.long, device=self.device)
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = n + 1
        out = self._forward(ids, kwargs)
        self._last = (len(context), n)
        #: Draft nodes in the last :meth:`step` (the rows of :attr:`last_features` after the context's).
        self.last_draft_size = n
        return out.logits[0, -(n + 1) :].float()

    def commit(self, path: list[int]) -> None:
        """Keep the cache entries of the context and of the accepted ``path`` (node indices, root first)
        from the last :meth:`step`; drop the rest."""
        context_len, n = self._last
        keep = len(path)
        if path == list(range(keep)):
            # The accepted nodes are a prefix of the flattened draft (always so for a chain): crop.
            self.cache.crop(-(n - keep))
            self.cached = context_len + keep
        elif self._compactable:
            # Move the path's entries down to sit right after the context, then crop the rest: copies
            # only the accepted entries, not the whole cache. Safe in place: path[j] >= j, and the
            # sources are gathered before anything is written.
            start = context_len
            source = torch.tensor([start + i for i in path], device=self.device)
            with torch.inference_mode():  # the cache tensors are inference tensors
                for layer in self.cache.layers:
                    keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
                    if keys is None or values is None or not keys.numel():
                        continue  # not initialized (e.g. a KV-sharing layer)
                    src = source.to(keys.device)
                    keys[..., start : start + keep, :] = keys.index_select(-2, src)
                    values[..., start : start + keep, :] = values.index_select(-2, src)
            self.cache.crop(-(n - keep))
            self.cached = context_len + keep
        else:
            # Cannot move entries: forget the whole draft; the accepted tokens are re-fed next step.
            self.cache.crop(-n)
            self.cached = context_len
