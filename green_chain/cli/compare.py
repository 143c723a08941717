"""``green-chain compare A.json B.json``: two benchmark runs side by side, with ratios."""

from __future__ import annotations

import argparse
import math
from typing import Any

from green_chain.bench.results_schema import INVALID, is_valid_energy

FIELDS = (
    ("energy_green_j", "green J"),
    ("energy_saved_pct", "saved %"),
    ("quality_retained_pct", "quality %"),
    ("energy_saved_pct_projected", "saved % (proj)"),
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare", help="compare two benchmark runs (results.json) side by side"
    )
    p.add_argument("a", help="first results.json")
    p.add_argument("b", help="second results.json")
    p.set_defaults(func=run)


def _valid(key: str, entry: dict[str, Any]) -> bool:
    """False when the figure, or an energy it is computed from, is NaN/inf or negative J."""
    v = entry.get(key)
    if v is not None and not math.isfinite(v):
        return False
    if key.endswith("_j"):
        return v is None or is_valid_energy(v)
    if key.startswith("energy_saved_pct"):
        suffix = key.removeprefix("energy_saved_pct")
        for variant in ("baseline", "green"):
            e = entry.get(f"energy_{variant}_j{suffix}")
            if e is not None and not is_valid_energy(e):
                return False
    return True


def _f(v: Any, valid: bool = True) -> str:
    if not valid:
        return INVALID
    return "-" if v is None else f"{v:.2f}"


def _ratio(a: Any, b: Any, valid: bool = True) -> str:
    if not valid:
        return INVALID
    if a is None or b is None or a == 0:
        return "-"
    return f"{b / a:.2f}x"


def compare_table(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Rows per scenario present in either run: A, B and B/A for each field."""
    names = list(dict.fromkeys([*a["scenarios"], *b["scenarios"]]))
    head = ["scenario"] + [f"{label} {s}" for _, label in FIELDS for s in ("A", "B", "B/A")]
    rows = [head]
    sources = [("OVERALL", a["overall"], b["overall"])] + [
        (n, a["scenarios"].get(n, {}), b["scenarios"].get(n, {})) for n in names
    ]
    for name, sa, sb in sources:
        row = [name]
        for key, _ in FIELDS:
            va, vb = sa.get(key), sb.get(key)
            oka, okb = _valid(key, sa), _valid(key, sb)
            row += [_f(va, oka), _f(vb, okb), _ratio(va, vb, oka and okb)]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    src_a, src_b = a["overall"].get("energy_source"), b["overall"].get("energy_source")
    if any(INVALID in r for r in rows):
        lines.append(f"{INVALID}: a NaN, infinite or negative figure in the results file")
    lines.append(
        f"A: energy {src_a}; B: energy {src_b}"
        + ("" if src_a == src_b else "  (different meters: compare with care)")
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from green_chain.bench.results import load_results

    print(compare_table(load_results(args.a), load_results(args.b)))
    return 0
