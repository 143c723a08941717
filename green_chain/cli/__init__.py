"""The ``green-chain`` command line: ``meters``, ``profile``, ``bench``, ``report``, ``compare``, ``merge``.

Each sub-command lives in its own module of this package with two functions,
``register(subparsers)`` and ``run(args) -> int``. Modules keep heavy imports inside
``run`` so ``green-chain --help`` stays instant. ``main`` is the console entry point.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

#: Sub-command name -> module of this package.
COMMANDS: dict[str, str] = {
    "meters": "meters",
    "profile": "profile",
    "bench": "bench",
    "report": "report",
    "compare": "compare",
    "merge": "merge",
    "data": "data",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="green-chain",
        description="Measure and cut the energy of LangChain applications.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(f"{__name__}.{module_name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError) as exc:
        print(f"green-chain {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
