"""GreenDocumentCompressor with fake embeddings."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from conftest import FakeEmbeddings, make_text, word_count
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document

from green_chain.compression import GreenDocumentCompressor, PromptCompressor, tolerance
from green_chain.compression.backends.embedding import EmbeddingBackend


def _gdc(rate: float = 0.4) -> GreenDocumentCompressor:
    pc = PromptCompressor(
        EmbeddingBackend(FakeEmbeddings()), rate=rate, token_counter=word_count, min_tokens=20
    )
    return GreenDocumentCompressor(compressor=pc)


DOCS = [
    Document(page_content=make_text(300, i), metadata={"source": f"d{i}"}, id=f"id{i}")
    for i in range(3)
] + [Document(page_content="tiny doc .", metadata={"source": "small"})]


def _check(out: Any) -> None:
    assert [d.metadata["source"] for d in out] == ["d0", "d1", "d2", "small"]
    assert [d.id for d in out[:3]] == ["id0", "id1", "id2"]
    for d, o in zip(DOCS, out, strict=True):
        meta = o.metadata["compression"]
        assert meta["tokens_before"] == word_count(d.page_content)
        assert meta["tokens_after"] == word_count(o.page_content)
    for o in out[:3]:  # per-document budget
        target = round(0.4 * o.metadata["compression"]["tokens_before"])
        assert abs(o.metadata["compression"]["tokens_after"] - target) <= tolerance(target)
    assert out[3].page_content == "tiny doc ."  # below min_tokens


class Catcher(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append(data)


def test_compress_documents_and_event() -> None:
    h = Catcher()
    out = _gdc().compress_documents(DOCS, "paris tower", callbacks=[h])
    _check(out)
    (ev,) = h.events
    assert ev["tokens_before"] == sum(word_count(d.page_content) for d in DOCS)
    assert ev["tokens_after"] == sum(word_count(d.page_content) for d in out)


async def test_acompress_documents() -> None:
    _check(await _gdc().acompress_documents(DOCS, "paris tower"))


def test_unknown_backend_name_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown compression backend 'nope'"):
        GreenDocumentCompressor(compressor="nope")


@pytest.mark.parametrize("bad", [None, 3, object()])
def test_bad_compressor_fails_at_construction(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"compressor=.*PromptCompressor"):
        GreenDocumentCompressor(compressor=bad)


def test_backend_name_is_accepted() -> None:
    gdc = GreenDocumentCompressor(compressor="lexical")
    assert isinstance(gdc.compressor, PromptCompressor)
    assert gdc.compressor.backend.name == "lexical"
    out = gdc.compress_documents(DOCS, "paris tower")
    assert out[0].metadata["compression"]["backend"] == "lexical"
    assert len(out[0].page_content) < len(DOCS[0].page_content)


def test_backend_instance_is_accepted() -> None:
    gdc = GreenDocumentCompressor(compressor=EmbeddingBackend(FakeEmbeddings()))
    assert gdc.compressor.backend.name == "embedding"
