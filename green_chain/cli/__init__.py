"""The ``green-chain`` command line: ``meters``, ``profile``, ``bench``, ``report``, ``compare``, ``merge``.

Each sub-command lives in its own module of this package with two functions,
``register(subparsers)`` and ``run(args) -> int``. Modules keep heavy imports inside
``run`` so ``green-chain --help`` stays instant. ``main`` is the console entry point:
a user error (:mod:`green_chain.cli.errors`: a :class:`UsageError`, a results file of the
wrong shape, a missing input, an unwritable ``--out``) is one line on stderr and exit
status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from green_chain import __version__
from green_chain.cli.errors import UsageError, user_error_message

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]

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


_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")


def plain_text(text: str) -> str:
    """``text`` without reStructuredText markup (for ``--help``): roles such as
    ``:class:`~a.B``` become ``B``, double back-quotes and literal-block ``::`` go."""
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2), text)
    text = re.sub(r"::$", ":", text.replace("``", ""), flags=re.MULTILINE)
    return text


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Strip reST markup from every description and help text, sub-commands included."""
    if parser.description:
        parser.description = plain_text(parser.description)
    if parser.epilog:
        parser.epilog = plain_text(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain_text(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if isinstance(choice.help, str):
                    choice.help = plain_text(choice.help)
            for sub in dict.fromkeys(action.choices.values()):
                _plain_help(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="green-chain",
        description="Measure and cut the energy of LangChain applications.",
    )
    parser.add_argument("--version", action="version", version=f"green-chain {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(f"{__name__}.{module_name}").register(sub)
    _plain_help(parser)
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
    except Exception as exc:
        # a user error (cli/errors.py) is one line and exit 2; a bug keeps its traceback
        message = user_error_message(exc)
        if message is None:
            raise
        print(f"green-chain {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
