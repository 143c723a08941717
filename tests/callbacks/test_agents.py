"""create_agent (langchain>=1.5): model node and tool calls are separate metered runs."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool

from green_chain.events import publish_token_counts
from green_chain.testing.models import ScriptedChatModel, ai_message, tool_call

agents = pytest.importorskip("langchain.agents")
middleware_types = pytest.importorskip("langchain.agents.middleware")


def _tools(metered):
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        metered.work(0.5)
        return a + b

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        metered.work(0.25)
        return a * b

    return [add, multiply]


def _model(metered):
    return ScriptedChatModel(
        responses=[
            ai_message(
                tool_calls=[
                    tool_call("add", {"a": 2, "b": 3}),
                    tool_call("multiply", {"a": 2, "b": 4}),
                ],
                input_tokens=40,
                output_tokens=12,
            ),
            ai_message("2+3=5 and 2*4=8", input_tokens=70, output_tokens=9),
        ],
        on_call=lambda _m: metered.work(5.0, 0.2),
    )


def _check(metered, result):
    assert result["messages"][-1].content == "2+3=5 and 2*4=8"
    recs = metered.handler.records()
    model_calls = [r for r in recs if r["run_type"] == "chat_model"]
    tool_runs = [r for r in recs if r["run_type"] == "tool"]
    # chat-model events do fire inside create_agent (cf. langchain-ai/langchain#36477)
    assert len(model_calls) == 2
    assert {r["langgraph_node"] for r in model_calls} == {"model"}
    assert [r["prompt_tokens"] for r in model_calls] == [40, 70]
    assert sorted(r["name"] for r in tool_runs) == ["add", "multiply"]
    assert {r["langgraph_node"] for r in tool_runs} == {"tools"}
    by_id = {r["run_id"]: r for r in recs}
    for call in model_calls:
        assert by_id[call["parent_run_id"]]["langgraph_node"] == "model"
    assert sum(r["energy_j"] for r in model_calls) == pytest.approx(10.0)
    roots = [r for r in recs if r["parent_run_id"] is None]
    assert len(roots) == 1
    assert roots[0]["attributed_inclusive_j"] == pytest.approx(10.75)
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(10.75)


def test_agent_runs_are_metered(metered):
    agent = agents.create_agent(_model(metered), tools=_tools(metered))
    result = agent.invoke(
        {"messages": [HumanMessage("what are 2+3 and 2*4?")]},
        config={"callbacks": [metered.handler]},
    )
    _check(metered, result)


async def test_agent_runs_are_metered_async(metered):
    agent = agents.create_agent(_model(metered), tools=_tools(metered))
    result = await agent.ainvoke(
        {"messages": [HumanMessage("what are 2+3 and 2*4?")]},
        config={"callbacks": [metered.handler]},
    )
    _check(metered, result)


def test_middleware_dispatching_inside_the_model_node_joins_etr(metered):
    class Trim(middleware_types.AgentMiddleware):
        def wrap_model_call(self, request, handler):
            publish_token_counts("history", 100, 40)
            return handler(request)

    agent = agents.create_agent(_model(metered), tools=_tools(metered), middleware=[Trim()])
    agent.invoke({"messages": [HumanMessage("go")]}, config={"callbacks": [metered.handler]})
    first, second = metered.records(run_type="chat_model")
    assert first["etr"] == pytest.approx(40 / (40 + 60))
    assert second["etr"] == pytest.approx(70 / (70 + 60))


def test_before_model_middleware_node_joins_etr(metered):
    class Select(middleware_types.AgentMiddleware):
        def before_model(self, state, runtime):
            publish_token_counts("examples", 50, 10)
            return None

    agent = agents.create_agent(_model(metered), tools=_tools(metered), middleware=[Select()])
    agent.invoke({"messages": [HumanMessage("go")]}, config={"callbacks": [metered.handler]})
    first, second = metered.records(run_type="chat_model")
    assert first["tokens_saved"] == 40 and second["tokens_saved"] == 40
