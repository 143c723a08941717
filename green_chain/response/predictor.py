"""Length predictors: how many generated tokens a good answer to a request needs.

A predictor maps a request (chat messages) to a :class:`BudgetPrediction`, a token
budget for the answer plus where it came from. Two ship here:

* :class:`TaskBudgets` - budgets the user states per task (``{"classify": 4,
  "chat": 160}``); the task is named per call.
* :class:`NearestNeighbourBudget` - learned from earlier ``(request, answer
  length)`` pairs: embed the request, take the ``k`` most similar earlier
  requests (cosine similarity), and use the ``quantile``-th quantile of their
  answer lengths, times ``slack``, as the budget.

Quantile definition (the margin): for the ``k`` neighbour lengths sorted
ascending ``l_1 <= ... <= l_k``, the ``q``-quantile is ``l_j`` with
``j = ceil(q * k)`` (the empirical inverse CDF, always an observed length).
With ``q = 0.9`` and ``k = 10`` the budget is the 9th shortest neighbour answer:
at least 90 % of the neighbours fit in it. The mean is never used: one very
long neighbour answer would stretch it and a budget at the mean cuts about half
the answers.

Lengths are generated tokens (``usage_metadata["output_tokens"]`` where the
model reports it).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.messages import BaseMessage

from green_chain.routing.tier import request_text


def quantile_of(lengths: Sequence[int], q: float) -> int:
    """Empirical ``q``-quantile ``l_j``, ``j = ceil(q * k)`` of sorted lengths (see module doc)."""
    if not lengths:
        raise ValueError("quantile_of needs at least one length")
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {q}")
    ordered = sorted(int(n) for n in lengths)
    j = max(1, math.ceil(q * len(ordered)))
    return ordered[j - 1]


@dataclass(frozen=True)
class BudgetPrediction:
    """A predicted answer budget.

    Attributes:
        tokens: Budget in generated tokens (``>= 1``), or ``None``: no prediction
            (no budget is bound).
        source: How it was found: ``task:<name>``, ``default``, ``knn``, ``none``.
        detail: JSON-able extras (neighbour lengths, similarity, quantile).
    """

    tokens: int | None
    source: str
    detail: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "source": self.source, **dict(self.detail)}


@runtime_checkable
class BudgetPredictor(Protocol):
    """Anything with ``predict(messages, task=None) -> BudgetPrediction``."""

    def predict(
        self, messages: Sequence[BaseMessage], task: str | None = None
    ) -> BudgetPrediction: ...


def _check_tokens(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int of tokens, got {value!r}")
    return value


class TaskBudgets:
    """Budgets stated by the user per task.

    Args:
        budgets: ``{task name: tokens}``.
        default: Budget for calls that name no task, or an unknown one
            (``None``: bind no budget for them).
    """

    def __init__(self, budgets: Mapping[str, int], default: int | None = None) -> None:
        self.budgets = {
            str(k): int(_check_tokens(f"budgets[{k!r}]", v) or 0) for k, v in budgets.items()
        }
        self.default = _check_tokens("default", default)

    def predict(self, messages: Sequence[BaseMessage], task: str | None = None) -> BudgetPrediction:
        if task is not None and task in self.budgets:
            return BudgetPrediction(self.budgets[task], f"task:{task}", {})
        if self.default is not None:
            return BudgetPrediction(self.default, "default", {"task": task})
        return BudgetPrediction(None, "none", {"task": task})


class NearestNeighbourBudget:
    """Budgets learned from earlier (request, answer length) pairs (see module doc).

    Args:
        embeddings: Any LangChain ``Embeddings`` (default: the packaged MiniLM,
            ``green_chain.models.LocalEmbeddings``).
        k: Neighbours used.
        quantile: ``q`` of the margin (default 0.9).
        slack: Factor applied to the quantile (default 1.0: none); the budget is
            ``ceil(slack * quantile)``.
        min_tokens: Smallest budget returned.
        max_tokens: Largest budget returned (``None``: no cap).
        min_examples: With fewer pairs stored, predict ``default`` instead.
        default: Budget without enough pairs (``None``: bind no budget).
    """

    def __init__(
        self,
        embeddings: Embeddings | None = None,
        *,
        k: int = 8,
        quantile: float = 0.9,
        slack: float = 1.0,
        min_tokens: int = 1,
        max_tokens: int | None = None,
        min_examples: int = 3,
        default: int | None = None,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not 0.0 < quantile <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {quantile}")
        if not slack >= 1.0:
            raise ValueError(f"slack must be >= 1.0, got {slack}")
        _check_tokens("min_tokens", min_tokens)
        _check_tokens("max_tokens", max_tokens)
        if max_tokens is not None and max_tokens < min_tokens:
            raise ValueError(f"max_tokens ({max_tokens}) must be >= min_tokens ({min_tokens})")
        if min_examples < 1:
            raise ValueError(f"min_examples must be >= 1, got {min_examples}")
        self._embeddings = embeddings
        self.k = k
        self.quantile = quantile
        self.slack = slack
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self.min_examples = min_examples
        self.default = _check_tokens("default", default)
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._lengths: list[int] = []
        self._lock = threading.Lock()

    @property
    def embeddings(self) -> Embeddings:
        if self._embeddings is None:
            from green_chain.models import LocalEmbeddings

            self._embeddings = LocalEmbeddings()
        return self._embeddings

    def __len__(self) -> int:
        return len(self._lengths)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        x = np.asarray(self.embeddings.embed_documents(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms > 0, norms, 1.0)  # type: ignore[no-any-return]

    def fit(self, requests: Sequence[Any], lengths: Sequence[int]) -> NearestNeighbourBudget:
        """Replace the stored pairs with ``requests`` (any request form) and answer lengths."""
        if len(requests) != len(lengths):
            raise ValueError(f"got {len(requests)} requests and {len(lengths)} lengths")
        clean = [self._length(i, n) for i, n in enumerate(lengths)]
        vectors = self._embed([request_text(r) for r in requests]) if requests else None
        with self._lock:
            self._vectors = vectors if vectors is not None else np.zeros((0, 0), np.float32)
            self._lengths = clean
        return self

    def add(self, request: Any, length: int) -> None:
        """Store one more (request, answer length) pair."""
        n = self._length(0, length)
        v = self._embed([request_text(request)])
        with self._lock:
            self._vectors = v if not self._lengths else np.vstack([self._vectors, v])
            self._lengths.append(n)

    @staticmethod
    def _length(i: int, n: Any) -> int:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"lengths[{i}] must be an int >= 0 (generated tokens), got {n!r}")
        return int(n)

    def predict(self, messages: Sequence[BaseMessage], task: str | None = None) -> BudgetPrediction:
        with self._lock:
            vectors, lengths = self._vectors, list(self._lengths)
        if len(lengths) < self.min_examples:
            detail = {"stored": len(lengths), "min_examples": self.min_examples}
            if self.default is None:
                return BudgetPrediction(None, "none", detail)
            return BudgetPrediction(self.default, "default", detail)
        q = self._embed([request_text(messages)])[0]
        sims = vectors @ q
        k = min(self.k, len(lengths))
        nearest = np.argsort(-sims, kind="stable")[:k]
        neighbour_lengths = [lengths[i] for i in nearest]
        base = quantile_of(neighbour_lengths, self.quantile)
        tokens = max(self.min_tokens, math.ceil(self.slack * base))
        if self.max_tokens is not None:
            tokens = min(tokens, self.max_tokens)
        return BudgetPrediction(
            tokens,
            "knn",
            {
                "k": k,
                "quantile": self.quantile,
                "quantile_tokens": base,
                "neighbour_lengths": neighbour_lengths,
                "max_similarity": float(sims[nearest[0]]),
            },
        )


__all__ = [
    "BudgetPrediction",
    "BudgetPredictor",
    "NearestNeighbourBudget",
    "TaskBudgets",
    "quantile_of",
    "request_text",
]
