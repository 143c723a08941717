"""Run one routed request: score (or cascade), record the decision, call the model.

Shared by :class:`~green_chain.routing.chat_model.RoutedChatModel` and
:class:`~green_chain.routing.runnable.EnergyRouter`. ``call(i)`` invokes candidate
``i`` as a child run of the router; ``publish(decision)`` records the decision on
the router's run before the chosen model is called (so a failing model still
leaves its decision behind). In a cascade each cheaper answer is produced by
``call`` too (a real child run whose energy counts) and is returned as is when it
is kept: it is never generated twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManager, CallbackManager
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from green_chain.routing.decision import RoutingDecision, RoutingPolicy
from green_chain.routing.tier import TierAnswer

logger = logging.getLogger(__name__)


def output_message(output: Any) -> BaseMessage:
    """The message inside a route's output (a message, or ``{"raw": message, ...}``)."""
    if isinstance(output, BaseMessage):
        return output
    if isinstance(output, dict) and isinstance(output.get("raw"), BaseMessage):
        return output["raw"]
    raise TypeError(
        "a cascade needs each cheaper route to return a message (or a dict with 'raw', e.g. "
        f"with_structured_output(..., include_raw=True)); got {type(output).__name__}"
    )


def attach_decision(output: Any, decision: RoutingDecision) -> Any:
    """Copy of ``output`` with ``response_metadata["routing"]`` set, where it has one."""
    data = decision.to_dict()
    if isinstance(output, BaseMessage):
        meta = {**(getattr(output, "response_metadata", None) or {}), "routing": data}
        return output.model_copy(update={"response_metadata": meta})
    if isinstance(output, dict) and isinstance(output.get("raw"), BaseMessage):
        return {**output, "raw": attach_decision(output["raw"], decision)}
    return output


def _start(
    policy: RoutingPolicy, messages: Sequence[BaseMessage], route_to: str | None
) -> RoutingDecision | None:
    if route_to is None:
        return None
    index = policy.index_of(route_to)
    return policy.set_choice(policy.new_decision(messages), index, f"selected by name {route_to!r}")


def _declined(exc: Exception) -> TierAnswer:
    logger.warning("first tier failed; routing to the LLM tiers: %s", exc)
    return TierAnswer(reason=f"first tier failed ({type(exc).__name__}: {exc})")


def _with_tier(
    decision: RoutingDecision, policy: RoutingPolicy, tier: TierAnswer | None, name: str
) -> RoutingDecision:
    return policy.note_tier(decision, name, tier) if tier is not None else decision


def execute(
    policy: RoutingPolicy,
    messages: Sequence[BaseMessage],
    call: Callable[[int], Any],
    publish: Callable[[RoutingDecision], Any],
    *,
    route_to: str | None = None,
    tier: tuple[str, Callable[[], TierAnswer]] | None = None,
) -> tuple[Any, RoutingDecision]:
    """Route one request synchronously; returns (output of the chosen model, decision)."""
    asked: TierAnswer | None = None
    if tier is not None and route_to is None:
        try:
            asked = tier[1]()
        except Exception as exc:  # a failing first tier declines
            asked = _declined(exc)
        if asked.answered:
            decision = policy.note_tier(policy.new_decision(messages), tier[0], asked)
            publish(decision)
            return asked.answer, decision
    return _execute(policy, messages, call, publish, route_to, asked, tier)


def _execute(
    policy: RoutingPolicy,
    messages: Sequence[BaseMessage],
    call: Callable[[int], Any],
    publish: Callable[[RoutingDecision], Any],
    route_to: str | None,
    asked: TierAnswer | None,
    tier: tuple[str, Any] | None,
) -> tuple[Any, RoutingDecision]:
    name = tier[0] if tier is not None else ""
    decision = _start(policy, messages, route_to)
    if decision is None and policy.scorer.needs_response:
        decision = policy.new_decision(messages)
        _with_tier(decision, policy, asked, name)
        for i in range(policy.n_cheaper):
            output = call(i)
            if policy.cascade_check(decision, i, messages, output_message(output)):
                publish(decision)
                return output, decision
        policy.cascade_final(decision)
    elif decision is None:
        decision = policy.decide(messages)
    publish(_with_tier(decision, policy, asked, name))
    return call(decision.chosen_index), decision


async def aexecute(
    policy: RoutingPolicy,
    messages: Sequence[BaseMessage],
    call: Callable[[int], Awaitable[Any]],
    publish: Callable[[RoutingDecision], Awaitable[Any]],
    *,
    route_to: str | None = None,
    tier: tuple[str, Callable[[], Awaitable[TierAnswer]]] | None = None,
) -> tuple[Any, RoutingDecision]:
    """Async twin of :func:`execute`."""
    asked: TierAnswer | None = None
    name = tier[0] if tier is not None else ""
    if tier is not None and route_to is None:
        try:
            asked = await tier[1]()
        except Exception as exc:
            asked = _declined(exc)
        if asked.answered:
            answered = policy.note_tier(policy.new_decision(messages), name, asked)
            await publish(answered)
            return asked.answer, answered
    decision = _start(policy, messages, route_to)
    if decision is None and policy.scorer.needs_response:
        decision = policy.new_decision(messages)
        _with_tier(decision, policy, asked, name)
        for i in range(policy.n_cheaper):
            output = await call(i)
            if policy.cascade_check(decision, i, messages, output_message(output)):
                await publish(decision)
                return output, decision
        policy.cascade_final(decision)
    elif decision is None:
        decision = policy.decide(messages)
    await publish(_with_tier(decision, policy, asked, name))
    return await call(decision.chosen_index), decision


def child_config(run_manager: Any) -> RunnableConfig:
    """A config whose callbacks make calls children of ``run_manager``'s run.

    Works for LLM run managers too (which have no ``get_child``): same inheritable
    handlers, tags and metadata, with the router's run as parent.
    """
    if run_manager is None:
        return {}
    get_child = getattr(run_manager, "get_child", None)
    if callable(get_child):
        return {"callbacks": get_child()}
    is_async = hasattr(run_manager, "get_sync")
    cls = AsyncCallbackManager if is_async else CallbackManager
    manager = cls(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return {"callbacks": manager}
