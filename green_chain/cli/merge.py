"""``green-chain merge A.json B.json ... --out DIR``: join runs of disjoint scenarios."""

from __future__ import annotations

import argparse
from typing import Any

from green_chain.cli.errors import UsageError, check_out_dir


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "merge",
        help="merge benchmark runs of disjoint scenarios (a full run split across processes)",
    )
    p.add_argument("results", nargs="+", help="results.json files written by green-chain bench")
    p.add_argument("--out", required=True, help="folder for the merged results.json, CSV, plots")
    p.add_argument(
        "--replace",
        action="store_true",
        help="a scenario in a later file replaces the same scenario of an earlier one",
    )
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.set_defaults(func=run)


def refuse_invalid(doc: dict[str, Any], where: str) -> None:
    """A :class:`UsageError` naming the first NaN/inf figure or negative energy of ``doc``.

    ``merge`` never writes such a figure: a NaN would poison every merged total.
    """
    from green_chain.bench.results_schema import invalid_figures

    bad = invalid_figures(doc)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UsageError(
            f"{where} an invalid figure, {bad[0]}{more}: merge accepts finite numbers and "
            "energies >= 0 only (re-run that scenario or fix the file)"
        )


def _drop_invalid_curves(merged: dict[str, Any]) -> None:
    """Drop a fitted E(n) curve with a NaN/inf figure (a bonus, refit from the records),
    noting why under ``energy_curves_dropped``, rather than refuse the whole merge."""
    from green_chain.bench.results_schema import invalid_figures

    curves = merged.get("energy_curves")
    if not isinstance(curves, dict):
        return
    found = {name: invalid_figures(c) for name, c in curves.items()}
    dropped = {name: f"non-finite fit: {', '.join(bad)}" for name, bad in found.items() if bad}
    if dropped:
        merged["energy_curves"] = {n: c for n, c in curves.items() if n not in dropped}
        merged["energy_curves_dropped"] = dropped


def run(args: argparse.Namespace) -> int:
    from green_chain.bench.document import write_outputs
    from green_chain.bench.merge import merge_documents
    from green_chain.bench.results import format_table, load_results

    docs = [load_results(p) for p in args.results]
    for path, doc in zip(args.results, docs, strict=True):
        refuse_invalid(doc, f"{path} holds")
    merged = merge_documents(docs, replace=args.replace)
    merged["command"] = ["green-chain", "merge", *args.results, "--out", args.out]
    _drop_invalid_curves(merged)
    refuse_invalid(merged, "the merged run would hold")
    out = check_out_dir(args.out)
    paths = write_outputs(merged, out, plots=not args.no_plots, allow_nan=False)
    print(format_table(merged))
    for p in paths.values():
        print(f"  {p}")
    return 0
