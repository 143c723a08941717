"""ScriptedChatModel: replayed responses, default replies, tool calls, usage, streaming,
bind_tools, recorded calls and structured output."""

from __future__ import annotations

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool
from pydantic import BaseModel, ValidationError

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


def test_default_reply_after_the_script_and_as_a_callable():
    model = ScriptedChatModel(responses=["first"], default="fallback")
    assert [model.invoke(q).content for q in ["a", "b", "c"]] == ["first", "fallback", "fallback"]
    echo = ScriptedChatModel(default=lambda messages: f"echo {messages[-1].content}")
    assert echo.invoke("ping").content == "echo ping"
    tagged = ScriptedChatModel(default=ai_message("x", output_tokens=2))
    assert tagged.invoke("q").usage_metadata["output_tokens"] == 2
    with pytest.raises(TypeError, match="AIMessage or str"):
        ScriptedChatModel(default=lambda messages: 3).invoke("x")


def test_response_metadata_is_added_to_every_reply():
    reply = ai_message("own")
    reply.response_metadata["finish_reason"] = "stop"
    model = ScriptedChatModel(
        responses=[reply],
        default="d",
        model_name="m",
        response_metadata={"mean_token_logprob": -0.5},
    )
    first, second = model.invoke("a"), model.invoke("b")
    assert first.response_metadata == {
        "mean_token_logprob": -0.5,
        "finish_reason": "stop",
        "model_name": "m",
    }
    assert second.response_metadata["mean_token_logprob"] == -0.5
    streamed = list(model.stream("c"))
    assert streamed[-1].response_metadata["mean_token_logprob"] == -0.5


def test_records_stop_and_kwargs_of_every_call_and_every_tool_binding():
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    model = ScriptedChatModel(default="ok")
    model.invoke("a", stop=["\n"], max_tokens=3)
    model.invoke("b")
    list(model.stream("c", stop=["x"]))
    assert model.stops == [["\n"], None, ["x"]]
    assert model.call_kwargs[0] == {"max_tokens": 3} and model.call_kwargs[1] == {}
    assert model.tool_bindings == [] and model.bound_tool_names == []
    model.bind_tools([add])
    model.bind_tools([])
    assert model.tool_bindings == [["add"], []] and model.bound_tool_names == []


def test_structured_output_parses_the_tool_call_or_json_reply():
    class Answer(BaseModel):
        text: str
        score: int = 0

    model = ScriptedChatModel(
        responses=[
            ai_message(tool_calls=[tool_call("Answer", {"text": "from tool", "score": 2})]),
            '{"text": "from json"}',
        ]
    )
    structured = model.with_structured_output(Answer)
    assert structured.invoke("a") == Answer(text="from tool", score=2)
    assert structured.invoke("b") == Answer(text="from json")
    assert model.called_tool_names() == [["Answer"], ["Answer"]]
    schema = {"title": "Pick", "type": "object", "properties": {"n": {"type": "integer"}}}
    as_dict = ScriptedChatModel(responses=[ai_message(tool_calls=[tool_call("Pick", {"n": 4})])])
    assert as_dict.with_structured_output(schema).invoke("c") == {"n": 4}


def test_structured_output_errors_raise_or_come_back_with_include_raw():
    class Answer(BaseModel):
        text: str

    model = ScriptedChatModel(responses=["not json", '{"wrong": 1}', "not json"])
    with pytest.raises(OutputParserException, match="no 'Answer' tool call and is not JSON"):
        model.with_structured_output(Answer).invoke("a")
    with pytest.raises(ValidationError):
        model.with_structured_output(Answer).invoke("b")
    out = model.with_structured_output(Answer, include_raw=True).invoke("c")
    assert out["raw"].content == "not json" and out["parsed"] is None
    assert isinstance(out["parsing_error"], OutputParserException)
    ok = ScriptedChatModel(responses=['{"text": "t"}']).with_structured_output(
        Answer, include_raw=True
    )
    result = ok.invoke("d")
    assert result["parsed"] == Answer(text="t") and result["parsing_error"] is None
    assert isinstance(result["raw"], AIMessage)


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
