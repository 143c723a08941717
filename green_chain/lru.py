"""``LRUCache``: the one small thread-safe least-recently-used map of the package.

Used by the token counters (:mod:`green_chain.tokens`), the optimizers' embedding cache
(:mod:`green_chain.memory.resources`) and ``LocalEmbeddings``. ``None`` is the miss
marker, so ``None`` values cannot be stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A thread-safe map keeping the ``maxsize`` most recently used entries.

    Attributes:
        maxsize: Entries kept (>= 1); may be raised later (never lowered below the content).
        hits: Lookups that found their key.
        misses: Lookups that did not.
    """

    def __init__(self, maxsize: int) -> None:
        if not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an int >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key: K, value: V) -> None:
        """Store ``value``; the least recently used entries go beyond ``maxsize``."""
        if value is None:
            raise ValueError("LRUCache cannot store None (it marks a miss)")
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
