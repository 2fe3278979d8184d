"""Draft-model speculation ("SpS"): a small causal LM of the same tokenizer family proposes the draft.

The draft model keeps its own KV cache in step with the committed context: each step it reads the
tokens committed since its last step (the accepted draft prefix is already cached, so usually just the
target's own token), then writes ``k`` greedy tokens. After verification its cache is cropped back to
the accepted prefix, so a rejection never leaves stale entries behind.

By default the draft is the draft model's argmax, and the engine's speculative sampling stays exact at
any temperature: it accepts a deterministic token ``x`` with probability ``p(x)`` and resamples from the
residual otherwise. With ``sample=True`` and a temperature above 0, each draft token is instead sampled
from the draft model's distribution ``q`` (processed with the run's temperature, top-k and top-p) and
the engine accepts it with probability ``min(1, p(x)/q(x))``, resampling from ``max(p - q, 0)``: the
speculative sampling of Leviathan et al. and Chen et al., exact too, and accepted more often when the
draft model is close to the target.

``transformers``' assisted generation (what SpecTTS-Bench runs as SpS) drafts up to 20 tokens a step
(``num_assistant_tokens``, schedule ``"constant"``) and stops early after a token the draft model gave
less than 0.4 probability (``assistant_confidence_threshold``): ``max_tokens=20, adaptive=False,
confidence=0.4`` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from specscale._core import DraftTree
from specscale.args import check_int, check_number
from specscale.drafters.base import AdaptiveLength, Drafter
from specscale.errors import InvalidArgumentError
from specscale.sampling import SamplingParams, process_logits
from specscale.verify import cache_argument

__all__ = ["DraftModelDrafter"]


class DraftModelDrafter(Drafter):
    """Chain drafts of up to ``max_tokens`` greedy tokens from ``model``, a small ``transformers`` causal LM.

    Args:
        model: the draft model (same vocabulary as the target; any device, evaluated in inference mode).
        max_tokens: most tokens drafted per step (the seed benchmark's SpS drafts a handful).
        adaptive: an :class:`AdaptiveLength`, ``True`` for the default policy, ``False`` for fixed length.
        sample: at temperature > 0, sample draft tokens from the draft model (speculative sampling with
            its probabilities) instead of taking its argmax. Greedy runs always take the argmax.
        confidence: stop the draft after a token whose probability under the draft model (its
            distribution as sampled from, or its plain softmax when greedy) is below this (0: never).
    """

    def __init__(
        self,
        model: Any,
        max_tokens: int = 5,
        adaptive: AdaptiveLength | bool = True,
        sample: bool = False,
        confidence: float = 0.0,
    ) -> None:
        if model is None or not callable(model) or not hasattr(model, "config"):
            raise InvalidArgumentError(f"model must be a transformers causal LM, got {type(model).__name__}")
        self.model = model.eval()
        self._cache_arg = cache_argument(model)  # once: inspect.signature is no per-step work
        self.max_tokens = check_int("max_tokens", max_tokens, 1)
        if isinstance(adaptive, AdaptiveLength):
            self.policy = adaptive
        else:
            self.policy = AdaptiveLength(max_tokens=max_tokens, match_factor=0, enabled=bool(adaptive))
        self.cache: Any = None
        #: The tokens whose keys and values are in ``cache``: always a prefix of the committed context.
        self.cached: list[int] = []
        self._drafted_from = 0
        self._last_draft: list[int] = []
        self.sample = bool(sample)
        self.confidence = check_number("confidence", confidence, 0.0, 1.0)
        self._params: SamplingParams | None = None
        self._generator: torch.Generator | None = None
        self._draft_probs: dict[int, torch.Tensor] | None = None

    @property
    def samples_drafts(self) -> bool:
        """True when drafts are sampled (the engine then calls :meth:`configure_sampling`)."""
        return self.sample

    def draft_probabilities(self) -> dict[int, torch.Tensor] | None:
        """After :meth:`propose` with sampled drafts: node index -> the distribution it was drawn from."""
        return self._draft_probs

    def configure_sampling(self, params: Any, generator: Any) -> None:
        """The run's sampling settings and generator (called by the engine before a generation)."""
        self._params = params
        self._generator = generator

    def _next(self, logits: torch.Tensor, probs: dict[int, torch.Tensor], i: int) -> tuple[int, float]:
        """The next draft token and its probability under the draft model (1.0 when not needed)."""
        params = self._params
        if not self.sample or params is None or params.greedy:
            token = int(torch.argmax(logits))
            if not self.confidence:
                return token, 1.0
            return token, float(torch.softmax(logits.float(), dim=-1)[token])
        q = process_logits(logits[None], params).softmax(dim=-1)[0].to("cpu", torch.float64)
        token = int(torch.multinomial(q.float(), 1, generator=self._generator).item())
        probs[i] = q
        return token, float(q[token])

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _reset(self) -> None:
        from transformers import DynamicCache

        self.cache = DynamicCache(config=self.model.config)
        self.cached = []

    def begin(self, prompt: Sequence[int]) -> None:
        self._reset()
        self.policy.reset()
        self._last_draft = []

    @torch.inference_mode()
    def _feed(self, tokens: list[int]) -> torch.Tensor:
        """Runs ``tokens`` through the draft model after what is cached; returns the last position's logits."""
        start = len(self.cached)
        ids = torch.tensor([tokens], dtype=torch.long, device=self._device())
        positions = torch.arange(start, start + len(tokens), device=ids.device).unsqueeze(0)
        out = self.model(input_ids=ids, position_ids=positions, use_cache=True, **{self._cache_arg: self.cache})
        self.cached.extend(tokens)
        return out.logits[0, -1]

    def propose(self, context: Sequence[int], max_tokens: int) -> DraftTree:
        k = self.policy.budget(min(max_tokens, self.max_tokens))
        if k <= 0:
            return DraftTree.empty()
        if self.cache is None or self.cached != context[: len(self.cached)]:
            self._reset()  # driven without begin()/observe(), or out of step: start over from the context
        if len(self.cached) == len(context):
            # Nothing new to read, but the next logits are needed: re-read the last token.
            self.cache.crop(-1)
            self.cached.pop()
        logits = self._feed(list(context[len(self.cached) :]))
        draft: list[int] = []
        probs: dict[int, torch.Tensor] = {}
        for i in range(k):
            token, p = self._next(logits, probs, i)
            draft.append(token)
            if p < self.confidence:
                break  # the draft model is unsure: this token is its last guess this step
            if i + 1 < k:
                logits = self._feed([token])
        self._drafted_from = len(context)
        self._last_draft = draft
        self._draft_probs = probs or None
        return DraftTree(draft)

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        if self._last_draft:
            # Keep the context plus the accepted draft prefix (those entries are exactly right); drop the rest.
            keep = self._drafted_from + min(accepted, len(self._last_draft) - 1)
            extra = len(self.cached) - keep
            if extra > 0:
                self.cache.crop(-extra)
                del self.cached[keep:]
            self.policy.update(len(self._last_draft), accepted)
            self._last_draft = []

    def end(self) -> None:
        self.cache = None
        self.cached = []
