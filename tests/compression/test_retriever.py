"""CompressingRetriever: retrieve, then compress with the query, as child runs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from conftest import make_text, word_count, word_embeddings
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda

from green_chain.compression import (
    CompressingRetriever,
    GreenDocumentCompressor,
    PromptCompressor,
)
from green_chain.compression.backends.embedding import EmbeddingBackend

DOCS = [Document(page_content=make_text(300, i), metadata={"source": f"d{i}"}) for i in range(2)]


class ListRetriever(BaseRetriever):
    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return list(self.docs)


class Runs(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[tuple[str, UUID, UUID | None]] = []
        self.events: list[tuple[UUID, Any]] = []

    def on_retriever_start(self, serialized: Any, query: str, *, run_id: UUID, **kw: Any) -> None:
        self.starts.append(("retriever", run_id, kw.get("parent_run_id")))

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self.starts.append((str(kw.get("name")), run_id, kw.get("parent_run_id")))

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append((run_id, data))


def _retriever(docs: list[Document] = DOCS) -> CompressingRetriever:
    pc = PromptCompressor(
        EmbeddingBackend(word_embeddings()), rate=0.4, token_counter=word_count, min_tokens=20
    )
    return CompressingRetriever(
        base_retriever=ListRetriever(docs=docs), compressor=GreenDocumentCompressor(compressor=pc)
    )


def test_documents_are_compressed_with_the_query_as_child_runs() -> None:
    runs = Runs()
    out = _retriever().invoke("paris tower", config={"callbacks": [runs]})
    assert [d.metadata["source"] for d in out] == ["d0", "d1"]
    for before, after in zip(DOCS, out, strict=True):
        meta = after.metadata["compression"]
        assert meta["tokens_before"] == word_count(before.page_content)
        assert meta["tokens_after"] == word_count(after.page_content) < meta["tokens_before"]
    outer = runs.starts[0]
    inner = [s for s in runs.starts[1:] if s[0] in ("retriever", "GreenDocumentCompressor")]
    assert outer[0] == "retriever" and outer[2] is None
    assert {s[0] for s in inner} == {"retriever", "GreenDocumentCompressor"}
    assert all(s[2] == outer[1] for s in inner)  # both are children of the outer run
    assert runs.events, "the compressor's token counts reach the handler"


async def test_async_and_empty() -> None:
    out = await _retriever().ainvoke("paris tower")
    assert len(out) == 2 and all("compression" in d.metadata for d in out)
    assert _retriever([]).invoke("q") == []


def test_any_runnable_retriever_and_bad_input() -> None:
    pc = PromptCompressor(EmbeddingBackend(word_embeddings()), rate=0.4, token_counter=word_count)
    r = CompressingRetriever(
        base_retriever=RunnableLambda(lambda q: list(DOCS)),
        compressor=GreenDocumentCompressor(compressor=pc),
    )
    assert len(r.invoke("paris")) == 2
    with pytest.raises(Exception, match="base_retriever"):
        CompressingRetriever(
            base_retriever="nope", compressor=GreenDocumentCompressor(compressor=pc)
        )
