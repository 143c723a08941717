"""``CompressingRetriever``: a retriever whose documents are compressed before use.

LangChain 1.x's ``langchain`` package no longer ships ``ContextualCompressionRetriever``
(it moved to ``langchain-classic``). This retriever is the documented replacement in
green-chain: it retrieves with ``base_retriever`` and passes the documents, with the
query, to any ``BaseDocumentCompressor`` (usually a :class:`GreenDocumentCompressor`).

Both steps are child runs of the retriever's run, so an
:class:`~green_chain.callbacks.EnergyCallbackHandler` sees the retrieval and the
compressor's token counts (prompt tokens before and after compression).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.documents.compressor import BaseDocumentCompressor
from langchain_core.retrievers import BaseRetriever, RetrieverLike
from pydantic import ConfigDict, field_validator


class CompressingRetriever(BaseRetriever):
    """Retrieve with ``base_retriever``, then compress the documents given the query.

    Attributes:
        base_retriever: Any retriever (or runnable ``str -> list[Document]``).
        compressor: A document compressor, e.g. ``GreenDocumentCompressor(compressor=
            PromptCompressor("embedding", rate=0.5))``.

    Example:
        ``CompressingRetriever(base_retriever=store.as_retriever(), compressor=gdc)``
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    base_retriever: RetrieverLike
    compressor: BaseDocumentCompressor

    @field_validator("base_retriever")
    @classmethod
    def _is_runnable(cls, value: Any) -> Any:
        if not callable(getattr(value, "invoke", None)):
            raise TypeError(
                "base_retriever must be a retriever or a runnable str -> list[Document], "
                f"got {type(value).__name__}"
            )
        return value

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = self.base_retriever.invoke(query, {"callbacks": run_manager.get_child()})
        if not docs:
            return []
        out = self.compressor.compress_documents(docs, query, callbacks=run_manager.get_child())
        return list(out)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = await self.base_retriever.ainvoke(query, {"callbacks": run_manager.get_child()})
        if not docs:
            return []
        out = await self.compressor.acompress_documents(
            docs, query, callbacks=run_manager.get_child()
        )
        return list(out)
