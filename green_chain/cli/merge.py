"""``green-chain merge A.json B.json ... --out DIR``: join runs of disjoint scenarios."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


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


def run(args: argparse.Namespace) -> int:
    from green_chain.bench.document import write_outputs
    from green_chain.bench.merge import merge_documents
    from green_chain.bench.results import format_table, load_results

    docs = [load_results(p) for p in args.results]
    merged = merge_documents(docs, replace=args.replace)
    merged["command"] = ["green-chain", "merge", *args.results, "--out", args.out]
    paths = write_outputs(merged, Path(args.out), plots=not args.no_plots)
    print(format_table(merged))
    for p in paths.values():
        print(f"  {p}")
    return 0
