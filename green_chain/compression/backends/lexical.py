"""``lexical`` backend: BM25 relevance of each sentence to the question, no model at all.

The cheapest backend: scoring a few thousand tokens costs microseconds of Python per
sentence instead of a sentence-encoder forward pass (the ``embedding`` backend spends
about a quarter of what a 270M target model spends on the same tokens on a CPU). The
document statistics (inverse document frequency, mean sentence length) are computed over
the context's own sentences, so it needs no corpus and no download.

Score of a sentence ``s`` for question ``q`` (Okapi BM25, each sentence a document)::

    sum over content stems t of q:  idf(t) * f(t, s) * (k1 + 1) / (f(t, s) + k1 * (1 - b + b * |s| / avg|s|))
    idf(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))

with ``N`` sentences, ``n_t`` of them containing ``t``. Stems are lower-cased content
words cut to 6 characters (the same light stemming as the ``embedding`` backend's
lexical term). Without a question, sentences are ranked by the summed ``idf`` of their
distinct stems per stem (information density), so boilerplate goes first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from green_chain.compression.backends.base import CompressionBackend
from green_chain.compression.backends.words import stems

__all__ = ["LexicalBackend", "stems"]


class LexicalBackend(CompressionBackend):
    """Ranks sentences by Okapi BM25 against the question (see the module doc).

    Args:
        k1: Term-frequency saturation (BM25's ``k1``, >= 0).
        b: Length normalisation (BM25's ``b``, 0-1).
    """

    name = "lexical"
    granularity = "sentence"

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        if k1 < 0:
            raise ValueError(f"k1 must be >= 0, got {k1}")
        if not 0 <= b <= 1:
            raise ValueError(f"b must be in [0, 1], got {b}")
        self.k1 = k1
        self.b = b

    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        docs = [Counter(stems(u)) if u.strip() else None for u in units]
        present = [d for d in docs if d is not None]
        n = len(present)
        if n == 0:
            return [-1.0] * len(units)
        df: Counter[str] = Counter()
        for d in present:
            df.update(d.keys())
        idf = {t: math.log(1.0 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        lengths = [sum(d.values()) for d in present]
        avg = (sum(lengths) / n) or 1.0
        query = set(stems(question)) if question and question.strip() else set()
        scores: list[float] = []
        for doc in docs:
            if doc is None:
                scores.append(-1.0)
                continue
            d = doc
            size = sum(d.values())
            if query:
                norm = self.k1 * (1.0 - self.b + self.b * size / avg)
                s = sum(idf[t] * d[t] * (self.k1 + 1.0) / (d[t] + norm) for t in query if t in d)
            else:
                s = sum(idf[t] for t in d) / max(1, len(d))
            scores.append(s)
        return scores
