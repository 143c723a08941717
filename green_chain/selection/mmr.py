"""Maximal marginal relevance under a token budget, with an adaptive stop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def budgeted_mmr(
    relevance: np.ndarray,
    similarity: np.ndarray,
    costs: Sequence[int],
    budget: int,
    *,
    lambda_mult: float = 0.5,
    min_score: float = 0.0,
    min_count: int = 1,
    max_count: int | None = None,
) -> list[int]:
    """Pick candidates greedily by marginal relevance while they fit the budget.

    ``mmr_i = lambda_mult * relevance_i - (1 - lambda_mult) * max_{j picked} similarity_ij``
    (with nothing picked yet the penalty is 0). At each step the best-scoring candidate
    that still fits ``budget`` is taken (ties: lower index first, so the result is
    deterministic); picking stops when none fits, when ``max_count`` is reached, or when
    the best score is below ``min_score`` and at least ``min_count`` were picked.

    Args:
        relevance: ``(n,)`` similarity of each candidate to the query.
        similarity: ``(n, n)`` similarity between candidates.
        costs: Token cost of each candidate (tokens).
        budget: Token budget (tokens).

    Returns:
        Indices of the picked candidates, in picking order.
    """
    n = len(costs)
    if relevance.shape != (n,) or similarity.shape != (n, n):
        raise ValueError(
            f"shape mismatch: {n} costs, relevance {relevance.shape}, similarity {similarity.shape}"
        )
    if not 0.0 <= lambda_mult <= 1.0:
        raise ValueError(f"lambda_mult must be in [0, 1], got {lambda_mult}")
    picked: list[int] = []
    available = np.ones(n, dtype=bool)
    penalty = np.zeros(n)
    left = budget
    cost_arr = np.asarray(costs, dtype=np.int64)
    while max_count is None or len(picked) < max_count:
        fits = available & (cost_arr <= left)
        if not fits.any():
            break
        scores = lambda_mult * relevance - (1.0 - lambda_mult) * penalty
        scores = np.where(fits, scores, -np.inf)
        best = int(np.argmax(scores))  # argmax returns the first (lowest index) maximum
        if scores[best] < min_score and len(picked) >= min_count:
            break
        picked.append(best)
        available[best] = False
        left -= int(cost_arr[best])
        penalty = np.maximum(penalty, similarity[best])
    return picked
