"""The package's public surface."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import specscale

# Every name `specscale` exported before the engine and drafters were split into their own modules:
# these stay public.
PUBLIC_NAMES = {
    "AdaptiveLength", "Drafter", "GenerationOutput", "GenerationStats", "ModelVerifier", "NgramTrieDrafter",
    "NoDraft", "PrefixCache", "PromptLookup", "SamplingParams", "SpecscaleCandidateGenerator",
    "SuffixAutomatonDrafter", "TreeMaskUnsupportedError", "assisted_generate", "generate", "generate_from_trace",
    "DraftModelDrafter", "Eagle3DraftHead", "Eagle3Drafter", "ExpectedAcceptance", "FrequencySuffixDrafter",
    "HybridDrafter", "LookaheadDrafter", "MatchThreshold", "RetrievalDrafter", "SuffixDecodingDrafter",
    "TokenRecyclingDrafter", "Cursor", "DraftTree", "NgramTrie", "Store", "StoreCursor", "SuffixAutomaton",
    "CorruptDataError", "InvalidArgumentError", "InvalidTokenError", "SpecscaleError", "TokenOverflowError",
    "UnknownSequenceError",
}  # fmt: skip


def test_public_names_are_exported_lazily_from_the_module_that_defines_them() -> None:
    pytest.importorskip("torch")
    assert PUBLIC_NAMES <= set(specscale.__all__)
    for name, module_name in specscale._LAZY.items():
        module = importlib.import_module(module_name)
        assert getattr(specscale, name) is getattr(module, name)
        assert name in dir(specscale) and name in module.__all__
    with pytest.raises(AttributeError, match="no_such_name"):
        specscale.no_such_name  # noqa: B018


def test_the_engine_does_not_re_export_drafters() -> None:
    engine = pytest.importorskip("specscale.engine")
    drafters = importlib.import_module("specscale.drafters")
    assert not set(engine.__all__) & set(drafters.__all__)


@pytest.mark.parametrize(
    "code",
    [
        "import specscale; specscale.SuffixAutomaton()",
        # The generate loop, trace replay and the model-free drafters need no torch.
        "import specscale; specscale.generate_from_trace([1, 2], [1, 2, 1, 2], specscale.SuffixAutomatonDrafter())",
        "import specscale.methods as m; [m.get(n).open().drafter() for n in m.model_free_names() if n not in ('rest', 'suffix-decoding')]",
        "import specscale.demo, specscale.bench.replay, specscale.cli",
    ],
)
def test_model_free_paths_do_not_load_torch(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code + "; import sys; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "False"
