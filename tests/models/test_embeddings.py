from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from green_chain.models import embeddings as emb
from green_chain.models.embeddings import LocalEmbeddings


class FakeEncoder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], **kw: Any) -> list[list[float]]:
        self.calls.append(list(texts))
        scale = 1.0 if kw.get("normalize_embeddings") else 2.0
        return [[float(len(t)) * scale, 1.0] for t in texts]


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, FakeEncoder]:
    (tmp_path / "config.json").write_text("{}")
    enc = FakeEncoder()
    monkeypatch.setitem(emb._encoders, str(tmp_path.resolve()), enc)
    emb.clear_embedding_cache()
    return str(tmp_path), enc


def test_cache_dedups_and_is_shared(fake: tuple[str, FakeEncoder]) -> None:
    path, enc = fake
    a = LocalEmbeddings(model=path)
    assert a.embed_documents(["ab", "abc", "ab"]) == [[2.0, 1.0], [3.0, 1.0], [2.0, 1.0]]
    assert enc.calls == [["ab", "abc"]]
    b = LocalEmbeddings(model=path)  # another instance shares the cache
    assert b.embed_query("abc") == [3.0, 1.0]
    assert enc.calls == [["ab", "abc"]]
    b.embed_documents(["new", "ab"])
    assert enc.calls[-1] == ["new"]


def test_normalize_flag_has_its_own_cache(fake: tuple[str, FakeEncoder]) -> None:
    path, enc = fake
    assert LocalEmbeddings(model=path).embed_query("ab") == [2.0, 1.0]
    assert LocalEmbeddings(model=path, normalize=False).embed_query("ab") == [4.0, 1.0]
    assert len(enc.calls) == 2


def test_cache_disabled_and_lru(fake: tuple[str, FakeEncoder]) -> None:
    path, enc = fake
    e = LocalEmbeddings(model=path, cache_size=0)
    e.embed_query("a")
    e.embed_query("a")
    assert len(enc.calls) == 2


async def test_async_and_errors(fake: tuple[str, FakeEncoder]) -> None:
    path, _ = fake
    e = LocalEmbeddings(model=path)
    assert await e.aembed_documents(["ab"]) == [[2.0, 1.0]]
    assert await e.aembed_query("abc") == [3.0, 1.0]
    assert e.embed_documents([]) == []
    with pytest.raises(TypeError, match="item 0"):
        e.embed_documents([3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown model"):
        LocalEmbeddings(model="nope").embed_query("x")
