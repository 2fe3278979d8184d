"""Test helpers that watch drafters act: a drafter wrapper that records every proposal, and a method
run whose drafters are wrapped so."""

from __future__ import annotations

from typing import Any

from specscale.drafters.base import DrafterWrapper
from specscale.methods import MethodRun
from specscale.trees import tree_to_chain


class Recorder(DrafterWrapper):
    """Forwards everything to ``inner`` and records, per generation, ``(context length, first chain,
    nodes)`` of every proposal."""

    def __init__(self, inner: Any, log: list) -> None:
        super().__init__(inner)
        self.log = log
        #: Proposals whose nodes came with the distributions they were sampled from.
        self.sampled = 0

    def begin(self, prompt):
        self.log.append([])
        self.inner.begin(prompt)

    def propose(self, context, max_tokens):
        tree = self.inner.propose(context, max_tokens)
        self.log[-1].append((len(context), tree_to_chain(list(tree.tokens), list(tree.parents))[0], len(tree)))
        return tree

    def draft_probabilities(self):
        probs = self.inner.draft_probabilities()
        self.sampled += probs is not None
        return probs


class RecordingRun(MethodRun):
    """A method run whose drafters are :class:`Recorder` s writing into ``log``."""

    def __init__(self, run: MethodRun, log: list) -> None:
        super().__init__(run.name, run.settings, run.budget)
        self.run, self.log = run, log
        self.recorders: list[Recorder] = []

    def drafter(self):
        recorder = Recorder(self.run.drafter(), self.log)
        self.recorders.append(recorder)
        return recorder

    def end_family(self) -> None:
        self.run.end_family()

    def absorb_family(self, samples) -> None:
        self.run.absorb_family(samples)
