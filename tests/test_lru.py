from __future__ import annotations

import pytest

from green_chain.lru import LRUCache


def test_evicts_least_recently_used_and_counts_hits() -> None:
    lru: LRUCache[str, int] = LRUCache(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "a" is now the newest
    lru.put("c", 3)
    assert lru.get("b") is None
    assert lru.get("a") == 1 and lru.get("c") == 3 and len(lru) == 2
    assert (lru.hits, lru.misses) == (3, 1)


def test_rejects_bad_size_and_none_values() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        LRUCache(0)
    with pytest.raises(ValueError, match="None"):
        LRUCache[str, object](1).put("a", None)
