"""One short summary of the dropped messages, written by a (cheap) chat model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from green_chain.memory.messages import message_text

#: Marker in ``additional_kwargs`` of the summary message.
SUMMARY_FLAG = "green_chain_history_summary"

_PROMPT = (
    "Summarize the earlier part of this conversation in at most {words} words. Keep names, "
    "numbers, decisions and facts the user stated. Write only the summary.\n\n{transcript}"
)


def _transcript(messages: Sequence[BaseMessage], max_chars: int) -> str:
    lines = [f"{m.type}: {message_text(m)}" for m in messages if message_text(m)]
    text = "\n".join(lines)
    return text[-max_chars:] if len(text) > max_chars else text


def summary_prompt(messages: Sequence[BaseMessage], max_tokens: int) -> list[BaseMessage]:
    """The prompt asking for a summary of ``messages`` of about ``max_tokens`` tokens."""
    words = max(10, int(max_tokens * 0.7))
    return [
        HumanMessage(content=_PROMPT.format(words=words, transcript=_transcript(messages, 8000)))
    ]


def summary_message(text: str) -> SystemMessage:
    """Wrap the summary text as the system message inserted into the history."""
    return SystemMessage(
        content=f"Summary of the earlier conversation: {text.strip()}",
        additional_kwargs={SUMMARY_FLAG: True},
    )


def summarize(
    model: Runnable[Any, Any],
    messages: Sequence[BaseMessage],
    max_tokens: int,
    config: RunnableConfig | None = None,
) -> SystemMessage | None:
    """Summarize ``messages`` with ``model`` (its run is a child of ``config``'s run)."""
    if not messages:
        return None
    reply = model.invoke(summary_prompt(messages, max_tokens), config=config)
    text = reply.text if isinstance(reply, BaseMessage) else str(reply)
    return summary_message(text) if text.strip() else None


async def asummarize(
    model: Runnable[Any, Any],
    messages: Sequence[BaseMessage],
    max_tokens: int,
    config: RunnableConfig | None = None,
) -> SystemMessage | None:
    """Async twin of :func:`summarize`."""
    if not messages:
        return None
    reply = await model.ainvoke(summary_prompt(messages, max_tokens), config=config)
    text = reply.text if isinstance(reply, BaseMessage) else str(reply)
    return summary_message(text) if text.strip() else None
