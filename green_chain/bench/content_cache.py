"""Baseline records and scores cached by content, so a rerun does not repeat identical calls.

The baseline chain of an item depends only on the code, the models, the item, the
scenario's calibration items (its fixed examples), the run's settings and seed, and the
answer settings (stop sequences, first line): :meth:`BaselineCache.key` hashes all of them
with the run's *context* (git commit, models, prefix cache, prompt probe, host hash,
meters, ``--jobs``). A finished, scored baseline record is written to
``<out>/cache/baseline/<key>.json``; a later run in the same folder (``--resume DIR``
after a kill, or an ablation-only rerun) takes it instead of running the baseline again.

Energy: a cached record's energy was measured by an earlier run *on the same host, meters,
commit and worker layout* (all in the key), so it is the same kind of figure; what it
lacks is the interleaving with this run's green call (drift then hits the pair unevenly).
So every hit says so (``cached: true`` on the record), and the cache is off for a run
whose tree is dirty or whose commit is unknown (the code would not be pinned).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from green_chain.bench.items import Item
from green_chain.bench.records import ItemRecord
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv

FOLDER = Path("cache") / "baseline"


class BaselineCache:
    """Scored baseline records under ``out_dir/cache/baseline``, keyed by content.

    Args:
        out_dir: The run's output (``--resume``) folder.
        context: What the whole run shares and every key includes (git commit, models,
            host hash, meters, prefix cache, prompt probe, jobs); JSON-serialisable.
    """

    def __init__(self, out_dir: str | os.PathLike[str], context: Mapping[str, Any]) -> None:
        self.folder = Path(out_dir) / FOLDER
        self.context = json.loads(json.dumps(dict(context), sort_keys=True, default=str))
        self.hits = 0
        self.stored = 0

    def key(self, scenario: Scenario, env: ScenarioEnv, item: Item) -> str:
        """The content key of ``item``'s baseline call in ``scenario`` on ``env`` (hex)."""
        payload = {
            "context": self.context,
            "scenario": scenario.describe(),
            "calibration": [[it.id, it.inputs, it.reference] for it in env.calibration],
            "settings": env.settings.to_dict(),
            "seed": env.seed,
            "stop": list(env.stop),
            "first_line": env.first_line,
            "item": [item.id, item.inputs, item.reference, item.references, item.choices],
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"cache key must be a sha256 hex digest, got {key!r}")
        return self.folder / f"{key}.json"

    def get(self, key: str) -> ItemRecord | None:
        """The cached, scored baseline record of ``key`` (``cached: true``), or ``None``."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        record = ItemRecord.from_dict(data.get("record") or {})
        if record.variant != "baseline" or record.error or record.quality is None:
            return None
        record.cached = True
        self.hits += 1
        return record

    def put(self, key: str, record: ItemRecord) -> None:
        """Store a scored baseline record that ran in this run (failed ones never)."""
        if record.variant != "baseline" or record.cached or record.error:
            return
        if record.quality is None:
            raise ValueError("cache only scored baseline records (quality is None)")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(
            json.dumps({"key": key, "record": record.to_dict()}, default=str), encoding="utf-8"
        )
        os.replace(tmp, path)  # a kill never leaves half a file
        self.stored += 1

    def describe(self) -> dict[str, Any]:
        """For results.json: the folder, hits and records stored by this run."""
        return {"folder": str(self.folder), "hits": self.hits, "stored": self.stored}
