"""``green-chain data``: what each scenario reads and where it was found; ``data download``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from green_chain.cli.errors import UsageError, check_out_dir


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "data",
        help="list the benchmark's data files, or download the full public data",
        description=(
            "Without a sub-command (or with 'list'): each scenario's data files, their source, "
            "and where the benchmark finds them. 'download' fetches the full public files."
        ),
    )
    p.add_argument(
        "--data",
        default=None,
        help="data folder to look in (default: as green-chain bench resolves it)",
    )
    p.set_defaults(func=run_list)
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    ls = sub.add_parser("list", help="each scenario's data files and where they were found")
    ls.add_argument("--data", default=argparse.SUPPRESS, help="data folder to look in")
    ls.set_defaults(func=run_list)
    dl = sub.add_parser(
        "download",
        help="fetch the full public data files into a folder",
        description=(
            "Fetch each scenario's public data files from their published URLs (the source "
            "repository at the pinned commit), check their SHA-256, and write them in the "
            "layout the benchmark reads. Then run: green-chain bench --data DIR"
        ),
    )
    dl.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenarios (default: all)")
    dl.add_argument("--to", required=True, help="target data folder (created)")
    dl.add_argument(
        "--base-url",
        default=None,
        help="mirror of https://raw.githubusercontent.com laid out as BASE/OWNER/REPO/COMMIT/PATH "
        "(also file:///folder)",
    )
    dl.add_argument("--force", action="store_true", help="download files already present")
    dl.set_defaults(func=run_download)


def _scenarios(names: list[str]) -> list[str]:
    from green_chain.bench.scenarios import get_scenarios

    try:
        return [s.name for s in get_scenarios(names)]
    except ValueError as exc:  # unknown names: one line, exit 2
        raise UsageError(str(exc)) from exc


def run_list(args: argparse.Namespace) -> int:
    from green_chain.bench.scenarios import SCENARIO_NAMES
    from green_chain.bench.sources import files_for
    from green_chain.paths import SAMPLE_DIR, resolve_data

    data = resolve_data(getattr(args, "data", None))
    print(f"data folder: {data.root} ({data.source})")
    rows = [("scenario", "file", "found", "source")]
    for name in SCENARIO_NAMES:
        if name == "mixed":
            continue
        for f in files_for([name]):
            p = data.root / f.path
            where = "yes" if p.is_file() else "MISSING"
            if not p.is_file() and (SAMPLE_DIR / f.path).is_file():
                where = "MISSING (in the embedded sample)"
            rows.append((name, f.path, where, f"{f.repo}@{f.commit[:10]}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print("mixed: every file above")
    missing = [r for r in rows[1:] if r[2] != "yes"]
    if data.embedded:
        print(
            "\nthe embedded sample: a few dozen items per scenario. Full data: "
            "green-chain data download --to DIR, then green-chain bench --data DIR"
        )
    elif missing:
        print(f"\n{len(missing)} file(s) missing: green-chain data download --to {data.root}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from green_chain.bench.download import DownloadError, download
    from green_chain.bench.sources import GITHUB_RAW, files_for

    names = _scenarios(args.scenarios)
    files = files_for(args.scenarios and names)
    check_out_dir(args.to, "--to")  # a file there, or no write access: one line, exit 2
    try:
        done = download(
            files,
            args.to,
            base_url=args.base_url or GITHUB_RAW,
            force=args.force,
            log=lambda m: print(m, file=sys.stderr),
        )
    except DownloadError as exc:
        print(f"green-chain data download: error: {exc}", file=sys.stderr)
        return 1
    fetched = sum(d.status == "downloaded" for d in done)
    print(
        f"{fetched} file(s) downloaded, {len(done) - fetched} already present, in {args.to}\n"
        f"run: green-chain bench --data {args.to}   (or export GREEN_CHAIN_DATA={args.to})"
    )
    return 0
