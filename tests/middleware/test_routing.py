"""EnergyRouterMiddleware inside create_agent with fake tool-calling models."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool

from green_chain.events import ROUTING_DECISION_EVENT
from green_chain.routing import CascadeScorer, RouteScorer

pytest.importorskip("langchain.agents")
from langchain.agents import create_agent

from green_chain.middleware.routing import EnergyRouterMiddleware
from green_chain.testing.models import ScriptedChatModel, tool_call


def tool_model(name: str, *script: str, logprob: float | None = None) -> ScriptedChatModel:
    """A scripted model answering, call by call, ``"tool"`` (a ``lookup`` call) or ``"done"``."""
    meta: dict[str, Any] = {} if logprob is None else {"mean_token_logprob": logprob}
    replies = {
        "tool": AIMessage(
            "",
            tool_calls=[tool_call("lookup", {"city": "Paris"}, id="call1")],
            response_metadata=meta,
        ),
        "done": AIMessage(f"{name}: done", response_metadata=meta),
    }
    return ScriptedChatModel(model_name=name, responses=[replies[s] for s in script])


class TurnScorer(RouteScorer):
    """Cheap on the first call (no tool results yet), large once a tool answered."""

    name = "turn"

    def score(self, messages: Sequence[BaseMessage]) -> float:
        return 0.2 if any(isinstance(m, ToolMessage) for m in messages) else 0.9


class Events(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        if name == ROUTING_DECISION_EVENT:
            self.events.append(data)


@tool
def lookup(city: str) -> str:
    """Weather of a city."""
    return f"sunny in {city}"


def _agent(
    scorer: RouteScorer, cheap: ScriptedChatModel, large: ScriptedChatModel, threshold: float = 0.5
) -> Any:
    mw = EnergyRouterMiddleware([cheap, large], scorer, threshold)
    return create_agent(large, tools=[lookup], middleware=[mw], system_prompt="be brief")


def test_agent_routes_each_model_call_and_binds_tools() -> None:
    cheap, large = tool_model("cheap", "tool"), tool_model("large", "done")
    rec = Events()
    result = _agent(TurnScorer(), cheap, large).invoke(
        {"messages": [("user", "weather in Paris?")]}, config={"callbacks": [rec]}
    )
    # first call (tool call) on the cheap model, tools bound
    assert cheap.called_tool_names() == [["lookup"]]
    # after the tool result: large model, tools bound
    assert large.called_tool_names() == [["lookup"]]
    assert isinstance(large.calls[0][-1], ToolMessage)
    final = result["messages"][-1]
    assert final.content == "large: done"
    assert final.response_metadata["routing"]["chosen_model"] == "large"
    first_ai = result["messages"][1]
    assert first_ai.response_metadata["routing"]["chosen_model"] == "cheap"
    assert [e["chosen_model"] for e in rec.events] == ["cheap", "large"]
    assert rec.events[0]["router"] == "EnergyRouterMiddleware"


def test_agent_cascade_escalates_and_keeps_confident_answers() -> None:
    cheap = tool_model("cheap", "tool", "done", logprob=math.log(0.3))
    large = tool_model("large", "tool", "done")
    result = _agent(CascadeScorer(), cheap, large, threshold=0.5).invoke(
        {"messages": [("user", "weather?")]}
    )
    assert len(cheap.calls) == 2 and len(large.calls) == 2  # each cheap try wasted
    assert result["messages"][-1].content == "large: done"

    cheap_ok = tool_model("cheap", "tool", "done", logprob=math.log(0.9))
    large2 = tool_model("large")
    result = _agent(CascadeScorer(), cheap_ok, large2, threshold=0.5).invoke(
        {"messages": [("user", "weather?")]}
    )
    assert len(cheap_ok.calls) == 2 and large2.calls == []
    assert result["messages"][-1].content == "cheap: done"


async def test_agent_async() -> None:
    cheap, large = tool_model("cheap", "tool"), tool_model("large", "done")
    result = await _agent(TurnScorer(), cheap, large).ainvoke(
        {"messages": [("user", "weather in Paris?")]}
    )
    assert result["messages"][-1].content == "large: done"
    assert cheap.called_tool_names() == [["lookup"]]


def test_middleware_needs_two_models() -> None:
    with pytest.raises(ValueError, match="two or more models"):
        EnergyRouterMiddleware([tool_model("x")], TurnScorer())


def test_routed_chat_model_drops_into_create_agent() -> None:
    from green_chain.routing import RoutedChatModel

    cheap, large = tool_model("cheap", "tool"), tool_model("large", "done")
    router = RoutedChatModel(models=[cheap, large], scorer=TurnScorer(), threshold=0.5)
    rec = Events()
    result = create_agent(router, tools=[lookup]).invoke(
        {"messages": [("user", "weather in Paris?")]}, config={"callbacks": [rec]}
    )
    assert cheap.called_tool_names() == [["lookup"]]
    assert large.called_tool_names() == [["lookup"]]
    assert result["messages"][-1].content == "large: done"
    assert [e["chosen_model"] for e in rec.events] == ["cheap", "large"]
