"""``RelevantHistoryMiddleware``: relevance-filtered history for each agent model call.

Like LangChain's ``ContextEditingMiddleware``, it edits only the messages sent to the
model (``request.override(messages=...)``); the agent's stored state keeps the whole
conversation. Needs the ``agents`` extra (``pip install "green-chain[agents]"``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

try:
    from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
except ImportError as exc:  # pragma: no cover - exercised with langchain hidden
    raise ImportError(
        "green_chain.middleware.history needs LangChain 1.x agents: "
        'pip install "green-chain[agents]"'
    ) from exc

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from green_chain.events import apublish_token_counts, publish_token_counts
from green_chain.memory.history import OPTIMIZER_NAME, HistoryFilter
from green_chain.memory.planner import HistoryResult
from green_chain.memory.policy import HistoryPolicy, build_policy
from green_chain.memory.summary import SUMMARY_FLAG

__all__ = ["RelevantHistoryMiddleware"]


def _split(
    messages: list[BaseMessage], n_system: int, result: HistoryResult
) -> tuple[list[BaseMessage], SystemMessage | None]:
    """Kept conversation messages (without the request's system message) and the summary."""
    out = result.messages[n_system:] if n_system else list(result.messages)
    summary = None
    if result.summary is not None:
        out = [m for m in out if m is not result.summary]
        summary = result.summary if isinstance(result.summary, SystemMessage) else None
    return out, summary


def _with_summary(request: ModelRequest, summary: SystemMessage | None) -> dict[str, Any]:
    if summary is None:
        return {}
    if request.system_message is None:
        return {"system_message": summary}
    merged = f"{request.system_message.text}\n\n{summary.text}"
    return {
        "system_message": SystemMessage(
            content=merged,
            additional_kwargs={**request.system_message.additional_kwargs, SUMMARY_FLAG: True},
        )
    }


class RelevantHistoryMiddleware(AgentMiddleware):
    """Send the model only the messages that matter for the new message, under a budget.

    The system prompt (``request.system_message``) counts against ``max_tokens`` and is
    always kept; a summary of dropped messages (with ``summarizer``) is appended to it.
    Token counts before/after are published from the model node's run (optimizer
    ``"history"``). Takes ``policy=HistoryPolicy(...)`` or the same fields as keywords,
    like :class:`green_chain.memory.RelevantHistory`. With ``budget="prompt"`` the
    request's own tools are counted (the policy's ``tools`` are ignored).
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        *,
        policy: HistoryPolicy | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.history = HistoryFilter(
            build_policy("RelevantHistoryMiddleware", max_tokens, policy, options)
        )

    @property
    def policy(self) -> HistoryPolicy:
        return self.history.policy

    @staticmethod
    def _inputs(request: ModelRequest) -> tuple[list[BaseMessage], int]:
        system = [request.system_message] if request.system_message is not None else []
        return [*system, *request.messages], len(system)

    def _edit(self, request: ModelRequest, result: HistoryResult, n_system: int) -> ModelRequest:
        messages, summary = _split(list(request.messages), n_system, result)
        return request.override(messages=messages, **_with_summary(request, summary))  # type: ignore[arg-type]

    def wrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], ModelResponse],
    ) -> ModelResponse | AIMessage:
        """Filter ``request.messages`` and call the model with them."""
        if not request.messages:
            return handler(request)
        inputs, n_system = self._inputs(request)
        result = self.history.filter(inputs, tools=list(request.tools))
        publish_token_counts(
            OPTIMIZER_NAME,
            result.tokens_before,
            result.tokens_after,
            **self.history.event_extra(result),
        )
        return handler(self._edit(request, result, n_system))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse | AIMessage:
        """Async twin of :meth:`wrap_model_call`."""
        if not request.messages:
            return await handler(request)
        inputs, n_system = self._inputs(request)
        result = await self.history.afilter(inputs, tools=list(request.tools))
        await apublish_token_counts(
            OPTIMIZER_NAME,
            result.tokens_before,
            result.tokens_after,
            **self.history.event_extra(result),
        )
        return await handler(self._edit(request, result, n_system))
