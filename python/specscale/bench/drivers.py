"""Test-time scaling drivers: Best-of-N and multi-round thinking, drafting from a method's stores.

A driver takes a :class:`~specscale.methods.MethodRun` (or a method name): every sample and round of a
problem gets its drafter from the run, so they write into and draft from the same family store (sample
``k`` drafts from samples ``1..k-1`` as well as from its own prompt and prefix, round ``k`` from the rounds
before it), and the driver ends the run's family when the problem is done. Computation is reused too: the
prompt's KV cache is computed once and copied for every Best-of-N sample, and where round ``k``'s input
starts like round ``k-1``'s conversation the cached common prefix is reused instead of prefilled again.

Samples run one after another; each is an independent call built from the same prompt, so running them
as a batch later changes the scheduling, not the interface.

Thinking budget (the SpecTTS-Bench protocol): generation runs up to ``think_fraction * max_new_tokens``
tokens; if the think block has not been closed by then, a fixed sentence that closes it
(:data:`~specscale.bench.prompts.DEFAULT_THINK_END`) is appended to the context, for every method alike,
and generation continues for the rest of the budget. The injected tokens are context, not generated
tokens.

Example::

    run = specscale.methods.get("sam").open(target=model)
    result = best_of_n(model, tok, problem, n=4, method=run, settings=DecodeSettings(temperature=0.6))
    print(result.majority_answer, result.correct, [s.mat for s in result.samples])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from specscale.args import check_choice, check_int
from specscale.bench.answers import extract_answer, grade, majority_vote
from specscale.bench.prompts import (
    DEFAULT_ROUND_TEMPLATE,
    DEFAULT_THINK_END,
    DEFAULT_VERIFY_INSTRUCTION,
    FEEDBACK,
    THINK_CLOSE,
    build_prompt_ids,
    final_answer_text,
    round_prompt,
    text_ids,
    think_close_ids,
)
from specscale.device import synchronize
from specscale.drafters.base import Drafter, DrafterWrapper
from specscale.engine import generate
from specscale.loop import GenerationStats, eos_ids
from specscale.methods import MethodRun
from specscale.verify import PrefixCache

__all__ = [
    "BestOfNResult",
    "DecodeSettings",
    "MultiRoundResult",
    "SampleResult",
    "ThinkingSegment",
    "best_of_n",
    "multi_round",
    "open_method",
    "run_sample",
]


@dataclass
class DecodeSettings:
    """How one sample or round is decoded.

    Attributes:
        max_new_tokens: generation budget per sample/round (injected think-end tokens not counted).
        temperature, top_p, top_k: sampling (temperature 0 is greedy).
        think_fraction: where the end of thinking is forced, as a fraction of ``max_new_tokens``;
            ``None`` never forces it.
        force_think_end: ``"auto"``: only when the tokenizer has a ``</think>`` token; ``True``: always
            (the protocol asks for it); ``False``: never.
        think_end_text: the injected text (it must close the think block).
        chat_template: ``"auto"``: the tokenizer's chat template where it has one, else the plain text.
        system_prompt: an optional system message for the chat template.
        reuse_prefix: reuse KV caches across samples and rounds (lossless; saves prefill).
        seed: sample ``k`` of a problem samples with ``seed + k`` (rounds likewise).
        eos_token_id: EOS ids (default: the tokenizer's and the model's).
        tree: tree verification: ``"auto"`` where the model supports tree masks, ``False`` for chains
            only (see :func:`specscale.generate`).
    """

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    think_fraction: float | None = 0.8
    force_think_end: bool | Literal["auto"] = "auto"
    think_end_text: str = DEFAULT_THINK_END
    chat_template: bool | Literal["auto"] = "auto"
    system_prompt: str | None = None
    reuse_prefix: bool = True
    seed: int = 0
    eos_token_id: int | list[int] | None = None
    tree: bool | Literal["auto"] = "auto"


def open_method(method: MethodRun | str, model: Any) -> MethodRun:
    """``method`` itself, or a run of the registered method of that name with its default settings."""
    if isinstance(method, MethodRun):
        return method
    from specscale import methods

    return methods.get(method).open(target=model)


# ---------------------------------------------------------------------------------------------------
# One sample (or round): generation with an optional thinking budget
# ---------------------------------------------------------------------------------------------------


@dataclass
class SampleResult:
    """One sample of Best-of-N or one round of multi-round thinking.

    ``new_tokens`` counts generated tokens only (not the injected think-end sentence); ``wall_seconds``
    is wall clock including prefill (and a share of a prefix computed once for all samples);
    ``tokens_per_second = new_tokens / wall_seconds``; ``mat`` is tokens per step (AR: 1);
    ``draft_tokens`` the draft nodes the method proposed (what verification paid for).
    """

    index: int
    prompt_tokens: int
    new_tokens: int
    steps: int
    mat: float
    wall_seconds: float
    tokens_per_second: float
    prefill_seconds: float
    draft_seconds: float
    accepted_histogram: dict[int, int]
    finish_reason: str
    forced_think_end: bool
    reused_prefix_tokens: int
    prefill_saved_seconds: float
    answer: str | None
    correct: bool
    draft_tokens: int = 0
    text: str = field(repr=False, default="")
    tokens: list[int] = field(repr=False, default_factory=list)
    #: One ``[context_len, draft_nodes, committed_tokens]`` per step, for
    #: :func:`~specscale.bench.costmodel.predict_speedup` against the measured speedup.
    step_records: list[list[int]] = field(repr=False, default_factory=list)
    #: The prompt's token ids, and the think-end tokens injected after ``tokens[:think_end_at]`` (if
    #: any): with ``tokens`` they give exactly what the sample wrote into its store (see ``written``).
    prompt_ids: list[int] = field(repr=False, default_factory=list)
    think_end_at: int = -1
    think_end: list[int] = field(repr=False, default_factory=list)

    @property
    def written(self) -> list[int]:
        """Everything after the prompt, in order: the generated tokens with any injected think end."""
        if self.think_end_at < 0:
            return list(self.tokens)
        return self.tokens[: self.think_end_at] + self.think_end + self.tokens[self.think_end_at :]

    def to_dict(self, with_text: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d["accepted_histogram"] = {str(k): v for k, v in sorted(self.accepted_histogram.items())}
        if not with_text:
            for key in ("text", "tokens", "step_records", "prompt_ids", "think_end"):
                d.pop(key)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleResult:
        d = dict(d)
        d["accepted_histogram"] = {int(k): int(v) for k, v in d.get("accepted_histogram", {}).items()}
        return cls(**d)


class ThinkingSegment(DrafterWrapper):
    """Presents one drafter to several consecutive ``generate`` calls as one generation.

    The first segment (``offset=None``) begins the inner drafter's generation; later ones only feed it
    the context tokens added between segments (the injected think-end sentence), so every token enters
    the shared store once. Ending is left to the caller. Every other hook is forwarded.
    """

    def __init__(self, inner: Drafter, offset: int | None) -> None:
        super().__init__(inner)
        self.offset = offset

    def begin(self, prompt: Sequence[int]) -> None:
        if self.offset is None:
            self.inner.begin(prompt)
        elif len(prompt) > self.offset:
            self.inner.observe(list(prompt[self.offset :]))

    def end(self) -> None:
        pass


@dataclass
class _Generated:
    tokens: list[int]  # generated tokens, injected ones excluded
    context: list[int]  # prompt + everything after it (injected included)
    stats: GenerationStats
    finish_reason: str
    think_end_at: int  # len(tokens) when the think end was injected, else -1
    think_end: list[int]
    cache: PrefixCache | None


def _device_of(model: Any) -> torch.device:
    parameter = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return parameter.device if parameter is not None else torch.device("cpu")


def _answer_kind(problem: Any) -> str:
    """How ``problem``'s answers are graded: a :class:`~specscale.bench.datasets.Problem` says so; any
    other object with ``.prompt`` and ``.answer`` is graded as math."""
    return str(getattr(problem, "answer_kind", "math"))


def _eos(model: Any, tokenizer: Any, settings: DecodeSettings) -> list[int]:
    """The EOS ids: the settings' where given, else the model's and the tokenizer's together."""
    if settings.eos_token_id is not None:
        return sorted(eos_ids(settings.eos_token_id))
    gen = getattr(model, "generation_config", None)
    ids = set(eos_ids(getattr(gen, "eos_token_id", None) if gen is not None else None))
    ids |= eos_ids(getattr(tokenizer, "eos_token_id", None))
    return sorted(ids)


def _generate_with_budget(
    model: Any,
    tokenizer: Any,
    prompt: list[int],
    drafter: Drafter,
    settings: DecodeSettings,
    budget: int,
    generator: torch.Generator | None,
    prefix: PrefixCache | None,
    keep_cache: bool,
) -> _Generated:
    total = settings.max_new_tokens
    close = think_close_ids(tokenizer)
    force = settings.force_think_end
    enabled = settings.think_fraction is not None and (force is True or (force == "auto" and close is not None))
    common: dict[str, Any] = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "top_k": settings.top_k,
        "eos_token_id": _eos(model, tokenizer, settings),
        "tokenizer": tokenizer,
        "generator": generator,
        "max_draft_tokens": budget,
        "tree": settings.tree,
    }
    reuse = settings.reuse_prefix
    if not enabled:
        out = generate(
            model,
            prompt,
            drafter=drafter,
            max_new_tokens=total,
            prefix_cache=prefix if reuse else None,
            return_cache=keep_cache and reuse,
            **common,
        )
        return _Generated(out.new_tokens, prompt + out.new_tokens, out.stats, out.finish_reason, -1, [], out.cache)

    think_budget = max(0, min(total, int(settings.think_fraction * total)))  # type: ignore[operator]
    stop: Any = [close] if close is not None else [THINK_CLOSE]
    first = generate(
        model,
        prompt,
        drafter=ThinkingSegment(drafter, None),
        max_new_tokens=think_budget,
        stop=stop,
        prefix_cache=prefix if reuse else None,
        return_cache=reuse,
        **common,
    )
    tokens = list(first.new_tokens)
    parts = [first.stats]
    context = prompt + tokens
    finish = first.finish_reason
    think_end_at, think_end = -1, []
    if finish != "eos" and len(tokens) < total:
        if finish == "length":  # the think block is still open: close it, for every method alike
            think_end_at, think_end = len(tokens), text_ids(tokenizer, settings.think_end_text)
            context = context + think_end
        second = generate(
            model,
            context,
            drafter=ThinkingSegment(drafter, len(prompt) + len(tokens)),
            max_new_tokens=total - len(tokens),
            prefix_cache=first.cache if reuse else None,
            return_cache=keep_cache and reuse,
            **common,
        )
        tokens += second.new_tokens
        context = context + second.new_tokens
        parts.append(second.stats)
        finish = second.finish_reason
        cache = second.cache
    else:
        cache = first.cache if keep_cache else None
    drafter.end()
    return _Generated(
        tokens,
        context,
        GenerationStats.merge(parts),
        finish if finish != "stop" else "length",
        think_end_at,
        think_end,
        cache,
    )


def run_sample(
    model: Any,
    tokenizer: Any,
    prompt: list[int],
    drafter: Drafter,
    settings: DecodeSettings,
    budget: int = 64,
    index: int = 0,
    reference: str | None = None,
    prefix: PrefixCache | None = None,
    prefix_share_seconds: float = 0.0,
    keep_cache: bool = False,
    answer_kind: str = "math",
) -> tuple[SampleResult, _Generated]:
    """One generation of ``prompt`` with ``drafter`` (at most ``budget`` draft nodes per step): the
    sample's figures and the raw output. ``answer_kind`` says how the answer is graded against
    ``reference`` (see :func:`~specscale.bench.answers.grade`)."""
    generator = torch.Generator().manual_seed(settings.seed + index) if settings.temperature > 0 else None
    device = _device_of(model)
    synchronize(device)  # time this sample's work only, not kernels still queued before it
    t0 = time.perf_counter()
    gen = _generate_with_budget(model, tokenizer, prompt, drafter, settings, budget, generator, prefix, keep_cache)
    synchronize(device)
    wall = time.perf_counter() - t0 + prefix_share_seconds
    # The response as written: generated tokens plus any injected think-end sentence.
    text = tokenizer.decode(gen.context[len(prompt) :], skip_special_tokens=True)
    answer = extract_answer(final_answer_text(text))
    s = gen.stats
    result = SampleResult(
        index=index,
        prompt_tokens=len(prompt),
        new_tokens=len(gen.tokens),
        steps=s.steps,
        mat=len(gen.tokens) / s.steps if s.steps else 0.0,
        wall_seconds=wall,
        tokens_per_second=len(gen.tokens) / wall if wall > 0 else 0.0,
        prefill_seconds=s.prefill_seconds,
        draft_seconds=s.draft_seconds,
        accepted_histogram=dict(s.accepted_histogram),
        finish_reason=gen.finish_reason,
        forced_think_end=gen.think_end_at >= 0,
        reused_prefix_tokens=s.reused_prefix_tokens,
        prefill_saved_seconds=0.0,
        answer=answer,
        correct=grade(answer, reference, answer_kind) if reference is not None else False,
        draft_tokens=s.draft_tokens,
        text=text,
        tokens=list(gen.tokens),
        step_records=[list(r) for r in s.step_records],
        prompt_ids=list(prompt),
        think_end_at=gen.think_end_at,
        think_end=list(gen.think_end),
    )
    return result, gen


# ---------------------------------------------------------------------------------------------------
# Best-of-N
# ---------------------------------------------------------------------------------------------------


@dataclass
class BestOfNResult:
    """``n`` samples of one problem with one method, their majority vote and its correctness."""

    method: str
    problem_id: str
    samples: list[SampleResult]
    majority_answer: str | None
    correct: bool
    prefix_tokens: int
    prefix_seconds: float
    prefill_saved_seconds: float

    @property
    def tokens_per_second(self) -> float:
        wall = sum(s.wall_seconds for s in self.samples)
        return sum(s.new_tokens for s in self.samples) / wall if wall > 0 else 0.0


def best_of_n(
    model: Any,
    tokenizer: Any,
    problem: Any,
    n: int,
    method: MethodRun | str,
    settings: DecodeSettings | None = None,
    on_sample: Callable[[SampleResult], None] | None = None,
    end_family: bool = True,
) -> BestOfNResult:
    """``n`` samples of ``problem`` (a :class:`~specscale.bench.datasets.Problem`: ``.prompt``,
    ``.answer``, ``.id``), one after another, every one from the same prompt, drafting with ``method``.

    The samples share the run's family store, so sample ``k`` drafts from samples ``1..k-1``; the family
    ends with the problem unless ``end_family=False``. With ``settings.reuse_prefix`` the prompt's KV
    cache (all but its last token) is computed once and copied for each sample; its cost is shared
    equally among the samples' wall times, and ``prefill_saved_seconds`` is what the other ``n - 1``
    prefills would have cost minus the copies.
    """
    check_int("n", n, 1)
    settings = settings or DecodeSettings()
    run = open_method(method, model)
    prompt = build_prompt_ids(tokenizer, problem.prompt, settings.chat_template, settings.system_prompt)
    prefix = None
    # The first sample's drafter is made before the prefill: a feature drafter (EAGLE-3, or a hybrid
    # with one) needs the prompt's hidden states recorded with it.
    first = run.drafter()
    if settings.reuse_prefix and n > 1 and len(prompt) > 1:
        layers = first.hidden_state_layers(model) if first.wants_hidden_states else None
        prefix = PrefixCache.prefill(model, prompt[:-1], feature_layers=layers)
    share = prefix.seconds / n if prefix is not None else 0.0
    samples: list[SampleResult] = []
    copies = 0.0
    for k in range(n):
        drafter = first if k == 0 else run.drafter()
        sample, gen = run_sample(
            model,
            tokenizer,
            prompt,
            drafter,
            settings,
            run.budget,
            index=k,
            reference=problem.answer,
            prefix=prefix,
            prefix_share_seconds=share,
            answer_kind=_answer_kind(problem),
        )
        copies += gen.stats.cache_copy_seconds
        if prefix is not None:
            sample.prefill_saved_seconds = max(0.0, prefix.seconds * (n - 1) / n - gen.stats.cache_copy_seconds)
        samples.append(sample)
        if on_sample is not None:
            on_sample(sample)
    if end_family:
        run.end_family()
    vote = majority_vote([s.answer for s in samples])
    saved = max(0.0, prefix.seconds * (n - 1) - copies) if prefix is not None else 0.0
    return BestOfNResult(
        method=run.name,
        problem_id=str(problem.id),
        samples=samples,
        majority_answer=vote,
        correct=grade(vote, problem.answer, _answer_kind(problem)),
        prefix_tokens=len(prefix.tokens) if prefix is not None else 0,
        prefix_seconds=prefix.seconds if prefix is not None else 0.0,
        prefill_saved_seconds=saved,
    )


# ---------------------------------------------------------------------------------------------------
# Multi-round thinking
# ---------------------------------------------------------------------------------------------------


@dataclass
class MultiRoundResult:
    """The rounds of one problem with one method; ``correct`` is the last round's."""

    method: str
    problem_id: str
    rounds: list[SampleResult]
    correct: bool
    #: For rounds 2..k: whether the round's input extends the previous round's conversation (the whole
    #: cached conversation is a prefix of it); each round's ``reused_prefix_tokens`` says how much of
    #: the cached prefix was reused either way.
    extends_previous: list[bool]
    prefill_saved_seconds: float


def multi_round(
    model: Any,
    tokenizer: Any,
    problem: Any,
    rounds: int,
    method: MethodRun | str,
    settings: DecodeSettings | None = None,
    template: str = DEFAULT_ROUND_TEMPLATE,
    feedback: Literal["answer", "after-think", "conversation"] = "answer",
    verify_instruction: str = DEFAULT_VERIFY_INSTRUCTION,
    on_round: Callable[[SampleResult], None] | None = None,
    end_family: bool = True,
) -> MultiRoundResult:
    """``rounds`` rounds of thinking on ``problem``, drafting with ``method``, whose family store persists
    across the rounds (and ends with the problem unless ``end_family=False``).

    ``feedback="answer"``: round ``k`` is a fresh prompt with the question and only the previous final
    answer (:func:`~specscale.bench.prompts.round_prompt`); ``"after-think"`` (the SpecTTS-Bench protocol)
    likewise, with the text after the last ``</think>`` as written, or the bare question when there is
    none. ``feedback="conversation"``:
    round ``k`` continues the chat (the previous rounds' prompts and full responses, then the verify
    instruction as a new user turn). Either way, the previous round's KV cache is reused for the longest
    common token prefix of the two inputs (the whole conversation when round ``k`` extends it, at least
    the shared system/question prefix otherwise); ``extends_previous`` reports the first case,
    ``reused_prefix_tokens`` per round the amount. Time saved is estimated from round 1's prefill rate.
    """
    check_int("rounds", rounds, 1)
    check_choice("feedback", feedback, FEEDBACK)
    settings = settings or DecodeSettings()
    run = open_method(method, model)
    results: list[SampleResult] = []
    extends: list[bool] = []
    messages: list[dict[str, str]] = []
    previous_text: str | None = None
    cache: PrefixCache | None = None
    rate = 0.0  # prefill seconds per token, from round 1
    saved = 0.0
    for r in range(rounds):
        if feedback == "conversation" and previous_text is not None:
            messages = messages + [
                {"role": "assistant", "content": previous_text},
                {"role": "user", "content": verify_instruction},
            ]
        else:
            messages = [{"role": "user", "content": round_prompt(problem, previous_text, template, feedback)}]
        prompt = build_prompt_ids(tokenizer, messages, settings.chat_template, settings.system_prompt)
        if cache is not None:
            extends.append(len(cache.tokens) <= len(prompt) - 1 and prompt[: len(cache.tokens)] == cache.tokens)
        elif r > 0:
            extends.append(False)
        sample, gen = run_sample(
            model,
            tokenizer,
            prompt,
            run.drafter(),
            settings,
            run.budget,
            index=r,
            reference=problem.answer,
            prefix=cache,
            answer_kind=_answer_kind(problem),
            keep_cache=r + 1 < rounds,
        )
        if r == 0 and sample.prefill_seconds > 0:
            rate = sample.prefill_seconds / max(1, len(prompt))
        sample.prefill_saved_seconds = max(0.0, rate * sample.reused_prefix_tokens - gen.stats.cache_copy_seconds)
        saved += sample.prefill_saved_seconds
        results.append(sample)
        if on_round is not None:
            on_round(sample)
        previous_text = sample.text
        cache = gen.cache if settings.reuse_prefix else None
    if end_family:
        run.end_family()
    return MultiRoundResult(
        method=run.name,
        problem_id=str(problem.id),
        rounds=results,
        correct=results[-1].correct,
        extends_previous=extends,
        prefill_saved_seconds=saved,
    )
