"""Serve specscale drafters inside ``transformers``' own assisted decoding.

:class:`SpecscaleCandidateGenerator` is a ``transformers`` ``CandidateGenerator``: it turns a drafter's
proposal into candidate tokens for ``model.generate``'s assisted-decoding loop, which verifies chains
only (a tree is reduced to its first chain). ``transformers`` has no public argument that takes a
candidate generator, so :func:`assisted_generate` installs one for the duration of a single
``model.generate`` call by shadowing the model's ``_get_candidate_generator`` on that instance; it turns
assisted decoding on by passing ``prompt_lookup_num_tokens``. Prefer :func:`specscale.generate` (trees,
our own verification, stats); use this where the rest of a pipeline is built on ``model.generate``.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.generation.candidate_generator import CandidateGenerator

from specscale.drafters.base import Drafter
from specscale.errors import InvalidArgumentError
from specscale.verify import tree_to_chain

__all__ = ["SpecscaleCandidateGenerator", "assisted_generate"]


class SpecscaleCandidateGenerator(CandidateGenerator):
    """Adapts a specscale drafter to ``transformers``' ``CandidateGenerator`` protocol.

    Args:
        drafter: any :class:`~specscale.drafters.Drafter`.
        num_output_tokens: most candidate tokens per step (default 10).
        max_length: total length (prompt + new) generation stops at; candidates never run past it.
        eos_token_id: ids after which candidates are cut (transformers would otherwise accept past EOS).
    """

    def __init__(
        self,
        drafter: Drafter,
        num_output_tokens: int = 10,
        max_length: int | None = None,
        eos_token_id: Any = None,
    ) -> None:
        if not isinstance(drafter, Drafter):
            raise InvalidArgumentError(
                f"drafter must be a specscale.Drafter (subclass it and implement propose), got {type(drafter).__name__}"
            )
        if (
            isinstance(num_output_tokens, bool)
            or not isinstance(num_output_tokens, int)
            or num_output_tokens < 1
        ):
            raise InvalidArgumentError(f"num_output_tokens must be an int >= 1, got {num_output_tokens!r}")
        if drafter.wants_hidden_states:
            raise InvalidArgumentError(
                f"{type(drafter).__name__} drafts from the target's hidden states, which transformers' "
                f"assisted generation does not hand to candidate generators; use specscale.generate"
            )
        self.drafter = drafter
        self.num_output_tokens = num_output_tokens
        self.max_length = max_length
        if isinstance(eos_token_id, torch.Tensor):
            eos_token_id = eos_token_id.flatten().tolist()
        if isinstance(eos_token_id, int):
            eos_token_id = [eos_token_id]
        self.eos = frozenset(eos_token_id or ())
        self._context: list[int] | None = None
        self._drafted = 0
        self._matches = 0

    # transformers annotates the logits as a Tensor, yet its own prompt lookup returns None, as we do.
    def get_candidates(  # type: ignore[override]
        self, input_ids: torch.LongTensor, **kwargs: Any
    ) -> tuple[torch.Tensor, None]:
        """Return ``input_ids`` extended by the drafter's chain (``[1, n + k]``), and no logits."""
        context = input_ids[0].tolist()
        known = self._context
        if known is None or len(context) < len(known) or context[: len(known)] != known:
            if known is not None:
                self.drafter.end()
            self.drafter.begin(context)
        elif len(context) > len(known):
            new = context[len(known) :]
            accepted = min(self._matches, len(new) - 1, self._drafted)
            self.drafter.observe(new, drafted=self._drafted, accepted=accepted)
        self._context = context
        limit = self.num_output_tokens
        if self.max_length is not None:
            # The target adds a token of its own; candidates past max_length - 1 are wasted work.
            limit = min(limit, self.max_length - len(context) - 1)
        if limit <= 0:
            self._drafted = 0
            return input_ids, None
        draft = self.drafter.propose(context, limit)
        tokens, parents = list(draft.tokens)[:limit], list(draft.parents)[:limit]
        tokens, _ = tree_to_chain(tokens, parents)
        for i, t in enumerate(tokens):
            if t in self.eos:  # transformers would keep verifying past an accepted EOS
                tokens = tokens[: i + 1]
                break
        self._drafted = len(tokens)
        if not tokens:
            return input_ids, None
        extra = torch.tensor([tokens], dtype=input_ids.dtype, device=input_ids.device)
        return torch.cat([input_ids, extra], dim=1), None

    def update_candidate_strategy(
        self, input_ids: torch.LongTensor, scores: torch.Tensor, num_matches: int
    ) -> None:
        """Remember how many candidates were accepted; the drafter hears it with the next context."""
        self._matches = int(num_matches)


def assisted_generate(
    model: Any, input_ids: torch.Tensor, drafter: Any, num_output_tokens: int = 10, **generate_kwargs: Any
) -> Any:
    """Run ``model.generate(input_ids, **generate_kwargs)`` with ``drafter`` proposing the candidates.

    Uses ``transformers``' assisted-decoding loop (batch size 1, chains only). Returns what
    ``model.generate`` returns.

    Example::

        out = assisted_generate(model, ids, specscale.PromptLookup(), max_new_tokens=64, do_sample=False)
    """
    if "assistant_model" in generate_kwargs or "prompt_lookup_num_tokens" in generate_kwargs:
        raise InvalidArgumentError(
            "assisted_generate chooses the candidates: drop assistant_model / prompt_lookup_num_tokens"
        )
    if not hasattr(model, "_get_candidate_generator"):
        raise InvalidArgumentError(
            f"{type(model).__name__} has no _get_candidate_generator: this transformers version cannot host "
            "a custom candidate generator; use specscale.generate instead"
        )

    def factory(generation_config: Any, *args: Any, **kwargs: Any) -> SpecscaleCandidateGenerator:
        return SpecscaleCandidateGenerator(
            drafter,
            num_output_tokens=num_output_tokens,
            max_length=generation_config.max_length,
            eos_token_id=getattr(generation_config, "_eos_token_tensor", None),
        )

    sentinel = object()
    previous = model.__dict__.get("_get_candidate_generator", sentinel)
    model._get_candidate_generator = factory  # instance attribute shadows the method for this call only
    try:
        out = model.generate(input_ids, prompt_lookup_num_tokens=num_output_tokens, **generate_kwargs)
    finally:
        if previous is sentinel:
            del model._get_candidate_generator
        else:
            model._get_candidate_generator = previous
    drafter.end()
    return out
