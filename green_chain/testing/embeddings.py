"""Deterministic, dependency-free embeddings for tests and offline demos (no model, no network)."""

from __future__ import annotations

import re
import zlib

from langchain_core.embeddings import Embeddings

_WORD = re.compile(r"[a-z0-9]+")


class BagOfWordsEmbeddings(Embeddings):
    """Hashed bag-of-words vectors: texts sharing words get a positive cosine similarity.

    Not a semantic model; use it where a real model is unavailable or would make a test
    slow. Each lower-cased word adds 1 to bucket ``crc32(word) % dim``.

    Args:
        dim: Vector size.
        stop_words: Words ignored (common English function words by default;
            ``frozenset()`` keeps every word).

    Attributes:
        calls: Number of texts embedded so far, documents and queries (to test caching).
        batch_sizes: Per ``embed_documents`` call, the number of texts it was given (to
            test batching: ``len(batch_sizes)`` calls, ``max(batch_sizes)`` largest batch).
    """

    DEFAULT_STOP_WORDS = frozenset(
        [
            "a",
            "an",
            "the",
            "is",
            "are",
            "was",
            "were",
            "be",
            "to",
            "of",
            "and",
            "or",
            "in",
            "on",
            "at",
            "for",
            "with",
            "it",
            "this",
            "that",
            "i",
            "you",
            "my",
            "your",
            "we",
            "do",
            "does",
            "did",
            "what",
            "which",
            "who",
            "how",
        ]
    )

    def __init__(self, dim: int = 256, stop_words: frozenset[str] | None = None) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.stop_words = self.DEFAULT_STOP_WORDS if stop_words is None else stop_words
        self.calls = 0
        self.batch_sizes: list[int] = []

    def _embed(self, text: str) -> list[float]:
        self.calls += 1
        vec = [0.0] * self.dim
        for word in _WORD.findall(text.lower()):
            if word not in self.stop_words:
                vec[zlib.crc32(word.encode()) % self.dim] += 1.0
        return vec

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batch_sizes.append(len(texts))
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)
