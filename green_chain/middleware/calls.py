"""Reading and annotating one agent model call: its messages and its response.

A middleware's ``wrap_model_call`` gets a ``ModelRequest`` (system message kept apart)
and returns either an ``AIMessage`` or a ``ModelResponse`` whose ``result`` list ends
with the model's reply; these helpers read and rewrite that reply the same way for
every green-chain middleware.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from langchain.agents.middleware import ModelRequest, ModelResponse
except ImportError as exc:  # pragma: no cover - exercised only without langchain
    raise ImportError(
        'green-chain\'s agent middleware needs LangChain 1.x agents: pip install "green-chain[agents]"'
    ) from exc

from langchain_core.messages import AIMessage, BaseMessage

from green_chain.routing.scorers import as_messages


def request_messages(request: ModelRequest) -> list[BaseMessage]:
    """The request's messages with its system message first (as the model will see them)."""
    messages: list[BaseMessage] = list(request.messages)
    if request.system_message is not None:
        messages.insert(0, request.system_message)
    return as_messages(messages)


def last_ai_message(response: Any) -> AIMessage:
    """The model's reply: ``response`` itself, or the last ``AIMessage`` of its ``result``.

    Raises:
        TypeError: The call returned no ``AIMessage``.
    """
    if isinstance(response, AIMessage):
        return response
    for message in reversed(getattr(response, "result", None) or []):
        if isinstance(message, AIMessage):
            return message
    raise TypeError("the model call returned no AIMessage")


def with_last_ai(response: Any, annotate: Callable[[AIMessage], BaseMessage]) -> Any:
    """``response`` with its reply replaced by ``annotate(reply)`` (unchanged if it has none)."""
    if isinstance(response, AIMessage):
        return annotate(response)
    result = getattr(response, "result", None)
    if not isinstance(result, list):
        return response
    for i in range(len(result) - 1, -1, -1):
        if isinstance(result[i], AIMessage):
            result = [*result[:i], annotate(result[i]), *result[i + 1 :]]
            return ModelResponse(result=result, structured_response=response.structured_response)
    return response
