"""``EnergyRouter``: route any runnables (chains, structured-output models, ...).

The input is read as chat messages for the scorer (a string, a prompt value, a
message list, ``{"messages": [...]}``, or any dict, whose ``key: value`` lines
become one human message) unless ``input_to_messages`` is given; the chosen route
receives the *original* input. Each call is one chain run named ``EnergyRouter``
with the chosen route as its child run; the decision is published on that run and,
when the output is a message (or ``{"raw": message}``), stored in its
``response_metadata["routing"]``.

``first_tier``: a runnable tried first with the original input (protocol in
:mod:`green_chain.routing.tier`); when it answers, its answer is returned as is
and no route is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from green_chain.events import apublish_routing_decision, publish_routing_decision
from green_chain.routing.decision import RoutingDecision, RoutingPolicy, unique_names
from green_chain.routing.execute import aexecute, attach_decision, execute
from green_chain.routing.scorers import RouteScorer, as_messages
from green_chain.routing.tier import TierAnswer, as_tier_answer, tier_name


class EnergyRouter(Runnable[Any, Any]):
    """Route each input to one of several runnables ordered cheapest to largest.

    Args:
        routes: Two or more runnables, cheapest first.
        scorer, threshold, energy_curves, token_model: As for ``RoutedChatModel``.
        names: Route names (default: each route's model name).
        input_to_messages: Reads an input as chat messages for the scorer.
        first_tier: A runnable tried first, used when it answers (no route called).

    Call with ``config={"configurable": {"route_to": name}}`` to force a route.
    """

    def __init__(
        self,
        routes: Sequence[Runnable[Any, Any]],
        scorer: RouteScorer,
        threshold: float | Sequence[float] = 0.5,
        *,
        energy_curves: Mapping[str, Any] | None = None,
        names: Sequence[str] | None = None,
        token_model: str | None = None,
        input_to_messages: Callable[[Any], Sequence[BaseMessage]] | None = None,
        first_tier: Runnable[Any, Any] | None = None,
    ) -> None:
        if len(routes) < 2:
            raise ValueError(
                f"EnergyRouter needs two or more routes ordered cheapest to largest, got {len(routes)}"
            )
        self.routes = list(routes)
        self.scorer = scorer
        self.threshold = threshold
        self.energy_curves = dict(energy_curves) if energy_curves else None
        self.policy = RoutingPolicy(
            unique_names(self.routes, names),
            scorer,
            threshold,
            energy_curves,
            token_model=token_model,
            router="EnergyRouter",
        )
        self.input_to_messages = input_to_messages or as_messages
        self.first_tier = first_tier

    @property
    def names(self) -> list[str]:
        return list(self.policy.names)

    def _messages(self, input: Any) -> list[BaseMessage]:
        return as_messages(self.input_to_messages(input))

    @staticmethod
    def _route_to(config: RunnableConfig) -> str | None:
        value = (config.get("configurable") or {}).get("route_to")
        return str(value) if value is not None else None

    def _run(
        self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        messages = self._messages(input)
        child = patch_config(config, callbacks=run_manager.get_child())

        def call(i: int) -> Any:
            return self.routes[i].invoke(input, child)

        def publish(d: RoutingDecision) -> None:
            publish_routing_decision(d.to_dict(), config=child)

        tier = None
        if self.first_tier is not None:
            first = self.first_tier

            def ask() -> TierAnswer:
                return as_tier_answer(first.invoke(input, child))

            tier = (tier_name(first), ask)
        output, decision = execute(
            self.policy, messages, call, publish, route_to=self._route_to(config), tier=tier
        )
        return attach_decision(output, decision)

    async def _arun(
        self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        messages = self._messages(input)
        child = patch_config(config, callbacks=run_manager.get_child())

        async def call(i: int) -> Any:
            return await self.routes[i].ainvoke(input, child)

        async def publish(d: RoutingDecision) -> None:
            await apublish_routing_decision(d.to_dict(), config=child)

        tier = None
        if self.first_tier is not None:
            first = self.first_tier

            async def ask() -> TierAnswer:
                return as_tier_answer(await first.ainvoke(input, child))

            tier = (tier_name(first), ask)
        output, decision = await aexecute(
            self.policy, messages, call, publish, route_to=self._route_to(config), tier=tier
        )
        return attach_decision(output, decision)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(
            self._run, input, config, run_type="chain", serialized={"name": "EnergyRouter"}
        )

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(
            self._arun, input, config, run_type="chain", serialized={"name": "EnergyRouter"}
        )
