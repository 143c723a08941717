"""A local ``file://`` mirror of the benchmark's published data files, for offline tests.

:func:`write_mirror` lays the embedded sample's files out as the source repositories
publish them (``{base}/{owner}/{repo}/{commit}/{path}``; SQuAD as the official
``dev-v1.1.json``) and returns the manifest with the mirror's checksums, so
``green-chain data download --base-url file://...`` can be tested without a network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from green_chain.bench.sources import DATA_FILES, DataFile
from green_chain.paths import SAMPLE_DIR


def squad_official(jsonl: Path) -> bytes:
    """SQuAD records (one JSON line per question) in the official dev-v1.1.json layout."""
    articles: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        paras = articles.setdefault(rec["title"], {})
        paras.setdefault(rec["context"], []).append(
            {
                "id": rec["id"],
                "question": rec["question"],
                "answers": [
                    {"text": t, "answer_start": s}
                    for t, s in zip(rec["answers"], rec["answer_starts"], strict=True)
                ],
            }
        )
    data = [
        {"title": t, "paragraphs": [{"context": c, "qas": q} for c, q in paras.items()]}
        for t, paras in articles.items()
    ]
    return json.dumps({"version": "1.1", "data": data}).encode()


def write_mirror(base: Path, source: Path = SAMPLE_DIR) -> tuple[DataFile, ...]:
    """Write the mirror under ``base`` from the data folder ``source``.

    Returns :data:`~green_chain.bench.sources.DATA_FILES` with the mirror files' SHA-256
    (the sample's bytes are not the full files').
    """
    files = []
    for f in DATA_FILES:
        raw = (
            squad_official(source / f.path)
            if f.convert == "squad_v1"
            else (source / f.path).read_bytes()
        )
        dest = base / f.repo / f.commit / f.source_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(raw)
        sha = None if f.convert else hashlib.sha256(raw).hexdigest()
        files.append(dataclasses.replace(f, sha256=sha))
    return tuple(files)
