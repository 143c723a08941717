"""BagOfWordsEmbeddings: deterministic, shared words give a positive similarity."""

from __future__ import annotations

import pytest

from green_chain.testing import BagOfWordsEmbeddings


def _cos(a: list[float], b: list[float]) -> float:
    num = sum(x * y for x, y in zip(a, b, strict=True))
    den = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
    return num / den if den else 0.0


def test_shared_words_are_similar_and_stop_words_ignored():
    emb = BagOfWordsEmbeddings(dim=512)
    dog, dog2, cake = emb.embed_documents(["my dog rex", "rex is a good dog", "chocolate cake"])
    assert _cos(dog, dog2) > 0.5 > _cos(dog, cake)
    assert emb.embed_query("the a of") == [0.0] * 512
    assert emb.embed_query("my dog rex") == dog  # deterministic
    assert emb.calls == 5 and emb.batch_sizes == [3]
    emb.embed_documents(["one", "two"])
    emb.embed_documents([])
    assert emb.batch_sizes == [3, 2, 0] and emb.calls == 7


def test_empty_stop_words_keep_every_word():
    every = BagOfWordsEmbeddings(dim=64, stop_words=frozenset())
    assert sum(every.embed_query("the a of")) == 3.0


def test_bad_dim_is_a_clear_error():
    with pytest.raises(ValueError, match="dim"):
        BagOfWordsEmbeddings(dim=0)


def test_not_in_the_memory_api_any_more():
    import green_chain.memory

    assert not hasattr(green_chain.memory, "BagOfWordsEmbeddings")
