"""Helpers for the compression tests: token counters, embeddings, generated text.

The tiny random causal LM (``tiny_lm``) is the shared one of ``tests/conftest.py``.
"""

from __future__ import annotations

import math

import pytest

from green_chain.testing.embeddings import BagOfWordsEmbeddings

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "was",
    "it",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "this",
    "be",
    "are",
    "or",
    "an",
    "have",
    "he",
    "she",
    "they",
    "we",
    "you",
    "i",
    "not",
    "but",
    "paris",
    "france",
    "capital",
    "city",
    "river",
    "seine",
    "tower",
    "museum",
    "1889",
    "eiffel",
    "built",
    "year",
    "people",
    "live",
    "north",
    "south",
    "water",
]


def word_count(text: str) -> int:
    """Fake token counter: one token per whitespace word."""
    return len(text.split())


def char_count(text: str) -> int:
    """Fake token counter that is NOT additive over units: ceil(chars / 4)."""
    return math.ceil(len(text.strip()) / 4)


def word_embeddings() -> BagOfWordsEmbeddings:
    """The shipped hashed bag-of-words embeddings, 64 dims, keeping every word."""
    return BagOfWordsEmbeddings(dim=64, stop_words=frozenset())


@pytest.fixture
def fake_embeddings() -> BagOfWordsEmbeddings:
    return word_embeddings()


def make_text(n_words: int, seed: int = 0) -> str:
    """Sentences of vocabulary words, ``n_words`` words in all."""
    import random

    rnd = random.Random(seed)
    out: list[str] = []
    sent: list[str] = []
    for _ in range(n_words):
        sent.append(rnd.choice(WORDS))
        if len(sent) >= rnd.randint(6, 14):
            out.append(" ".join(sent) + " .")
            sent = []
    if sent:
        out.append(" ".join(sent) + " .")
    return " ".join(out)
