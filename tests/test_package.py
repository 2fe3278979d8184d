"""The package's public surface."""

from __future__ import annotations

import subprocess
import sys

import pytest

import specscale


def test_engine_names_are_exported_lazily_and_completely() -> None:
    engine = pytest.importorskip("specscale.engine")
    assert set(engine.__all__) == set(specscale._ENGINE_NAMES)
    for name in engine.__all__:
        assert getattr(specscale, name) is getattr(engine, name)
        assert name in specscale.__all__ and name in dir(specscale)
    drafters = pytest.importorskip("specscale.drafters")
    for name in specscale._DRAFTER_NAMES:
        assert getattr(specscale, name) is getattr(drafters, name) and name in drafters.__all__
    with pytest.raises(AttributeError, match="no_such_name"):
        specscale.no_such_name  # noqa: B018


def test_importing_the_core_does_not_load_torch() -> None:
    code = "import sys, specscale; specscale.SuffixAutomaton(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
