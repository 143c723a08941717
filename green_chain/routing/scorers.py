"""The scorer interface shared by every router, and the heuristic baseline.

A scorer answers one question per request: *what is the probability that a
cheaper model's answer is good enough?* Scores are probabilities in ``[0, 1]``;
higher means "safe to go cheap".

Several models (cheapest to largest). :meth:`RouteScorer.probabilities` returns
one probability per *cheaper* model (all but the largest): ``p[i]`` = P(model ``i``
is good enough). A router picks the cheapest model ``i`` with ``p[i] >= threshold[i]``
and otherwise the largest. Scorers trained per model (``EmbeddingScorer`` fitted
with one label column per cheaper model) return these directly. A scorer that
gives a single probability ``p`` (about the cheapest model) is mapped onto the
ladder ``p[i] = p ** ((k - i) / k)`` for ``k`` cheaper models: ``p[0] = p`` and each
larger model is good enough on at least as many requests. With two models this
is just ``[p]``.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue

#: What scorers accept as a request: messages, a string, or a prompt value.
RequestLike = Sequence[BaseMessage] | str | PromptValue


class EmptyRequestError(ValueError):
    """Raised when a request has no text to route on."""


def as_messages(request: Any) -> list[BaseMessage]:
    """Turn a request (string, prompt value, message list, dict) into messages.

    Raises:
        EmptyRequestError: the request has no messages or only empty text.
        TypeError: the request cannot be read as messages.
    """
    if isinstance(request, PromptValue):
        messages = request.to_messages()
    elif isinstance(request, str):
        messages = [HumanMessage(content=request)]
    elif isinstance(request, BaseMessage):
        messages = [request]
    elif isinstance(request, dict) and "messages" in request:
        messages = convert_to_messages(request["messages"])
    elif isinstance(request, dict):
        text = "\n".join(f"{k}: {v}" for k, v in request.items())
        messages = [HumanMessage(content=text)]
    elif isinstance(request, Sequence):
        try:
            messages = convert_to_messages(list(request))
        except Exception as exc:
            raise TypeError(f"cannot read the request as chat messages: {exc}") from exc
    else:
        raise TypeError(
            "a routing request must be a string, a PromptValue, a message list or a dict, "
            f"got {type(request).__name__}"
        )
    if not any(_has_content(m) for m in messages):
        raise EmptyRequestError(
            "cannot route an empty request: it has no messages or only empty text"
        )
    return messages


def _has_content(message: BaseMessage) -> bool:
    return bool(message.text.strip()) or bool(getattr(message, "tool_calls", None))


def conversation_text(messages: Sequence[BaseMessage]) -> str:
    """The whole conversation as one text, one ``role: content`` line per message."""
    lines: list[str] = []
    for m in messages:
        text = m.text if hasattr(m, "text") else str(m.content)
        if isinstance(m, AIMessage) and m.tool_calls:
            text += " " + " ".join(str(tc.get("name", "")) for tc in m.tool_calls)
        lines.append(f"{m.type}: {text}")
    return "\n".join(lines)


def ladder(p: float, n_cheaper: int) -> list[float]:
    """Map one probability (about the cheapest model) onto ``n_cheaper`` models.

    ``p[i] = p ** ((k - i) / k)``; see the module docstring.
    """
    if n_cheaper < 1:
        raise ValueError(f"n_cheaper must be >= 1, got {n_cheaper}")
    p = min(1.0, max(0.0, float(p)))
    k = n_cheaper
    return [p ** ((k - i) / k) for i in range(k)]


class RouteScorer(ABC):
    """Interface of every scorer: P(a cheaper model's answer is good enough)."""

    #: Short name recorded in routing decisions.
    name: str = "scorer"
    #: True for scorers that need the cheap model's answer (cascades).
    needs_response: bool = False

    @abstractmethod
    def score(self, messages: Sequence[BaseMessage]) -> float:
        """P(the cheapest model's answer is good enough) for one request, in [0, 1]."""

    def score_batch(self, requests: Sequence[Sequence[BaseMessage]]) -> list[float]:
        """Scores of several requests (override when batching is cheaper)."""
        return [self.score(r) for r in requests]

    def probabilities(self, messages: Sequence[BaseMessage], n_cheaper: int) -> list[float]:
        """P(model ``i`` is good enough) for each of the ``n_cheaper`` cheaper models."""
        return ladder(self.score(messages), n_cheaper)


_HARD_WORDS = re.compile(
    r"\b(why|how|explain|compare|contrast|prove|derive|analy[sz]e|design|write|"
    r"summari[sz]e|step by step|reason|evaluate|implement|code|essay)\b",
    re.IGNORECASE,
)
_EASY_WORDS = re.compile(
    r"\b(who|when|where|which|what is|what was|name|is it|does|did|true or false|"
    r"positive or negative|sentiment|classify|yes or no)\b",
    re.IGNORECASE,
)


class HeuristicScorer(RouteScorer):
    """Baseline: short, factoid or classification requests are easy.

    ``logit = bias - length_weight * log2(words / reference_words)
    + easy_weight * [factoid/classification cue] - hard_weight * [open-ended cue]
    - turn_weight * (turns - 1)`` and the score is ``sigmoid(logit)``. Only the
    last human message is searched for cues; length counts the whole conversation.

    Args:
        reference_words: Conversation length (words) that scores ``sigmoid(bias)``.
        bias, length_weight, easy_weight, hard_weight, turn_weight: Logit terms.
    """

    name = "heuristic"

    def __init__(
        self,
        *,
        reference_words: float = 150.0,
        bias: float = 0.0,
        length_weight: float = 1.0,
        easy_weight: float = 1.0,
        hard_weight: float = 1.5,
        turn_weight: float = 0.25,
    ) -> None:
        if reference_words <= 0:
            raise ValueError(f"reference_words must be > 0, got {reference_words}")
        self.reference_words = reference_words
        self.bias = bias
        self.length_weight = length_weight
        self.easy_weight = easy_weight
        self.hard_weight = hard_weight
        self.turn_weight = turn_weight

    def score(self, messages: Sequence[BaseMessage]) -> float:
        messages = as_messages(messages)
        words = max(1, len(conversation_text(messages).split()))
        last_human = next(
            (m.text for m in reversed(messages) if isinstance(m, HumanMessage)),
            messages[-1].text,
        )
        turns = sum(1 for m in messages if isinstance(m, HumanMessage))
        logit = self.bias - self.length_weight * math.log2(words / self.reference_words)
        if _EASY_WORDS.search(last_human):
            logit += self.easy_weight
        if _HARD_WORDS.search(last_human):
            logit -= self.hard_weight
        logit -= self.turn_weight * max(0, turns - 1)
        return 1.0 / (1.0 + math.exp(-logit))
