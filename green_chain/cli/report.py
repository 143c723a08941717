"""``green-chain report RESULTS.json``: re-render the table and plots of a saved run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="re-render the table and plots of a saved benchmark run"
    )
    p.add_argument("results", help="path to a results.json written by green-chain bench")
    p.add_argument(
        "--out", default=None, help="where to write plots (default: beside results.json)"
    )
    p.add_argument("--no-plots", action="store_true", help="print the table only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from green_chain.bench.results import format_table, load_results

    doc = load_results(args.results)
    print(format_table(doc))
    if not args.no_plots:
        from green_chain.bench.plots import write_plots

        out = Path(args.out) if args.out else Path(args.results).parent
        out.mkdir(parents=True, exist_ok=True)
        for p in write_plots(doc, out):
            print(f"  {p}")
    return 0
