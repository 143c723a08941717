"""Fakes shared by the response-budget tests."""

from __future__ import annotations

import re

from langchain_core.embeddings import Embeddings


class WordEmbeddings(Embeddings):
    """Bag-of-words vectors over a fixed vocabulary (deterministic, no model)."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower())
            out.append([float(words.count(w)) for w in self.vocabulary] + [0.01])
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
