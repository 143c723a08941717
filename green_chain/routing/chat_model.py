"""``RoutedChatModel``: a chat model that sends each request to the cheapest model
that is good enough for it.

It drops in wherever a chat model goes (chains, ``bind_tools``,
``with_structured_output``, ``create_agent``). Each call is one run of the router
with the chosen model's call as its child run; the decision is published as the
custom event ``green_chain.routing_decision`` on the router's run and stored in
``response_metadata["routing"]`` of the answer.

Force a candidate with ``invoke(..., route_to="name")`` (unknown names raise a
``KeyError`` listing the candidates).

``first_tier``: a runnable tried before any candidate (e.g.
:class:`~green_chain.routing.classifier.ExampleClassifier`, protocol in
:mod:`green_chain.routing.tier`); its answer comes back as an ``AIMessage`` and
no model is called. With a first tier, ``stream`` yields the answer as one chunk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, BaseMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from green_chain.events import apublish_routing_decision, publish_routing_decision
from green_chain.routing.decision import RoutingDecision, RoutingPolicy, unique_names
from green_chain.routing.execute import aexecute, attach_decision, child_config, execute
from green_chain.routing.scorers import RouteScorer, as_messages
from green_chain.routing.tier import TierAnswer, as_tier_answer, tier_name


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


def _tier_message(answer: TierAnswer) -> TierAnswer:
    """The tier's answer as an ``AIMessage`` (content: the answer as text)."""
    if not answer.answered or isinstance(answer.answer, BaseMessage):
        return answer
    text = answer.answer if isinstance(answer.answer, str) else json.dumps(answer.answer)
    message = AIMessage(content=text, response_metadata={"finish_reason": "stop"})
    return TierAnswer(message, answer.confidence, answer.threshold, answer.label, answer.reason)


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
        first_tier: A runnable tried first, used when it answers (no LLM called).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    models: list[Runnable[Any, Any]] = Field(default_factory=list)
    scorer: RouteScorer
    threshold: float | list[float] = 0.5
    energy_curves: dict[str, Any] | None = None
    names: list[str] | None = None
    token_model: str | None = None
    first_tier: Runnable[Any, Any] | None = None

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

    # -- sync -------------------------------------------------------------------------

    def _route(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: CallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> tuple[BaseMessage, RoutingDecision]:
        route_to = kwargs.pop("route_to", None)
        messages = as_messages(messages)
        config = child_config(run_manager)
        if stop is not None:
            kwargs["stop"] = stop

        def call(i: int) -> BaseMessage:
            out: BaseMessage = self.models[i].invoke(messages, config, **kwargs)
            return out

        def publish(d: RoutingDecision) -> None:
            publish_routing_decision(d.to_dict(), config=config)

        tier = None
        if self.first_tier is not None:
            first = self.first_tier

            def ask() -> TierAnswer:
                return _tier_message(as_tier_answer(first.invoke(messages, config)))

            tier = (tier_name(first), ask)
        return execute(self._policy, messages, call, publish, route_to=route_to, tier=tier)

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
        if self.scorer.needs_response or self.first_tier is not None:  # one chunk
            message, decision = self._route(messages, stop, run_manager, kwargs)
            yield ChatGenerationChunk(message=_as_chunk(attach_decision(message, decision)))
            return
        route_to = kwargs.pop("route_to", None)
        messages = as_messages(messages)
        config = child_config(run_manager)
        if stop is not None:
            kwargs["stop"] = stop
        chosen: list[int] = []
        _, decision = execute(
            self._policy,
            messages,
            chosen.append,
            lambda d: publish_routing_decision(d.to_dict(), config=config),
            route_to=route_to,
        )
        first = True
        for chunk in self.models[chosen[-1]].stream(messages, config, **kwargs):
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
        route_to = kwargs.pop("route_to", None)
        messages = as_messages(messages)
        config = child_config(run_manager)
        if stop is not None:
            kwargs["stop"] = stop

        async def call(i: int) -> BaseMessage:
            out: BaseMessage = await self.models[i].ainvoke(messages, config, **kwargs)
            return out

        async def publish(d: RoutingDecision) -> None:
            await apublish_routing_decision(d.to_dict(), config=config)

        tier = None
        if self.first_tier is not None:
            first = self.first_tier

            async def ask() -> TierAnswer:
                return _tier_message(as_tier_answer(await first.ainvoke(messages, config)))

            tier = (tier_name(first), ask)
        return await aexecute(self._policy, messages, call, publish, route_to=route_to, tier=tier)

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
        if self.scorer.needs_response or self.first_tier is not None:
            message, decision = await self._aroute(messages, stop, run_manager, kwargs)
            yield ChatGenerationChunk(message=_as_chunk(attach_decision(message, decision)))
            return
        route_to = kwargs.pop("route_to", None)
        messages = as_messages(messages)
        config = child_config(run_manager)
        if stop is not None:
            kwargs["stop"] = stop
        chosen: list[int] = []

        async def pick(i: int) -> None:
            chosen.append(i)

        async def publish(d: RoutingDecision) -> None:
            await apublish_routing_decision(d.to_dict(), config=config)

        _, decision = await aexecute(self._policy, messages, pick, publish, route_to=route_to)
        first = True
        async for chunk in self.models[chosen[-1]].astream(messages, config, **kwargs):
            msg = _as_chunk(chunk)
            if first:
                msg = attach_decision(msg, decision)
                first = False
            yield ChatGenerationChunk(message=msg)

    # -- composition ------------------------------------------------------------------

    def _with_models(self, models: Sequence[Runnable[Any, Any]]) -> RoutedChatModel:
        return RoutedChatModel(
            models=list(models),
            scorer=self.scorer,
            threshold=self.threshold,
            energy_curves=self.energy_curves,
            names=list(self._policy.names),
            token_model=self._policy.token_model,
            first_tier=self.first_tier,
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind the tools on every candidate; returns a router over the bound models."""
        bound = []
        for name, model in zip(self._policy.names, self.models, strict=True):
            bind = getattr(model, "bind_tools", None)
            if bind is None:
                raise NotImplementedError(f"candidate {name!r} does not support bind_tools")
            if tool_choice is not None:
                bound.append(bind(tools, tool_choice=tool_choice, **kwargs))
            else:
                bound.append(bind(tools, **kwargs))
        return self._with_models(bound)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Each candidate's own ``with_structured_output``, routed by an ``EnergyRouter``."""
        from green_chain.routing.runnable import EnergyRouter

        routes = []
        for name, model in zip(self._policy.names, self.models, strict=True):
            method = getattr(model, "with_structured_output", None)
            if method is None:
                raise NotImplementedError(
                    f"candidate {name!r} ({type(model).__name__}) has no with_structured_output"
                )
            routes.append(method(schema, include_raw=include_raw, **kwargs))
        return EnergyRouter(
            routes=routes,
            scorer=self.scorer,
            threshold=self.threshold,
            energy_curves=self.energy_curves,
            names=list(self._policy.names),
            token_model=self._policy.token_model,
        )
