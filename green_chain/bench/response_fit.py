"""Response budgets of the green chains, fitted on calibration items' reference answers.

A scenario's budget (tokens of the large model) is ``ceil(margin * q)``, where ``q`` is
the ``quantile``-th empirical quantile (:func:`green_chain.response.predictor.quantile_of`)
of the token lengths of its calibration items' reference answers, capped at the
baseline's answer cap: the baseline keeps its cap, so any saving comes on top of it.
Only calibration items enter the fit (a test item's reference never does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from green_chain.response.predictor import quantile_of
from green_chain.tokens import count_tokens


def fit_response_budget(
    references: Sequence[str],
    *,
    token_model: str | None,
    cap: int,
    quantile: float = 0.9,
    margin: float = 1.25,
) -> int:
    """The answer budget in tokens: ``min(cap, ceil(margin * quantile of lengths))``.

    Args:
        references: Reference answers of the calibration items, as the model would write them.
        token_model: Tokenizer name the lengths are counted in (``None``: approximate).
        cap: The baseline's answer cap (tokens); the budget never exceeds it.
        quantile: Quantile of the reference lengths, in (0, 1].
        margin: Factor >= 1 on that quantile.

    Returns ``cap`` when there are no references (nothing to fit on).
    """
    if cap <= 0:
        raise ValueError(f"cap must be > 0 tokens, got {cap}")
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    if margin < 1.0:
        raise ValueError(f"margin must be >= 1, got {margin}")
    lengths = [max(1, count_tokens(text, token_model).tokens) for text in references]
    if not lengths:
        return cap
    return max(1, min(cap, math.ceil(margin * quantile_of(lengths, quantile))))


__all__ = ["fit_response_budget"]
