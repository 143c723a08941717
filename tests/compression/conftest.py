"""Fakes for the compression tests: token counters, embeddings, generated text.

The tiny random causal LM (``tiny_lm``) is the shared one of ``tests/conftest.py``.
"""

from __future__ import annotations

import hashlib
import math
import re

import pytest
from langchain_core.embeddings import Embeddings

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


class FakeEmbeddings(Embeddings):
    """Deterministic bag-of-words embeddings (hashed words, 64 dims)."""

    dim = 64

    def __init__(self) -> None:
        self.calls: list[int] = []

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for w in re.findall(r"\w+", text.lower()):
            h = int(hashlib.md5(w.encode()).hexdigest(), 16)
            v[h % self.dim] += 1.0
        return v

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


@pytest.fixture
def fake_embeddings() -> FakeEmbeddings:
    return FakeEmbeddings()


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
