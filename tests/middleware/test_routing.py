"""EnergyRouterMiddleware inside create_agent with fake tool-calling models."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from green_chain.events import ROUTING_DECISION_EVENT
from green_chain.routing import CascadeScorer, RouteScorer

pytest.importorskip("langchain.agents")
from langchain.agents import create_agent

from green_chain.middleware.routing import EnergyRouterMiddleware


class ToolModel(BaseChatModel):
    """Calls ``lookup`` once, then answers; records the tools bound per call."""

    model_name: str
    logprob: float | None = None
    calls: list[list[str]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-tool-model"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kw: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t)["function"]["name"] for t in tools])

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.calls.append(list(kwargs.get("tools", [])))
        meta: dict[str, Any] = {"model_name": self.model_name}
        if self.logprob is not None:
            meta["mean_token_logprob"] = self.logprob
        if isinstance(messages[-1], ToolMessage):
            msg = AIMessage(content=f"{self.model_name}: done", response_metadata=meta)
        else:
            msg = AIMessage(
                content="",
                response_metadata=meta,
                tool_calls=[
                    {
                        "name": "lookup",
                        "args": {"city": "Paris"},
                        "id": "call1",
                        "type": "tool_call",
                    }
                ],
            )
        return ChatResult(generations=[ChatGeneration(message=msg)])


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


def _agent(scorer: RouteScorer, cheap: ToolModel, large: ToolModel, threshold: float = 0.5) -> Any:
    mw = EnergyRouterMiddleware([cheap, large], scorer, threshold)
    return create_agent(large, tools=[lookup], middleware=[mw], system_prompt="be brief")


def test_agent_routes_each_model_call_and_binds_tools() -> None:
    cheap, large = ToolModel(model_name="cheap"), ToolModel(model_name="large")
    rec = Events()
    result = _agent(TurnScorer(), cheap, large).invoke(
        {"messages": [("user", "weather in Paris?")]}, config={"callbacks": [rec]}
    )
    assert cheap.calls == [["lookup"]]  # first call (tool call) on the cheap model, tools bound
    assert large.calls == [["lookup"]]  # after the tool result: large model, tools bound
    final = result["messages"][-1]
    assert final.content == "large: done"
    assert final.response_metadata["routing"]["chosen_model"] == "large"
    first_ai = result["messages"][1]
    assert first_ai.response_metadata["routing"]["chosen_model"] == "cheap"
    assert [e["chosen_model"] for e in rec.events] == ["cheap", "large"]
    assert rec.events[0]["router"] == "EnergyRouterMiddleware"


def test_agent_cascade_escalates_and_keeps_confident_answers() -> None:
    cheap = ToolModel(model_name="cheap", logprob=math.log(0.3))
    large = ToolModel(model_name="large")
    result = _agent(CascadeScorer(), cheap, large, threshold=0.5).invoke(
        {"messages": [("user", "weather?")]}
    )
    assert len(cheap.calls) == 2 and len(large.calls) == 2  # each cheap try wasted
    assert result["messages"][-1].content == "large: done"

    cheap_ok = ToolModel(model_name="cheap", logprob=math.log(0.9))
    large2 = ToolModel(model_name="large")
    result = _agent(CascadeScorer(), cheap_ok, large2, threshold=0.5).invoke(
        {"messages": [("user", "weather?")]}
    )
    assert len(cheap_ok.calls) == 2 and large2.calls == []
    assert result["messages"][-1].content == "cheap: done"


async def test_agent_async() -> None:
    cheap, large = ToolModel(model_name="cheap"), ToolModel(model_name="large")
    result = await _agent(TurnScorer(), cheap, large).ainvoke(
        {"messages": [("user", "weather in Paris?")]}
    )
    assert result["messages"][-1].content == "large: done"
    assert cheap.calls == [["lookup"]]


def test_middleware_needs_two_models() -> None:
    with pytest.raises(ValueError, match="two or more models"):
        EnergyRouterMiddleware([ToolModel(model_name="x")], TurnScorer())


def test_routed_chat_model_drops_into_create_agent() -> None:
    from green_chain.routing import RoutedChatModel

    cheap, large = ToolModel(model_name="cheap"), ToolModel(model_name="large")
    router = RoutedChatModel(models=[cheap, large], scorer=TurnScorer(), threshold=0.5)
    rec = Events()
    result = create_agent(router, tools=[lookup]).invoke(
        {"messages": [("user", "weather in Paris?")]}, config={"callbacks": [rec]}
    )
    assert cheap.calls == [["lookup"]] and large.calls == [["lookup"]]
    assert result["messages"][-1].content == "large: done"
    assert [e["chosen_model"] for e in rec.events] == ["cheap", "large"]
