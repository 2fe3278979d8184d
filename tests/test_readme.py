"""The README's core quick start runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_core_quick_start_snippets_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    namespace: dict[str, object] = {}
    exec(blocks[0], namespace)  # the core quick start
    exec(blocks[1], namespace)  # scopes
    draft = namespace["d"]
    assert draft.tokens == [5, 6, 8, 9]  # type: ignore[attr-defined]
    assert namespace["store"].num_tokens("family") == 0  # type: ignore[attr-defined]
