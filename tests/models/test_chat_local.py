from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from green_chain.models import ChatLocal
from green_chain.models.prompting import render

PROMPTS = ["the cat", "hello there, how are you today?", "x"]


@pytest.fixture()
def chat(tiny_folder: Path) -> ChatLocal:
    return ChatLocal(model=str(tiny_folder), max_new_tokens=8)


def test_usage_and_metadata_are_exact(chat: ChatLocal, tiny_lm: Any) -> None:
    msg = chat.invoke("the cat")
    expected_in = len(render(tiny_lm, [HumanMessage("the cat")]).ids)
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["input_tokens"] == expected_in
    n_out = msg.usage_metadata["output_tokens"]
    assert 1 <= n_out <= 8
    assert msg.usage_metadata["total_tokens"] == expected_in + n_out
    md = msg.response_metadata
    assert md["model_name"] == chat.model and md["mean_token_logprob"] < 0
    if md["finish_reason"] == "length":
        assert n_out == 8


def test_tokenizer_registered(chat: ChatLocal, tiny_lm: Any) -> None:
    from green_chain.tokens import count_tokens

    chat.invoke("x")
    c = count_tokens("the cat sat", chat.model)
    assert c.method == f"tokenizer:{chat.model}"
    assert c.tokens == len(tiny_lm.tokenizer.encode("the cat sat", add_special_tokens=False))


def test_batch_equals_sequential_and_is_one_generation(chat: ChatLocal) -> None:
    batched = chat.batch(PROMPTS)
    sequential = [chat.invoke(p) for p in PROMPTS]
    assert [m.content for m in batched] == [m.content for m in sequential]
    assert [m.usage_metadata for m in batched] == [m.usage_metadata for m in sequential]
    assert all(m.response_metadata["batch_size"] == 3 for m in batched)
    assert all(m.response_metadata["batch_size"] == 1 for m in sequential)


async def test_abatch_and_ainvoke(chat: ChatLocal) -> None:
    batched = await chat.abatch(PROMPTS)
    single = await chat.ainvoke(PROMPTS[0])
    assert batched[0].content == single.content
    assert batched[0].response_metadata["batch_size"] == 3


async def test_ainvoke_does_not_block_loop(chat: ChatLocal) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await chat.ainvoke("hello there, how are you today?")
    task.cancel()
    assert ticks > 1


def test_stream_matches_invoke(chat: ChatLocal) -> None:
    chunks = list(chat.stream("hello there"))
    text = "".join(str(c.content) for c in chunks)
    full = chat.invoke("hello there")
    assert text == full.content
    assert chunks[-1].usage_metadata == full.usage_metadata
    assert chunks[-1].response_metadata["model_name"] == chat.model


async def test_astream_matches_invoke(chat: ChatLocal) -> None:
    parts = [str(c.content) async for c in chat.astream("hello there")]
    assert "".join(parts) == chat.invoke("hello there").content


def test_stop_sequences_cut_output(chat: ChatLocal) -> None:
    full = str(chat.invoke("the cat").content)
    if len(full) < 3:
        pytest.skip("tiny model produced too little text to cut")
    stop = full[1:3]
    cut = chat.invoke("the cat", stop=[stop])
    assert cut.content == full[: full.find(stop)]
    assert cut.response_metadata["finish_reason"] == "stop"
    assert (
        cut.usage_metadata["output_tokens"]
        <= chat.invoke("the cat").usage_metadata["output_tokens"]
    )
    streamed = "".join(str(c.content) for c in chat.stream("the cat", stop=[stop]))
    assert streamed == cut.content


def test_batching_window_gathers_threads(tiny_folder: Path) -> None:
    m = ChatLocal(model=str(tiny_folder), max_new_tokens=4, batching=True, batch_window_ms=300)
    out: dict[int, AIMessage] = {}

    def call(i: int) -> None:
        out[i] = m.invoke(PROMPTS[i % 3])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sizes = [out[i].response_metadata["batch_size"] for i in range(4)]
    assert max(sizes) > 1
    solo = ChatLocal(model=str(tiny_folder), max_new_tokens=4)
    assert [out[i].content for i in range(4)] == [
        solo.invoke(PROMPTS[i % 3]).content for i in range(4)
    ]


def test_unknown_kwargs_and_bad_fields(chat: ChatLocal) -> None:
    with pytest.raises(TypeError, match="unexpected keyword"):
        chat.invoke("x", frobnicate=1)
    with pytest.raises(ValueError):
        ChatLocal(max_new_tokens=0)


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return "sunny"


def test_bind_tools_forced_call_and_tool_messages(chat: ChatLocal) -> None:
    bound = chat.bind_tools([get_weather], tool_choice="get_weather")
    msg = bound.invoke("weather in Paris?")
    # Random weights: the call may or may not parse, but it is reported, never lost.
    assert msg.tool_calls or msg.invalid_tool_calls
    for tc in msg.tool_calls:
        assert tc["name"] == "get_weather" and set(tc["args"]) <= {"city"}
    history = [
        HumanMessage("weather in Paris?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}]),
        ToolMessage("sunny", tool_call_id="c1"),
    ]
    assert isinstance(chat.bind_tools([get_weather]).invoke(history), AIMessage)
    chunks = list(bound.stream("weather?"))
    assert len(chunks) >= 1
    with pytest.raises(ValueError, match="tool_choice"):
        chat.bind_tools([get_weather], tool_choice="other")


def test_ls_params_and_identity(chat: ChatLocal) -> None:
    ls = chat._get_ls_params(stop=["x"])
    assert ls["ls_provider"] == "green_chain_local" and ls["ls_model_name"] == chat.model
    assert ls["ls_stop"] == ["x"]
    assert chat._identifying_params["model_name"] == chat.model
    assert chat._llm_type == "green-chain-local"


def test_score_continuations_method(chat: ChatLocal) -> None:
    (s,) = chat.score_continuations(["the cat"], [" sat"])
    assert s.n_tokens >= 1 and s.logprob_sum < 0


def test_base_model_transcript_strip(tiny_base_folder: Path) -> None:
    m = ChatLocal(model=str(tiny_base_folder), max_new_tokens=6)
    msg = m.invoke("hi")
    assert msg.content == str(msg.content).strip()
    assert msg.usage_metadata is not None and msg.usage_metadata["input_tokens"] > 0


def test_cut_at_stop_first_line() -> None:
    from green_chain.models.generation import cut_at_stop

    assert cut_at_stop("\n\nParis\nQuestion: x", (), first_line=True) == ("\n\nParis", True)
    assert cut_at_stop("Paris is. Q: y\nmore", ("Q:",), first_line=True) == ("Paris is. ", True)
    assert cut_at_stop("\n\n  ", (), first_line=True) == ("\n\n  ", False)  # no text yet
    assert cut_at_stop("Paris\nLyon", ()) == ("Paris\nLyon", False)  # off by default
