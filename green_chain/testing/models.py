"""Scripted fake chat models for tests (no weights, no network, deterministic).

:class:`ScriptedChatModel` replays a list of ``AIMessage`` objects in order,
including tool calls and ``usage_metadata``, supports ``bind_tools`` (so it can
drive ``langchain.agents.create_agent``), ``invoke``/``ainvoke``/``batch`` and
streaming, and records the messages of every call::

    from green_chain.testing.models import ScriptedChatModel, ai_message, tool_call

    model = ScriptedChatModel(responses=[
        ai_message(tool_calls=[tool_call("add", {"a": 1, "b": 2})], input_tokens=20),
        ai_message("3", input_tokens=30, output_tokens=1),
    ])
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import uuid4

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr


def tool_call(
    name: str, args: dict[str, Any] | None = None, id: str | None = None
) -> dict[str, Any]:
    """A tool call dict for :func:`ai_message` (``id`` generated when omitted)."""
    return {
        "name": name,
        "args": dict(args or {}),
        "id": id or f"call_{uuid4().hex[:12]}",
        "type": "tool_call",
    }


def ai_message(
    content: str = "",
    *,
    tool_calls: Sequence[dict[str, Any]] | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_read: int | None = None,
) -> AIMessage:
    """An ``AIMessage``; with ``input_tokens``/``output_tokens`` it carries ``usage_metadata``
    (with ``cache_read``: ``input_token_details["cache_read"]``, prompt tokens from a
    prefix cache)."""
    usage: UsageMetadata | None = None
    if input_tokens is not None or output_tokens is not None:
        i, o = int(input_tokens or 0), int(output_tokens or 0)
        usage = UsageMetadata(input_tokens=i, output_tokens=o, total_tokens=i + o)
        if cache_read is not None:
            usage["input_token_details"] = {"cache_read": int(cache_read)}
    return AIMessage(content=content, tool_calls=list(tool_calls or []), usage_metadata=usage)


class ScriptedChatModel(BaseChatModel):
    """A chat model that replays scripted ``AIMessage`` responses in order.

    Attributes:
        responses: Messages to return, one per call (``AIMessage`` or plain strings).
        model_name: Reported as ``ls_model_name`` and ``response_metadata["model_name"]``.
        provider: Reported as ``ls_provider`` (e.g. ``openai`` to look like a hosted API).
        cycle: Start again from the first response when the script is exhausted
            (otherwise a clear ``IndexError`` is raised).
        on_call: Optional hook ``on_call(messages)`` run inside every call (e.g. to
            advance a fake meter or clock while the "model" works).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any]
    model_name: str = "scripted-model"
    provider: str = "scripted"
    cycle: bool = False
    on_call: Callable[[list[BaseMessage]], Any] | None = None
    _index: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _call_kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _bound_tools: list[str] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The input messages of every call so far."""
        return list(self._calls)

    @property
    def call_kwargs(self) -> list[dict[str, Any]]:
        """The keyword arguments of every call so far (e.g. ``tools`` bound by ``bind_tools``)."""
        return [dict(k) for k in self._call_kwargs]

    def called_tool_names(self) -> list[list[str]]:
        """Per call, the names of the tools bound to it (``[]`` for a call without tools)."""
        return [[t["function"]["name"] for t in kw.get("tools") or []] for kw in self._call_kwargs]

    @property
    def bound_tool_names(self) -> list[str]:
        """Names of the tools passed to the last :meth:`bind_tools`."""
        return list(self._bound_tools)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.model_name
        return params

    def _next(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        with self._lock:
            if self._index >= len(self.responses):
                if not self.cycle or not self.responses:
                    raise IndexError(
                        f"ScriptedChatModel ran out of responses after {self._index} calls; "
                        "script more responses or pass cycle=True"
                    )
                self._index = 0
            item = self.responses[self._index]
            self._index += 1
            self._calls.append(list(messages))
            self._call_kwargs.append(dict(kwargs))
        if self.on_call is not None:
            self.on_call(list(messages))
        message = ai_message(item) if isinstance(item, str) else item
        if not isinstance(message, AIMessage):
            raise TypeError(
                f"scripted responses must be AIMessage or str, got {type(item).__name__}"
            )
        meta = {**message.response_metadata, "model_name": self.model_name}
        return message.model_copy(update={"response_metadata": meta}, deep=True)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages, kwargs)
        text = message.content if isinstance(message.content, str) else ""
        words = text.split(" ") if text else []
        for i, word in enumerate(words):
            piece = word if i == len(words) - 1 else word + " "
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": tc["name"],
                        "args": json.dumps(tc["args"]),
                        "id": tc["id"],
                        "index": i,
                        "type": "tool_call_chunk",
                    }
                    for i, tc in enumerate(message.tool_calls)
                ],
                usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata,
                chunk_position="last",
            )
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Record the tools' names and bind their schemas (the script decides the calls)."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        self._bound_tools = [f["function"]["name"] for f in formatted]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)
