"""``green-chain report RESULTS.json``: re-render the table and plots of a saved run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from green_chain.cli.errors import check_out_dir


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
    out = None
    if not args.no_plots:
        out = check_out_dir(args.out or Path(args.results).parent, "--out" if args.out else "plots")
    print(format_table(doc))
    if out is not None:
        from green_chain.bench.plots import write_plots

        for p in write_plots(doc, out):
            print(f"  {p}")
    return 0
