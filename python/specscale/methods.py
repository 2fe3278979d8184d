"""The method registry: every drafting method, its own settings, what it needs, and its stores' life.

One entry per method name. The bench, trace replay, the demo, the CLI's help and the presets all read
this table; nothing else lists methods. An entry says:

- its settings, a small frozen dataclass whose defaults are this project's (presets override fields);
- what it needs: a model (it learns from the target's logits or hidden states, or runs a draft model, so
  trace replay cannot run it), files named by settings fields (and the CLI option that sets each), an
  optional package;
- its node budget per step (``draft_budget``), which the loop enforces and reports record;
- how to open it for a run: :meth:`Method.open` returns a :class:`MethodRun`, which owns the method's
  stores for the whole run and hands out one drafter per generation.

Names. A method named after a published method (``pld``, ``sam``, ``pia``, ``sam-eagle3``, ``sps``,
``recycling``, ``lookahead``, ``rest``, ``eagle3``) behaves, with its default settings, as SpecTTS-Bench's
code runs that method (the ``spectts`` preset sets the same values explicitly). This project's versions
of them carry a ``+`` (``pld+``, ``sam+``, ``recycling+``, ``lookahead+``, ``sps+``) or a name of their own
(``trie`` beside PIA, ``hybrid`` beside SAM[EAGLE-3], ``sam-freq``), so one table can show both.

The life of a run's stores follows the :class:`~specscale.Store` scopes: a generation writes into the
family scope, shared by a problem's Best-of-N samples and thinking rounds (each reads what the earlier
ones wrote); :meth:`MethodRun.end_family` closes the problem, moving its text into the global scope
(bounded by ``global_tokens``; ``0`` keeps problems apart) or dropping it. Learned state that is not a
token store (Token Recycling's table, Lookahead's pool) and SuffixDecoding's caches follow the same life.

Example::

    run = methods.get("sam").open(methods.settings_map({"sam": {"tokens": 40}}))
    for problem in problems:
        for sample in range(4):
            out = specscale.generate(model, prompt_ids, drafter=run.drafter(), max_draft_tokens=run.budget)
        run.end_family()
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specscale._core import Store
from specscale.args import check_choice, check_int, check_number
from specscale.errors import InvalidArgumentError

if TYPE_CHECKING:
    from specscale.drafters.base import Drafter

__all__ = [
    "METHODS",
    "Method",
    "CostAwareSettings",
    "MethodRun",
    "Needs",
    "get",
    "model_free_names",
    "names",
    "settings_map",
]

#: Capacity (tokens) of the global scope that problems' text moves into, by default.
DEFAULT_GLOBAL_TOKENS = 4_000_000


# ---------------------------------------------------------------------------------------------------
# Settings, one small dataclass per method
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoSettings:
    """Plain decoding has nothing to set."""


@dataclass(frozen=True)
class PldSettings:
    """Prompt lookup: n-grams of up to ``max_ngram`` tokens, drafts of ``tokens`` (at most, with
    ``adaptive``), copied after the ``earliest`` match that has them all (the reference) or the ``latest``
    match (ours)."""

    max_ngram: int = 3
    tokens: int = 10
    adaptive: bool = False
    occurrence: str = "earliest"

    def __post_init__(self) -> None:
        check_int("pld.max_ngram", self.max_ngram, 1)
        check_int("pld.tokens", self.tokens, 1)
        check_choice("pld.occurrence", self.occurrence, ("earliest", "latest"))


@dataclass(frozen=True)
class SamDecodingSettings:
    """SAM-Decoding as the reference runs it: one token stream per problem, drafts copied after the
    earliest occurrence of the longest match, ``min(n_predicts - 1, alpha * match)`` tokens."""

    n_predicts: int = 40
    alpha: float = 4.0

    def __post_init__(self) -> None:
        check_int("sam.n_predicts", self.n_predicts, 2)
        check_number("sam.alpha", self.alpha, 0.0)


@dataclass(frozen=True)
class SamSettings:
    """This project's suffix automaton chains (``sam+``). ``scope``: where a generation is written (``family`` shares it with the
    problem's samples and rounds, ``request`` keeps it to itself). ``static_store``: a ``specscale
    build-store`` file loaded into the global scope, drafted from when its match is longer by more than
    ``static_bias`` (then problems' text is not moved into the global scope)."""

    tokens: int = 32
    adaptive: bool = True
    scope: str = "family"
    static_store: str | None = None
    static_bias: int = 5
    global_tokens: int = DEFAULT_GLOBAL_TOKENS

    def __post_init__(self) -> None:
        check_int("sam+.tokens", self.tokens, 1)
        check_choice("sam+.scope", self.scope, ("family", "request"))
        check_int("sam+.static_bias", self.static_bias, 0)
        check_int("sam+.global_tokens", self.global_tokens, 0)


@dataclass(frozen=True)
class TrieSettings:
    """N-gram trie trees: ``branches`` per node, ``depth`` levels, ``tokens`` nodes, order ``order``.

    ``global_tokens`` is 0 (problems apart) by default: summed counts of other problems' text outvote the
    family's own (exact replay of the Best-of-8 traces: MAT 3.51 with a global scope, 3.86 without)."""

    order: int = 4
    branches: int = 3
    depth: int = 8
    tokens: int = 24
    adaptive: bool = True
    global_tokens: int = 0

    def __post_init__(self) -> None:
        check_int("trie.order", self.order, 2, 32)
        for name in ("branches", "depth", "tokens"):
            check_int(f"trie.{name}", getattr(self, name), 1)
        check_int("trie.global_tokens", self.global_tokens, 0)


@dataclass(frozen=True)
class PiaSettings:
    """PIA as the reference runs it: branches of ``branch_length + 1`` tokens stored per leading token, a
    2-token key, ``decoding_length`` nodes per step counting the context's last token, output counts
    weighted ``output_weight`` against prompt counts."""

    branch_length: int = 12
    decoding_length: int = 64
    output_weight: float = 1e-4

    def __post_init__(self) -> None:
        check_int("pia.branch_length", self.branch_length, 1)
        check_int("pia.decoding_length", self.decoding_length, 2)
        check_number("pia.output_weight", self.output_weight, 0.0, 1.0)


@dataclass(frozen=True)
class FrequencySettings:
    """Frequency-scored continuations of the longest match (``mode`` ``tree`` or ``path``), SuffixDecoding's
    budget rule: ``spec_factor`` nodes per matched token, nodes below ``min_prob`` left out."""

    mode: str = "tree"
    tokens: int = 40
    spec_factor: float = 1.0
    min_prob: float = 0.1
    global_tokens: int = DEFAULT_GLOBAL_TOKENS

    def __post_init__(self) -> None:
        check_choice("sam-freq.mode", self.mode, ("tree", "path"))
        check_int("sam-freq.tokens", self.tokens, 1)
        check_number("sam-freq.spec_factor", self.spec_factor, 0.0)
        check_number("sam-freq.min_prob", self.min_prob, 0.0, 1.0)
        check_int("sam-freq.global_tokens", self.global_tokens, 0)


@dataclass(frozen=True)
class HybridSettings:
    """Ours: SAM first (``sam+``, with its settings), then ``fallback`` (another method, with its settings), chosen
    per step by ``policy``: ``expected`` (expected accepted length, learned online) or ``threshold`` (SAM
    when its match is at least ``threshold`` tokens, the seed paper's rule)."""

    fallback: str = "trie"
    policy: str = "expected"
    threshold: int = 5

    def __post_init__(self) -> None:
        check_choice("hybrid.policy", self.policy, ("expected", "threshold"))
        check_int("hybrid.threshold", self.threshold, 0)


@dataclass(frozen=True)
class SamEagleSettings:
    """SAM[EAGLE-3] as the reference switches: SAM-Decoding's ``n_predicts - 1`` tokens when its match is
    at least ``threshold`` tokens, else an EAGLE-3 tree (with ``eagle3``'s settings and head), computed
    only on the steps it is used."""

    n_predicts: int = 40
    threshold: int = 5

    def __post_init__(self) -> None:
        check_int("sam-eagle3.n_predicts", self.n_predicts, 2)
        check_int("sam-eagle3.threshold", self.threshold, 0)


@dataclass(frozen=True)
class RecyclingSettings:
    """Token Recycling: top-``top_k`` successors per token on the ``reference`` 80-node tree or a computed
    (``prior``) one of ``tree`` nodes; the table lives for a ``family`` (a problem) or the whole run
    (``global``, the reference)."""

    top_k: int = 8
    tree: int = 80
    persist: str = "global"
    template: str = "reference"

    def __post_init__(self) -> None:
        check_int("recycling.top_k", self.top_k, 1)
        check_int("recycling.tree", self.tree, 1)
        check_choice("recycling.persist", self.persist, ("family", "global"))
        check_choice("recycling.template", self.template, ("reference", "prior"))
        if self.template == "reference" and self.top_k < 8:
            raise InvalidArgumentError(f"recycling.top_k must be >= 8 for the reference tree, got {self.top_k}")


@dataclass(frozen=True)
class LookaheadSettings:
    """Lookahead: n-gram size ``level``, Jacobi window ``window``, ``guess_set`` pool n-grams per step; the
    pool lives for one ``generation`` (the reference: one generate call), a ``family`` or the whole run
    (``global``)."""

    level: int = 5
    window: int = 7
    guess_set: int = 7
    persist: str = "generation"

    def __post_init__(self) -> None:
        check_int("lookahead.level", self.level, 2)
        check_int("lookahead.window", self.window, 1)
        check_int("lookahead.guess_set", self.guess_set, 0)
        check_choice("lookahead.persist", self.persist, ("generation", "family", "global"))


@dataclass(frozen=True)
class SuffixDecodingSettings:
    """ArcticInference's SuffixDecoding: a cache per problem family, plus (``global_cache``) one across
    problems holding up to ``max_cached_requests`` responses (-1: all); drafts of up to ``tokens``, at most
    ``spec_factor`` tokens per matched token, nodes below ``min_prob`` left out (ArcticInference's defaults
    1.0 and 0.1), from suffix trees ``max_depth`` deep (its default 64: the longest match and draft)."""

    tokens: int = 40
    use_tree_spec: bool = False
    global_cache: bool = True
    max_cached_requests: int = -1
    spec_factor: float = 1.0
    min_prob: float = 0.1
    max_depth: int = 64

    def __post_init__(self) -> None:
        check_int("suffix-decoding.tokens", self.tokens, 1)
        check_int("suffix-decoding.max_cached_requests", self.max_cached_requests, -1)
        check_number("suffix-decoding.spec_factor", self.spec_factor, 0.0)
        check_number("suffix-decoding.min_prob", self.min_prob, 0.0, 1.0)
        check_int("suffix-decoding.max_depth", self.max_depth, 1)


@dataclass(frozen=True)
class CostAwareSettings:
    """Cost-aware occurrence trees (ours): every earlier occurrence of the context's suffix (up to
    ``max_candidates`` per step) proposes its continuation, an acceptance model learned online scores
    the merged tree, and each draft keeps the nodes that pay under ``cost_model`` (a ``specscale
    costmodel`` JSON, measured or roofline); without one, each node costs ``node_cost`` of a plain step.
    ``live_costs``: correct the cost model's prices by the verification times measured during the run
    (a model target; trace replay has none). At most ``max_nodes`` nodes per draft."""

    cost_model: str | None = None
    live_costs: bool = False
    node_cost: float = 0.01
    max_nodes: int = 128
    max_candidates: int = 48
    global_tokens: int = DEFAULT_GLOBAL_TOKENS

    def __post_init__(self) -> None:
        check_number("costaware.node_cost", self.node_cost, 0.0)
        check_int("costaware.max_nodes", self.max_nodes, 1)
        check_int("costaware.max_candidates", self.max_candidates, 1, 65535)
        check_int("costaware.global_tokens", self.global_tokens, 0)


@dataclass(frozen=True)
class RestSettings:
    """REST: trees from a static corpus store (``store``, a ``specscale build-store`` file)."""

    store: str | None = None
    tokens: int = 64

    def __post_init__(self) -> None:
        check_int("rest.tokens", self.tokens, 1)


@dataclass(frozen=True)
class SpsSettings:
    """A draft model (``draft_model``, a local transformers directory) drafting up to ``tokens`` tokens a
    step, every step (``schedule="constant"``) or as recent acceptance suggests (``adaptive``); a draft
    stops after a token the draft model gave less than ``confidence``; at T > 0 with ``sample`` its drafts
    are sampled and accepted with min(1, p/q). Defaults: transformers' assisted generation (20 tokens,
    constant, confidence 0.4), as the reference runs SpS."""

    draft_model: str | None = None
    tokens: int = 20
    schedule: str = "constant"
    confidence: float = 0.4
    sample: bool = True

    def __post_init__(self) -> None:
        check_int("sps.tokens", self.tokens, 1)
        check_choice("sps.schedule", self.schedule, ("constant", "adaptive"))
        check_number("sps.confidence", self.confidence, 0.0, 1.0)


@dataclass(frozen=True)
class Eagle3Settings:
    """EAGLE-3: a head checkpoint (``head``, a local directory) drafting trees of ``total_tokens`` nodes,
    ``depth`` expansion rounds, ``top_k`` children."""

    head: str | None = None
    total_tokens: int = 60
    depth: int = 5
    top_k: int = 10

    def __post_init__(self) -> None:
        check_int("eagle3.total_tokens", self.total_tokens, 1)
        check_int("eagle3.depth", self.depth, 0)
        check_int("eagle3.top_k", self.top_k, 1)


# ---------------------------------------------------------------------------------------------------
# Runs: a method's state over a run of problems
# ---------------------------------------------------------------------------------------------------


class MethodRun:
    """One method over a run of problems: owns its stores and learned state, hands out drafters.

    Call :meth:`drafter` once per generation (a Best-of-N sample, a thinking round) and
    :meth:`end_family` when a problem is done. ``budget`` is the method's node budget per step, to pass
    as the loop's ``max_draft_tokens``.
    """

    def __init__(self, name: str, settings: Any, budget: int) -> None:
        self.name = name
        self.settings = settings
        self.budget = budget

    def drafter(self) -> Drafter:
        """The drafter of the next generation of the current problem."""
        raise NotImplementedError

    def end_family(self) -> None:
        """The current problem is done: its family-scoped state ends (moving to the global scope where
        the method keeps one)."""

    def absorb_family(self, samples: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
        """Takes a finished problem's ``(prompt, written)`` pairs as if they had just run here, then ends
        the family (a resumed run rebuilds its global scope from the finished units this way)."""
        self.end_family()


class _FreshRun(MethodRun):
    """A new drafter per generation; nothing outlives it but what ``make`` closes over."""

    def __init__(self, name: str, settings: Any, budget: int, make: Callable[[], Drafter]) -> None:
        super().__init__(name, settings, budget)
        self._make = make

    def drafter(self) -> Drafter:
        return self._make()


class _StoreRun(MethodRun):
    """Drafters over one :class:`~specscale.Store`: generations write into ``scope``; a finished family
    moves into the global scope (capacity ``global_tokens``) or is dropped."""

    def __init__(
        self,
        name: str,
        settings: Any,
        budget: int,
        store: Store,
        make: Callable[[Store], Drafter],
        global_tokens: int,
        writes: bool = True,
    ) -> None:
        super().__init__(name, settings, budget)
        self.store = store
        self._make = make
        self.global_tokens = global_tokens
        #: Whether this run owns the store's life (a hybrid's reading part leaves it to the writer).
        self.writes = writes
        if writes and global_tokens > 0:
            store.set_capacity("global", tokens=global_tokens)

    def drafter(self) -> Drafter:
        return self._make(self.store)

    def end_family(self) -> None:
        if not self.writes:
            return
        if self.global_tokens > 0:
            self.store.promote("family", "global")
        else:
            self.store.clear("family")

    def absorb_family(self, samples: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
        if not self.writes:
            return
        for prompt, written in samples:
            self.store.begin_sequence("family")
            self.store.extend(list(prompt) + list(written), "family")
        self.end_family()


class _PersistentRun(MethodRun):
    """One drafter kept across generations (its learned state persists): per family or per run; or a
    new one per generation."""

    def __init__(self, name: str, settings: Any, budget: int, make: Callable[[], Drafter], persist: str) -> None:
        super().__init__(name, settings, budget)
        self._make = make
        self.persist = check_choice(f"{name}.persist", persist, ("generation", "family", "global"))
        self._current: Drafter | None = None

    def drafter(self) -> Drafter:
        if self.persist == "generation":
            return self._make()
        if self._current is None:
            self._current = self._make()
        return self._current

    def end_family(self) -> None:
        if self.persist == "family":
            self._current = None


class _FamilyRun(MethodRun):
    """Drafters over a Python state that one problem's generations share and the problem's end drops
    (the reference SAM-Decoding stream, the reference PIA trie)."""

    def __init__(self, name: str, settings: Any, budget: int, new_state: Callable[[], Any], make: Callable[[Any], Drafter]) -> None:
        super().__init__(name, settings, budget)
        self._new_state = new_state
        self._make = make
        self.state = new_state()

    def drafter(self) -> Drafter:
        return self._make(self.state)

    def end_family(self) -> None:
        self.state = self._new_state()


class _SuffixDecodingRun(MethodRun):
    """ArcticInference caches: a fresh one per family, and one across problems."""

    def __init__(self, name: str, settings: SuffixDecodingSettings, budget: int) -> None:
        super().__init__(name, settings, budget)
        from specscale.drafters.suffix_decoding import new_cache

        self._new_cache = new_cache
        self.global_cache = (
            new_cache(settings.max_depth, max_cached_requests=settings.max_cached_requests)
            if settings.global_cache
            else None
        )
        self.family_cache = new_cache(settings.max_depth)

    def drafter(self) -> Drafter:
        from specscale.drafters.suffix_decoding import SuffixDecodingDrafter

        s = self.settings
        return SuffixDecodingDrafter(
            cache=self.family_cache,
            global_cache=self.global_cache,
            max_spec_tokens=s.tokens,
            max_spec_factor=s.spec_factor,
            min_token_prob=s.min_prob,
            use_tree_spec=s.use_tree_spec,
        )

    def end_family(self) -> None:
        self.family_cache = self._new_cache(self.settings.max_depth)

    def absorb_family(self, samples: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
        for prompt, written in samples:
            drafter = self.drafter()
            drafter.begin(list(prompt))
            drafter.observe(list(written))
            drafter.end()
        self.end_family()


class _HybridRun(MethodRun):
    """A hybrid over its parts' runs (sharing one store where both parts read a store)."""

    def __init__(
        self, name: str, settings: Any, budget: int, parts: list[MethodRun], make_policy: Callable[[], Any]
    ) -> None:
        super().__init__(name, settings, budget)
        self.parts = parts
        self._make_policy = make_policy

    def drafter(self) -> Drafter:
        from specscale.drafters.hybrid import HybridDrafter

        return HybridDrafter([p.drafter() for p in self.parts], policy=self._make_policy())

    def end_family(self) -> None:
        for p in self.parts:
            p.end_family()

    def absorb_family(self, samples: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
        for p in self.parts:
            p.absorb_family(samples)


# ---------------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needs:
    """What a method needs to run.

    Attributes:
        model: it reads the target's logits or hidden states, or runs a model of its own, so trace
            replay (which has no model) cannot run it.
        files: ``(settings field, CLI option)`` pairs naming files that must be given.
        optional_files: settings fields naming files that may be left unset, but must exist when set.
        package: an optional importable module it needs, and ``install`` says how to get it.
    """

    model: bool = False
    files: tuple[tuple[str, str], ...] = ()
    optional_files: tuple[str, ...] = ()
    package: str | None = None
    install: str = ""


#: Settings of every method by name, defaults where not given (what a run is configured with).
SettingsMap = Mapping[str, Any]

Opener = Callable[["Method", Any, "OpenContext"], MethodRun]


@dataclass(frozen=True)
class OpenContext:
    """What opening a method can draw on: every method's settings (a hybrid reads its parts'), the target
    model (draft models and heads go on its device), and a store to share (a hybrid's parts)."""

    settings: SettingsMap
    target: Any = None
    store: Store | None = None
    #: Whether the run opened over ``store`` writes the generations into it (one part of a hybrid does).
    writes: bool = True


@dataclass(frozen=True)
class Method:
    """A registered drafting method (see the module docstring)."""

    name: str
    summary: str
    defaults: Any
    opener: Opener
    budget_of: Callable[[Any, SettingsMap], int]
    needs: Needs = field(default_factory=Needs)
    #: Whether the method reads a Store (its runs share one with a hybrid's other parts).
    store_based: bool = False
    #: Whether a store built for it must keep occurrence counts.
    needs_counts: bool = False
    #: A method whose file settings this one uses when it has none of its own (``sps+`` reads ``sps``'s
    #: draft model, ``sam-eagle3`` ``eagle3``'s head): one CLI option serves both.
    files_from: str | None = None
    #: Settings changes that trade draft size for acceptance, smallest drafts first: the points of its
    #: MAT-against-nodes frontier (``specscale replay --sweep``). Empty: no knob of its own.
    sweep: tuple[Mapping[str, Any], ...] = ()

    def budget(self, settings: SettingsMap) -> int:
        """Most draft nodes per step under ``settings``."""
        return self.budget_of(_settings_of(settings, self.name), settings)

    def requirements(self, settings: SettingsMap) -> Needs:
        """What the method needs under ``settings`` (a hybrid adds its fallback's needs)."""
        if self.name == "hybrid":
            fallback = get(_settings_of(settings, "hybrid").fallback)
            inner = fallback.requirements(settings)
            return Needs(
                model=self.needs.model or inner.model,
                files=self.needs.files + inner.files,
                package=inner.package,
                install=inner.install,
            )
        return self.needs

    def model_free(self, settings: SettingsMap | None = None) -> bool:
        """Whether trace replay can run the method (it needs no model)."""
        return not self.requirements(settings or {}).model

    def missing(self, settings: SettingsMap) -> str | None:
        """What the method lacks to run under ``settings`` (``"needs --draft-model"``, ``"needs the optional
        package ..."``), or None when nothing is missing."""
        mine = _settings_of(settings, self.name)
        needs = self.requirements(settings)
        for setting_field, option in needs.files:
            owner = self.name
            if not hasattr(mine, setting_field) and isinstance(mine, HybridSettings):  # a hybrid's fallback's file
                owner = mine.fallback
            if not get(owner).file_setting(settings, setting_field):
                return f"needs {option}"
        if needs.package and importlib.util.find_spec(needs.package) is None:
            return f"needs the optional package {needs.package!r}: {needs.install}"
        return None

    def check(self, settings: SettingsMap, who: str = "--methods") -> None:
        """Raises :class:`InvalidArgumentError` in one line, before any work, when a file setting is
        missing or the optional package is not installed; also checks the settings' values."""
        mine = _settings_of(settings, self.name)
        if isinstance(mine, HybridSettings):
            allowed = [m for m in METHODS if m not in _NOT_FALLBACKS]
            check_choice(f"{who}: hybrid.fallback", mine.fallback, allowed)
        lack = self.missing(settings)
        if lack is not None:
            hint = " (see specscale bench --help)" if lack.startswith("needs --") else ""
            raise InvalidArgumentError(f"{who}: {self.name!r} {lack}{hint}")
        for setting_field in self.requirements(settings).optional_files:
            path = getattr(mine, setting_field, None)
            if path and not Path(path).is_file():
                raise InvalidArgumentError(f"{who}: {self.name}.{setting_field}={path!r}: no such file")

    def file_setting(self, settings: SettingsMap, name: str) -> Any:
        """The file setting ``name`` of this method under ``settings``: its own value, else (unset or
        absent) that of the method it takes files from."""
        value = getattr(_settings_of(settings, self.name), name, None)
        if not value and self.files_from is not None:
            value = getattr(_settings_of(settings, self.files_from), name, None)
        return value

    def open(self, settings: SettingsMap | None = None, target: Any = None, store: Store | None = None) -> MethodRun:
        """A run of this method: its stores live until the run is dropped. ``settings`` maps method
        names to settings (defaults for the rest); ``target`` is the model decoded, for methods that
        load a model of their own; ``store`` shares an existing store (a hybrid's parts)."""
        settings = settings or {}
        self.check(settings, who=f"method {self.name!r}")
        return self.opener(self, _settings_of(settings, self.name), OpenContext(settings, target, store))


def _settings_of(settings: SettingsMap, name: str) -> Any:
    value = settings.get(name)
    return value if value is not None else get(name).defaults


# --- openers ---------------------------------------------------------------------------------------


def _store(ctx: OpenContext, counts: bool = False, order: int = 4) -> tuple[Store, bool]:
    """The store to draft from (the context's shared one, or a new one) and whether this run writes it."""
    if ctx.store is not None:
        return ctx.store, ctx.writes
    return Store(max_order=order, counts=counts), True


def _open_ar(method: Method, s: NoSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.base import NoDraft

    return _FreshRun(method.name, s, 0, NoDraft)


def _open_pld(method: Method, s: PldSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.lookup import PromptLookup

    return _FreshRun(
        method.name,
        s,
        s.tokens,
        lambda: PromptLookup(
            max_ngram_size=s.max_ngram, num_output_tokens=s.tokens, adaptive=s.adaptive, occurrence=s.occurrence
        ),
    )


def _samd_run(name: str, s: Any, n_predicts: int, mode: str) -> MethodRun:
    from specscale.drafters.samd import EarliestSuffixStream, SamDecodingDrafter

    return _FamilyRun(
        name,
        s,
        n_predicts - 1,
        EarliestSuffixStream,
        lambda stream: SamDecodingDrafter(stream, n_predicts=n_predicts, alpha=getattr(s, "alpha", 4.0), mode=mode),
    )


def _open_samd(method: Method, s: SamDecodingSettings, ctx: OpenContext) -> MethodRun:
    return _samd_run(method.name, s, s.n_predicts, "match")


def _open_pia(method: Method, s: PiaSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.pia import PiaDrafter, PiaTrie

    return _FamilyRun(
        method.name,
        s,
        s.decoding_length - 1,
        lambda: PiaTrie(s.branch_length, s.output_weight),
        lambda trie: PiaDrafter(trie, decoding_length=s.decoding_length),
    )


def _open_sam_eagle3(method: Method, s: SamEagleSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.hybrid import MatchThreshold

    eagle = get("eagle3")
    eagle_settings = dataclasses.replace(_settings_of(ctx.settings, "eagle3"), head=method.file_setting(ctx.settings, "head"))
    parts = [_samd_run(method.name, s, s.n_predicts, "full"), eagle.opener(eagle, eagle_settings, ctx)]
    budget = max(p.budget for p in parts)
    return _HybridRun(method.name, s, budget, parts, lambda: MatchThreshold(s.threshold, lazy=True))


def _open_sam(method: Method, s: SamSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.automaton import SuffixAutomatonDrafter

    store, write = _store(ctx)
    global_tokens = s.global_tokens if s.scope == "family" else 0
    if s.static_store:
        from specscale.drafters.retrieval import load_into_store

        load_into_store(store, _loaded("static", s.static_store, _load_corpus))
        global_tokens = 0  # the global scope holds the corpus; problems' text stays out of it
    scope = "family" if s.scope == "family" else "request"

    def make(st: Store) -> Drafter:
        return SuffixAutomatonDrafter(
            store=st, scope=scope, write=write, max_tokens=s.tokens, adaptive=s.adaptive, static_bias=s.static_bias  # type: ignore[arg-type]
        )

    return _StoreRun(method.name, s, s.tokens, store, make, global_tokens, write)


def _open_trie(method: Method, s: TrieSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.trie import NgramTrieDrafter

    store, write = _store(ctx, order=s.order)

    def make(st: Store) -> Drafter:
        return NgramTrieDrafter(
            store=st, write=write, branches=s.branches, depth=s.depth, max_tokens=s.tokens, adaptive=s.adaptive
        )

    return _StoreRun(method.name, s, s.tokens, store, make, s.global_tokens, write)


def _open_frequency(method: Method, s: FrequencySettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.frequency import FrequencySuffixDrafter

    store, write = _store(ctx, counts=True)
    mode = "path" if method.name == "sam-freq-path" else s.mode

    def make(st: Store) -> Drafter:
        return FrequencySuffixDrafter(
            store=st, write=write, mode=mode, max_tokens=s.tokens, spec_factor=s.spec_factor, min_prob=s.min_prob  # type: ignore[arg-type]
        )

    return _StoreRun(method.name, s, s.tokens, store, make, s.global_tokens, write)


def _open_costaware(method: Method, s: CostAwareSettings, ctx: OpenContext) -> MethodRun:
    from specscale._core import CostAwareTrees
    from specscale.drafters.costaware import CostAwareDrafter, RelativeCosts

    store, write = _store(ctx)
    # One index, acceptance table and rate per run, over the run's store.
    trees = CostAwareTrees(max_candidates=s.max_candidates)
    costs = (
        RelativeCosts(_loaded("costmodel", s.cost_model, _load_cost_model), s.max_nodes, live=s.live_costs)
        if s.cost_model
        else None
    )

    def make(st: Store) -> Drafter:
        return CostAwareDrafter(
            store=st, trees=trees, costs=costs, node_cost=s.node_cost, max_nodes=s.max_nodes, write=write
        )

    return _StoreRun(method.name, s, s.max_nodes, store, make, s.global_tokens, write)


def _open_hybrid(method: Method, s: HybridSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.hybrid import ExpectedAcceptance, MatchThreshold

    fallback = get(s.fallback)
    sam = get("sam+")
    store = None
    if fallback.store_based:
        # One store for both parts: SAM writes each generation once, the fallback reads it.
        order = _settings_of(ctx.settings, "trie").order if s.fallback == "trie" else 4
        store = Store(max_order=order, counts=fallback.needs_counts)
    sam_run = sam.opener(sam, _settings_of(ctx.settings, "sam+"), OpenContext(ctx.settings, ctx.target, store, True))
    fallback_run = fallback.opener(
        fallback, _settings_of(ctx.settings, s.fallback), OpenContext(ctx.settings, ctx.target, store, False)
    )

    def policy() -> Any:
        return ExpectedAcceptance() if s.policy == "expected" else MatchThreshold(s.threshold)

    budget = max(sam_run.budget, fallback_run.budget)
    return _HybridRun(method.name, s, budget, [sam_run, fallback_run], policy)


def _open_recycling(method: Method, s: RecyclingSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.recycling import TokenRecyclingDrafter

    return _PersistentRun(
        method.name,
        s,
        _recycling_budget(s),
        lambda: TokenRecyclingDrafter(top_k=s.top_k, tree_size=s.tree, persist=True, template=s.template),
        s.persist,
    )


def _recycling_budget(s: RecyclingSettings) -> int:
    return 80 if s.template == "reference" else s.tree


def _open_lookahead(method: Method, s: LookaheadSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.lookahead import LookaheadDrafter

    return _PersistentRun(
        method.name,
        s,
        _lookahead_budget(s),
        lambda: LookaheadDrafter(level=s.level, window=s.window, guess_set=s.guess_set, persist_pool=True),
        s.persist,
    )


def _lookahead_budget(s: LookaheadSettings) -> int:
    return (s.guess_set + s.window) * (s.level - 1) - 1


def _open_suffix_decoding(method: Method, s: SuffixDecodingSettings, ctx: OpenContext) -> MethodRun:
    return _SuffixDecodingRun(method.name, s, s.tokens)


def _open_rest(method: Method, s: RestSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.retrieval import RetrievalDrafter

    assert s.store is not None
    corpus = _loaded("rest", s.store, _load_corpus)
    return _FreshRun(method.name, s, s.tokens, lambda: RetrievalDrafter(corpus, max_tokens=s.tokens))


def _open_sps(method: Method, s: SpsSettings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.model import DraftModelDrafter

    path = method.file_setting(ctx.settings, "draft_model") if s.draft_model is None else s.draft_model
    assert path is not None
    model = _draft_model(path, ctx.target)
    return _FreshRun(
        method.name,
        s,
        s.tokens,
        lambda: DraftModelDrafter(
            model, max_tokens=s.tokens, adaptive=s.schedule == "adaptive", sample=s.sample, confidence=s.confidence
        ),
    )


def _open_eagle3(method: Method, s: Eagle3Settings, ctx: OpenContext) -> MethodRun:
    from specscale.drafters.eagle import Eagle3Drafter
    from specscale.drafters.eagle_head import Eagle3DraftHead

    if ctx.target is None:
        raise InvalidArgumentError("method 'eagle3' needs the target model (open(..., target=model))")
    assert s.head is not None
    head = _loaded(f"eagle3:{id(ctx.target)}", s.head, lambda p: Eagle3DraftHead.from_pretrained(p, target=ctx.target))
    return _FreshRun(
        method.name,
        s,
        s.total_tokens,
        lambda: Eagle3Drafter(head, total_tokens=s.total_tokens, depth=s.depth, top_k=s.top_k),
    )


#: Corpora, draft models and heads, loaded once per process whatever the number of runs.
_LOADED: dict[tuple[str, str], Any] = {}


def _loaded(kind: str, path: str, load: Callable[[str], Any]) -> Any:
    if (kind, path) not in _LOADED:
        _LOADED[(kind, path)] = load(path)
    return _LOADED[(kind, path)]


def _load_cost_model(path: str) -> Any:
    from specscale.bench.costmodel import load_cost_model

    return load_cost_model(path)


def _load_corpus(path: str) -> Any:
    from specscale.drafters.retrieval import load_store

    return load_store(path)


def _draft_model(path: str, target: Any) -> Any:
    """The draft model in ``path``, on the target's device, in its dtype and with its attention
    implementation (float32 on the CPU without a target); loaded once per such placement."""
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"local_files_only": True}
    device: Any = "cpu"
    if target is not None:
        device = target.device
        dtype = getattr(target, "dtype", None)
        if dtype is not None and getattr(dtype, "is_floating_point", False):
            kwargs["dtype"] = dtype
        attn = getattr(getattr(target, "config", None), "_attn_implementation", None)
        if attn:
            kwargs["attn_implementation"] = attn
    key = f"{path}|{device}|{kwargs.get('dtype')}|{kwargs.get('attn_implementation')}"
    return _loaded("sps", key, lambda _: AutoModelForCausalLM.from_pretrained(path, **kwargs).to(device).eval())


_SUFFIX_DECODING_INSTALL = (
    "it builds from source: pip install torch cmake ninja nanobind==2.9.2 protobuf==5.29.6 grpcio-tools wheel "
    "&& CMAKE_ARGS=\"-DPython_EXECUTABLE=$(python -c 'import sys; print(sys.executable)')\" "
    "pip install --no-build-isolation arctic-inference==0.3.0 (see the README)"
)

_REGISTRY: list[Method] = [
    Method("ar", "plain decoding through the same loop (the baseline)", NoSettings(), _open_ar, lambda s, _: 0),
    Method(
        "pld",
        "prompt lookup as the reference: the earliest match, always its 10 next tokens",
        PldSettings(),
        _open_pld,
        lambda s, _: s.tokens,
    ),
    Method(
        "pld+",
        "prompt lookup, ours: the latest match, draft length adapted to acceptance",
        PldSettings(adaptive=True, occurrence="latest"),
        _open_pld,
        lambda s, _: s.tokens,
    ),
    Method(
        "sam",
        "SAM-Decoding as the reference: one stream per problem, the earliest occurrence, min(39, 4 x match) tokens",
        SamDecodingSettings(),
        _open_samd,
        lambda s, _: s.n_predicts - 1,
    ),
    Method(
        "sam+",
        "suffix automaton, ours: a Store shared by a problem's samples and rounds, then across problems",
        SamSettings(),
        _open_sam,
        lambda s, _: s.tokens,
        store_based=True,
        sweep=tuple({"tokens": n} for n in (2, 4, 8, 16, 32, 64)),
    ),
    Method(
        "sam-request",
        "suffix automaton over the generation's own prompt and output only",
        SamSettings(scope="request"),
        _open_sam,
        lambda s, _: s.tokens,
    ),
    Method(
        "pia",
        "PIA as the reference: branch tries keyed by 2 tokens, prompt branches first, 63 nodes",
        PiaSettings(),
        _open_pia,
        lambda s, _: s.decoding_length - 1,
    ),
    Method(
        "trie",
        "n-gram trie trees shared by a problem's samples and rounds (ours, beside PIA)",
        TrieSettings(),
        _open_trie,
        lambda s, _: s.tokens,
        store_based=True,
        sweep=tuple({"tokens": n, "depth": max(8, n // 3)} for n in (4, 8, 16, 24, 48, 96)),
    ),
    Method(
        "sam-eagle3",
        "SAM[EAGLE-3] as the reference: SAM-Decoding's 39 tokens at a match >= 5, else an EAGLE-3 tree",
        SamEagleSettings(),
        _open_sam_eagle3,
        lambda s, m: max(s.n_predicts - 1, get("eagle3").budget(m)),
        Needs(model=True, files=(("head", "--eagle3-head"),)),
        files_from="eagle3",
    ),
    Method(
        "hybrid",
        "SAM (sam+), then a fallback method, chosen per step (ours, beside SAM[EAGLE-3])",
        HybridSettings(),
        _open_hybrid,
        lambda s, m: max(get("sam+").budget(m), get(s.fallback).budget(m)),
    ),
    Method(
        "sam-freq",
        "frequency-scored trees after the longest match (ours, compare SuffixDecoding)",
        FrequencySettings(),
        _open_frequency,
        lambda s, _: s.tokens,
        store_based=True,
        needs_counts=True,
        sweep=(
            {"spec_factor": 0.5},
            {"spec_factor": 1.0},
            {"spec_factor": 2.0},
            {"spec_factor": 4.0},
            {"spec_factor": 16.0, "tokens": 64},
            {"spec_factor": 64.0, "tokens": 128, "min_prob": 0.0},
        ),
    ),
    Method(
        "sam-freq-path",
        "the same, the single most frequent continuation (a chain)",
        FrequencySettings(mode="path"),
        _open_frequency,
        lambda s, _: s.tokens,
        store_based=True,
        needs_counts=True,
    ),
    Method(
        "suffix-decoding",
        "ArcticInference's SuffixDecoding: family and global suffix trees",
        SuffixDecodingSettings(),
        _open_suffix_decoding,
        lambda s, _: s.tokens,
        Needs(package="arctic_inference", install=_SUFFIX_DECODING_INSTALL),
        # Tree mode, its best frontier (chains, its default, give less at every size).
        sweep=(
            {"use_tree_spec": True, "spec_factor": 0.5},
            {"use_tree_spec": True, "spec_factor": 1.0},
            {"use_tree_spec": True, "spec_factor": 2.0},
            {"use_tree_spec": True, "spec_factor": 4.0},
            {"use_tree_spec": True, "spec_factor": 16.0, "tokens": 64},
            {"use_tree_spec": True, "spec_factor": 64.0, "tokens": 128, "max_depth": 128, "min_prob": 0.0},
        ),
    ),
    Method(
        "costaware",
        "cost-aware trees from every occurrence of the context's suffix, sized by the cost model (ours)",
        CostAwareSettings(),
        _open_costaware,
        lambda s, _: s.max_nodes,
        Needs(optional_files=("cost_model",)),
        store_based=True,
        # Linear node prices (whatever cost model is set): the frontier is about nodes, not hardware.
        sweep=tuple({"cost_model": None, "node_cost": c} for c in (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002))
        + ({"cost_model": None, "node_cost": 0.0, "max_nodes": 64}, {"cost_model": None, "node_cost": 0.0}),
    ),
    Method(
        "recycling",
        "Token Recycling as the reference: the hand-tuned 80-node tree, one table for the whole run",
        RecyclingSettings(),
        _open_recycling,
        lambda s, _: _recycling_budget(s),
        Needs(model=True),
    ),
    Method(
        "recycling+",
        "Token Recycling, ours: a computed 80-node tree, a table per problem",
        RecyclingSettings(template="prior", persist="family"),
        _open_recycling,
        lambda s, _: _recycling_budget(s),
        Needs(model=True),
    ),
    Method(
        "lookahead",
        "Lookahead decoding as the reference: a 2-D Jacobi window, an n-gram pool per generation",
        LookaheadSettings(),
        _open_lookahead,
        lambda s, _: _lookahead_budget(s),
        Needs(model=True),
    ),
    Method(
        "lookahead+",
        "Lookahead decoding, ours: the n-gram pool shared by a problem's samples and rounds",
        LookaheadSettings(persist="family"),
        _open_lookahead,
        lambda s, _: _lookahead_budget(s),
        Needs(model=True),
    ),
    Method(
        "rest",
        "REST: trees from a static corpus store",
        RestSettings(),
        _open_rest,
        lambda s, _: s.tokens,
        Needs(files=(("store", "--rest-store"),)),
    ),
    Method(
        "sps",
        "speculative sampling as the reference: transformers' assisted generation defaults with a draft model",
        SpsSettings(),
        _open_sps,
        lambda s, _: s.tokens,
        Needs(model=True, files=(("draft_model", "--draft-model"),)),
    ),
    Method(
        "sps+",
        "speculative sampling, ours: up to 5 draft-model tokens, length adapted to acceptance",
        SpsSettings(tokens=5, schedule="adaptive", confidence=0.0),
        _open_sps,
        lambda s, _: s.tokens,
        Needs(model=True, files=(("draft_model", "--draft-model"),)),
        files_from="sps",
    ),
    Method(
        "eagle3",
        "EAGLE-3: a draft head over the target's hidden states",
        Eagle3Settings(),
        _open_eagle3,
        lambda s, _: s.total_tokens,
        Needs(model=True, files=(("head", "--eagle3-head"),)),
    ),
]

#: Every method by name, in the order tables list them.
METHODS: dict[str, Method] = {m.name: m for m in _REGISTRY}

#: Methods a hybrid cannot fall back to.
_NOT_FALLBACKS = ("ar", "hybrid", "sam", "sam+", "sam-request", "sam-eagle3")


def names() -> list[str]:
    """Every method name, in table order."""
    return list(METHODS)


def get(name: str) -> Method:
    """The method called ``name``; :class:`InvalidArgumentError` listing the names otherwise."""
    method = METHODS.get(name)
    if method is None:
        raise InvalidArgumentError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    return method


def model_free_names(settings: SettingsMap | None = None) -> list[str]:
    """The methods trace replay can run (they need no model)."""
    return [m.name for m in METHODS.values() if m.model_free(settings)]


def draft_budget(name: str, settings: SettingsMap | None = None) -> int:
    """Most draft nodes per step of method ``name`` under ``settings``."""
    return get(name).budget(settings or {})


def settings_map(overrides: Mapping[str, Mapping[str, Any] | Any] | None = None) -> dict[str, Any]:
    """Every method's settings: defaults, with ``overrides`` applied (per method, a settings instance or
    a mapping of field -> value). Unknown methods or fields raise :class:`InvalidArgumentError`."""
    out = {name: m.defaults for name, m in METHODS.items()}
    for name, change in (overrides or {}).items():
        base = get(name).defaults
        if dataclasses.is_dataclass(change) and not isinstance(change, type):
            if type(change) is not type(base):
                raise InvalidArgumentError(f"settings of {name!r} must be {type(base).__name__}, got {type(change).__name__}")
            out[name] = change
            continue
        assert isinstance(change, Mapping)
        known = {f.name for f in dataclasses.fields(base)}
        unknown = sorted(set(change) - known)
        if unknown:
            raise InvalidArgumentError(
                f"method {name!r} has no setting {', '.join(unknown)}; its settings: {', '.join(sorted(known)) or 'none'}"
            )
        out[name] = dataclasses.replace(out[name], **dict(change))
    return out


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """``"METHOD.FIELD=VALUE"`` (the CLI's ``--set``) as ``(method, field, value)``, the value converted to
    the field's type (``none`` for an optional file)."""
    key, sep, raw = text.partition("=")
    name, dot, field_name = key.strip().partition(".")
    if not sep or not dot:
        raise InvalidArgumentError(f"--set {text!r}: expected METHOD.FIELD=VALUE, e.g. sam.tokens=40")
    base = get(name).defaults
    kinds = {f.name: f for f in dataclasses.fields(base)}
    if field_name not in kinds:
        raise InvalidArgumentError(
            f"--set {text!r}: method {name!r} has no setting {field_name!r}; its settings: {', '.join(kinds) or 'none'}"
        )
    current = getattr(base, field_name)
    raw = raw.strip()
    value: Any
    if isinstance(current, bool):
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidArgumentError(f"--set {text!r}: expected true or false")
        value = raw.lower() in ("true", "1", "yes")
    elif isinstance(current, int):
        try:
            value = int(raw)
        except ValueError:
            raise InvalidArgumentError(f"--set {text!r}: expected an integer") from None
    elif isinstance(current, float):
        try:
            value = float(raw)
        except ValueError:
            raise InvalidArgumentError(f"--set {text!r}: expected a number") from None
    else:
        value = None if raw.lower() in ("", "none") and current is None else raw
    return name, field_name, value


def describe(settings: SettingsMap, which: Iterable[str] | None = None) -> list[str]:
    """One line per method: its name, node budget and every setting (``--dry-run`` prints these)."""
    lines = []
    for name in which if which is not None else METHODS:
        s = _settings_of(settings, name)
        fields = ", ".join(f"{f.name}={getattr(s, f.name)!r}" for f in dataclasses.fields(s))
        lines.append(f"{name}: budget {draft_budget(name, settings)} nodes/step" + (f"; {fields}" if fields else ""))
    return lines
