"""A FrugalGPT-style cascade scorer: answer cheap first, escalate when unsure.

The confidence of an answer is ``exp(mean token log-probability)`` of the tokens
the cheap model generated (``response_metadata["mean_token_logprob"]``, which
``ChatLocal`` fills), i.e. the geometric-mean token probability, in ``[0, 1]``.
A router keeps the cheap answer when its confidence is ``>= threshold`` and
otherwise asks the next larger model. The cheap call is real work: it runs as a
child run of the router, so an energy handler counts it even when it is thrown
away.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from green_chain.routing.scorers import RouteScorer, as_messages

ConfidenceFn = Callable[[Sequence[BaseMessage], BaseMessage], float]


def logprob_confidence(messages: Sequence[BaseMessage], response: BaseMessage) -> float:
    """``exp(response_metadata["mean_token_logprob"])`` of a generated answer.

    Raises:
        ValueError: the answer carries no ``mean_token_logprob``.
    """
    meta = getattr(response, "response_metadata", None) or {}
    value = meta.get("mean_token_logprob")
    if value is None:
        raise ValueError(
            "CascadeScorer needs response_metadata['mean_token_logprob'] on the cheap "
            "model's answer (ChatLocal provides it); pass confidence_fn= for other models"
        )
    return float(min(1.0, math.exp(float(value))))


class CascadeScorer(RouteScorer):
    """Score a request by the confidence of the cheap model's own answer.

    Args:
        confidence_fn: ``(messages, answer) -> confidence in [0, 1]``; default
            :func:`logprob_confidence`. Use the scoring helper
            (``green_chain.models.score_continuations``) here for a judged score.
        model: The cheap model, only needed to call :meth:`score` on its own;
            routers pass the answer they already have to :meth:`score_response`.
    """

    name = "cascade"
    needs_response = True

    def __init__(self, confidence_fn: ConfidenceFn | None = None, *, model: Any = None) -> None:
        self.confidence_fn: ConfidenceFn = confidence_fn or logprob_confidence
        self.model = model

    def score_response(self, messages: Sequence[BaseMessage], response: BaseMessage) -> float:
        """Confidence of ``response`` (the cheaper model's answer to ``messages``)."""
        value = float(self.confidence_fn(messages, response))
        if not 0.0 <= value <= 1.0 or math.isnan(value):
            raise ValueError(f"confidence_fn must return a value in [0, 1], got {value}")
        return value

    def score(self, messages: Sequence[BaseMessage]) -> float:
        """Run the cheap model (``model=``) and score its answer."""
        if self.model is None:
            raise RuntimeError(
                "CascadeScorer.score() runs the cheap model itself: pass model= when creating "
                "it, or use it inside RoutedChatModel / EnergyRouter, which reuse the answer"
            )
        messages = as_messages(messages)
        return self.score_response(messages, self.model.invoke(messages))
