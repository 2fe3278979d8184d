"""Speculative generation against a ``transformers`` model: :func:`generate`.

The loop itself (draft, verify, commit, record) lives in :mod:`specscale.loop` and is shared with trace
replay; this module puts a :class:`~specscale.targets.ModelTarget` behind it: one forward pass of the
model scores each draft tree, and greedy acceptance or lossless speculative sampling picks what is
committed. The output is token for token what plain decoding returns (greedy), or has exactly its
distribution (sampling).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from specscale.args import check_int
from specscale.drafters.base import Drafter, NoDraft
from specscale.errors import InvalidArgumentError
from specscale.loop import (
    GenerationOutput,
    GenerationStats,
    Stopper,
    eos_ids,
    generate_from_trace,
    model_vocab_size,
    run_loop,
)
from specscale.sampling import SamplingParams
from specscale.targets import ModelTarget
from specscale.trees import common_prefix_length
from specscale.verify import ModelVerifier, PrefixCache, TreeMaskUnsupportedError

__all__ = [
    "GenerationOutput",
    "GenerationStats",
    "ModelVerifier",
    "PrefixCache",
    "SamplingParams",
    "SpecscaleCandidateGenerator",
    "TreeMaskUnsupportedError",
    "assisted_generate",
    "generate",
    "generate_from_trace",
]


def generate(
    model: Any,
    input_ids: Any,
    drafter: Drafter | None = None,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    eos_token_id: int | Sequence[int] | None = None,
    stop: str | Sequence[str] | Sequence[Sequence[int]] | None = None,
    tokenizer: Any = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    tree: bool | str = "auto",
    max_draft_tokens: int = 64,
    prefix_cache: PrefixCache | None = None,
    return_cache: bool = False,
) -> GenerationOutput:
    """Generate with speculative decoding; lossless with respect to plain decoding of ``model``.

    Args:
        model: a ``transformers`` causal LM (e.g. from ``AutoModelForCausalLM``), batch size 1.
        input_ids: the prompt: a list of ints, a 1D tensor/array, or a ``[1, n]`` tensor/array.
        drafter: a :class:`~specscale.drafters.Drafter`; ``None`` means :class:`NoDraft` (plain decoding).
        max_new_tokens: most tokens generated.
        temperature: ``0`` for greedy decoding; otherwise sampling at this temperature.
        top_p, top_k: nucleus and top-k filters for sampling (``1.0`` / ``0`` disable them), applied after
            temperature in the order ``transformers`` uses.
        eos_token_id: an id or a list of ids that end generation (kept in the output); ``None`` takes
            ``model.generation_config.eos_token_id``; ``[]`` disables EOS.
        stop: stop strings (a string or a list of strings; needs ``tokenizer``), or stop token sequences
            (a list of lists of ints). Generation ends with the token that completes one.
        tokenizer: decodes generated tokens for ``stop`` strings.
        seed, generator: seed the sampling draws (a CPU ``torch.Generator``); default: torch's global RNG.
        tree: ``"auto"``: verify tree drafts where the model supports custom attention masks, else their
            first chain; ``True``: require tree support; ``False``: chains only.
        max_draft_tokens: cap on draft nodes per step, whatever the drafter proposes.
        prefix_cache: a :class:`~specscale.verify.PrefixCache` (e.g. ``PrefixCache.prefill(model,
            prompt[:-1])``, computed once for many samples, or a previous generation's ``.cache``). A
            copy of it, cut to its longest common prefix with the prompt (at most ``len(prompt) - 1``
            tokens: the last prompt token is always fed), replaces that part of the prefill; the output
            is the same tokens as without it. ``stats.reused_prefix_tokens`` says how many were reused.
        return_cache: keep the final KV cache in ``output.cache`` (the committed tokens).

    Returns:
        :class:`GenerationOutput` with ``.new_tokens`` and ``.stats``.

    Only the processors named here are applied; unlike ``model.generate``, nothing is taken from
    ``model.generation_config`` except the EOS default (no implicit ``top_k=50``, no repetition penalty),
    so ``generate(model, ids, temperature=t)`` samples exactly ``softmax(logits / t)``.

    Example::

        out = specscale.generate(model, tok("Hello", return_tensors="pt").input_ids,
                                 drafter=specscale.PromptLookup(), max_new_tokens=64)
        print(tok.decode(out.new_tokens), out.stats.mean_accepted_tokens)
    """
    t_start = time.perf_counter()
    prompt = _prompt_tokens(input_ids)
    vocab = model_vocab_size(model)
    for i, t in enumerate(prompt):
        if t < 0 or (vocab is not None and t >= vocab):
            raise InvalidArgumentError(f"input_ids[{i}] = {t} is outside the vocabulary [0, {vocab})")
    check_int("max_new_tokens", max_new_tokens, 0)
    check_int("max_draft_tokens", max_draft_tokens, 0)
    params = SamplingParams(temperature=float(temperature), top_k=top_k, top_p=float(top_p))
    eos = eos_ids(eos_token_id if eos_token_id is not None else _model_eos(model))
    stopper = Stopper(stop, tokenizer)
    if drafter is None:
        drafter = NoDraft()
    if not isinstance(drafter, Drafter):
        raise InvalidArgumentError(
            f"drafter must be a specscale.Drafter (subclass it and implement propose), got {type(drafter).__name__}"
        )
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    if generator is not None and torch.device(generator.device).type != "cpu":
        raise InvalidArgumentError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
    if drafter.samples_drafts:
        # Drafters that sample (SpS with sampled drafts) draw from the target's processed distribution
        # family with the same generator, so a seeded run stays reproducible.
        drafter.configure_sampling(params, generator)

    cache, reused, copy_seconds = None, 0, 0.0
    if prefix_cache is not None:
        if not isinstance(prefix_cache, PrefixCache):
            raise InvalidArgumentError(
                f"prefix_cache must be a specscale.PrefixCache, got {type(prefix_cache).__name__}"
            )
        reused = min(common_prefix_length(prefix_cache.tokens, prompt), len(prompt) - 1)
        if reused > 0:
            t_copy = time.perf_counter()
            cache = prefix_cache.fork(reused)
            copy_seconds = time.perf_counter() - t_copy
    feature_layers, prefix_features = None, None
    if drafter.wants_hidden_states:
        # Feature drafters (EAGLE-3) read chosen layers' hidden states of every committed token.
        feature_layers = tuple(drafter.hidden_state_layers(model))
        if cache is not None and prefix_cache is not None:
            prefix_features = prefix_cache.features_for(feature_layers, reused)
    target = ModelTarget(
        model,
        params,
        generator=generator,
        tree=tree,
        cache=cache,
        cached=reused,
        feature_layers=feature_layers,
        prefix_features=prefix_features,
        keep_features=return_cache,
    )
    out = run_loop(target, drafter, prompt, max_new_tokens, max_draft_tokens, eos, stopper, vocab, t_start)
    out.stats.reused_prefix_tokens = reused if cache is not None else 0
    out.stats.cache_copy_seconds = copy_seconds
    if return_cache:
        out.cache = target.export(out.prompt_tokens + out.new_tokens)
    return out


# --- argument handling ---------------------------------------------------------------------------------


def _prompt_tokens(input_ids: Any) -> list[int]:
    x = input_ids
    if isinstance(x, torch.Tensor):
        if x.dim() == 2:
            if x.shape[0] != 1:
                raise InvalidArgumentError(
                    f"input_ids must hold one sequence (batch size 1), got shape {tuple(x.shape)}"
                )
            x = x[0]
        if x.dim() != 1:
            raise InvalidArgumentError(f"input_ids must be 1D or [1, n], got shape {tuple(x.shape)}")
        if x.is_floating_point() or x.is_complex():
            raise InvalidArgumentError(f"input_ids must hold integers, got dtype {x.dtype}")
        out = x.tolist()
    elif hasattr(x, "tolist") and hasattr(x, "ndim"):  # numpy
        if x.ndim == 2:
            if x.shape[0] != 1:
                raise InvalidArgumentError(
                    f"input_ids must hold one sequence (batch size 1), got shape {tuple(x.shape)}"
                )
            x = x[0]
        if x.ndim != 1 or x.dtype.kind not in "iu":
            raise InvalidArgumentError(f"input_ids must be a 1D integer array, got {x.dtype} {x.shape}")
        out = x.tolist()
    elif isinstance(x, (list, tuple)):
        out = list(x)
        if out and isinstance(out[0], (list, tuple)):
            if len(out) != 1:
                raise InvalidArgumentError(f"input_ids must hold one sequence (batch size 1), got {len(out)}")
            out = list(out[0])
    else:
        raise InvalidArgumentError(
            f"input_ids must be a list of ints, a tensor or an array, got {type(x).__name__}"
        )
    for i, t in enumerate(out):
        if isinstance(t, bool) or not isinstance(t, int):
            raise InvalidArgumentError(f"input_ids[{i}] = {t!r} is not an int")
    if not out:
        raise InvalidArgumentError("input_ids is empty: generation needs at least one prompt token")
    return out


def _model_eos(model: Any) -> Any:
    """The EOS id(s) of ``model.generation_config``, or None."""
    gen_config = getattr(model, "generation_config", None)
    return getattr(gen_config, "eos_token_id", None) if gen_config is not None else None


# The adapter depends on transformers' generation internals; import it last and keep engine usable
# where it cannot load.
from specscale.hf import SpecscaleCandidateGenerator, assisted_generate
