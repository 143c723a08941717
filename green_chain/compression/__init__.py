"""Prompt compression: fewer prompt tokens, same answers, on the budget asked for.

- :class:`PromptCompressor`: a LangChain ``Runnable`` (str, PromptValue, messages, dict).
- :class:`GreenDocumentCompressor`: a ``BaseDocumentCompressor`` for retrievers.
- :class:`CompressingRetriever`: a retriever that compresses what another one retrieves
  (LangChain 1.x's replacement-free ``ContextualCompressionRetriever``).
- Backends (:class:`CompressionBackend`): ``lexical`` (BM25, no model), ``embedding``
  (MiniLM sentence relevance), ``learned`` (one MiniLM pass and a trained evidence head);
  experimental: ``selective`` (contrastive LM relevance), ``llmlingua`` /
  ``longllmlingua`` / ``llmlingua2`` (through an offline transformers-5 adapter;
  LLMLingua-2 needs a checkpoint you supply); ``head`` (keep-the-head truncation, the
  reference every backend is measured against).
- :mod:`~green_chain.compression.qa_items`: the held-out ``test`` / ``tune`` split of
  the QA items the backends are measured and trained on.
- :func:`fit_budget`: the shared budget fitter that makes every backend hit the budget.

Heavy dependencies (torch, transformers, llmlingua) load only when a backend runs.
"""

from green_chain.compression.backends.base import CompressionBackend
from green_chain.compression.budget import FitResult, fit_budget, tolerance
from green_chain.compression.core import CompressionResult
from green_chain.compression.documents import GreenDocumentCompressor
from green_chain.compression.retriever import CompressingRetriever
from green_chain.compression.runnable import PromptCompressor, make_backend

__all__ = [
    "CompressingRetriever",
    "CompressionBackend",
    "CompressionResult",
    "FitResult",
    "GreenDocumentCompressor",
    "PromptCompressor",
    "fit_budget",
    "make_backend",
    "tolerance",
]
