"""``GreenDocumentCompressor``: per-document, question-aware compression for retrievers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import Document
from langchain_core.documents.compressor import BaseDocumentCompressor
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict

from green_chain.compression.backends.base import CompressionBackend
from green_chain.compression.runnable import PromptCompressor


class GreenDocumentCompressor(BaseDocumentCompressor):
    """Compress each retrieved document to the compressor's budget, given the query.

    Every document gets its own budget (``rate``, or ``target_tokens`` per document).
    Metadata is kept and ``metadata["compression"]`` records
    ``{"backend", "tokens_before", "tokens_after"}``. Runs as a child run of the
    callbacks given, so the energy handler receives the token counts.

    Args:
        compressor: A :class:`PromptCompressor`, a backend name (``"lexical"``,
            ``"embedding"``, ... see :func:`make_backend`) or a
            :class:`CompressionBackend`; a name or backend gets a ``PromptCompressor``
            with its defaults (rate 0.5). Anything else fails here, at construction.

    Attributes:
        compressor: The :class:`PromptCompressor` doing the work.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    compressor: Any

    def __init__(
        self, compressor: PromptCompressor | CompressionBackend | str, **kwargs: Any
    ) -> None:
        if isinstance(compressor, str | CompressionBackend):
            compressor = PromptCompressor(compressor)
        elif not isinstance(compressor, PromptCompressor):
            raise TypeError(
                "GreenDocumentCompressor(compressor=) takes a PromptCompressor, a backend name "
                f"or a CompressionBackend, got {type(compressor).__name__}"
            )
        kwargs["compressor"] = compressor
        super().__init__(**kwargs)

    def _one(self, doc: Document, query: str) -> Document:
        result = self.compressor.compress_text(doc.page_content, query)
        meta = {
            **doc.metadata,
            "compression": {
                "backend": result.backend,
                "tokens_before": result.tokens_before,
                "tokens_after": result.tokens_after,
            },
        }
        return Document(page_content=result.text, metadata=meta, id=doc.id)

    def _config(self, callbacks: Callbacks | None) -> RunnableConfig:
        return {"callbacks": callbacks, "run_name": "GreenDocumentCompressor"}

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Compress each document's text to its budget given ``query``."""
        runner = _DocsRunner(self)
        return runner.invoke(
            {"documents": list(documents), "query": query}, self._config(callbacks)
        )

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`."""
        runner = _DocsRunner(self)
        return await runner.ainvoke(
            {"documents": list(documents), "query": query}, self._config(callbacks)
        )


class _DocsRunner(PromptCompressor):
    """Runs the per-document compression as one LangChain run and publishes the totals."""

    def __init__(self, owner: GreenDocumentCompressor) -> None:
        inner: PromptCompressor = owner.compressor
        self.__dict__.update(inner.__dict__)
        self._inner = inner
        self._owner = owner

    def _run(self, value: Any) -> tuple[Any, Any]:
        from green_chain.compression.core import CompressionResult

        docs = [self._owner._one(d, value["query"]) for d in value["documents"]]
        before = sum(d.metadata["compression"]["tokens_before"] for d in docs)
        after = sum(d.metadata["compression"]["tokens_after"] for d in docs)
        result = CompressionResult(
            [d.page_content for d in docs], before, after, None, self.backend.name
        )
        return docs, result
