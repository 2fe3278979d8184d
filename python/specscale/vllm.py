"""specscale's stores as vLLM speculative proposers (vLLM >= 0.32, its ``custom_class`` method).

vLLM builds the class named in ``speculative_config["model"]`` with its ``VllmConfig`` and calls
``propose(sampled_token_ids, num_tokens_no_spec, token_ids_cpu)`` after every step::

    from vllm import LLM, SamplingParams

    llm = LLM(model="Qwen/Qwen3-8B", speculative_config={
        "model": "specscale.vllm.SuffixAutomatonProposer", "num_speculative_tokens": 8})
    outs = llm.generate(prompts, SamplingParams(n=8, temperature=0.6, max_tokens=4096))

Every proposer drafts through one :class:`specscale.BatchDrafter` (Rust, GIL released): requests are
tracked from the rows' token content and lengths (vLLM passes rows, not request ids, and reorders
them); the ``n`` samples of a prompt, the same prompt sent again and a later round whose prompt
extends an earlier one share a *family* store, each sample reading its siblings while they are
being written; a global store with a capacity spans families. Output is vLLM's: drafts only decide
how many tokens one verification step may accept.

The proposers:

- :class:`SuffixAutomatonProposer` (``"sam"``): the longest suffix match across the row's own text,
  its family and the global store, and what followed it (SAM-Decoding).
- :class:`NgramTrieProposer` (``"trie"``): the most frequent continuation chain of the last
  ``max_order`` tokens, counts summed over the same sources.
- :class:`HybridProposer` (``"hybrid"``): the automaton's draft when its match is at least
  ``hybrid_threshold`` tokens long, else the trie's.

**Settings** (see :class:`ProposerSettings` for every field and default) are read in the process that
builds the proposer, which is vLLM's worker process: put them in the environment variable
``SPECSCALE_VLLM_CONFIG``, as a JSON object or the path of a JSON file, before vLLM starts its
workers (they inherit the environment)::

    SPECSCALE_VLLM_CONFIG='{"max_order": 3, "global_capacity_tokens": 0}' python serve.py

vLLM forbids unknown keys in ``speculative_config``, so settings cannot travel there; the only one
taken from it is ``num_speculative_tokens`` (the most tokens drafted per step). A subclass can also
fix settings in code (``class Mine(SuffixAutomatonProposer): settings = {"max_order": 3}``, then
``"model": "mymodule.Mine"``); the environment overrides both.

This module never imports vLLM: it only reads attributes of the config object it is given, so
``import specscale.vllm`` works wherever specscale does, and tests can drive a proposer with fake
inputs.
"""

from __future__ import annotations

import json
import logging
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from specscale._core import BatchDrafter
from specscale.errors import InvalidArgumentError

__all__ = [
    "CONFIG_ENV",
    "HybridProposer",
    "NgramTrieProposer",
    "ProposerSettings",
    "SpecscaleProposer",
    "SuffixAutomatonProposer",
    "live_proposers",
    "worker_stats",
]

#: The environment variable holding the proposers' settings (a JSON object, or a JSON file's path).
CONFIG_ENV = "SPECSCALE_VLLM_CONFIG"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProposerSettings:
    """Settings of a specscale vLLM proposer.

    Attributes:
        max_tokens: most tokens drafted per row and step; ``None`` (default) drafts up to vLLM's
            ``num_speculative_tokens``, which also caps any larger value.
        min_match: shortest context suffix match an automaton draft continues.
        max_order: context length of the n-gram tries (trie and hybrid proposers).
        hybrid_threshold: the hybrid uses the automaton's draft when its match is at least this long
            (SpecTTS-Bench's rule; 5).
        adaptive: adapt each request's draft length to its acceptance (the ``AdaptiveLength`` rule of
            :mod:`specscale.drafters`: grow by ``grow`` after a fully accepted draft, else fall to
            the accepted run plus ``shrink_to_accepted``, never below ``min_tokens``), and cap a draft at
            ``match_factor`` tokens per matched context token (0: no cap).
        share_family: requests whose prompt starts with an earlier request's prompt share its family
            store (``False``: every request is a family of its own).
        family_capacity_tokens: tokens all families may hold before families without live requests
            are evicted, oldest first (also the cap of one family's finished text).
        global_capacity_tokens: capacity of the global store spanning families (0: none).
        grace_steps: steps a request may be absent from vLLM's batch (preempted, not scheduled)
            before it counts as finished and its request scope is freed.
    """

    max_tokens: int | None = None
    min_match: int = 1
    max_order: int = 4
    hybrid_threshold: int = 5
    adaptive: bool = True
    min_tokens: int = 1
    grow: int = 8
    shrink_to_accepted: int = 4
    match_factor: int = 4
    share_family: bool = True
    family_capacity_tokens: int = 4 << 20
    global_capacity_tokens: int = 1 << 20
    grace_steps: int = 8

    def replace(self, changes: dict[str, Any], where: str) -> ProposerSettings:
        """These settings with ``changes`` applied; unknown keys raise, naming ``where`` they came from."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise InvalidArgumentError(
                f"{where}: unknown setting(s) {', '.join(map(repr, unknown))}; expected some of "
                f"{', '.join(sorted(known))}"
            )
        return ProposerSettings(**{**asdict(self), **changes})

    @classmethod
    def from_env(cls, base: ProposerSettings | None = None) -> ProposerSettings:
        """``base`` (default: the defaults) updated from ``$SPECSCALE_VLLM_CONFIG`` when it is set."""
        base = base if base is not None else cls()
        raw = os.environ.get(CONFIG_ENV, "").strip()
        if not raw:
            return base
        where = f"${CONFIG_ENV}"
        if raw[0] not in "{[":
            path = Path(raw).expanduser()
            if not path.is_file():
                raise InvalidArgumentError(
                    f"{where}={raw!r}: neither a JSON object nor the path of an existing JSON file"
                )
            where, raw = f"{where} file {path}", path.read_text()
        try:
            changes = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InvalidArgumentError(f"{where}: not valid JSON ({e})") from None
        if not isinstance(changes, dict):
            raise InvalidArgumentError(f"{where}: expected a JSON object, got {type(changes).__name__}")
        return base.replace(changes, where)


_LIVE: weakref.WeakSet[SpecscaleProposer] = weakref.WeakSet()


class SpecscaleProposer:
    """A vLLM ``custom_class`` proposer over a :class:`specscale.BatchDrafter`.

    Subclasses set :attr:`method` (``"sam"``, ``"trie"`` or ``"hybrid"``) and may set :attr:`settings`
    (a dict of :class:`ProposerSettings` fields) to fix settings in code.

    Args:
        vllm_config: vLLM's ``VllmConfig``; only ``speculative_config.num_speculative_tokens`` is read.
    """

    method: ClassVar[str] = "sam"
    settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, vllm_config: Any) -> None:
        spec = getattr(vllm_config, "speculative_config", None)
        k = getattr(spec, "num_speculative_tokens", None)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidArgumentError(
                f"{type(self).__name__}: speculative_config.num_speculative_tokens = {k!r}; expected an int >= 1"
            )
        base = ProposerSettings().replace(dict(type(self).settings), f"{type(self).__name__}.settings")
        self.config = ProposerSettings.from_env(base)
        #: Most tokens drafted per row and step.
        self.max_tokens = min(k, self.config.max_tokens or k)
        options = asdict(self.config)
        options["max_tokens"] = self.max_tokens
        self.drafter = BatchDrafter(method=self.method, **options)  # type: ignore[arg-type]
        #: Steps whose drafting failed (vLLM then verifies no draft for that step).
        self.errors = 0
        #: Calls of :meth:`propose` and the wall-clock seconds spent in them.
        self.calls = 0
        self.seconds = 0.0
        _LIVE.add(self)

    def propose(
        self,
        sampled_token_ids: Sequence[Sequence[int]],
        num_tokens_no_spec: Any,
        token_ids_cpu: Any,
        slot_mappings: Any = None,
    ) -> list[list[int]]:
        """Drafts for the batch's rows (vLLM's proposer interface).

        Args:
            sampled_token_ids: per row, the tokens sampled this step (empty: no draft for the row).
            num_tokens_no_spec: per row (``max_num_seqs`` entries, stale past the batch), its length.
            token_ids_cpu: ``(max_num_seqs, max_model_len)`` int array; row ``i`` holds the request's
                prompt and output, the sampled tokens last.
            slot_mappings: unused.

        Returns:
            One draft (a list of token ids, possibly empty) per row of ``sampled_token_ids``.
        """
        t0 = time.perf_counter()
        try:
            return self.drafter.step(sampled_token_ids, num_tokens_no_spec, token_ids_cpu)
        except (ValueError, TypeError) as e:
            # A bad row must not take the server down: no draft this step (vLLM decodes as usual).
            self.errors += 1
            if self.errors == 1 or self.errors % 1000 == 0:
                logger.warning("specscale proposer: no drafts this step (%d so far): %s", self.errors, e)
            return [[] for _ in sampled_token_ids]
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - t0

    def load_model(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to load (vLLM's model runners call this on every drafter)."""

    def stats(self) -> dict[str, Any]:
        """The drafter's counters (see :meth:`specscale.BatchDrafter.stats`) plus the method, the
        draft length, failed steps, the calls of :meth:`propose` and their seconds, and the stores' sizes."""
        d = self.drafter.stats()
        d.update(
            method=self.method,
            max_tokens=self.max_tokens,
            errors=self.errors,
            propose_calls=self.calls,
            propose_seconds=self.seconds,
            requests=self.drafter.num_requests,
            families=self.drafter.num_families,
            family_tokens=self.drafter.family_tokens,
            global_tokens=self.drafter.global_tokens,
            memory_bytes=self.drafter.memory_bytes(),
        )
        return d

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_tokens={self.max_tokens}, {self.config})"


class SuffixAutomatonProposer(SpecscaleProposer):
    """Drafts the continuation of the longest suffix match (own text, family, global store)."""

    method: ClassVar[str] = "sam"


class NgramTrieProposer(SpecscaleProposer):
    """Drafts the most frequent continuation chain from n-gram counts (own text, family, global)."""

    method: ClassVar[str] = "trie"


class HybridProposer(SpecscaleProposer):
    """The automaton's draft for long matches (``hybrid_threshold``), the trie's otherwise."""

    method: ClassVar[str] = "hybrid"


def live_proposers() -> list[SpecscaleProposer]:
    """The specscale proposers alive in this process (vLLM's in-process engine, or inside a worker)."""
    return list(_LIVE)


def worker_stats(worker: Any = None) -> list[dict[str, Any]]:
    """Stats of the proposers alive in the calling process; ``llm.collective_rpc(worker_stats)``
    returns them from every vLLM worker (the ``worker`` argument vLLM passes is not used)."""
    return [p.stats() for p in live_proposers()]
