"""``EnergyRouterMiddleware``: pick the model of every agent model call locally.

A LangChain 1.x ``AgentMiddleware`` whose ``wrap_model_call`` scores the whole
request (system message, history, tool results) and swaps the model with
``request.override(model=...)``. The agent binds the request's tools to whichever
model is chosen, so tools work with every candidate. Unlike LangChain's
``ModelRouterMiddleware`` no classifier LLM is called: the decision costs one
local scorer call (or, with a ``CascadeScorer``, the cheaper answer itself).

The decision is published as ``green_chain.routing_decision`` on the agent's model
node run and stored in the answer's ``response_metadata["routing"]``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

try:
    from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
except ImportError as exc:  # pragma: no cover - exercised only without langchain
    raise ImportError(
        'EnergyRouterMiddleware needs LangChain 1.x agents: pip install "green-chain[agents]"'
    ) from exc

from langchain_core.language_models import BaseChatModel

from green_chain.events import apublish_routing_decision, publish_routing_decision
from green_chain.middleware.calls import last_ai_message, request_messages, with_last_ai
from green_chain.routing.decision import RoutingDecision, RoutingPolicy, unique_names
from green_chain.routing.execute import aexecute, attach_decision, execute
from green_chain.routing.scorers import RouteScorer


class EnergyRouterMiddleware(AgentMiddleware):
    """Route each agent model call among models ordered cheapest to largest.

    Args:
        models: Two or more chat models (or ``init_chat_model`` strings), cheapest first.
        scorer: A :class:`~green_chain.routing.scorers.RouteScorer`.
        threshold: One float or one per cheaper model (see ``green_chain.routing.decision``).
        energy_curves: ``{model name: EnergyCurve}`` for ``projected`` predictions.
        names: Candidate names (default: each model's name).
        token_model: Tokenizer name for prompt-token counts (default: largest).
    """

    def __init__(
        self,
        models: Sequence[BaseChatModel | str],
        scorer: RouteScorer,
        threshold: float | Sequence[float] = 0.5,
        *,
        energy_curves: Mapping[str, Any] | None = None,
        names: Sequence[str] | None = None,
        token_model: str | None = None,
    ) -> None:
        super().__init__()
        if len(models) < 2:
            raise ValueError(
                "EnergyRouterMiddleware needs two or more models ordered cheapest to largest, "
                f"got {len(models)}"
            )
        resolved: list[BaseChatModel] = []
        for m in models:
            if isinstance(m, str):
                from langchain.chat_models import init_chat_model

                resolved.append(init_chat_model(m))
            else:
                resolved.append(m)
        self.models = resolved
        self.policy = RoutingPolicy(
            unique_names(resolved, names),
            scorer,
            threshold,
            energy_curves,
            token_model=token_model,
            router="EnergyRouterMiddleware",
        )

    @property
    def name(self) -> str:
        return "EnergyRouterMiddleware"

    def wrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], ModelResponse],
    ) -> ModelResponse:
        """Score the request, call the chosen model (cheaper ones first for cascades)."""
        messages = request_messages(request)

        def call(i: int) -> Any:
            return _Scored(handler(request.override(model=self.models[i])))

        def publish(d: RoutingDecision) -> None:
            publish_routing_decision(d.to_dict())

        output, decision = execute(self.policy, messages, call, publish)
        return with_last_ai(output.response, lambda m: attach_decision(m, decision))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """Async twin of :meth:`wrap_model_call`."""
        messages = request_messages(request)

        async def call(i: int) -> Any:
            return _Scored(await handler(request.override(model=self.models[i])))

        async def publish(d: RoutingDecision) -> None:
            await apublish_routing_decision(d.to_dict())

        output, decision = await aexecute(self.policy, messages, call, publish)
        return with_last_ai(output.response, lambda m: attach_decision(m, decision))


class _Scored(dict):  # type: ignore[type-arg]
    """A ModelResponse wrapped so the cascade can read its AI message as ``raw``."""

    def __init__(self, response: Any) -> None:
        super().__init__()
        self.response = response
        try:
            self["raw"] = last_ai_message(response)
        except TypeError:
            pass


__all__ = ["EnergyRouterMiddleware"]
