"""Shared helpers of the history filter and the example selector.

* :func:`resolve_token_counter` turns a tokenizer spec (model name, tokenizer, callable,
  chat model or ``None``) into a cached ``str -> int`` counter (units: tokens).
* :func:`resolve_embeddings` turns ``None`` into the packaged ``LocalEmbeddings``.
* :class:`EmbeddingCache` caches unit-normalised embedding vectors per text so that a
  conversation re-sent every turn is embedded once per message.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

TokenCounter = Callable[[str], int]

_PACKAGED_HINT = 'install the local extra (pip install "green-chain[local]")'


class _LRU:
    """A small thread-safe LRU map."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"cache size must be >= 1, got {maxsize}")
        self._maxsize = maxsize
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def _counter_for_name(name: str) -> tuple[TokenCounter, str]:
    from green_chain.tokens import count_tokens, get_token_counter

    registered = get_token_counter(name)
    if registered is not None:
        return registered, f"tokenizer:{name}"
    method = count_tokens("probe", name).method
    if method != "approximate":  # tiktoken for OpenAI names
        return (lambda text: count_tokens(text, name).tokens), method
    try:  # packaged (or local) models: load their tokenizer (cheap)
        from green_chain import models

        return models.token_counter(name), f"tokenizer:{name}"
    except ImportError:
        pass
    except ValueError:  # names no known model: approximate
        pass
    return (lambda text: count_tokens(text).tokens), "approximate"


def resolve_token_counter(
    spec: Any = None, *, cache_size: int = 20_000
) -> tuple[TokenCounter, str]:
    """A cached ``str -> int`` token counter for ``spec`` and the name of its method.

    Args:
        spec: ``None`` (approximate, via :func:`green_chain.tokens.count_tokens`), a model
            name (a registered tokenizer, a packaged model's tokenizer, tiktoken for OpenAI
            names, else approximate), a tokenizer with ``.encode``, a callable
            ``str -> int``, or a LangChain language model (``get_num_tokens``).
        cache_size: How many texts' counts to remember.

    Returns:
        ``(counter, method)``; ``method`` is e.g. ``tokenizer:<name>`` or ``approximate``.
    """
    from green_chain.tokens import count_tokens

    base: TokenCounter
    if spec is None:
        base, method = (lambda text: count_tokens(text).tokens), "approximate"
    elif isinstance(spec, str):
        if not spec:
            raise ValueError("token counter spec must be a non-empty model name")
        base, method = _counter_for_name(spec)
    elif hasattr(spec, "encode"):
        from green_chain.tokens import _as_counter

        base = _as_counter(spec)
        method = f"tokenizer:{getattr(spec, 'name_or_path', type(spec).__name__)}"
    elif hasattr(spec, "get_num_tokens"):
        base = spec.get_num_tokens
        method = f"model:{type(spec).__name__}"
    elif callable(spec):
        base, method = spec, f"callable:{getattr(spec, '__name__', type(spec).__name__)}"
    else:
        raise TypeError(
            "tokenizer must be None, a model name, a tokenizer with .encode(), a callable "
            f"str -> int or a language model with get_num_tokens(); got {type(spec).__name__}"
        )
    cache = _LRU(cache_size)

    def count(text: str) -> int:
        if not text:
            return 0
        hit = cache.get(text)
        if hit is not None:
            return int(hit)
        n = int(base(text))
        if n < 0:
            raise ValueError(f"token counter returned a negative count ({n}) for {text[:40]!r}")
        cache.put(text, n)
        return n

    return count, method


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
        self._docs = _LRU(maxsize)
        self._queries = _LRU(min(maxsize, 5_000))

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

    def _stack(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0))
        return np.stack([self._docs.get(t) for t in texts])

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
