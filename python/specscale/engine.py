"""The speculative generation loop: draft, verify, accept, update the stores, count.

:func:`generate` drives every run. Each step the drafter proposes a :class:`~specscale.DraftTree`; one
forward pass of the target scores it (:class:`~specscale.verify.ModelVerifier`); the longest path the
target agrees with plus the target's own next token are committed (:mod:`specscale.sampling`); the
drafter observes them. The output is token for token what plain decoding returns (greedy), or has
exactly its distribution (sampling).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from specscale.drafters import (
    AdaptiveLength,
    Drafter,
    NgramTrieDrafter,
    NoDraft,
    PromptLookup,
    SuffixAutomatonDrafter,
)
from specscale.errors import InvalidArgumentError
from specscale.sampling import SamplingParams, children_lists
from specscale.targets import ModelTarget, Target, TraceTarget
from specscale.verify import (
    ModelVerifier,
    PrefixCache,
    TreeMaskUnsupportedError,
    common_prefix_length,
    is_chain,
    tree_to_chain,
    validate_tree,
)

__all__ = [
    "AdaptiveLength",
    "Drafter",
    "GenerationOutput",
    "GenerationStats",
    "ModelVerifier",
    "NgramTrieDrafter",
    "NoDraft",
    "PrefixCache",
    "PromptLookup",
    "SamplingParams",
    "SpecscaleCandidateGenerator",
    "SuffixAutomatonDrafter",
    "TreeMaskUnsupportedError",
    "assisted_generate",
    "generate",
    "generate_from_trace",
]


@dataclass
class GenerationStats:
    """Counters of one :func:`generate` run.

    ``accepted_histogram[k]`` counts steps that committed ``k`` tokens (accepted draft tokens plus the
    target's own, so ``k >= 1``). ``mean_accepted_tokens`` (MAT) is ``new_tokens / steps``: it counts the
    target's own token, so plain decoding has MAT 1. ``draft_seconds`` is time in the drafter (propose and
    observe); ``verify_seconds`` is the forward pass, acceptance and cache update (the first step includes
    the prefill of the prompt: see ``prefill_seconds``); ``forward_seconds`` is the model's forward passes
    alone; ``overhead_seconds`` is wall time outside them: drafting, draft validation, acceptance, cache
    crop/compaction, stop checks and the loop's bookkeeping.
    """

    steps: int = 0
    new_tokens: int = 0
    draft_tokens: int = 0
    accepted_draft_tokens: int = 0
    accepted_histogram: dict[int, int] = field(default_factory=dict)
    #: One ``(context_len, draft_nodes, committed_tokens)`` per step, for cost models and replay reports.
    step_records: list[tuple[int, int, int]] = field(default_factory=list, repr=False)
    draft_seconds: float = 0.0
    verify_seconds: float = 0.0
    forward_seconds: float = 0.0
    prefill_seconds: float = 0.0
    wall_seconds: float = 0.0
    #: Prompt tokens whose KV cache came from ``prefix_cache`` instead of being prefilled.
    reused_prefix_tokens: int = 0
    #: Time spent copying (and cropping) ``prefix_cache`` (included in ``wall_seconds``).
    cache_copy_seconds: float = 0.0

    @property
    def mean_accepted_tokens(self) -> float:
        """Tokens committed per step (MAT), counting the target's own token: ``>= 1``."""
        return self.new_tokens / self.steps if self.steps else 0.0

    @property
    def acceptance_rate(self) -> float:
        """Accepted draft tokens over drafted nodes (for trees, nodes off the path count as drafted)."""
        return self.accepted_draft_tokens / self.draft_tokens if self.draft_tokens else 0.0

    @property
    def overhead_seconds(self) -> float:
        """Wall time outside the model's forward passes: drafting plus everything else the loop does."""
        return max(0.0, self.wall_seconds - self.forward_seconds)

    @property
    def overhead_per_step_us(self) -> float:
        """:attr:`overhead_seconds` per step, in microseconds."""
        return 1e6 * self.overhead_seconds / self.steps if self.steps else 0.0

    def __repr__(self) -> str:
        return (
            f"GenerationStats(steps={self.steps}, new_tokens={self.new_tokens}, "
            f"MAT={self.mean_accepted_tokens:.2f}, draft={self.draft_seconds * 1e3:.1f}ms, "
            f"verify={self.verify_seconds * 1e3:.1f}ms, wall={self.wall_seconds * 1e3:.1f}ms)"
        )


@dataclass
class GenerationOutput:
    """Result of :func:`generate`.

    Attributes:
        new_tokens: the generated token ids (EOS or the stop sequence included when they ended the run).
        prompt_tokens: the prompt's token ids.
        finish_reason: ``"length"`` (``max_new_tokens`` reached), ``"eos"`` or ``"stop"``.
        stats: :class:`GenerationStats`.
        cache: with ``return_cache=True``, the KV cache of the committed tokens (a
            :class:`~specscale.verify.PrefixCache` to pass as ``prefix_cache`` to a later generation
            whose prompt extends this conversation); else None.
    """

    new_tokens: list[int]
    prompt_tokens: list[int]
    finish_reason: str
    stats: GenerationStats
    cache: PrefixCache | None = field(default=None, repr=False)

    @property
    def sequences(self) -> torch.Tensor:
        """Prompt plus new tokens as a ``[1, n]`` long tensor, like ``model.generate``'s output."""
        return torch.tensor([self.prompt_tokens + self.new_tokens], dtype=torch.long)


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
    vocab = _model_vocab(model)
    for i, t in enumerate(prompt):
        if t < 0 or (vocab is not None and t >= vocab):
            raise InvalidArgumentError(f"input_ids[{i}] = {t} is outside the vocabulary [0, {vocab})")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise InvalidArgumentError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if isinstance(max_draft_tokens, bool) or not isinstance(max_draft_tokens, int) or max_draft_tokens < 0:
        raise InvalidArgumentError(f"max_draft_tokens must be an int >= 0, got {max_draft_tokens!r}")
    params = SamplingParams(temperature=float(temperature), top_k=top_k, top_p=float(top_p))
    eos = _eos_set(model, eos_token_id)
    stopper = _Stopper(stop, tokenizer)
    if drafter is None:
        drafter = NoDraft()
    if not callable(getattr(drafter, "propose", None)):
        raise InvalidArgumentError(f"drafter must implement propose(context, max_tokens), got {drafter!r}")
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    if generator is not None and torch.device(generator.device).type != "cpu":
        raise InvalidArgumentError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
    if getattr(drafter, "samples_drafts", False):
        # Drafters that sample (SpS with sampled drafts) draw from the target's processed distribution
        # family with the same generator, so a seeded run stays reproducible.
        drafter.configure_sampling(params, generator)  # type: ignore[attr-defined]

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
    if getattr(drafter, "wants_hidden_states", False):
        # Feature drafters (EAGLE-3) read chosen layers' hidden states of every committed token.
        feature_layers = tuple(drafter.hidden_state_layers(model))  # type: ignore[attr-defined]
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
    out = _speculate(target, drafter, prompt, max_new_tokens, max_draft_tokens, eos, stopper, vocab, t_start)
    out.stats.reused_prefix_tokens = reused if cache is not None else 0
    out.stats.cache_copy_seconds = copy_seconds
    if return_cache:
        out.cache = target.export(out.prompt_tokens + out.new_tokens)
    return out


def generate_from_trace(
    prompt: Sequence[int],
    continuation: Sequence[int],
    drafter: Drafter | None = None,
    max_draft_tokens: int = 64,
) -> GenerationOutput:
    """Replays a recorded greedy generation: what a greedy speculative run with ``drafter`` would accept.

    ``continuation`` is what the model wrote after ``prompt``. The run goes through the same loop as
    :func:`generate`, with a :class:`~specscale.targets.TraceTarget` in place of the model, so its
    steps, accepted lengths and MAT are exactly those of a live greedy run of that model with that
    drafter (drafting time is real; verification time is zero).
    """
    t_start = time.perf_counter()
    prompt = _prompt_tokens(list(prompt))
    continuation = [int(t) for t in continuation]
    if drafter is None:
        drafter = NoDraft()
    target = TraceTarget(continuation)
    return _speculate(
        target,
        drafter,
        prompt,
        len(continuation),
        max_draft_tokens,
        frozenset(),
        _Stopper(None, None),
        None,
        t_start,
    )


def _speculate(
    target: Target,
    drafter: Drafter,
    prompt: list[int],
    max_new_tokens: int,
    max_draft_tokens: int,
    eos: frozenset[int],
    stopper: _Stopper,
    vocab: int | None,
    t_start: float,
) -> GenerationOutput:
    """The loop: draft, verify, accept, let the drafter observe, count."""
    stats = GenerationStats()
    context = list(prompt)
    new: list[int] = []
    finish = "length"
    wants_logits = bool(getattr(drafter, "wants_logits", False))
    wants_hidden = bool(getattr(drafter, "wants_hidden_states", False))
    drafter.begin(list(prompt))
    try:
        if wants_hidden and hasattr(target, "initial_features"):
            initial = target.initial_features()
            if initial is not None:
                drafter.observe_hidden_states(*initial)  # type: ignore[attr-defined]
        while len(new) < max_new_tokens:
            remaining = max_new_tokens - len(new)
            # The target adds one token of its own, so drafting beyond remaining - 1 can never be used.
            limit = min(remaining - 1, max_draft_tokens)
            t0 = time.perf_counter()
            if limit > 0:
                draft = drafter.propose(context, limit)
                try:
                    tokens, parents = list(draft.tokens), list(draft.parents)
                except AttributeError:
                    raise InvalidArgumentError(
                        f"{type(drafter).__name__}.propose must return a DraftTree, got {type(draft).__name__}"
                    ) from None
            else:
                tokens, parents = [], []
            t1 = time.perf_counter()
            if len(tokens) > limit:
                # Parents come before children, so any prefix of the nodes is a tree.
                tokens, parents = tokens[:limit], parents[:limit]
            validate_tree(tokens, parents, vocab, who=f"draft from {type(drafter).__name__}")
            draft_probs = getattr(drafter, "draft_probabilities", None) if tokens else None
            if not target.tree_enabled and not is_chain(parents):
                tokens, parents = tree_to_chain(tokens, parents)
                draft_probs = None  # node indices changed; the deterministic rule is exact for any draft

            children = children_lists(parents)
            path, own, forward_seconds = target.verify(context, tokens, parents, children, draft_probs)
            if wants_logits:
                # Drafters such as Token Recycling learn from every row the target scored.
                t_logits = time.perf_counter()
                logits = getattr(target, "last_logits", None)
                if logits is not None:
                    drafter.observe_logits([context[-1], *tokens], logits)  # type: ignore[attr-defined]
                t1 += time.perf_counter() - t_logits  # counted as drafting, not verification
            if wants_hidden:
                features = target.committed_features(path) if hasattr(target, "committed_features") else None
                if features is not None:
                    drafter.observe_hidden_states(*features)  # type: ignore[attr-defined]
            emitted = [tokens[i] for i in path] + [own]
            done = False
            committed: list[int] = []
            for tok in emitted[:remaining]:
                committed.append(tok)
                new.append(tok)
                if tok in eos:
                    finish, done = "eos", True
                    break
                if stopper.active and stopper.hit(new):
                    finish, done = "stop", True
                    break
            if len(new) >= max_new_tokens and not done:
                done = True
            if not done:
                target.commit(path)
            t2 = time.perf_counter()

            context.extend(committed)
            accepted = min(len(path), len(committed))
            drafter.observe(committed, drafted=len(tokens), accepted=accepted)
            t3 = time.perf_counter()

            stats.steps += 1
            stats.step_records.append((len(context) - len(committed), len(tokens), len(committed)))
            stats.draft_tokens += len(tokens)
            stats.accepted_draft_tokens += accepted
            stats.accepted_histogram[len(committed)] = stats.accepted_histogram.get(len(committed), 0) + 1
            stats.draft_seconds += (t1 - t0) + (t3 - t2)
            stats.verify_seconds += t2 - t1
            stats.forward_seconds += forward_seconds
            if stats.steps == 1:
                stats.prefill_seconds = t2 - t1
            if done:
                break
    finally:
        drafter.end()
    stats.new_tokens = len(new)
    stats.wall_seconds = time.perf_counter() - t_start
    return GenerationOutput(new_tokens=new, prompt_tokens=prompt, finish_reason=finish, stats=stats)


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


def _model_vocab(model: Any) -> int | None:
    config = getattr(model, "config", None)
    if config is None:
        raise InvalidArgumentError(
            f"model must be a transformers causal LM with a .config, got {type(model).__name__}"
        )
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    v = getattr(config, "vocab_size", None)
    return int(v) if v is not None else None


def _eos_set(model: Any, eos_token_id: Any) -> frozenset[int]:
    if eos_token_id is None:
        gen_config = getattr(model, "generation_config", None)
        eos_token_id = getattr(gen_config, "eos_token_id", None) if gen_config is not None else None
        if eos_token_id is None:
            return frozenset()
    if isinstance(eos_token_id, torch.Tensor):
        eos_token_id = eos_token_id.flatten().tolist()
    if isinstance(eos_token_id, int) and not isinstance(eos_token_id, bool):
        eos_token_id = [eos_token_id]
    if not isinstance(eos_token_id, Iterable):
        raise InvalidArgumentError(f"eos_token_id must be an int or a list of ints, got {eos_token_id!r}")
    ids = list(eos_token_id)
    for t in ids:
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise InvalidArgumentError(f"eos_token_id must hold ints >= 0, got {eos_token_id!r}")
    return frozenset(ids)


class _Stopper:
    """Decides, one committed token at a time, whether a stop string or stop token sequence completed."""

    def __init__(self, stop: Any, tokenizer: Any) -> None:
        self.strings: list[str] = []
        self.sequences: list[list[int]] = []
        if stop is None:
            pass
        elif isinstance(stop, str):
            self.strings = [stop]
        elif isinstance(stop, (list, tuple)):
            for s in stop:
                if isinstance(s, str):
                    self.strings.append(s)
                elif (
                    isinstance(s, (list, tuple))
                    and s
                    and all(isinstance(t, int) and not isinstance(t, bool) for t in s)
                ):
                    self.sequences.append(list(s))
                else:
                    raise InvalidArgumentError(
                        f"stop entries must be non-empty strings or non-empty lists of ints, got {s!r}"
                    )
        else:
            raise InvalidArgumentError(
                f"stop must be a string or a list of strings / token lists, got {stop!r}"
            )
        if any(s == "" for s in self.strings):
            raise InvalidArgumentError("stop strings must be non-empty")
        if self.strings and tokenizer is None:
            raise InvalidArgumentError(f"stop strings {self.strings!r} need tokenizer= to decode the tokens")
        self.tokenizer = tokenizer
        # Each token decodes to at least one character in practice, so a stop string of c characters
        # completed by the newest token lies within its last c + 1 tokens; a few more cover odd tokens.
        self.window = max((len(s) for s in self.strings), default=0) + 4
        self.active = bool(self.strings or self.sequences)

    def hit(self, new: list[int]) -> bool:
        for seq in self.sequences:
            if len(new) >= len(seq) and new[-len(seq) :] == seq:
                return True
        if self.strings:
            text = self.tokenizer.decode(new[-self.window :])
            return any(s in text for s in self.strings)
        return False


# The adapter depends on transformers' generation internals; import it last and keep engine usable
# where it cannot load.
from specscale.hf import SpecscaleCandidateGenerator, assisted_generate
