"""``RelevantHistory``: keep the chat messages that matter under a token budget."""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.embeddings import Embeddings
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.prompt_values import ChatPromptValue, PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from green_chain.events import apublish_token_counts, publish_token_counts
from green_chain.memory.planner import Granularity, HistoryPlanner, HistoryResult, Overflow
from green_chain.memory.resources import EmbeddingCache, resolve_token_counter
from green_chain.memory.summary import asummarize, summarize

logger = logging.getLogger(__name__)

#: ``optimizer`` name in the published token-count events.
OPTIMIZER_NAME = "history"

_INPUT_HELP = (
    "RelevantHistory expects a list of messages, a BaseChatMessageHistory, a chat PromptValue "
    "or a dict with a 'messages' list (LangGraph message state)"
)


def as_messages(value: Any) -> list[BaseMessage]:
    """Messages from a list of message-likes, a chat history, a PromptValue or a state dict."""
    if isinstance(value, BaseChatMessageHistory):
        value = value.messages
    elif isinstance(value, PromptValue):
        value = value.to_messages()
    elif isinstance(value, dict):
        if "messages" not in value:
            raise TypeError(f"{_INPUT_HELP}; got a dict without 'messages' (keys: {sorted(value)})")
        value = value["messages"]
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{_INPUT_HELP}; got {type(value).__name__}")
    try:
        return list(convert_to_messages(value))
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise TypeError(f"{_INPUT_HELP}; an item could not be read as a message: {exc}") from exc


def _same_shape(original: Any, messages: list[BaseMessage]) -> Any:
    if isinstance(original, dict):
        return {**original, "messages": messages}
    if isinstance(original, PromptValue):
        return ChatPromptValue(messages=messages)
    return messages


class HistoryFilter:
    """The filter without Runnable plumbing (shared by the runnable and the middleware).

    See :class:`RelevantHistory` for the arguments.
    """

    def __init__(
        self,
        max_tokens: int,
        *,
        embeddings: Embeddings | None = None,
        token_counter: Any = None,
        recency_weight: float = 0.3,
        keep_last: int = 1,
        granularity: Granularity = "turn",
        message_overhead_tokens: int = 4,
        on_overflow: Overflow = "raise",
        summarizer: Runnable[Any, Any] | None = None,
        summary_max_tokens: int = 120,
    ) -> None:
        if summarizer is not None and not isinstance(summarizer, Runnable):
            raise TypeError(
                f"summarizer must be a chat model (a Runnable), got {type(summarizer).__name__}"
            )
        self.counter, self.token_method = resolve_token_counter(token_counter)
        self.planner = HistoryPlanner(
            max_tokens=max_tokens,
            counter=self.counter,
            recency_weight=recency_weight,
            keep_last=keep_last,
            granularity=granularity,
            message_overhead_tokens=message_overhead_tokens,
            on_overflow=on_overflow,
            summary_max_tokens=summary_max_tokens if summarizer is not None else 0,
        )
        self.cache = EmbeddingCache(embeddings)
        self.summarizer = summarizer

    @property
    def max_tokens(self) -> int:
        return self.planner.max_tokens

    def _log(self, result: HistoryResult) -> HistoryResult:
        if result.over_budget:
            logger.warning(
                "history: mandatory messages need %d tokens, over max_tokens=%d; sent anyway",
                result.mandatory_tokens,
                self.planner.max_tokens,
            )
        return result

    def filter(
        self, messages: list[BaseMessage], config: RunnableConfig | None = None
    ) -> HistoryResult:
        """Decide which messages to keep (sync). The summarizer runs as a child of ``config``."""
        plan = self.planner.prepare(messages, summarize=self.summarizer is not None)
        if plan.candidates and plan.texts and plan.query:
            self.planner.choose(
                plan, self.cache.query(plan.query), self.cache.documents(plan.texts)
            )
        else:
            self.planner.choose(plan, None, None)
        summary = None
        dropped = [m for i, m in enumerate(plan.messages) if i not in plan.kept]
        if self.summarizer is not None and dropped and plan.reserve > 0:
            summary = summarize(self.summarizer, dropped, plan.reserve, config)
        return self._log(self.planner.result(plan, summary))

    async def afilter(
        self, messages: list[BaseMessage], config: RunnableConfig | None = None
    ) -> HistoryResult:
        """Async twin of :meth:`filter`."""
        plan = self.planner.prepare(messages, summarize=self.summarizer is not None)
        if plan.candidates and plan.texts and plan.query:
            qv = await self.cache.aquery(plan.query)
            self.planner.choose(plan, qv, await self.cache.adocuments(plan.texts))
        else:
            self.planner.choose(plan, None, None)
        summary = None
        dropped = [m for i, m in enumerate(plan.messages) if i not in plan.kept]
        if self.summarizer is not None and dropped and plan.reserve > 0:
            summary = await asummarize(self.summarizer, dropped, plan.reserve, config)
        return self._log(self.planner.result(plan, summary))

    def event_extra(self, result: HistoryResult) -> dict[str, Any]:
        """Extra fields of the published token-count event."""
        return {
            "tokenizer": self.token_method,
            "messages_before": len(result.kept_indices) + len(result.dropped_indices),
            "messages_after": len(result.messages),
            "summarized": result.summary is not None,
            "over_budget": result.over_budget,
        }


class RelevantHistory(Runnable[Any, Any]):
    """Keep the chat messages that matter for the new message under a token budget.

    Input: a list of messages (or message-likes), a ``BaseChatMessageHistory``, a chat
    ``PromptValue`` or LangGraph message state (a dict with ``"messages"``). Output: the
    same shape (a list for lists and chat histories) holding the kept messages in their
    original order. The last human message and everything after it (the turn in
    progress) and all system messages are always kept, never truncated; if they alone
    exceed ``max_tokens``, :class:`~green_chain.memory.planner.HistoryBudgetError` is
    raised (or, with ``on_overflow="keep_mandatory"``, they are sent over budget with a
    warning). An AI message with tool calls is kept or dropped together with its tool
    results. An empty input returns an empty output; a history of only system messages is
    returned unchanged. Only text parts are counted; images stay with their message.

    Each run publishes ``green_chain.optimizer_tokens`` (optimizer ``"history"``) with
    the tokens before and after filtering.

    Args:
        max_tokens: Budget of the messages sent, counted with ``token_counter`` plus
            ``message_overhead_tokens`` per message (tokens).
        embeddings: LangChain embeddings for relevance (``None``: the packaged MiniLM
            ``LocalEmbeddings``, loaded on first use). Vectors are cached per text.
        token_counter: The target model's tokenizer: a model name, a tokenizer, a callable
            ``str -> int`` or a chat model; ``None`` approximates.
        recency_weight: Weight of recency against relevance in ``[0, 1]`` (0: relevance
            only, 1: recency only, like ``trim_messages``).
        keep_last: Previous turns always kept when they fit (newest first).
        granularity: ``"turn"`` (keep or drop whole user/assistant turns) or ``"message"``.
        message_overhead_tokens: Tokens per message for role markers (tokens).
        on_overflow: ``"raise"`` or ``"keep_mandatory"`` (see above).
        summarizer: Optional chat model that replaces the dropped messages by one short
            system message (its call is a child run, so its energy shows in the handler).
        summary_max_tokens: Budget reserved for that summary (tokens).
    """

    def __init__(
        self,
        max_tokens: int,
        *,
        embeddings: Embeddings | None = None,
        token_counter: Any = None,
        recency_weight: float = 0.3,
        keep_last: int = 1,
        granularity: Granularity = "turn",
        message_overhead_tokens: int = 4,
        on_overflow: Overflow = "raise",
        summarizer: Runnable[Any, Any] | None = None,
        summary_max_tokens: int = 120,
        name: str | None = None,
    ) -> None:
        self.filter_ = HistoryFilter(
            max_tokens,
            embeddings=embeddings,
            token_counter=token_counter,
            recency_weight=recency_weight,
            keep_last=keep_last,
            granularity=granularity,
            message_overhead_tokens=message_overhead_tokens,
            on_overflow=on_overflow,
            summarizer=summarizer,
            summary_max_tokens=summary_max_tokens,
        )
        self.name = name or "RelevantHistory"

    @property
    def max_tokens(self) -> int:
        return self.filter_.max_tokens

    def filter(self, value: Any, config: RunnableConfig | None = None) -> HistoryResult:
        """The full decision (kept/dropped indices, token counts) without a run or event."""
        return self.filter_.filter(as_messages(value), config)

    def _run(self, value: Any, run_manager: Any, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        result = self.filter_.filter(as_messages(value), child)
        publish_token_counts(
            OPTIMIZER_NAME,
            result.tokens_before,
            result.tokens_after,
            config=child,
            **self.filter_.event_extra(result),
        )
        return _same_shape(value, result.messages)

    async def _arun(self, value: Any, run_manager: Any, config: RunnableConfig) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        result = await self.filter_.afilter(as_messages(value), child)
        await apublish_token_counts(
            OPTIMIZER_NAME,
            result.tokens_before,
            result.tokens_after,
            config=child,
            **self.filter_.event_extra(result),
        )
        return _same_shape(value, result.messages)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, run_type="chain")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, config, run_type="chain")


def relevant_history(messages: Any = None, **kwargs: Any) -> Any:
    """Like ``trim_messages``: filter ``messages`` now, or return a runnable when omitted.

    ``relevant_history(msgs, max_tokens=500)`` returns the kept messages (same shape as
    the input); ``relevant_history(max_tokens=500)`` returns a :class:`RelevantHistory`
    for a chain (``prompt | relevant_history(max_tokens=500) | model``).
    """
    runnable = RelevantHistory(**kwargs)
    if messages is None:
        return runnable
    return runnable.invoke(messages)
