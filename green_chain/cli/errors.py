"""The user errors of the ``green-chain`` commands, and the output-folder check.

:func:`green_chain.cli.main` turns a *user error* into one line on stderr and exit
status 2; anything else is a bug and keeps its traceback. User errors are:

* :class:`UsageError`: a bad argument, or a named file the command cannot use;
* the library's own errors about files the user named:
  :class:`~green_chain.bench.results_schema.ResultsFileError` (a results.json of the wrong
  shape) and :class:`~green_chain.bench.merge.MergeError` (runs that cannot be merged);
* ``FileNotFoundError`` (a named input is missing), ``PermissionError`` (an output
  cannot be written), and any other ``OSError`` that names a file (``--out`` under a
  file, a full disk, a read-only file system).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class UsageError(ValueError):
    """A mistake in the command line or in a file it names: one line, exit status 2."""


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for a user error, or ``None`` for a bug (see the module doc)."""
    from green_chain.bench.merge import MergeError
    from green_chain.bench.results_schema import ResultsFileError

    if isinstance(exc, UsageError | ResultsFileError | MergeError):
        text = str(exc)
    elif isinstance(exc, FileNotFoundError | PermissionError) or (
        isinstance(exc, OSError) and exc.filename is not None
    ):
        text = _os_error_text(exc)  # type: ignore[arg-type]
    else:
        return None
    return " ".join(text.split()) or type(exc).__name__


def _os_error_text(exc: OSError) -> str:
    if exc.filename is None or exc.strerror is None:
        return str(exc)
    where = str(exc.filename)
    if exc.filename2 is not None:
        where += f" -> {exc.filename2}"
    return f"{where}: {exc.strerror}"


def check_out_dir(path: str | os.PathLike[str], argument: str = "--out") -> Path:
    """Create the output folder ``path`` (with parents) and prove a file can be written there.

    Called before any work starts, so a long run never ends unable to save its results.

    Raises:
        UsageError: ``path`` or one of its parents is a file, or the folder cannot be
            created or written (the message names ``argument`` and the reason).
    """
    out = Path(path)
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                where = "is" if parent == out else f"is under {parent}, which is"
                raise UsageError(f"{argument} {out} {where} a file, not a folder")
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".green-chain-write-check-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"{argument} {out}: cannot write there ({reason})") from exc
    return out
