"""Per-scenario checkpoints of a run, so a killed run resumes where it stopped.

While a run goes, each finished scenario's entry (records included) is written to
``<out>/checkpoints/<scenario>.json`` with the run's *fingerprint*: everything that
changes what a figure means (items, seed, quick, settings, ablation, scenarios' data
folder, the git commit and the models). ``green-chain bench --resume DIR`` runs the same
command again and takes each scenario whose checkpoint has the same fingerprint from the
file instead of running it; a checkpoint with another fingerprint is ignored (and
overwritten), so a resumed run never mixes runs of different settings or code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FOLDER = "checkpoints"


def _path(out_dir: str | os.PathLike[str], name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"checkpoint scenario name must be a plain name, got {name!r}")
    return Path(out_dir) / FOLDER / f"{name}.json"


def save(out_dir: str | os.PathLike[str], entry: Mapping[str, Any], fingerprint: Any) -> Path:
    """Write one finished scenario's entry (atomically: a kill never leaves half a file)."""
    path = _path(out_dir, str(entry["name"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(
        json.dumps({"fingerprint": fingerprint, "entry": dict(entry)}, default=str),
        encoding="utf-8",
    )
    os.replace(tmp, path)
    return path


def load(out_dir: str | os.PathLike[str], name: str, fingerprint: Any) -> dict[str, Any] | None:
    """The checkpointed entry of scenario ``name`` if it finished under ``fingerprint``."""
    path = _path(out_dir, name)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    # compare through JSON so tuples and lists match
    if json.loads(json.dumps(fingerprint, default=str)) != data.get("fingerprint"):
        return None
    entry = data.get("entry")
    if not isinstance(entry, dict) or entry.get("status") != "ok":
        return None
    return entry
