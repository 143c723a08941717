"""ResponseBudgetMiddleware inside create_agent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.response import CONCISE_INSTRUCTION
from green_chain.testing import (
    FakeClock,
    FakeMeterBackend,
    FakeOpenAIChatModel,
    ScriptedChatModel,
    ai_message,
    tool_call,
)

pytest.importorskip("langchain.agents")
from langchain.agents import create_agent

from green_chain.middleware import ResponseBudgetMiddleware

TEN = "one two three four five six seven eight nine ten"


@tool
def lookup(city: str) -> str:
    """Weather in a city."""
    return f"sunny in {city}"


def make_handler() -> EnergyCallbackHandler:
    monitor = EnergyMonitor([FakeMeterBackend(["cpu"])], clock=FakeClock(start_s=5.0))
    return EnergyCallbackHandler(monitor, estimators=None)


def model_calls(handler: EnergyCallbackHandler) -> list[dict[str, Any]]:
    return [r for r in handler.records() if r["run_type"] == "chat_model"]


def test_budget_bound_on_every_agent_call_and_recorded() -> None:
    model = ScriptedChatModel(
        responses=[
            ai_message(tool_calls=[tool_call("lookup", {"city": "Paris"})]),
            AIMessage("It is sunny", response_metadata={"finish_reason": "length"}),
        ]
    )
    agent = create_agent(
        model,
        tools=[lookup],
        middleware=[ResponseBudgetMiddleware({"weather": 12}, task="weather")],
    )
    handler = make_handler()
    state = agent.invoke({"messages": [("user", "Weather in Paris?")]}, {"callbacks": [handler]})
    final = state["messages"][-1]
    assert final.response_metadata["response_budget"]["budget_tokens"] == 12
    assert final.response_metadata["response_budget"]["hit_budget"] is True
    calls = model_calls(handler)
    assert len(calls) == 2
    assert [c["response_budget"]["hit_budget"] for c in calls] == [False, True]
    assert all(c["response_budget"]["bound"] == {"max_tokens": 12} for c in calls)
    assert model.bound_tool_names == ["lookup"]


def test_agent_model_honours_the_cap_with_retry_and_concise() -> None:
    model = FakeOpenAIChatModel(answers=[TEN])
    middleware = ResponseBudgetMiddleware(4, retry=True, concise=True)
    agent = create_agent(model, tools=[lookup], system_prompt="Be kind.", middleware=[middleware])
    handler = make_handler()
    state = agent.invoke({"messages": [("user", "count")]}, {"callbacks": [handler]})
    assert [c["max_tokens"] for c in model.calls] == [4, 8]
    assert model.calls[0]["messages"][0].content == f"Be kind.\n{CONCISE_INSTRUCTION}"
    assert state["messages"][-1].content == "one two three four five six seven eight"
    assert [c["response_budget"]["attempt"] for c in model_calls(handler)] == [1, 2]


def test_async_agent() -> None:
    model = FakeOpenAIChatModel(answers=[TEN])
    agent = create_agent(model, tools=[lookup], middleware=[ResponseBudgetMiddleware(5)])
    handler = make_handler()
    state = asyncio.run(agent.ainvoke({"messages": [("user", "count")]}, {"callbacks": [handler]}))
    assert state["messages"][-1].content == "one two three four five"
    (call,) = model_calls(handler)
    assert call["response_budget"]["hit_budget"] is True


def test_rejects_predictor_and_policy_together() -> None:
    from green_chain.response import BudgetPolicy

    with pytest.raises(ValueError, match="policy"):
        ResponseBudgetMiddleware(5, policy=BudgetPolicy())


def test_repeat_stop_in_an_agent_over_chat_local(looping_folder: Any) -> None:
    from green_chain.models import ChatLocal
    from tests.conftest import LOOP_LINE

    chat = ChatLocal(model=str(looping_folder), max_tokens=64)
    agent = create_agent(
        chat, tools=[], middleware=[ResponseBudgetMiddleware(48, stop_on_repeat=True)]
    )
    handler = make_handler()
    state = agent.invoke({"messages": [("user", "Count.")]}, {"callbacks": [handler]})
    final = state["messages"][-1]
    assert final.content == LOOP_LINE
    event = final.response_metadata["response_budget"]
    assert event["bound"] == {"max_tokens": 48, "stop_on_repeat": True}
    assert event["stop_on_repeat"] is True and event["finish_reason"] == "repeat"
    (call,) = model_calls(handler)
    assert call["completion_tokens"] == 2 * (len(LOOP_LINE) + 1)
