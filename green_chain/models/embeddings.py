"""``LocalEmbeddings``: sentence-transformers embeddings, offline, with a text-hash cache."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field

from green_chain.lru import LRUCache
from green_chain.models.registry import ensure_offline, resolve_model

_lock = threading.Lock()
_encoders: dict[str, Any] = {}
_caches: dict[tuple[str, bool], LRUCache[str, list[float]]] = {}


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _load_encoder(path: str) -> Any:
    enc = _encoders.get(path)
    if enc is not None:
        return enc
    with _lock:
        enc = _encoders.get(path)
        if enc is None:
            ensure_offline()
            from sentence_transformers import SentenceTransformer

            enc = SentenceTransformer(path, device="cpu", local_files_only=True)
            _encoders[path] = enc
        return enc


class LocalEmbeddings(BaseModel, Embeddings):
    """LangChain ``Embeddings`` over a local sentence-transformers model.

    Loads the packaged all-MiniLM-L6-v2 (384 dimensions) by default, or any local
    sentence-transformers folder. One encoder is loaded per process and shared by all
    instances; vectors are cached in memory (LRU keyed by the SHA-256 of the text),
    shared per model and normalization across instances, since memory, history and
    example selection embed the same texts again and again.

    Attributes:
        model: Registry name (``all-minilm-l6-v2``) or a local folder.
        normalize: Return unit-length vectors (cosine similarity = dot product).
        batch_size: Texts per forward pass in :meth:`embed_documents`.
        cache_size: Vectors kept in the shared LRU cache (0 disables caching).
    """

    model_config = ConfigDict(frozen=False, arbitrary_types_allowed=True)

    model: str = "all-minilm-l6-v2"
    normalize: bool = True
    batch_size: int = Field(default=32, ge=1)
    cache_size: int = Field(default=4096, ge=0)

    def _path(self) -> str:
        resolved = resolve_model(self.model)
        if resolved.kind not in (None, "embedding"):
            raise ValueError(f"{self.model!r} is a causal LM, not an embedding model")
        return str(resolved.path)

    @property
    def encoder(self) -> Any:
        """The shared ``SentenceTransformer`` instance."""
        return _load_encoder(self._path())

    @property
    def cache(self) -> LRUCache[str, list[float]]:
        key = (self._path(), self.normalize)
        with _lock:
            c = _caches.get(key)
            if c is None:
                c = _caches[key] = LRUCache(self.cache_size)
            c.maxsize = max(c.maxsize, self.cache_size)
            return c

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        vecs = self.encoder.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in v] for v in vecs]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts (batched; cached texts are not recomputed)."""
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"embed_documents: item {i} is {type(t).__name__}, not str")
        if not texts:
            return []
        if self.cache_size == 0:
            return self._encode(texts)
        cache = self.cache
        keys = [_text_key(t) for t in texts]
        out: list[list[float] | None] = [cache.get(k) for k in keys]
        todo: dict[str, str] = {}
        where: dict[str, list[int]] = {}
        for i, (k, t, v) in enumerate(zip(keys, texts, out, strict=True)):
            if v is None:
                todo.setdefault(k, t)
                where.setdefault(k, []).append(i)
        if todo:
            for k, v in zip(todo, self._encode(list(todo.values())), strict=True):
                cache.put(k, v)
                for i in where[k]:
                    out[i] = v
        return [list(v) for v in out if v is not None]

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents` (runs in a thread, the loop is not blocked)."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query` (runs in a thread)."""
        return await asyncio.to_thread(self.embed_query, text)


def clear_embedding_cache() -> None:
    """Drop every cached vector (the loaded encoders stay)."""
    with _lock:
        _caches.clear()


__all__ = ["LocalEmbeddings", "clear_embedding_cache"]
