"""``RelevantHistory``: keep the chat messages that matter under a token budget."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.prompt_values import ChatPromptValue, PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from green_chain.events import apublish_token_counts, publish_token_counts
from green_chain.memory.planner import HistoryPlanner, HistoryResult
from green_chain.memory.policy import HistoryPolicy, build_policy
from green_chain.memory.resources import EmbeddingCache
from green_chain.memory.summary import asummarize, summarize
from green_chain.models.token_counters import resolve_token_counter

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

    Args:
        policy: The configuration (see :class:`~green_chain.memory.policy.HistoryPolicy`).
    """

    def __init__(self, policy: HistoryPolicy) -> None:
        if not isinstance(policy, HistoryPolicy):
            raise TypeError(f"policy must be a HistoryPolicy, got {type(policy).__name__}")
        self.policy = policy
        self.counter = resolve_token_counter(policy.token_counter)
        self.token_method = self.counter.method
        if policy.budget == "prompt" and not self.counter.counts_prompt:
            raise ValueError(
                f"budget='prompt' needs a token_counter that renders the prompt (a model name, "
                f"a tokenizer with a chat template or a chat model); got {self.token_method}"
            )
        self.cache = EmbeddingCache(policy.embeddings)
        self.summarizer = policy.summarizer

    def planner(self, tools: Sequence[Any] | None = None) -> HistoryPlanner:
        """The planner for one call; ``tools`` (the request's) replace the policy's."""
        bound = self.policy.tools if tools is None else tools

        def prompt_tokens(messages: Sequence[BaseMessage]) -> int:
            return self.counter.count_prompt(messages, list(bound) or None)

        return HistoryPlanner(self.policy, self.counter, prompt_tokens)

    @property
    def max_tokens(self) -> int:
        return self.policy.max_tokens

    def _log(self, result: HistoryResult) -> HistoryResult:
        if result.over_budget:
            logger.warning(
                "history: mandatory messages need %d tokens, over max_tokens=%d; sent anyway",
                result.mandatory_tokens,
                self.policy.max_tokens,
            )
        return result

    def filter(
        self,
        messages: list[BaseMessage],
        config: RunnableConfig | None = None,
        *,
        tools: Sequence[Any] | None = None,
    ) -> HistoryResult:
        """Decide which messages to keep (sync). The summarizer runs as a child of ``config``.

        ``tools``: the tools bound for this call (``budget="prompt"``), instead of the policy's.
        """
        planner = self.planner(tools)
        plan = planner.prepare(messages, summarize=self.summarizer is not None)
        if plan.candidates and plan.texts and plan.query:
            planner.choose(plan, self.cache.query(plan.query), self.cache.documents(plan.texts))
        else:
            planner.choose(plan, None, None)
        summary = None
        dropped = [m for i, m in enumerate(plan.messages) if i not in plan.kept]
        if self.summarizer is not None and dropped and plan.reserve > 0:
            summary = summarize(self.summarizer, dropped, plan.reserve, config)
        return self._log(planner.result(plan, summary))

    async def afilter(
        self,
        messages: list[BaseMessage],
        config: RunnableConfig | None = None,
        *,
        tools: Sequence[Any] | None = None,
    ) -> HistoryResult:
        """Async twin of :meth:`filter`."""
        planner = self.planner(tools)
        plan = planner.prepare(messages, summarize=self.summarizer is not None)
        if plan.candidates and plan.texts and plan.query:
            qv = await self.cache.aquery(plan.query)
            planner.choose(plan, qv, await self.cache.adocuments(plan.texts))
        else:
            planner.choose(plan, None, None)
        summary = None
        dropped = [m for i, m in enumerate(plan.messages) if i not in plan.kept]
        if self.summarizer is not None and dropped and plan.reserve > 0:
            summary = await asummarize(self.summarizer, dropped, plan.reserve, config)
        return self._log(planner.result(plan, summary))

    def event_extra(self, result: HistoryResult) -> dict[str, Any]:
        """Extra fields of the published token-count event."""
        return {
            "tokenizer": self.token_method,
            "budget": result.budget,
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

    Configure it with ``policy=HistoryPolicy(...)`` or with the same fields as keywords
    (``RelevantHistory(max_tokens=512, keep_last=1)``), which build the policy; see
    :class:`~green_chain.memory.policy.HistoryPolicy` for every option and for what
    ``max_tokens`` counts (``budget="messages"`` or ``"prompt"``).

    To filter messages now, call :func:`relevant_history` with them, or ``.invoke`` this
    runnable: ``RelevantHistory(max_tokens=120).invoke(messages)`` returns messages.

    Args:
        max_tokens: The token budget (the policy's ``max_tokens``).
        policy: A ready :class:`~green_chain.memory.policy.HistoryPolicy` instead of keywords.
        name: Run name (default ``"RelevantHistory"``).
        **options: The other :class:`~green_chain.memory.policy.HistoryPolicy` fields.
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        *,
        policy: HistoryPolicy | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        self.filter_ = HistoryFilter(build_policy("RelevantHistory", max_tokens, policy, options))
        self.name = name or "RelevantHistory"

    @property
    def policy(self) -> HistoryPolicy:
        return self.filter_.policy

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
