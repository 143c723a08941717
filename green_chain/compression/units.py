"""Split text into the units a backend scores: sentences or words.

Every unit keeps its trailing whitespace, so ``"".join(units) == text`` and any
subset joined in the original order keeps the original spacing and order.
Scripts written without spaces (Chinese, Japanese, Thai...) split per character at
word level, so a word-level backend can still drop parts of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

Granularity = Literal["sentence", "word"]

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u0e00-\u0e7f"
_WORD_RE = re.compile(rf"(?:[{_CJK}]|[^\s{_CJK}]+)\s*|\s+")
# A sentence ends at ., !, ?, CJK full stops or a line break, followed by space/end.
_SENT_RE = re.compile(
    r".*?(?:[.!?]+[\"')\]]*(?=\s|$)|[。！？]+|\n+|$)\s*",
    re.DOTALL,
)


def split_words(text: str) -> list[str]:
    """Words (with trailing whitespace); CJK/Thai characters are single units."""
    return [m.group(0) for m in _WORD_RE.finditer(text) if m.group(0)]


def split_sentences(text: str, *, max_chars: int = 2000) -> list[str]:
    """Sentences (with trailing whitespace); overlong sentences are cut at word boundaries.

    Args:
        text: The text.
        max_chars: A "sentence" longer than this (a table, code, a run-on line) is cut
            into pieces of at most about this many characters, so one unit never
            dominates the budget.
    """
    out: list[str] = []
    for m in _SENT_RE.finditer(text):
        s = m.group(0)
        if not s:
            continue
        if len(s) <= max_chars:
            out.append(s)
            continue
        piece = ""
        for w in split_words(s):
            if piece and len(piece) + len(w) > max_chars:
                out.append(piece)
                piece = ""
            piece += w
        if piece:
            out.append(piece)
    if out and not out[0].strip() and len(out) > 1:  # leading whitespace joins the next unit
        out[1] = out[0] + out[1]
        out.pop(0)
    return out


def split_units(text: str, granularity: Granularity) -> list[str]:
    """Split ``text`` into units of the given granularity (joined they give ``text``)."""
    if granularity == "sentence":
        return split_sentences(text)
    if granularity == "word":
        return split_words(text)
    raise ValueError(f"unknown granularity {granularity!r}; use 'sentence' or 'word'")


def join_units(units: Sequence[str], keep: Sequence[bool]) -> str:
    """Join the kept units in their original order, without trailing whitespace."""
    return "".join(u for u, k in zip(units, keep, strict=True) if k).rstrip()
