"""Per-element figures from the last ``cargo bench --bench core`` run, as a Markdown table.

    python benches/criterion_table.py [target/criterion]

Criterion reports time per iteration; every bench in ``benches/core.rs`` declares its throughput in
elements (tokens, or queries), so median time / elements is ns per token or ns per query.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent.parent / "target" / "criterion")
    rows = []
    for est in sorted(root.glob("*/*/new/estimates.json")):
        meta = json.loads((est.parent / "benchmark.json").read_text())
        n = (meta.get("throughput") or {}).get("Elements")
        if not n:
            continue
        med = json.loads(est.read_text())["median"]
        ci = med["confidence_interval"]
        rows.append(
            (meta["full_id"], med["point_estimate"] / n, ci["lower_bound"] / n, ci["upper_bound"] / n, n)
        )
    if not rows:
        print(f"no criterion results under {root}; run `cargo bench --bench core` first", file=sys.stderr)
        return 1
    print("| bench | ns per element (median) | 95% CI | elements per iteration |")
    print("|---|---:|---:|---:|")
    for name, med, lo, hi, n in rows:
        print(f"| {name} | {med:.1f} | {lo:.1f}-{hi:.1f} | {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
