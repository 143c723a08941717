"""ChatLocal: standard parameters, token counting with its own tokenizer, structured output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, trim_messages
from pydantic import BaseModel, ValidationError

from green_chain.models import ChatLocal
from green_chain.models.prompting import render
from green_chain.models.structured import parse_forced_call


@pytest.fixture()
def chat(tiny_folder: Path) -> ChatLocal:
    return ChatLocal(model=str(tiny_folder), max_tokens=8)


def test_token_ids_use_the_models_tokenizer(chat: ChatLocal, tiny_lm: Any) -> None:
    text = "the cat sat on the mat"
    expected = tiny_lm.tokenizer.encode(text, add_special_tokens=False)
    assert chat.get_token_ids(text) == expected
    assert chat.get_num_tokens(text) == len(expected) > 0
    msgs = [SystemMessage("be brief"), HumanMessage("the cat")]
    assert chat.get_num_tokens_from_messages(msgs) == len(render(tiny_lm, msgs).ids)
    assert chat.get_num_tokens_from_messages([]) == 0


def test_trim_messages_with_the_model_as_counter_trims(chat: ChatLocal) -> None:
    history: list[Any] = []
    for i in range(10):
        history += [HumanMessage(f"question {i} about the cat"), AIMessage(f"answer {i}: sat")]
    kept = trim_messages(history, max_tokens=60, token_counter=chat, strategy="last")
    assert 0 < len(kept) < len(history)
    assert chat.get_num_tokens_from_messages(kept) <= 60


def test_standard_params_at_construction(tiny_folder: Path) -> None:
    m = ChatLocal(model_name=str(tiny_folder), max_tokens=3, temperature=0, stop=["zz"])
    assert m.model == m.model_name == str(tiny_folder)
    assert m.max_tokens == 3 and m.max_new_tokens == 3
    assert ChatLocal(model=str(tiny_folder), max_new_tokens=4).max_tokens == 4  # older name
    out = m.invoke("hello there, how are you today?")
    assert out.usage_metadata is not None and out.usage_metadata["output_tokens"] <= 3
    ChatLocal(model=str(tiny_folder), timeout=60, max_retries=2, streaming=True)


def test_unknown_fields_and_models_fail_at_construction(tiny_folder: Path) -> None:
    with pytest.raises(ValidationError, match="frobnicate"):
        ChatLocal(model=str(tiny_folder), frobnicate=1)
    with pytest.raises(ValidationError, match="unknown model 'gemma3-27m'"):
        ChatLocal(model="gemma3-27m")
    with pytest.raises(ValidationError, match="embedding model"):
        ChatLocal(model="all-minilm-l6-v2")
    with pytest.raises(ValidationError):
        ChatLocal(model=str(tiny_folder), max_tokens=0)


def test_max_tokens_per_call_and_bound(chat: ChatLocal) -> None:
    prompt = "hello there, how are you today?"
    out = chat.invoke(prompt, max_tokens=2)
    assert out.usage_metadata is not None and out.usage_metadata["output_tokens"] <= 2
    bound = chat.bind(max_tokens=2).invoke(prompt)
    assert bound.content == out.content and bound.usage_metadata == out.usage_metadata
    streamed = list(chat.stream(prompt, max_tokens=2))
    assert streamed[-1].usage_metadata == out.usage_metadata
    with pytest.raises(ValueError, match="max_tokens"):
        chat.invoke(prompt, max_tokens=0)


def test_per_call_model_override(chat: ChatLocal, tiny_base_folder: Path) -> None:
    out = chat.invoke("hi", model=str(tiny_base_folder))
    assert out.response_metadata["model_name"] == str(tiny_base_folder)
    ls = chat._get_ls_params(model="other-model", max_tokens=5)
    assert ls["ls_model_name"] == "other-model" and ls["ls_max_tokens"] == 5
    assert chat._get_ls_params()["ls_model_name"] == chat.model
    with pytest.raises(ValueError, match="unknown model"):
        chat.invoke("hi", model="no-such-model")


def test_timeout_cuts_generation(tiny_folder: Path) -> None:
    m = ChatLocal(model=str(tiny_folder), max_tokens=400, timeout=1e-6)
    out = m.invoke("hello there, how are you today?")
    assert out.response_metadata["finish_reason"] in ("timeout", "stop")
    assert out.usage_metadata is not None and out.usage_metadata["output_tokens"] < 400
    chunks = list(m.stream("hello there, how are you today?"))
    assert chunks[-1].response_metadata["finish_reason"] in ("timeout", "stop")


def test_streaming_flag_makes_invoke_stream(tiny_folder: Path) -> None:
    seen: list[str] = []

    from langchain_core.callbacks import BaseCallbackHandler

    class Tokens(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            seen.append(token)

    m = ChatLocal(model=str(tiny_folder), max_tokens=6, streaming=True)
    out = m.invoke("hello there", config={"callbacks": [Tokens()]})
    assert seen and "".join(seen) == out.content


class Weather(BaseModel):
    """Weather in a city."""

    city: str


def test_structured_output_forces_the_schemas_tool(chat: ChatLocal) -> None:
    runnable = chat.with_structured_output(Weather)
    binding: Any = runnable.first  # type: ignore[attr-defined]
    assert binding.kwargs["tool_choice"] == "Weather"
    out = chat.with_structured_output(Weather, include_raw=True).invoke("weather in Paris?")
    assert set(out) == {"raw", "parsed", "parsing_error"} and isinstance(out["raw"], AIMessage)
    if out["parsed"] is None:  # random weights: a failed parse always says why
        assert isinstance(out["parsing_error"], OutputParserException)
    else:
        assert isinstance(out["parsed"], Weather) and out["parsing_error"] is None
    with pytest.raises(ValueError, match="method"):
        chat.with_structured_output(Weather, method="xml")


def test_forced_call_parser_never_returns_silent_none() -> None:
    invented = AIMessage("", tool_calls=[{"name": "Other", "args": {}, "id": "1"}])
    with pytest.raises(OutputParserException, match="'Weather'"):
        parse_forced_call(invented, Weather, "Weather")
    wrong = AIMessage("", tool_calls=[{"name": "Weather", "args": {"town": "x"}, "id": "1"}])
    with pytest.raises(OutputParserException, match="do not match"):
        parse_forced_call(wrong, Weather, "Weather")
    good = AIMessage("", tool_calls=[{"name": "Weather", "args": {"city": "Oslo"}, "id": "1"}])
    assert parse_forced_call(good, Weather, "Weather") == Weather(city="Oslo")
    assert parse_forced_call(good, {"title": "Weather"}, "Weather") == {"city": "Oslo"}


def test_forced_tool_call_generation_ends_where_its_json_closes() -> None:
    from green_chain.models.generation import cut_at_stop, json_object_end

    prefix = '{"tool": "get_weather", "arguments": '
    text = '{"city": "a}b"}} and then the model {"goes": "on"}'
    assert cut_at_stop(text, (), json_prefix=prefix) == ('{"city": "a}b"}}', True)
    assert cut_at_stop('{"city": "Par', (), json_prefix=prefix) == ('{"city": "Par', False)
    assert cut_at_stop('get_weather", "arguments": {}}x', (), json_prefix='{"tool": "') == (
        'get_weather", "arguments": {}}',
        True,
    )
    assert json_object_end('x {"a": "}"} y') == 12 and json_object_end("{") == -1


def test_forced_tool_call_passes_its_prefill_as_json_prefix(chat: ChatLocal) -> None:
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    bound: Any = chat.bind_tools([get_weather], tool_choice="get_weather")
    prompt, (_, params), _ = chat._prepare([HumanMessage("hi")], None, dict(bound.kwargs))
    assert params.json_prefix == prompt.prefill == '{"tool": "get_weather", "arguments": '
    _, (_, plain), _ = chat._prepare([HumanMessage("hi")], None, {})
    assert plain.json_prefix is None


def test_model_copy_maps_aliases_and_rejects_unknown_fields(chat: ChatLocal) -> None:
    assert chat.model_copy(update={"max_new_tokens": 3}).max_tokens == 3
    assert chat.model_copy(update={"max_tokens": 5, "first_line": True}).max_tokens == 5
    with pytest.raises(ValueError, match="no fields"):
        chat.model_copy(update={"max_tokns": 3})
    with pytest.raises(ValueError, match="unknown model"):
        chat.model_copy(update={"model_name": "gemma3-27m"})
