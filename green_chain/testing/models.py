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

A model that always answers the same way (here with a confidence figure, as a cascade
reads it) and its structured output, parsed from the scripted tool call or JSON reply::

    small = ScriptedChatModel(model_name="small", default="small answer",
                              response_metadata={"mean_token_logprob": -0.1})
    typed = ScriptedChatModel(responses=['{"text": "hi"}']).with_structured_output(Answer)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import uuid4

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError


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
        default: The reply once ``responses`` are used up (or when there are none): an
            ``AIMessage``, a string, or a callable ``default(messages)`` returning either.
            Without it (and without ``cycle``) an exhausted script raises ``IndexError``.
        model_name: Reported as ``ls_model_name`` and ``response_metadata["model_name"]``.
        provider: Reported as ``ls_provider`` (e.g. ``openai`` to look like a hosted API).
        response_metadata: Added to every reply's ``response_metadata`` (the reply's own
            keys win), e.g. ``{"mean_token_logprob": -0.2}`` as read by a cascade scorer.
        cycle: Start again from the first response when the script is exhausted
            (otherwise ``default`` answers, else a clear ``IndexError`` is raised).
        on_call: Optional hook ``on_call(messages)`` run inside every call (e.g. to
            advance a fake meter or clock while the "model" works).

    Every call records its messages (:attr:`calls`), keyword arguments
    (:attr:`call_kwargs`) and ``stop`` sequences (:attr:`stops`); every
    :meth:`bind_tools` records its tools' names (:attr:`tool_bindings`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = Field(default_factory=list)
    default: str | Callable[[list[BaseMessage]], AIMessage | str] | AIMessage | None = Field(
        default=None, union_mode="left_to_right"
    )
    model_name: str = "scripted-model"
    provider: str = "scripted"
    response_metadata: dict[str, Any] = Field(default_factory=dict)
    cycle: bool = False
    on_call: Callable[[list[BaseMessage]], Any] | None = None
    _index: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _call_kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _stops: list[list[str] | None] = PrivateAttr(default_factory=list)
    _tool_bindings: list[list[str]] = PrivateAttr(default_factory=list)

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
    def stops(self) -> list[list[str] | None]:
        """The ``stop`` sequences of every call so far (``None`` for a call without)."""
        return [None if s is None else list(s) for s in self._stops]

    @property
    def bound_tool_names(self) -> list[str]:
        """Names of the tools passed to the last :meth:`bind_tools` (``[]`` before any)."""
        return list(self._tool_bindings[-1]) if self._tool_bindings else []

    @property
    def tool_bindings(self) -> list[list[str]]:
        """Per :meth:`bind_tools` call so far, the names of the tools it bound."""
        return [list(names) for names in self._tool_bindings]

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.model_name
        return params

    def _next(
        self, messages: list[BaseMessage], kwargs: dict[str, Any], stop: list[str] | None
    ) -> AIMessage:
        with self._lock:
            item: Any
            if self._index >= len(self.responses) and self.cycle and self.responses:
                self._index = 0
            if self._index < len(self.responses):
                item = self.responses[self._index]
                self._index += 1
            elif self.default is not None:
                item = self.default
            else:
                raise IndexError(
                    f"ScriptedChatModel ran out of responses after {self._index} calls; "
                    "script more responses, pass default= or cycle=True"
                )
            self._calls.append(list(messages))
            self._call_kwargs.append(dict(kwargs))
            self._stops.append(None if stop is None else list(stop))
        if self.on_call is not None:
            self.on_call(list(messages))
        if callable(item):
            item = item(list(messages))
        message = ai_message(item) if isinstance(item, str) else item
        if not isinstance(message, AIMessage):
            raise TypeError(
                f"scripted responses must be AIMessage or str, got {type(item).__name__}"
            )
        meta = {**self.response_metadata, **message.response_metadata}
        meta["model_name"] = self.model_name
        return message.model_copy(update={"response_metadata": meta}, deep=True)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._next(messages, kwargs, stop)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages, kwargs, stop)
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
        with self._lock:
            self._tool_bindings.append([f["function"]["name"] for f in formatted])
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Bind ``schema`` as a tool and parse each reply into it, as LangChain models do.

        The reply's tool call named after the schema supplies the arguments; without
        one, the reply's text is read as JSON. A pydantic class gives a validated
        instance; a JSON schema, TypedDict or OpenAI tool dict gives the ``dict``.

        Args:
            schema: A pydantic class, TypedDict, JSON schema or OpenAI tool dict.
            include_raw: Return ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}``
                (a reply that does not parse gives ``parsed=None`` and the error) instead
                of raising ``OutputParserException`` / ``ValidationError``.
            kwargs: Further call arguments, bound with the tool.
        """
        tool_name = convert_to_openai_tool(schema)["function"]["name"]
        bound = self.bind_tools([schema], tool_choice="any", **kwargs)

        def parse(message: AIMessage) -> dict[str, Any] | BaseModel:
            return _parse_structured(message, schema, tool_name)

        def parse_with_raw(message: AIMessage) -> dict[str, Any]:
            try:
                parsed = _parse_structured(message, schema, tool_name)
            except (OutputParserException, ValidationError) as exc:
                return {"raw": message, "parsed": None, "parsing_error": exc}
            return {"raw": message, "parsed": parsed, "parsing_error": None}

        if include_raw:
            return bound | RunnableLambda(parse_with_raw)
        return bound | RunnableLambda(parse)


def _parse_structured(
    message: AIMessage, schema: dict[str, Any] | type, tool_name: str
) -> dict[str, Any] | BaseModel:
    """The arguments of ``message``'s ``tool_name`` call, else its JSON text, as ``schema``."""
    data: Any = next((c["args"] for c in message.tool_calls if c["name"] == tool_name), None)
    if data is None:
        try:
            data = json.loads(message.text)
        except json.JSONDecodeError as exc:
            raise OutputParserException(
                f"reply has no {tool_name!r} tool call and is not JSON: {message.text[:80]!r}"
            ) from exc
        if not isinstance(data, dict):
            raise OutputParserException(f"JSON reply is not an object: {message.text[:80]!r}")
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_validate(data)
    return dict(data)


class FakeOpenAIChatModel(BaseChatModel):
    """A deterministic OpenAI-style chat model that honours ``max_tokens`` and ``stop``.

    Each call answers with the next scripted text (cycling). A "token" is one
    whitespace-separated word: the answer is cut at ``max_tokens`` words with
    ``finish_reason="length"``, or before the first stop sequence with
    ``finish_reason="stop"`` (also when it ends on its own). ``usage_metadata``
    counts prompt words and generated words. Like ``ChatOpenAI`` it has
    ``max_tokens`` and ``reasoning_effort`` fields (a model "uses" reasoning when
    ``reasoning_effort`` is set).

    Attributes:
        answers: Full answers, one per call, cycling.
        model_name: Reported as ``ls_model_name`` and in ``response_metadata``.
        max_tokens: Default cap (``None``: none).
        reasoning_effort: OpenAI-style effort (``None``: not a reasoning model).
    """

    answers: list[str]
    model_name: str = "fake-openai"
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    stop: list[str] | None = None
    _index: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _calls: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-openai-chat-model"

    @property
    def calls(self) -> list[dict[str, Any]]:
        """One dict per call: ``messages`` and the effective ``max_tokens``, ``stop``,
        ``reasoning_effort``."""
        return list(self._calls)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai"
        params["ls_model_name"] = self.model_name
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        unknown = sorted(set(kwargs) - {"max_tokens", "reasoning_effort", "tools", "tool_choice"})
        if unknown:
            raise TypeError(f"FakeOpenAIChatModel got unexpected keyword arguments: {unknown}")
        cap = kwargs.get("max_tokens", self.max_tokens)
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(f"max_tokens must be a positive int, got {cap!r}")
        stops = [s for s in (stop or self.stop or []) if s]
        with self._lock:
            if not self.answers:
                raise IndexError("FakeOpenAIChatModel has no answers")
            text = self.answers[self._index % len(self.answers)]
            self._index += 1
            self._calls.append(
                {
                    "messages": list(messages),
                    "max_tokens": cap,
                    "stop": stops,
                    "reasoning_effort": kwargs.get("reasoning_effort", self.reasoning_effort),
                }
            )
        cut = [i for i in (text.find(s) for s in stops) if i >= 0]
        if cut:
            text = text[: min(cut)]
        words = text.split()
        reason = "stop"
        if cap is not None and len(words) > cap:
            words, reason = words[:cap], "length"
        prompt_words = sum(
            len(m.content.split()) if isinstance(m.content, str) else 0 for m in messages
        )
        message = AIMessage(
            content=" ".join(words),
            response_metadata={"model_name": self.model_name, "finish_reason": reason},
            usage_metadata=UsageMetadata(
                input_tokens=prompt_words,
                output_tokens=len(words),
                total_tokens=prompt_words + len(words),
            ),
        )
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info={"finish_reason": reason})]
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind the tools' schemas (the fake never calls them)."""
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)
