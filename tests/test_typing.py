"""The Python package type-checks: its annotations are part of the public API (and of its .pyi stubs)."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "specscale"


def test_package_type_checks(tmp_path) -> None:
    api = pytest.importorskip("mypy.api")
    out, err, status = api.run(
        [str(PACKAGE), "--ignore-missing-imports", "--cache-dir", str(tmp_path / "mypy"), "--no-error-summary"]
    )
    assert status == 0, out + err
