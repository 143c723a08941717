"""Fetch the benchmark's full public data into the layout the scenarios read.

Each file of :data:`green_chain.bench.sources.DATA_FILES` is downloaded from its
published URL (the source repository's raw file at the pinned commit; SQuAD from the
official dev file), checked against the SHA-256 of the file the benchmark was built
on, converted where the benchmark reads another layout (SQuAD: one JSON line per
question), and written atomically under the target folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from green_chain.bench.sources import GITHUB_RAW, DataFile

#: ``url -> bytes``; the default reads http(s) and ``file://`` URLs with urllib.
Fetcher = Callable[[str], bytes]
#: Seconds before a download gives up.
TIMEOUT_S = 60.0


class DownloadError(RuntimeError):
    """A file could not be fetched, or its bytes are not the published ones."""


def fetch_url(url: str) -> bytes:
    """The bytes at ``url`` (http, https or file)."""
    if not url.startswith(("http://", "https://", "file://")):
        raise DownloadError(f"unsupported URL {url!r}: expected http(s):// or file://")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:  # schemes checked above
            return bytes(resp.read())
    except OSError as exc:
        raise DownloadError(f"cannot fetch {url}: {exc}") from exc


def convert_squad_v1(raw: bytes) -> bytes:
    """Official SQuAD v1.1 JSON -> one JSON line per question (the benchmark's layout).

    Fields: ``id``, ``title``, ``context``, ``question``, ``answers`` (every annotator's
    text, duplicates kept), ``answer_starts`` (their character offsets), ``is_impossible``.
    """
    try:
        doc = json.loads(raw)
        lines = []
        for article in doc["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    rec = {
                        "id": qa["id"],
                        "title": article["title"],
                        "context": para["context"],
                        "question": qa["question"],
                        "answers": [a["text"] for a in qa["answers"]],
                        "answer_starts": [a["answer_start"] for a in qa["answers"]],
                        "is_impossible": bool(qa.get("is_impossible", False)),
                    }
                    lines.append(json.dumps(rec, ensure_ascii=False))
    except (ValueError, KeyError, TypeError) as exc:
        raise DownloadError(f"not an official SQuAD v1.1 JSON file ({exc!r})") from exc
    if not lines:
        raise DownloadError("not an official SQuAD v1.1 JSON file (no questions)")
    return ("\n".join(lines) + "\n").encode("utf-8")


CONVERTERS: dict[str, Callable[[bytes], bytes]] = {"squad_v1": convert_squad_v1}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Fetched:
    """What :func:`download` did with one file (``status``: downloaded, present)."""

    file: DataFile
    path: Path
    status: str
    url: str | None = None
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.file.path,
            "status": self.status,
            "url": self.url,
            "bytes": self.bytes,
            "written_to": str(self.path),
        }


def _present(f: DataFile, path: Path) -> bool:
    if not path.is_file():
        return False
    return f.sha256 is None or sha256(path.read_bytes()) == f.sha256


def download(
    files: Sequence[DataFile],
    to: str | os.PathLike[str],
    *,
    base_url: str = GITHUB_RAW,
    fetch: Fetcher = fetch_url,
    force: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> list[Fetched]:
    """Fetch ``files`` into the folder ``to`` (created), in the layout the benchmark reads.

    A file already there with the published checksum is kept unless ``force``.

    Args:
        files: The data files to fetch (see :func:`green_chain.bench.sources.files_for`).
        to: Target data folder.
        base_url: Replaces ``https://raw.githubusercontent.com`` (a mirror laid out as
            ``{base}/{repo}/{commit}/{path}``, or a ``file://`` folder).
        fetch: ``url -> bytes`` (the default uses urllib).
        force: Download even files that are present and intact.
        log: Progress lines.

    Raises:
        DownloadError: a fetch failed or the bytes do not have the published checksum
            (nothing is written for that file).
    """
    root = Path(to).expanduser()
    if root.exists() and not root.is_dir():
        raise ValueError(f"--to: {root} exists and is not a folder")
    out: list[Fetched] = []
    for f in files:
        dest = root / f.path
        if not force and _present(f, dest):
            log(f"{f.path}: present")
            out.append(Fetched(f, dest, "present", bytes=dest.stat().st_size))
            continue
        url = f.download_url(base_url)
        log(f"{f.path}: fetching {url}")
        raw = fetch(url)
        if f.convert is not None:
            raw = CONVERTERS[f.convert](raw)
        if f.sha256 is not None and sha256(raw) != f.sha256:
            raise DownloadError(
                f"{f.path}: the bytes from {url} have SHA-256 {sha256(raw)[:12]}..., the "
                f"published file has {f.sha256[:12]}... (wrong mirror or a changed file)"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(raw)
        tmp.replace(dest)
        out.append(Fetched(f, dest, "downloaded", url=url, bytes=len(raw)))
    return out
