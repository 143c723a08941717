"""The QA items compression is tuned and tested on, split so tuning never sees a test item.

Two real datasets from the shared data folder (``green_chain.paths.data_file``):

- **SQuAD v1.1 dev** (``qa/squad_v1.1_dev.jsonl``): one question per distinct context
  (the one with the smallest ``sha256(id)``: SQuAD asks its questions in the order of
  the paragraph, so the first one would favour answers near the start). Split **by article title**: a
  title is ``test`` when the first byte of ``sha256(title)`` is even, else ``tune``,
  so test and tune never share an article.
- **NQ-open oracle** (``qa/nq-open-oracle.jsonl.gz``): the question with its gold
  passage (``title`` + newline + ``text``), items whose passage holds an answer.
  Split **by line**: even 0-based line numbers are ``test``, odd ones ``tune``.

Within a split, items are ordered by ``sha256(id)`` (no random state), so the first
``n`` items of a split are the same on every machine. ``test`` items are for the
compression experiment's table only; anything fitted or chosen (the ``learned`` head,
thresholds, defaults) uses ``tune`` items only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

Split = Literal["test", "tune"]
_SPLITS = ("test", "tune")


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def squad_split_of(title: str) -> Split:
    """``"test"`` or ``"tune"`` for a SQuAD article title (see the module doc)."""
    return "test" if _digest(title)[0] % 2 == 0 else "tune"


def nq_split_of(line: int) -> Split:
    """``"test"`` or ``"tune"`` for a 0-based line of the NQ-open oracle file."""
    return "test" if line % 2 == 0 else "tune"


def survives(text: str, answers: Sequence[str]) -> bool:
    """True when any non-blank gold answer occurs in ``text`` (case-insensitive substring)."""
    low = text.lower()
    return any(a.strip() and a.strip().lower() in low for a in answers)


def _check(split: str, n: int | None) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split must be 'test' or 'tune', got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int or None, got {n!r}")


def _take(items: list[dict[str, Any]], n: int | None, what: str) -> list[dict[str, Any]]:
    items.sort(key=lambda r: _digest(r["id"]))
    if n is not None and len(items) < n:
        raise ValueError(f"asked for {n} {what} items, the split has {len(items)}")
    return items if n is None else items[:n]


def squad_items(split: Split, n: int | None = None) -> list[dict[str, Any]]:
    """SQuAD v1.1 dev items of ``split``: dicts ``id, title, context, question, answers``."""
    _check(split, n)
    from green_chain.paths import data_file

    chosen: dict[str, dict[str, Any]] = {}
    with open(data_file("qa/squad_v1.1_dev.jsonl", what="SQuAD v1.1 dev records"), "rb") as f:
        for line in f:
            r = json.loads(line)
            if squad_split_of(r["title"]) != split:
                continue
            have = chosen.get(r["context"])
            if have is None or _digest(r["id"]) < _digest(have["id"]):
                chosen[r["context"]] = r
    out: list[dict[str, Any]] = []
    for r in chosen.values():
        answers = [a if isinstance(a, str) else a.get("text", "") for a in r["answers"]]
        if survives(r["context"], answers):
            out.append(
                {
                    "id": r["id"],
                    "title": r["title"],
                    "context": r["context"],
                    "question": r["question"],
                    "answers": answers,
                }
            )
    return _take(out, n, f"SQuAD {split}")


def nq_items(split: Split, n: int | None = None) -> list[dict[str, Any]]:
    """NQ-open oracle items of ``split``: dicts ``id, title, context, question, answers``."""
    _check(split, n)
    from green_chain.paths import data_file

    out: list[dict[str, Any]] = []
    path = data_file("qa/nq-open-oracle.jsonl.gz", what="NQ-open oracle records")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if nq_split_of(i) != split:
                continue
            r = json.loads(line)
            ctx = r["ctxs"][0]
            context = f"{ctx['title']}\n{ctx['text']}"
            if not survives(context, r["answers"]):
                continue
            out.append(
                {
                    "id": f"nq-oracle-{i}",
                    "title": ctx["title"],
                    "context": context,
                    "question": r["question"],
                    "answers": list(r["answers"]),
                }
            )
    return _take(out, n, f"NQ {split}")
