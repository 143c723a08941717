"""Split text into the units a backend scores: sentences or words.

Every unit keeps its trailing whitespace, so ``"".join(units) == text`` and any
subset joined in the original order keeps the original spacing and order.
Scripts written without spaces (Chinese, Japanese, Thai...) split per character at
word level, so a word-level backend can still drop parts of them. A "word" longer than
``MAX_WORD_CHARS`` characters (minified JSON, base64, a long URL) is cut after its
punctuation (``, ; : } ] ) / & |`` ...) into pieces of at most that many characters, and
pieces without punctuation (base64) at that length, so text with no sentence or word
boundaries still has units the budget fitter can drop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

Granularity = Literal["sentence", "word"]

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u0e00-\u0e7f"
_WORD_RE = re.compile(rf"(?:[{_CJK}]|[^\s{_CJK}]+)\s*|\s+")
#: Longest word unit in characters; longer runs without whitespace are cut.
MAX_WORD_CHARS = 64
# A piece of a long word: up to and including a run of punctuation, or the rest.
_PIECE_RE = re.compile(r"[^,;:}\])>/|&=]*[,;:}\])>/|&=]+|[^,;:}\])>/|&=]+")
# A sentence ends at ., !, ?, CJK full stops or a line break, followed by space/end.
_SENT_RE = re.compile(
    r".*?(?:[.!?]+[\"')\]]*(?=\s|$)|[。！？]+|\n+|$)\s*",
    re.DOTALL,
)


def _cut_long(word: str, max_chars: int) -> list[str]:
    """Pieces of at most ``max_chars`` characters, cut after punctuation where possible."""
    out: list[str] = []
    piece = ""
    for m in _PIECE_RE.finditer(word):
        bit = m.group(0)
        while len(bit) > max_chars:  # no punctuation for a long stretch (base64, hex)
            if piece:
                out.append(piece)
                piece = ""
            out.append(bit[:max_chars])
            bit = bit[max_chars:]
        if piece and len(piece) + len(bit) > max_chars:
            out.append(piece)
            piece = ""
        piece += bit
    if piece:
        out.append(piece)
    return out


def split_words(text: str, *, max_chars: int = MAX_WORD_CHARS) -> list[str]:
    """Words (with trailing whitespace); CJK/Thai characters are single units.

    Args:
        text: The text.
        max_chars: A word longer than this (trailing whitespace excluded) is cut into
            pieces of at most this many characters (see the module doc).
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    out: list[str] = []
    for m in _WORD_RE.finditer(text):
        w = m.group(0)
        if not w:
            continue
        core = w.rstrip()
        if len(core) <= max_chars:
            out.append(w)
            continue
        pieces = _cut_long(core, max_chars)
        pieces[-1] += w[len(core) :]
        out.extend(pieces)
    return out


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
