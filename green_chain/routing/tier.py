"""The first-tier protocol: a runnable tried before any LLM, used only when confident.

A first tier is any runnable that takes the router's input and returns a
:class:`TierAnswer`: ``answer`` is what the router returns (a label, a cached
reply ...) or ``None`` when the tier *declines*; ``confidence`` is its
calibrated probability that the answer is right, ``threshold`` the confidence it
needed. The tier decides itself whether it is confident enough (it knows its own
calibration); the router records the confidence either way. A tier may also
return ``None`` (declines, no confidence) or a mapping with the same keys. A
tier that raises declines too: a failing first tier never breaks the chain.

:class:`~green_chain.routing.classifier.ExampleClassifier` is the shipped one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

from green_chain.routing.scorers import as_messages

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TierAnswer:
    """What a first tier returns.

    Attributes:
        answer: The answer the router returns, or ``None``: the tier declines.
        confidence: Calibrated probability (0-1) that the answer is right.
        threshold: The confidence the tier required to answer.
        label: What the tier would answer (also when it declines).
        reason: Why it answered or declined (one line).
    """

    answer: Any = None
    confidence: float | None = None
    threshold: float | None = None
    label: str | None = None
    reason: str = ""

    @property
    def answered(self) -> bool:
        return self.answer is not None


def as_tier_answer(output: Any) -> TierAnswer:
    """Read a first tier's output (``TierAnswer``, ``None`` or a mapping)."""
    if isinstance(output, TierAnswer):
        return output
    if output is None:
        return TierAnswer(reason="declined")
    if isinstance(output, Mapping):
        confidence = output.get("confidence")
        threshold = output.get("threshold")
        return TierAnswer(
            answer=output.get("answer"),
            confidence=float(confidence) if confidence is not None else None,
            threshold=float(threshold) if threshold is not None else None,
            label=output.get("label"),
            reason=str(output.get("reason", "")),
        )
    raise TypeError(
        "a first tier must return a TierAnswer, a mapping with 'answer'/'confidence', "
        f"or None; got {type(output).__name__}"
    )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p if isinstance(p, str) else str(p.get("text", ""))
            for p in content
            if isinstance(p, str | dict)
        )
    return str(content)


def request_text(request: Any) -> str:
    """The text a predictor keys on: the last human message (else the last message).

    Raises:
        EmptyRequestError: the request has no text.
    """
    messages: list[BaseMessage] = as_messages(request)
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return _text_of(message.content)
    return _text_of(messages[-1].content)


def tier_name(tier: Any) -> str:
    """A first tier's name (``get_name()`` of a runnable, else its class name)."""
    get_name = getattr(tier, "get_name", None)
    if callable(get_name):
        try:
            return str(get_name())
        except Exception:  # pragma: no cover - defensive
            pass
    return type(tier).__name__


__all__ = ["TierAnswer", "as_tier_answer", "request_text", "tier_name"]
