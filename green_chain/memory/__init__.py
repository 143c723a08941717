"""Chat history under a token budget: keep what is relevant to the new message.

``RelevantHistory`` / ``relevant_history`` (a ``trim_messages``-like entry point) filter a
conversation; ``HistoryFilter`` is the same logic without Runnable plumbing (used by
``green_chain.middleware.history.RelevantHistoryMiddleware``). All three share one
configuration, :class:`HistoryPolicy`.
"""

from green_chain.memory.history import (
    OPTIMIZER_NAME,
    HistoryFilter,
    RelevantHistory,
    as_messages,
    relevant_history,
)
from green_chain.memory.planner import HistoryBudgetError, HistoryResult
from green_chain.memory.policy import HistoryPolicy
from green_chain.memory.resources import EmbeddingCache, resolve_embeddings

__all__ = [
    "OPTIMIZER_NAME",
    "EmbeddingCache",
    "HistoryBudgetError",
    "HistoryFilter",
    "HistoryPolicy",
    "HistoryResult",
    "RelevantHistory",
    "as_messages",
    "relevant_history",
    "resolve_embeddings",
]
