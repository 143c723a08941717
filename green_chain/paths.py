"""Where green-chain finds the shared evaluation data and keeps its caches."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable that overrides the data folder.
DATA_ENV = "GREEN_CHAIN_DATA"
#: Environment variable that overrides the cache folder.
CACHE_ENV = "GREEN_CHAIN_CACHE"

_REPO_ROOT = Path(__file__).resolve().parent.parent
#: The small sample of every scenario's data shipped inside the package.
SAMPLE_DIR = Path(__file__).resolve().parent / "bench" / "sample"
#: ``--data`` value that forces the embedded sample.
EMBEDDED = "embedded"


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder of real evaluation data (``../shared/data`` by default).

    Order: the explicit ``path``; ``$GREEN_CHAIN_DATA``; ``../shared/data`` from the
    current directory; ``../shared/data`` beside the repository checkout.
    The folder is not checked for existence here; callers name the missing file.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    cwd_candidate = Path.cwd().parent / "shared" / "data"
    if cwd_candidate.is_dir():
        return cwd_candidate
    return _REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class DataSource:
    """The data folder a run reads and how it was chosen.

    Attributes:
        root: The folder.
        source: ``"--data"`` (given), ``"$GREEN_CHAIN_DATA"``, ``"../shared/data"`` or
            ``"embedded"`` (the sample inside the package, see ``bench/sample/SOURCES.md``).
    """

    root: Path
    source: str

    @property
    def embedded(self) -> bool:
        return self.source == EMBEDDED


def resolve_data(path: str | os.PathLike[str] | None = None) -> DataSource:
    """The benchmark's data folder: ``path``, ``$GREEN_CHAIN_DATA``, ``../shared/data``, else
    the embedded sample.

    ``path == "embedded"`` forces the sample. A given ``path`` or ``$GREEN_CHAIN_DATA``
    that is not a folder raises :class:`FileNotFoundError` naming it (a typo never
    silently falls back to the sample).
    """
    if path is not None and str(path) == EMBEDDED:
        return DataSource(SAMPLE_DIR, EMBEDDED)
    for given, source, what in (
        (path, "--data", "--data"),
        (os.environ.get(DATA_ENV) or None, f"${DATA_ENV}", f"${DATA_ENV}"),
    ):
        if given is None:
            continue
        if str(given) == EMBEDDED:
            return DataSource(SAMPLE_DIR, EMBEDDED)
        root = Path(given).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(
                f"{what}: data folder {root} does not exist (use '{EMBEDDED}' for the sample "
                "inside the package, or `green-chain data download --to DIR` for the full data)"
            )
        return DataSource(root, source)
    for shared in (Path.cwd().parent / "shared" / "data", _REPO_ROOT.parent / "shared" / "data"):
        if shared.is_dir():
            return DataSource(shared, "../shared/data")
    return DataSource(SAMPLE_DIR, EMBEDDED)


def data_file(relative: str, *, what: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Path of one data file, or a :class:`FileNotFoundError` naming it and its expected content.

    Args:
        relative: Path under the data folder, e.g. ``qa/squad_v1.1_dev.jsonl``.
        what: What the file should contain, for the error message.
        root: Data folder override (see :func:`data_dir`).
    """
    base = data_dir(root)
    p = base / relative
    if not p.is_file():
        raise FileNotFoundError(
            f"missing data file {p}: expected {what}. Set --data or ${DATA_ENV} to the folder "
            f"holding the shared evaluation data (see shared/data/SOURCES.md)."
        )
    return p


def cache_dir() -> Path:
    """green-chain's cache folder: ``$GREEN_CHAIN_CACHE``, else ``$XDG_CACHE_HOME/green-chain``,
    else ``~/.cache/green-chain``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "green-chain"
