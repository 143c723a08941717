"""RelevantHistoryMiddleware inside create_agent: the model sees filtered messages, state stays whole."""

from __future__ import annotations

import subprocess
import sys
from typing import Any
from uuid import UUID

import pytest

pytest.importorskip("langchain.agents")

from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from green_chain.events import OPTIMIZER_TOKENS_EVENT
from green_chain.middleware.history import RelevantHistoryMiddleware
from green_chain.testing.embeddings import BagOfWordsEmbeddings
from green_chain.testing.models import ScriptedChatModel, ai_message, tool_call


@tool
def weather(city: str) -> str:
    """Weather of a city."""
    return f"sunny in {city}"


def history() -> list[BaseMessage]:
    return [
        HumanMessage("my dog is called rex and likes bones"),
        AIMessage("nice dog rex"),
        HumanMessage("recipe for pancakes with lots of flour eggs and milk"),
        AIMessage("flour eggs milk mix and fry them in a pan until golden"),
        HumanMessage("stock price of apple"),
        AIMessage("about 200 dollars"),
        HumanMessage("what is the weather for rex the dog walk in paris?"),
    ]


def words(text: str) -> int:
    return len(text.split())


class Events(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        if name == OPTIMIZER_TOKENS_EVENT:
            self.events.append(data)


def make_agent() -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(
        responses=[
            ai_message(tool_calls=[tool_call("weather", {"city": "paris"}, id="w1")]),
            ai_message("sunny: take rex out"),
        ]
    )
    mw = RelevantHistoryMiddleware(
        45, embeddings=BagOfWordsEmbeddings(), token_counter=words, keep_last=0
    )
    agent = create_agent(model, tools=[weather], system_prompt="be brief", middleware=[mw])
    return agent, model


def check(model: ScriptedChatModel, state: dict[str, Any], events: list[dict[str, Any]]) -> None:
    first, second = model.calls
    texts = [m.text for m in first]
    assert texts[0] == "be brief"
    assert "my dog is called rex and likes bones" in texts
    assert "recipe for pancakes with lots of flour eggs and milk" not in texts
    assert texts[-1] == "what is the weather for rex the dog walk in paris?"
    # second call: the turn in progress (tool call + result) is kept whole
    assert isinstance(second[-1], ToolMessage) and second[-2].tool_calls
    # the stored state keeps everything
    assert len(state["messages"]) == len(history()) + 3
    assert state["messages"][2].text.startswith("recipe for pancakes")
    assert len(events) == 2 and all(e["optimizer"] == "history" for e in events)
    assert all(e["tokens_after"] < e["tokens_before"] for e in events)


def test_agent_model_sees_filtered_history_state_keeps_all() -> None:
    agent, model = make_agent()
    rec = Events()
    state = agent.invoke({"messages": history()}, config={"callbacks": [rec]})
    check(model, state, rec.events)


async def test_agent_async() -> None:
    agent, model = make_agent()
    rec = Events()
    state = await agent.ainvoke({"messages": history()}, config={"callbacks": [rec]})
    check(model, state, rec.events)


def test_import_error_without_langchain_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['langchain'] = None\n"
        "sys.modules['langchain.agents'] = None\n"
        "sys.modules['langchain.agents.middleware'] = None\n"
        "try:\n"
        "    import green_chain.middleware.history\n"
        "except ImportError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "green-chain[agents]"' in out.stdout


class ToolCountingChat(ScriptedChatModel):
    """Counts a prompt like a chat template: words + 2 per message + 30 per bound tool."""

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Any = None) -> int:
        return sum(words(m.text) + 2 for m in messages) + 30 * len(tools or [])


def _sent_with(tools: list[Any]) -> tuple[list[BaseMessage], dict[str, Any]]:
    counter = ToolCountingChat(responses=[])
    model = ScriptedChatModel(responses=[ai_message("ok")])
    mw = RelevantHistoryMiddleware(
        70, embeddings=BagOfWordsEmbeddings(), token_counter=counter, budget="prompt"
    )
    agent = create_agent(model, tools=tools, system_prompt="be brief", middleware=[mw])
    rec = Events()
    agent.invoke({"messages": history()}, config={"callbacks": [rec]})
    [sent] = model.calls
    [event] = rec.events
    return sent, event


def test_prompt_budget_counts_the_requests_tools() -> None:
    counter = ToolCountingChat(responses=[])
    sent, event = _sent_with([weather])
    assert event["budget"] == "prompt"
    assert event["tokens_after"] == counter.get_num_tokens_from_messages(sent, [weather]) <= 70
    without_tools, _ = _sent_with([])
    assert len(sent) < len(without_tools)  # the tool's schema took room from the history
