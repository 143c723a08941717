"""``embedding`` backend: sentence relevance to the question with a sentence encoder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from green_chain.compression.backends.base import CompressionBackend
from green_chain.compression.backends.words import stems


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def _content_stems(text: str) -> set[str]:
    """Lower-cased content words cut to 6 characters (a crude, language-light stem)."""
    return set(stems(text))


def lexical_overlap(sentence: str, question: str) -> float:
    """Share (0-1) of the question's content-word stems that occur in ``sentence``."""
    q = _content_stems(question)
    return len(q & _content_stems(sentence)) / len(q) if q else 0.0


class EmbeddingBackend(CompressionBackend):
    """Scores each sentence by cosine similarity to the question (cheapest backend).

    With a question, the score is ``cosine + lexical_weight * overlap`` where
    ``overlap`` is the share of the question's content words found in the sentence
    (hybrid dense + lexical relevance, as in hybrid retrieval): dense similarity
    alone misses answer sentences that share rare names or numbers with the
    question. ``lexical_weight=0`` gives pure embedding relevance.

    Without a question, sentences are scored by similarity to the mean of all
    sentence embeddings (centrality). Sentences are embedded in batches of
    ``batch_size`` so very long texts never hold more than one batch of activations.

    Args:
        embeddings: A LangChain ``Embeddings``; default: the packaged MiniLM via
            ``green_chain.models.LocalEmbeddings("all-minilm-l6-v2")`` (loaded lazily).
        batch_size: Sentences per ``embed_documents`` call.
    """

    name = "embedding"
    granularity = "sentence"

    def __init__(
        self,
        embeddings: Any | None = None,
        *,
        batch_size: int = 256,
        lexical_weight: float = 0.5,
    ) -> None:
        if lexical_weight < 0:
            raise ValueError(f"lexical_weight must be >= 0, got {lexical_weight}")
        self._embeddings = embeddings
        self.batch_size = batch_size
        self.lexical_weight = lexical_weight

    @property
    def embeddings(self) -> Any:
        if self._embeddings is None:
            from green_chain.models import LocalEmbeddings

            self._embeddings = LocalEmbeddings(model="all-minilm-l6-v2")
        return self._embeddings

    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        idx = [i for i, u in enumerate(units) if u.strip()]
        vecs: list[list[float]] = []
        texts = [units[i].strip() for i in idx]
        for s in range(0, len(texts), self.batch_size):
            vecs.extend(self.embeddings.embed_documents(texts[s : s + self.batch_size]))
        if question and question.strip():
            ref = self.embeddings.embed_query(question.strip())
        elif vecs:
            dim = len(vecs[0])
            ref = [sum(v[d] for v in vecs) / len(vecs) for d in range(dim)]
        else:
            ref = []
        scores = [-1.0] * len(units)
        has_question = bool(question and question.strip())
        for i, v in zip(idx, vecs, strict=True):
            scores[i] = _cosine(v, ref)
            if has_question and self.lexical_weight:
                scores[i] += self.lexical_weight * lexical_overlap(units[i], question or "")
        return scores
