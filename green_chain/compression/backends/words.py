"""Content-word stems shared by the word-overlap scorers (``embedding``'s lexical term,
the ``lexical`` backend's BM25)."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "with",
        "from",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "did",
        "does",
        "do",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "as",
        "into",
        "than",
        "then",
        "there",
        "their",
        "his",
        "her",
        "he",
        "she",
        "they",
        "we",
        "you",
        "i",
        "not",
        "no",
    ]
)


def stems(text: str) -> list[str]:
    """Content-word stems of ``text`` in order (lower-cased, stop words out, 6 characters)."""
    return [w[:6] for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS]
