"""Test-time scaling drivers: Best-of-N and multi-round thinking with problem-level stores.

A problem's samples and rounds share one family-scope store per method (a
:class:`~specscale.SuffixAutomaton` for ``sam``, an :class:`~specscale.NgramTrie` for ``trie``): every
token of every sample goes in, so sample ``k`` drafts from samples ``1..k-1`` as well as from its own
prompt and prefix, and round ``k`` from the rounds before it. Computation is reused too: the prompt's KV
cache is computed once and copied for every Best-of-N sample, and where round ``k``'s input starts like
round ``k-1``'s conversation the cached common prefix is reused instead of prefilled again.

Samples run one after another; each is an independent call built from the same prompt, so running them
as a batch later changes the scheduling, not the interface.

Thinking budget (the SpecTTS-Bench protocol): generation runs up to ``think_fraction * max_new_tokens``
tokens; if the think block has not been closed by then, a fixed sentence that closes it
(:data:`DEFAULT_THINK_END`) is appended to the context, for every method alike, and generation continues
for the rest of the budget. The injected tokens are context, not generated tokens.

Example::

    stores = ProblemStores()
    result = best_of_n(model, tok, problem, n=4, method="sam", settings=DecodeSettings(temperature=0.6))
    print(result.majority_answer, result.correct, [s.mat for s in result.samples])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from specscale._core import NgramTrie, SuffixAutomaton
from specscale.bench.answers import answers_match, extract_answer, majority_vote
from specscale.drafters import (
    DraftModelDrafter,
    Drafter,
    ExpectedAcceptance,
    HybridDrafter,
    LookaheadDrafter,
    MatchThreshold,
    NgramTrieDrafter,
    NoDraft,
    PromptLookup,
    RetrievalDrafter,
    SuffixAutomatonDrafter,
    TokenRecyclingDrafter,
)
from specscale.drafters.hybrid import CombinePolicy
from specscale.engine import GenerationStats, generate
from specscale.errors import InvalidArgumentError
from specscale.verify import PrefixCache

__all__ = [
    "DEFAULT_ROUND_TEMPLATE",
    "DEFAULT_THINK_END",
    "DEFAULT_VERIFY_INSTRUCTION",
    "DEFAULT_METHODS",
    "METHODS",
    "BestOfNResult",
    "DecodeSettings",
    "MethodSettings",
    "MultiRoundResult",
    "ProblemStores",
    "SampleResult",
    "best_of_n",
    "build_prompt_ids",
    "final_answer_text",
    "make_drafter",
    "multi_round",
    "round_prompt",
    "run_sample",
]

#: Method names: ``ar`` plain decoding (the baseline), ``pld`` prompt lookup, ``sam`` suffix automaton
#: (SAM-Decoding style), ``trie`` n-gram trie trees (PIA style), ``hybrid`` sam + trie chosen per step by
#: expected accepted length, ``recycling`` Token Recycling, ``lookahead`` Lookahead decoding,
#: ``suffix-decoding`` ArcticInference's SuffixDecoding (optional package), ``rest`` retrieval from a
#: static store (needs ``MethodSettings.rest_store``), ``sps`` a draft model (needs
#: ``MethodSettings.draft_model``), ``eagle3`` an EAGLE-3 draft head (needs ``MethodSettings.eagle3_head``),
#: ``sam-freq`` frequency-scored trees after the longest match (specscale's SuffixDecoding counterpart).
METHODS = (
    "ar", "pld", "sam", "trie", "hybrid", "recycling", "lookahead", "suffix-decoding", "rest", "sps", "eagle3", "sam-freq",
)

#: What ``specscale bench`` runs when ``--methods`` is not given: the methods that need no extra files.
DEFAULT_METHODS = ("ar", "pld", "sam", "trie")

#: The sentence injected to close the think block when the thinking budget runs out.
DEFAULT_THINK_END = "\n\nConsidering the limited time, I have to give the solution based on the thinking directly now.\n</think>\n\n"

#: Round ``k >= 2`` prompt: ``{question}`` is the problem's prompt, ``{answer}`` the previous round's final
#: answer (the text after its think block).
DEFAULT_ROUND_TEMPLATE = (
    "{question}\n\nAn earlier attempt at this problem gave the following answer:\n\n{answer}\n\n"
    "Verify this answer step by step. If it is wrong, correct it. Then answer the question again, "
    "putting the final answer within \\boxed{{}}."
)

#: The new user turn of a round ``k >= 2`` with ``feedback="conversation"``.
DEFAULT_VERIFY_INSTRUCTION = (
    "Verify your answer step by step. If it is wrong, correct it. Then answer the question again, "
    "putting the final answer within \\boxed{}."
)

THINK_CLOSE = "</think>"


# ---------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------


@dataclass
class MethodSettings:
    """How each method drafts. Defaults are this project's (tuned by replay); the SpecTTS preset uses the
    seed paper's: SAM up to 40 tokens, PLD n-grams up to 3 and 10 tokens, trie branch length 12 and 64
    nodes per step."""

    pld_max_ngram: int = 3
    pld_tokens: int = 10
    sam_tokens: int = 32
    #: SAM-Decoding's static store (a ``specscale build-store`` file) beside the problem's own automaton,
    #: used when its match is longer by more than ``sam_static_bias`` tokens.
    sam_static_store: str | None = None
    sam_static_bias: int = 5
    trie_order: int = 4
    trie_branches: int = 3
    trie_depth: int = 8
    trie_tokens: int = 24
    adaptive: bool = True
    max_draft_tokens: int = 64
    recycling_top_k: int = 8
    recycling_tree: int = 80
    lookahead_level: int = 5
    lookahead_window: int = 7
    lookahead_guess_set: int = 7
    suffix_tokens: int = 40
    #: ``sam-freq``: ``"tree"`` or ``"path"`` (its budget is ``suffix_tokens``, as SuffixDecoding's).
    freq_mode: str = "tree"
    rest_store: str | None = None
    rest_tokens: int = 64
    draft_model: str | None = None
    sps_tokens: int = 5
    #: At T > 0, SpS samples its drafts and the engine accepts them with min(1, p/q).
    sps_sample: bool = True
    eagle3_head: str | None = None
    #: The hybrid: SAM first, then ``hybrid_fallback`` (any other method but ``ar`` and ``hybrid``),
    #: chosen per step by ``hybrid_policy``: ``"expected"`` (expected accepted length, learned online) or
    #: ``"threshold"`` (SAM when its match is at least ``hybrid_threshold`` tokens, the seed paper's rule).
    hybrid_fallback: str = "trie"
    hybrid_policy: str = "expected"
    hybrid_threshold: int = 5
    eagle3_total_tokens: int = 60
    eagle3_depth: int = 5
    eagle3_top_k: int = 10


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


class ProblemStores:
    """One problem's family-scope stores, shared by its samples and rounds (one per method that uses
    one): a :class:`SuffixAutomaton` for ``sam`` and an :class:`NgramTrie` for ``trie``."""

    def __init__(self, trie_order: int = 4) -> None:
        self.automaton = SuffixAutomaton()
        self.trie = NgramTrie(max_order=trie_order)
        #: With occurrence counts, for ``sam-freq`` (made on first use: counting costs a little per token).
        self.counted: SuffixAutomaton | None = None
        #: Per-method drafters whose learned state is the problem's store (Token Recycling's table,
        #: Lookahead's pool, SuffixDecoding's cache): made on first use, kept across samples and rounds.
        self.stateful: dict[str, Drafter] = {}


#: Static stores and draft models, loaded once per process whatever the number of problems.
_LOADED: dict[tuple[str, str], Any] = {}


def _loaded(kind: str, path: str, load: Any) -> Any:
    if (kind, path) not in _LOADED:
        _LOADED[(kind, path)] = load(path)
    return _LOADED[(kind, path)]


def make_drafter(
    method: str, stores: ProblemStores | None, settings: MethodSettings | None = None, target: Any = None
) -> Drafter:
    """The drafter of ``method`` (one of :data:`METHODS`) over the problem's shared ``stores``.

    ``target`` is the model being decoded: draft models and EAGLE-3 heads are put on its device (and an
    EAGLE-3 checkpoint without embeddings takes the target's)."""
    s = settings or MethodSettings()
    if method == "ar":
        return NoDraft()
    if method == "pld":
        return PromptLookup(
            max_ngram_size=s.pld_max_ngram, num_output_tokens=s.pld_tokens, adaptive=s.adaptive
        )
    if method == "sam":
        static = None
        if s.sam_static_store:
            from specscale.drafters.retrieval import load_store

            static = _loaded("static", s.sam_static_store, load_store)
        return SuffixAutomatonDrafter(
            automaton=stores.automaton if stores else None,
            max_tokens=s.sam_tokens,
            adaptive=s.adaptive,
            static=static,
            static_bias=s.sam_static_bias,
        )
    if method == "trie":
        return NgramTrieDrafter(
            trie=stores.trie if stores else None,
            max_order=s.trie_order,
            branches=s.trie_branches,
            depth=s.trie_depth,
            max_tokens=s.trie_tokens,
            adaptive=s.adaptive,
        )
    if method == "sam-freq":
        from specscale.drafters.frequency import FrequencySuffixDrafter

        counted = None
        if stores is not None:
            if stores.counted is None:
                stores.counted = SuffixAutomaton(counts=True)
            counted = stores.counted
        if s.freq_mode not in ("tree", "path"):
            raise InvalidArgumentError(f"freq_mode must be 'tree' or 'path', got {s.freq_mode!r}")
        mode: Literal["tree", "path"] = "tree" if s.freq_mode == "tree" else "path"
        return FrequencySuffixDrafter(automaton=counted, mode=mode, max_tokens=s.suffix_tokens)
    if method == "hybrid":
        if s.hybrid_fallback in ("ar", "hybrid", "sam") or s.hybrid_fallback not in METHODS:
            raise InvalidArgumentError(
                f"hybrid_fallback must be one of the other methods, got {s.hybrid_fallback!r}"
            )
        policy: CombinePolicy
        if s.hybrid_policy == "expected":
            policy = ExpectedAcceptance()
        elif s.hybrid_policy == "threshold":
            policy = MatchThreshold(s.hybrid_threshold)
        else:
            raise InvalidArgumentError(f"hybrid_policy must be 'expected' or 'threshold', got {s.hybrid_policy!r}")
        fallback = make_drafter(s.hybrid_fallback, stores, s, target=target)
        return HybridDrafter([make_drafter("sam", stores, s), fallback], policy=policy)
    if method in ("recycling", "lookahead", "suffix-decoding"):
        if stores is not None and method in stores.stateful:
            return stores.stateful[method]
        drafter: Drafter
        if method == "recycling":
            drafter = TokenRecyclingDrafter(top_k=s.recycling_top_k, tree_size=s.recycling_tree, persist=True)
        elif method == "lookahead":
            drafter = LookaheadDrafter(
                level=s.lookahead_level, window=s.lookahead_window, guess_set=s.lookahead_guess_set, persist_pool=True
            )
        else:
            from specscale.drafters.suffix_decoding import SuffixDecodingDrafter

            drafter = SuffixDecodingDrafter(max_spec_tokens=s.suffix_tokens)
        if stores is not None:
            stores.stateful[method] = drafter  # one per problem: what it learns serves the problem's samples
        return drafter
    if method == "rest":
        if not s.rest_store:
            raise InvalidArgumentError("method 'rest' needs a static store: build one with `specscale build-store`")
        from specscale.drafters.retrieval import load_store

        return RetrievalDrafter(_loaded("rest", s.rest_store, load_store), max_tokens=s.rest_tokens)
    if method == "sps":
        if not s.draft_model:
            raise InvalidArgumentError("method 'sps' needs a draft model directory (MethodSettings.draft_model)")
        from transformers import AutoModelForCausalLM

        model = _loaded("sps", s.draft_model, lambda p: AutoModelForCausalLM.from_pretrained(p, local_files_only=True))
        if target is not None and next(model.parameters()).device != target.device:
            model = model.to(target.device)
            _LOADED[("sps", s.draft_model)] = model
        return DraftModelDrafter(model, max_tokens=s.sps_tokens, sample=s.sps_sample)
    if method == "eagle3":
        if not s.eagle3_head:
            raise InvalidArgumentError("method 'eagle3' needs an EAGLE-3 head directory (MethodSettings.eagle3_head)")
        if target is None:
            raise InvalidArgumentError("method 'eagle3' needs the target model (make_drafter(..., target=model))")
        from specscale.drafters.eagle import Eagle3DraftHead, Eagle3Drafter

        head = _loaded(f"eagle3:{id(target)}", s.eagle3_head, lambda p: Eagle3DraftHead.from_pretrained(p, target=target))
        return Eagle3Drafter(head, total_tokens=s.eagle3_total_tokens, depth=s.eagle3_depth, top_k=s.eagle3_top_k)
    raise InvalidArgumentError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


# ---------------------------------------------------------------------------------------------------
# Prompts and answers
# ---------------------------------------------------------------------------------------------------


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None)) and hasattr(tokenizer, "apply_chat_template")


def _ids(tokenizer: Any, text: str) -> list[int]:
    encoded = tokenizer(text, add_special_tokens=True)
    ids = encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded
    return [int(t) for t in ids]


def build_prompt_ids(
    tokenizer: Any,
    messages: str | list[dict[str, str]],
    chat_template: bool | Literal["auto"] = "auto",
    system_prompt: str | None = None,
) -> list[int]:
    """Token ids of a prompt: the chat template with the generation prompt where the tokenizer has one
    (and ``chat_template`` allows it), else the plain text of the messages joined by blank lines."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    use_chat = _has_chat_template(tokenizer) if chat_template == "auto" else bool(chat_template)
    if use_chat:
        if not _has_chat_template(tokenizer):
            raise InvalidArgumentError("chat_template=True but the tokenizer has no chat template")
        full = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + list(messages)
        ids = tokenizer.apply_chat_template(full, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        if ids and isinstance(ids[0], list):
            ids = ids[0]
        return [int(t) for t in ids]
    text = "\n\n".join(([system_prompt] if system_prompt else []) + [m["content"] for m in messages])
    return _ids(tokenizer, text)


def final_answer_text(text: str) -> str:
    """The text after the think block (after the last ``</think>``) when there is one, else all of it."""
    at = text.rfind(THINK_CLOSE)
    return (text[at + len(THINK_CLOSE) :] if at >= 0 else text).strip()


def _think_close_ids(tokenizer: Any) -> list[int] | None:
    """``</think>`` as one token id (``[id]``) when the tokenizer has it as a token, else None."""
    try:
        tid = tokenizer.convert_tokens_to_ids(THINK_CLOSE)
    except Exception:  # noqa: BLE001 - tokenizers differ; absent means absent
        return None
    unk = getattr(tokenizer, "unk_token_id", None)
    if isinstance(tid, int) and tid >= 0 and tid != unk:
        return [tid]
    return None


def _eos_ids(model: Any, tokenizer: Any, settings: DecodeSettings) -> list[int] | None:
    if settings.eos_token_id is not None:
        return (
            [settings.eos_token_id] if isinstance(settings.eos_token_id, int) else list(settings.eos_token_id)
        )
    ids: set[int] = set()
    gen = getattr(model, "generation_config", None)
    model_eos = getattr(gen, "eos_token_id", None) if gen is not None else None
    if isinstance(model_eos, int):
        ids.add(model_eos)
    elif model_eos:
        ids.update(int(t) for t in model_eos)
    tok_eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(tok_eos, int):
        ids.add(tok_eos)
    return sorted(ids) if ids else None


# ---------------------------------------------------------------------------------------------------
# One sample (or round): generation with an optional thinking budget
# ---------------------------------------------------------------------------------------------------


@dataclass
class SampleResult:
    """One sample of Best-of-N or one round of multi-round thinking.

    ``new_tokens`` counts generated tokens only (not the injected think-end sentence); ``wall_seconds``
    is wall clock including prefill (and a share of a prefix computed once for all samples);
    ``tokens_per_second = new_tokens / wall_seconds``; ``mat`` is tokens per step (AR: 1).
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
    text: str = field(repr=False, default="")
    tokens: list[int] = field(repr=False, default_factory=list)
    #: One ``[context_len, draft_nodes, committed_tokens]`` per step, for
    #: :func:`~specscale.bench.costmodel.predict_speedup` against the measured speedup.
    step_records: list[list[int]] = field(repr=False, default_factory=list)

    def to_dict(self, with_text: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d["accepted_histogram"] = {str(k): v for k, v in sorted(self.accepted_histogram.items())}
        if not with_text:
            d.pop("text")
            d.pop("tokens")
            d.pop("step_records")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleResult:
        d = dict(d)
        d["accepted_histogram"] = {int(k): int(v) for k, v in d.get("accepted_histogram", {}).items()}
        d.setdefault("text", "")
        d.setdefault("tokens", [])
        d.setdefault("step_records", [])
        return cls(**d)


class _Segment(Drafter):
    """Presents one drafter to several consecutive ``generate`` calls as one generation.

    The first segment begins the inner drafter's sequence; later ones only feed it the context tokens
    added between segments (the injected think-end sentence), so every token enters the shared store
    once. ``end`` is left to the caller.
    """

    def __init__(self, inner: Drafter, offset: int | None) -> None:
        self.inner, self.offset = inner, offset

    def begin(self, prompt: list[int]) -> None:
        if self.offset is None:
            self.inner.begin(prompt)
        elif len(prompt) > self.offset:
            self.inner.observe(prompt[self.offset :])

    def propose(self, context: list[int], max_tokens: int) -> Any:
        return self.inner.propose(context, max_tokens)

    def observe(self, new_tokens: list[int], drafted: int = 0, accepted: int = 0) -> None:
        self.inner.observe(new_tokens, drafted=drafted, accepted=accepted)

    @property
    def wants_logits(self) -> bool:
        return bool(getattr(self.inner, "wants_logits", False))

    def observe_logits(self, input_tokens: list[int], logits: Any) -> None:
        self.inner.observe_logits(input_tokens, logits)  # type: ignore[attr-defined]

    def end(self) -> None:
        pass


def _merge(stats: list[GenerationStats]) -> GenerationStats:
    total = GenerationStats()
    for s in stats:
        total.steps += s.steps
        total.new_tokens += s.new_tokens
        total.draft_tokens += s.draft_tokens
        total.accepted_draft_tokens += s.accepted_draft_tokens
        for k, v in s.accepted_histogram.items():
            total.accepted_histogram[k] = total.accepted_histogram.get(k, 0) + v
        total.step_records.extend(s.step_records)
        total.draft_seconds += s.draft_seconds
        total.verify_seconds += s.verify_seconds
        total.forward_seconds += s.forward_seconds
        total.prefill_seconds += s.prefill_seconds
        total.wall_seconds += s.wall_seconds
        total.cache_copy_seconds += s.cache_copy_seconds
    if stats:
        total.reused_prefix_tokens = stats[0].reused_prefix_tokens
    return total


@dataclass
class _Generated:
    tokens: list[int]  # generated tokens, injected ones excluded
    context: list[int]  # prompt + everything after it (injected included)
    stats: GenerationStats
    finish_reason: str
    forced: bool
    cache: PrefixCache | None


def _generate_with_budget(
    model: Any,
    tokenizer: Any,
    prompt: list[int],
    drafter: Drafter,
    settings: DecodeSettings,
    method_settings: MethodSettings,
    generator: torch.Generator | None,
    prefix: PrefixCache | None,
    keep_cache: bool,
) -> _Generated:
    budget = settings.max_new_tokens
    close = _think_close_ids(tokenizer)
    force = settings.force_think_end
    enabled = settings.think_fraction is not None and (
        force is True or (force == "auto" and close is not None)
    )
    eos = _eos_ids(model, tokenizer, settings)
    common: dict[str, Any] = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "top_k": settings.top_k,
        "eos_token_id": eos if eos is not None else [],
        "tokenizer": tokenizer,
        "generator": generator,
        "max_draft_tokens": method_settings.max_draft_tokens,
    }
    reuse = settings.reuse_prefix
    if not enabled:
        out = generate(
            model,
            prompt,
            drafter=drafter,
            max_new_tokens=budget,
            prefix_cache=prefix if reuse else None,
            return_cache=keep_cache and reuse,
            **common,
        )
        return _Generated(
            out.new_tokens, prompt + out.new_tokens, out.stats, out.finish_reason, False, out.cache
        )

    think_budget = max(0, min(budget, int(settings.think_fraction * budget)))  # type: ignore[operator]
    stop: Any = [close] if close is not None else [THINK_CLOSE]
    seg = _Segment(drafter, None)
    first = generate(
        model,
        prompt,
        drafter=seg,
        max_new_tokens=think_budget,
        stop=stop,
        prefix_cache=prefix if reuse else None,
        return_cache=reuse,
        **common,
    )
    tokens = list(first.new_tokens)
    parts = [first.stats]
    forced = False
    context = prompt + tokens
    finish = first.finish_reason
    if finish != "eos" and len(tokens) < budget:
        if finish == "length":  # the think block is still open: close it, for every method alike
            injected = _ids_no_special(tokenizer, settings.think_end_text)
            context = context + injected
            forced = True
        seg2 = _Segment(drafter, len(prompt) + len(tokens))
        second = generate(
            model,
            context,
            drafter=seg2,
            max_new_tokens=budget - len(tokens),
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
    stats = _merge(parts)
    return _Generated(tokens, context, stats, finish if finish != "stop" else "length", forced, cache)


def _ids_no_special(tokenizer: Any, text: str) -> list[int]:
    encoded = tokenizer(text, add_special_tokens=False)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return [int(t) for t in ids]


def run_sample(
    model: Any,
    tokenizer: Any,
    prompt: list[int],
    method: str,
    stores: ProblemStores | None,
    settings: DecodeSettings,
    method_settings: MethodSettings | None = None,
    index: int = 0,
    reference: str | None = None,
    prefix: PrefixCache | None = None,
    prefix_share_seconds: float = 0.0,
    keep_cache: bool = False,
    drafter: Drafter | None = None,
) -> tuple[SampleResult, _Generated]:
    """One generation of ``prompt`` with ``method`` drafting from ``stores``: the sample's figures and
    the raw output. ``drafter`` overrides the method's drafter (tests wrap it to record drafts)."""
    ms = method_settings or MethodSettings()
    drafter = drafter if drafter is not None else make_drafter(method, stores, ms, target=model)
    generator = torch.Generator().manual_seed(settings.seed + index) if settings.temperature > 0 else None
    t0 = time.perf_counter()
    gen = _generate_with_budget(
        model, tokenizer, prompt, drafter, settings, ms, generator, prefix, keep_cache
    )
    wall = time.perf_counter() - t0 + prefix_share_seconds
    # The response as written: generated tokens plus any injected think-end sentence.
    text = tokenizer.decode(gen.context[len(prompt) :], skip_special_tokens=True)
    answer = extract_answer(final_answer_text(text))
    correct = answers_match(answer, reference) if reference is not None else False
    s = gen.stats
    steps = s.steps
    return (
        SampleResult(
            index=index,
            prompt_tokens=len(prompt),
            new_tokens=len(gen.tokens),
            steps=steps,
            mat=len(gen.tokens) / steps if steps else 0.0,
            wall_seconds=wall,
            tokens_per_second=len(gen.tokens) / wall if wall > 0 else 0.0,
            prefill_seconds=s.prefill_seconds,
            draft_seconds=s.draft_seconds,
            accepted_histogram=dict(s.accepted_histogram),
            finish_reason=gen.finish_reason,
            forced_think_end=gen.forced,
            reused_prefix_tokens=s.reused_prefix_tokens,
            prefill_saved_seconds=0.0,
            answer=answer,
            correct=correct,
            text=text,
            tokens=list(gen.tokens),
            step_records=[list(r) for r in s.step_records],
        ),
        gen,
    )


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
    method: str,
    settings: DecodeSettings | None = None,
    method_settings: MethodSettings | None = None,
    stores: ProblemStores | None = None,
    on_sample: Callable[[SampleResult], None] | None = None,
    drafter_factory: Callable[[str, ProblemStores], Drafter] | None = None,
) -> BestOfNResult:
    """``n`` samples of ``problem`` (a :class:`~specscale.bench.datasets.Problem`: ``.prompt``,
    ``.answer``, ``.id``), one after another, every one from the same prompt.

    The problem's ``stores`` (new ones by default) receive every token of every sample, so sample ``k``
    drafts from samples ``1..k-1``. With ``settings.reuse_prefix`` the prompt's KV cache (all but its
    last token) is computed once and copied for each sample; its cost is shared equally among the
    samples' wall times, and ``prefill_saved_seconds`` is what the other ``n - 1`` prefills would have
    cost minus the copies.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidArgumentError(f"n must be an int >= 1, got {n!r}")
    settings = settings or DecodeSettings()
    ms = method_settings or MethodSettings()
    stores = stores if stores is not None else ProblemStores(ms.trie_order)
    prompt = build_prompt_ids(tokenizer, problem.prompt, settings.chat_template, settings.system_prompt)
    prefix = None
    # The first sample's drafter is made before the prefill: a feature drafter (EAGLE-3, or a hybrid
    # with one) needs the prompt's hidden states recorded with it.
    def new_drafter() -> Drafter:
        return drafter_factory(method, stores) if drafter_factory else make_drafter(method, stores, ms, target=model)

    first = new_drafter()
    if settings.reuse_prefix and n > 1 and len(prompt) > 1:
        wants = getattr(first, "wants_hidden_states", False)
        layers = first.hidden_state_layers(model) if wants else None  # type: ignore[attr-defined]
        prefix = PrefixCache.prefill(model, prompt[:-1], feature_layers=layers)
    share = prefix.seconds / n if prefix is not None else 0.0
    samples: list[SampleResult] = []
    copies = 0.0
    for k in range(n):
        drafter = first if k == 0 else new_drafter()
        sample, gen = run_sample(
            model,
            tokenizer,
            prompt,
            method,
            stores,
            settings,
            ms,
            index=k,
            reference=problem.answer,
            prefix=prefix,
            prefix_share_seconds=share,
            drafter=drafter,
        )
        copies += gen.stats.cache_copy_seconds
        if prefix is not None:
            sample.prefill_saved_seconds = max(
                0.0, prefix.seconds * (n - 1) / n - gen.stats.cache_copy_seconds
            )
        samples.append(sample)
        if on_sample is not None:
            on_sample(sample)
    vote = majority_vote([s.answer for s in samples])
    saved = max(0.0, prefix.seconds * (n - 1) - copies) if prefix is not None else 0.0
    return BestOfNResult(
        method=method,
        problem_id=str(problem.id),
        samples=samples,
        majority_answer=vote,
        correct=answers_match(vote, problem.answer),
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


def round_prompt(problem: Any, previous_text: str | None, template: str = DEFAULT_ROUND_TEMPLATE) -> str:
    """Round 1: the problem's prompt. Round ``k >= 2``: ``template`` with the question and the previous
    round's final answer (the text after its think block)."""
    if previous_text is None:
        return problem.prompt
    return template.format(question=problem.prompt, answer=final_answer_text(previous_text))


def multi_round(
    model: Any,
    tokenizer: Any,
    problem: Any,
    rounds: int,
    method: str,
    settings: DecodeSettings | None = None,
    method_settings: MethodSettings | None = None,
    stores: ProblemStores | None = None,
    template: str = DEFAULT_ROUND_TEMPLATE,
    feedback: Literal["answer", "conversation"] = "answer",
    verify_instruction: str = DEFAULT_VERIFY_INSTRUCTION,
    on_round: Callable[[SampleResult], None] | None = None,
    drafter_factory: Callable[[str, ProblemStores], Drafter] | None = None,
) -> MultiRoundResult:
    """``rounds`` rounds of thinking on ``problem``; the store persists across rounds.

    ``feedback="answer"`` (the SpecTTS protocol): round ``k`` is a fresh prompt with the question and only
    the previous final answer (:func:`round_prompt`). ``feedback="conversation"``: round ``k`` continues
    the chat (the previous rounds' prompts and full responses, then the verify instruction as a new user
    turn). Either way, the previous round's KV cache is reused for the longest common token prefix of the
    two inputs (the whole conversation when round ``k`` extends it, at least the shared system/question
    prefix otherwise); ``extends_previous`` reports the first case, ``reused_prefix_tokens`` per round
    the amount. Time saved is estimated from round 1's prefill rate.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise InvalidArgumentError(f"rounds must be an int >= 1, got {rounds!r}")
    if feedback not in ("answer", "conversation"):
        raise InvalidArgumentError(f"feedback must be 'answer' or 'conversation', got {feedback!r}")
    settings = settings or DecodeSettings()
    ms = method_settings or MethodSettings()
    stores = stores if stores is not None else ProblemStores(ms.trie_order)
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
            messages = [{"role": "user", "content": round_prompt(problem, previous_text, template)}]
        prompt = build_prompt_ids(tokenizer, messages, settings.chat_template, settings.system_prompt)
        if cache is not None:
            extends.append(
                len(cache.tokens) <= len(prompt) - 1 and prompt[: len(cache.tokens)] == cache.tokens
            )
        elif r > 0:
            extends.append(False)
        drafter = drafter_factory(method, stores) if drafter_factory else None
        sample, gen = run_sample(
            model,
            tokenizer,
            prompt,
            method,
            stores,
            settings,
            ms,
            index=r,
            reference=problem.answer,
            prefix=cache,
            keep_cache=r + 1 < rounds,
            drafter=drafter,
        )
        if r == 0 and sample.prefill_seconds > 0:
            rate = sample.prefill_seconds / max(1, len(prompt))
        sample.prefill_saved_seconds = max(
            0.0, rate * sample.reused_prefix_tokens - gen.stats.cache_copy_seconds
        )
        saved += sample.prefill_saved_seconds
        results.append(sample)
        if on_round is not None:
            on_round(sample)
        previous_text = sample.text
        cache = gen.cache if settings.reuse_prefix else None
    return MultiRoundResult(
        method=method,
        problem_id=str(problem.id),
        rounds=results,
        correct=results[-1].correct,
        extends_previous=extends,
        prefill_saved_seconds=saved,
    )
