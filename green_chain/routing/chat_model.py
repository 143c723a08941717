"""``RoutedChatModel``: a chat model that sends each request to the cheapest model
that is good enough for it.

It drops in wherever a chat model goes (chains, ``bind_tools``,
``with_structured_output``, ``create_agent``). Each call is one run of the router
with the chosen model's call as its child run; the decision is published as the
custom event ``green_chain.routing_decision`` on the router's run and stored in
``response_metadata["routing"]`` of the answer.

Force a candidate with ``invoke(..., route_to="name")`` or LangChain's per-call model
override ``invoke(..., model="name")`` (unknown names raise a ``KeyError`` listing the
candidates).

A request with no text at all but other content (e.g. an image-only message) cannot be
scored: it goes to the largest model, and the decision's ``reason`` says so.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, BaseMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableLambda
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from green_chain.events import apublish_routing_decision, publish_routing_decision
from green_chain.routing.decision import RoutingDecision, RoutingPolicy, unique_names
from green_chain.routing.execute import aexecute, attach_decision, child_config, execute
from green_chain.routing.scorers import RouteScorer, as_messages

#: Name of the router's own ``ls_provider`` when its candidates' providers differ.
ROUTER_PROVIDER = "green_chain"
MEDIA_ONLY_REASON = (
    "the request has no text to score (non-text content only); routed to the largest model"
)


def _media_only(messages: Sequence[BaseMessage]) -> bool:
    """True for messages with no text and no tool calls but some other content block."""
    if not messages:
        return False
    has_block = False
    for m in messages:
        if m.text.strip() or getattr(m, "tool_calls", None):
            return False
        if isinstance(m.content, list) and any(
            isinstance(b, dict) and b.get("type") not in (None, "text") for b in m.content
        ):
            has_block = True
    return has_block


def _inner_model(model: Any) -> Any:
    while isinstance(model, RunnableBinding):
        model = model.bound
    return model


def _as_chunk(message: BaseMessage) -> BaseMessageChunk:
    if isinstance(message, BaseMessageChunk):
        return message
    if isinstance(message, AIMessage):
        return AIMessageChunk(
            content=message.content,
            additional_kwargs=message.additional_kwargs,
            response_metadata=message.response_metadata,
            usage_metadata=message.usage_metadata,
            id=message.id,
            tool_call_chunks=[
                {
                    "name": tc["name"],
                    "args": json.dumps(tc["args"]),
                    "id": tc.get("id"),
                    "index": i,
                    "type": "tool_call_chunk",
                }
                for i, tc in enumerate(message.tool_calls)
            ],
        )
    return AIMessageChunk(content=message.content, response_metadata=message.response_metadata)


class RoutedChatModel(BaseChatModel):
    """Route each request among chat models ordered cheapest to largest.

    Args:
        models: Two or more chat models (or bound chat models), cheapest first.
        scorer: A :class:`~green_chain.routing.scorers.RouteScorer`; a
            ``CascadeScorer`` makes it call the cheaper models first.
        threshold: One float, or one per cheaper model; model ``i`` is chosen when
            it is the cheapest whose probability is ``>= threshold[i]``, else the
            largest (see :mod:`green_chain.routing.decision`).
        energy_curves: ``{model name: EnergyCurve}`` (anything with
            ``predict(n_tokens) -> joules``); predictions are recorded as
            ``projected``.
        names: Candidate names (default: each model's ``model_name``/``model``).
        token_model: Tokenizer name for the prompt-token count (default: largest).
        temperature, max_tokens, stop, timeout: LangChain's standard parameters; when set
            (not ``None``) they are passed to every candidate call (``max_tokens`` caps the
            generated tokens, ``timeout`` is in seconds); per-call values win.
        max_retries: Extra attempts of a failed candidate call (default 0; a stream that
            has begun is not retried).
        streaming: ``invoke`` generates through ``stream``.

    Unknown constructor fields raise.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    models: list[Runnable[Any, Any]] = Field(default_factory=list)
    scorer: RouteScorer
    threshold: float | list[float] = 0.5
    energy_curves: dict[str, Any] | None = None
    names: list[str] | None = None
    token_model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: list[str] | None = None
    timeout: float | None = Field(default=None, gt=0.0)
    max_retries: int = Field(default=0, ge=0)
    streaming: bool = False

    _policy: RoutingPolicy = PrivateAttr()

    @model_validator(mode="after")
    def _build_policy(self) -> RoutedChatModel:
        if len(self.models) < 2:
            raise ValueError(
                "RoutedChatModel needs two or more models ordered cheapest to largest, "
                f"got {len(self.models)}"
            )
        names = unique_names(self.models, self.names)
        self.names = names
        self._policy = RoutingPolicy(
            names,
            self.scorer,
            self.threshold,
            self.energy_curves,
            token_model=self.token_model,
            router="RoutedChatModel",
        )
        return self

    @property
    def policy(self) -> RoutingPolicy:
        return self._policy

    @property
    def _llm_type(self) -> str:
        return "green-chain-routed"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "candidates": list(self._policy.names),
            "scorer": getattr(self.scorer, "name", type(self.scorer).__name__),
            "threshold": self._policy.thresholds,
        }

    def model_for(self, name: str) -> Runnable[Any, Any]:
        """The candidate called ``name`` (KeyError naming the candidates otherwise)."""
        return self.models[self._policy.index_of(name)]

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """Tracing parameters: the forced candidate's name when ``model``/``route_to`` is
        given, else ``routed(<candidates>)``; the candidates' common ``ls_provider``, else
        ``green_chain``."""
        forced = kwargs.get("model") or kwargs.get("route_to")
        names = list(self._policy.names)
        params = LangSmithParams(
            ls_provider=self._provider(),
            ls_model_name=str(forced) if forced else f"routed({', '.join(names)})",
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stops = stop or self.stop
        if stops:
            params["ls_stop"] = stops
        return params

    def _provider(self) -> str:
        providers = set()
        for model in self.models:
            inner = _inner_model(model)
            try:
                providers.add(inner._get_ls_params().get("ls_provider"))
            except Exception:  # not a chat model, or one whose params need arguments
                return ROUTER_PROVIDER
        if len(providers) == 1 and isinstance(next(iter(providers)), str):
            return str(providers.pop())
        return ROUTER_PROVIDER

    def _call_kwargs(
        self, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any], tuple[Any, Any] | None]:
        """(forced candidate, kwargs for the candidate call, bound tools or ``None``)."""
        route_to = kwargs.pop("route_to", None) or kwargs.pop("model", None)
        kwargs.pop("model", None)
        tools = None
        if "tools" in kwargs:
            tools = (kwargs.pop("tools"), kwargs.pop("tool_choice", None))
        for key in ("temperature", "max_tokens", "timeout"):
            value = getattr(self, key)
            if value is not None and key not in kwargs:
                kwargs[key] = value
        stops = stop if stop is not None else self.stop
        if stops is not None:
            kwargs["stop"] = stops
        return route_to, kwargs, tools

    def _candidate(self, i: int, tools: tuple[Any, Any] | None) -> Runnable[Any, Any]:
        model = self.models[i]
        if tools is not None:
            model = _bind_candidate(self._policy.names[i], model, *tools)
        if self.max_retries:
            model = model.with_retry(stop_after_attempt=self.max_retries + 1)
        return model

    def _messages(
        self, messages: list[BaseMessage], route_to: str | None
    ) -> tuple[list[BaseMessage], str | None, bool]:
        """(messages, forced candidate, whether the request is non-text only)."""
        if route_to is None and _media_only(messages):
            return list(messages), self._policy.names[-1], True
        return as_messages(messages), route_to, False

    # -- sync -------------------------------------------------------------------------

    def _route(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: CallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> tuple[BaseMessage, RoutingDecision]:
        route_to, kwargs, tools = self._call_kwargs(stop, kwargs)
        messages, route_to, media_only = self._messages(messages, route_to)
        config = child_config(run_manager)

        def call(i: int) -> BaseMessage:
            out: BaseMessage = self._candidate(i, tools).invoke(messages, config, **kwargs)
            return out

        def publish(d: RoutingDecision) -> None:
            if media_only:
                d.reason = MEDIA_ONLY_REASON
            publish_routing_decision(d.to_dict(), config=config)

        return execute(self._policy, messages, call, publish, route_to=route_to)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message, decision = self._route(messages, stop, run_manager, kwargs)
        message = attach_decision(message, decision)
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model_name": decision.chosen_model, "routing": decision.to_dict()},
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.scorer.needs_response:  # the answer exists already: one chunk
            message, decision = self._route(messages, stop, run_manager, kwargs)
            yield ChatGenerationChunk(message=_as_chunk(attach_decision(message, decision)))
            return
        route_to, kwargs, tools = self._call_kwargs(stop, kwargs)
        messages, route_to, media_only = self._messages(messages, route_to)
        config = child_config(run_manager)
        chosen: list[int] = []

        def publish(d: RoutingDecision) -> None:
            if media_only:
                d.reason = MEDIA_ONLY_REASON
            publish_routing_decision(d.to_dict(), config=config)

        _, decision = execute(self._policy, messages, chosen.append, publish, route_to=route_to)
        first = True
        model = (
            _bind_candidate(self._policy.names[chosen[-1]], self.models[chosen[-1]], *tools)
            if tools is not None
            else self.models[chosen[-1]]
        )
        for chunk in model.stream(messages, config, **kwargs):
            msg = _as_chunk(chunk)
            if first:
                msg = attach_decision(msg, decision)
                first = False
            yield ChatGenerationChunk(message=msg)

    # -- async ------------------------------------------------------------------------

    async def _aroute(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: AsyncCallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> tuple[BaseMessage, RoutingDecision]:
        route_to, kwargs, tools = self._call_kwargs(stop, kwargs)
        messages, route_to, media_only = self._messages(messages, route_to)
        config = child_config(run_manager)

        async def call(i: int) -> BaseMessage:
            model = self._candidate(i, tools)
            out: BaseMessage = await model.ainvoke(messages, config, **kwargs)
            return out

        async def publish(d: RoutingDecision) -> None:
            if media_only:
                d.reason = MEDIA_ONLY_REASON
            await apublish_routing_decision(d.to_dict(), config=config)

        return await aexecute(self._policy, messages, call, publish, route_to=route_to)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message, decision = await self._aroute(messages, stop, run_manager, kwargs)
        message = attach_decision(message, decision)
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model_name": decision.chosen_model, "routing": decision.to_dict()},
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.scorer.needs_response:
            message, decision = await self._aroute(messages, stop, run_manager, kwargs)
            yield ChatGenerationChunk(message=_as_chunk(attach_decision(message, decision)))
            return
        route_to, kwargs, tools = self._call_kwargs(stop, kwargs)
        messages, route_to, media_only = self._messages(messages, route_to)
        config = child_config(run_manager)
        chosen: list[int] = []

        async def pick(i: int) -> None:
            chosen.append(i)

        async def publish(d: RoutingDecision) -> None:
            if media_only:
                d.reason = MEDIA_ONLY_REASON
            await apublish_routing_decision(d.to_dict(), config=config)

        _, decision = await aexecute(self._policy, messages, pick, publish, route_to=route_to)
        first = True
        model = (
            _bind_candidate(self._policy.names[chosen[-1]], self.models[chosen[-1]], *tools)
            if tools is not None
            else self.models[chosen[-1]]
        )
        async for chunk in model.astream(messages, config, **kwargs):
            msg = _as_chunk(chunk)
            if first:
                msg = attach_decision(msg, decision)
                first = False
            yield ChatGenerationChunk(message=msg)

    # -- composition ------------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools: a ``RunnableBinding`` of this router whose every call binds them on
        the chosen candidate (each candidate's own ``bind_tools``, checked here once).

        Args:
            tools: LangChain tools, functions, pydantic models or OpenAI tool dicts.
            tool_choice: Passed to each candidate's ``bind_tools`` when not ``None``.
            kwargs: Further call arguments, passed to the candidate call.
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        for name, model in zip(self._policy.names, self.models, strict=True):
            _bind_candidate(name, model, formatted, tool_choice)  # fail early, not per call
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Each candidate's own ``with_structured_output``, routed by an ``EnergyRouter``.

        A cascade scorer reads each cheaper answer's raw message, so with
        ``include_raw=False`` the candidates are asked for the raw message too and the
        router returns only ``parsed`` (raising the candidate's ``parsing_error``).
        """
        from green_chain.routing.runnable import EnergyRouter

        raw = include_raw or self.scorer.needs_response
        routes = []
        for name, model in zip(self._policy.names, self.models, strict=True):
            method = getattr(model, "with_structured_output", None)
            if method is None:
                raise NotImplementedError(
                    f"candidate {name!r} ({type(model).__name__}) has no with_structured_output"
                )
            routes.append(method(schema, include_raw=raw, **kwargs))
        router = EnergyRouter(
            routes=routes,
            scorer=self.scorer,
            threshold=self.threshold,
            energy_curves=self.energy_curves,
            names=list(self._policy.names),
            token_model=self._policy.token_model,
        )
        if raw == include_raw:
            return router
        return router | RunnableLambda(_parsed_only, name="parsed")


def _parsed_only(output: dict[str, Any]) -> Any:
    """``output["parsed"]`` of an ``include_raw`` result; its ``parsing_error`` is raised."""
    if output.get("parsing_error") is not None:
        raise output["parsing_error"]
    return output.get("parsed")


def _bind_candidate(name: str, model: Any, tools: Any, tool_choice: Any) -> Runnable[Any, Any]:
    bind = getattr(model, "bind_tools", None)
    if bind is None:
        raise NotImplementedError(f"candidate {name!r} does not support bind_tools")
    if tool_choice is not None:
        return bind(tools, tool_choice=tool_choice)  # type: ignore[no-any-return]
    return bind(tools)  # type: ignore[no-any-return]
