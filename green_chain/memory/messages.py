"""Message text, token costs and atomic grouping (tool calls with their results)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage


def message_text(message: BaseMessage) -> str:
    """The text of a message: string content, or the text parts of block content.

    Images and other non-text blocks contribute nothing (they stay in the message).
    Tool calls of an AI message are appended as JSON.
    """
    text = str(message.text)
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]
        text = f"{text}\n{json.dumps(calls, sort_keys=True, default=str)}".strip()
    return text


def message_tokens(message: BaseMessage, counter: Callable[[str], int], overhead: int) -> int:
    """Tokens of one message: its text (see :func:`message_text`) plus ``overhead``."""
    return counter(message_text(message)) + overhead


@dataclass
class Unit:
    """A run of messages kept or dropped together (indices into the original list).

    Attributes:
        indices: Positions of the unit's messages in the input, ascending.
        tokens: Their token cost (tokens).
        turn: Index of the conversation turn the unit belongs to (``-1`` before the
            first human message).
    """

    indices: list[int]
    tokens: int = 0
    turn: int = -1
    relevance: float = 0.0
    score: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def atomic_groups(messages: Sequence[BaseMessage]) -> list[list[int]]:
    """Split non-system messages into atomic groups, in order.

    An AI message with tool calls forms one group with the tool messages that follow it.
    A tool message whose call is not found (an orphan already in the input) joins the
    preceding group, so it can never be kept without what precedes it. System messages
    are left out (they are always kept).
    """
    groups: list[list[int]] = []
    for i, m in enumerate(messages):
        if isinstance(m, SystemMessage):
            continue
        if isinstance(m, ToolMessage) and groups:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def turn_of_groups(messages: Sequence[BaseMessage], groups: Sequence[list[int]]) -> list[int]:
    """The turn index of each group: a turn starts at each human message."""
    turns: list[int] = []
    turn = -1
    for g in groups:
        if isinstance(messages[g[0]], HumanMessage):
            turn += 1
        turns.append(turn)
    return turns
