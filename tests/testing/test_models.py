"""ScriptedChatModel: replayed responses, tool calls, usage, streaming, bind_tools."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool

from green_chain.testing.models import ScriptedChatModel, ai_message, tool_call


def test_replays_in_order_with_usage_and_model_name():
    model = ScriptedChatModel(
        responses=[ai_message("one", input_tokens=3, output_tokens=1), "two"], model_name="m1"
    )
    first = model.invoke("hi")
    assert first.content == "one" and first.usage_metadata["input_tokens"] == 3
    assert first.response_metadata["model_name"] == "m1"
    assert model.invoke("again").content == "two"
    assert [m[0].content for m in model.calls] == ["hi", "again"]
    with pytest.raises(IndexError, match="ran out of responses"):
        model.invoke("three")


def test_cycle_and_batch():
    model = ScriptedChatModel(responses=["a"], cycle=True)
    assert [m.content for m in model.batch(["x", "y", "z"])] == ["a", "a", "a"]


async def test_async_and_stream_with_tool_calls():
    call = tool_call("add", {"a": 1, "b": 2}, id="c1")
    model = ScriptedChatModel(
        responses=[ai_message("hello big world"), ai_message(tool_calls=[call], input_tokens=5)]
    )
    chunks = list(model.stream("x"))
    assert "".join(c.content for c in chunks) == "hello big world"
    assert len(chunks) == 4
    merged = None
    async for chunk in model.astream("y"):
        merged = chunk if merged is None else merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.tool_calls[0]["name"] == "add" and merged.tool_calls[0]["args"] == {
        "a": 1,
        "b": 2,
    }
    assert merged.usage_metadata["input_tokens"] == 5


def test_bind_tools_and_ls_params():
    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    model = ScriptedChatModel(
        responses=[ai_message(tool_calls=[tool_call("add", {"a": 1, "b": 1})])],
        provider="openai",
        model_name="gpt-x",
    )
    bound = model.bind_tools([add])
    assert model.bound_tool_names == ["add"]
    assert bound.invoke("go").tool_calls[0]["name"] == "add"
    params = model._get_ls_params()
    assert params["ls_provider"] == "openai" and params["ls_model_name"] == "gpt-x"


def test_rejects_bad_script():
    with pytest.raises(TypeError, match="AIMessage or str"):
        ScriptedChatModel(responses=[42]).invoke("x")


def test_records_the_tools_bound_to_each_call():
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    model = ScriptedChatModel(responses=["plain", "with tools"])
    model.invoke("no tools")
    model.bind_tools([add]).invoke("tools")
    assert model.called_tool_names() == [[], ["add"]]
    assert "tools" not in model.call_kwargs[0]
    assert model.call_kwargs[1]["tools"][0]["function"]["name"] == "add"


def test_fake_openai_model_honours_max_tokens_and_stop() -> None:
    from green_chain.testing import FakeOpenAIChatModel

    model = FakeOpenAIChatModel(answers=["a b c d. e f"], max_tokens=10)
    full = model.invoke("q")
    assert full.content == "a b c d. e f"
    assert full.response_metadata["finish_reason"] == "stop"
    cut = model.invoke("q", max_tokens=2)
    assert cut.content == "a b" and cut.response_metadata["finish_reason"] == "length"
    assert cut.usage_metadata is not None and cut.usage_metadata["output_tokens"] == 2
    stopped = model.invoke("q", stop=["."])
    assert stopped.content == "a b c d" and stopped.response_metadata["finish_reason"] == "stop"
    assert [c["max_tokens"] for c in model.calls] == [10, 2, 10]
    with pytest.raises(ValueError, match="max_tokens"):
        model.invoke("q", max_tokens=0)
    with pytest.raises(TypeError, match="unexpected"):
        model.invoke("q", temperature=0.5)
