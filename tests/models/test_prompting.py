from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from green_chain.models.prompting import (
    BASE_MODEL_STOPS,
    parse_tool_calls,
    render,
    to_turns,
    tool_choice_name,
    transcript,
)

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_turns_render_tool_calls_and_tool_results_as_text() -> None:
    msgs = [
        SystemMessage("be brief"),
        HumanMessage("weather in Paris?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}]),
        ToolMessage("sunny", tool_call_id="c1"),
    ]
    turns = to_turns(msgs)
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user"]
    assert json.loads(turns[2]["content"]) == {
        "tool": "get_weather",
        "arguments": {"city": "Paris"},
    }
    assert turns[3]["content"] == "Tool result (get_weather): sunny"


def test_base_transcript_format() -> None:
    text = transcript([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert text == "System: S\n\nUser: U\n\nAssistant:"


def test_render_chat_and_base(tiny_lm: Any, tiny_base_folder: Any) -> None:
    from green_chain.models import load_causal_lm

    p = render(tiny_lm, [HumanMessage("hi")])
    expected = tiny_lm.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert p.text == expected and p.stop == ()
    assert p.ids == tiny_lm.tokenizer(expected, add_special_tokens=False)["input_ids"]
    base = load_causal_lm(tiny_base_folder)
    b = render(base, [HumanMessage("hi")])
    assert b.text == "User: hi\n\nAssistant:" and b.stop == BASE_MODEL_STOPS


def test_render_tools_and_forced_prefill(tiny_lm: Any) -> None:
    p = render(tiny_lm, [HumanMessage("hi")], [TOOL], "get_weather")
    assert "get_weather" in p.text and p.prefill.startswith('{"tool": "get_weather"')
    assert p.text.endswith(p.prefill)
    p_any = render(tiny_lm, [HumanMessage("hi")], [TOOL], "any")
    assert p_any.prefill == '{"tool": "'
    p_none = render(tiny_lm, [HumanMessage("hi")], [TOOL], "none")
    assert "get_weather" not in p_none.text and p_none.prefill == ""
    with pytest.raises(ValueError, match="bound tools"):
        render(tiny_lm, [HumanMessage("hi")], [TOOL], "other_tool")
    with pytest.raises(ValueError, match="at least one message"):
        render(tiny_lm, [])


def test_tool_choice_names() -> None:
    assert tool_choice_name("auto") is None and tool_choice_name(None) is None
    assert tool_choice_name("required") == "any" and tool_choice_name(True) == "any"
    assert tool_choice_name({"type": "function", "function": {"name": "f"}}) == "f"
    with pytest.raises(ValueError):
        tool_choice_name(3)


def test_parse_tool_calls_variants() -> None:
    rest, calls, bad = parse_tool_calls(
        'ok {"tool": "get_weather", "arguments": {"city": "Oslo"}} bye', ["get_weather"]
    )
    assert rest == "ok  bye" and calls[0]["args"] == {"city": "Oslo"} and not bad
    assert calls[0]["id"].startswith("call_")
    _, calls, _ = parse_tool_calls(
        '{"name": "get_weather", "args": "{\\"city\\": \\"Rome\\"}"}', ["get_weather"]
    )
    assert calls[0]["args"] == {"city": "Rome"}
    _, calls, _ = parse_tool_calls(
        '{"tool": "get_weather", "arguments": {"city": "Lima", "x": [', ["get_weather"]
    )
    assert calls[0]["args"]["city"] == "Lima"  # truncated JSON repaired
    _, calls, bad = parse_tool_calls('{"tool": "nope", "arguments": {}}', ["get_weather"])
    assert not calls and "unknown tool" in bad[0]["error"]
    assert parse_tool_calls("no json here", ["get_weather"]) == ("no json here", [], [])


def test_complete_but_invalid_tool_call_is_invalid_not_repaired() -> None:
    # What a 135M model wrote after copying a non-JSON placeholder: the object is complete
    # (its braces close), so it must not be "repaired" into a valid call with args={}.
    text = '{"tool": "get_weather", "arguments": {<argument name>: <value>}} and then more'
    rest, calls, bad = parse_tool_calls(text, ["get_weather"])
    assert calls == []
    assert len(bad) == 1 and bad[0]["name"] == "get_weather"
    assert bad[0]["args"] == '{"tool": "get_weather", "arguments": {<argument name>: <value>}}'
    assert "not valid JSON" in bad[0]["error"] and bad[0]["type"] == "invalid_tool_call"
    assert rest == "and then more"  # the trailing text is kept
    # JSON-like text that names no tool stays in the content
    assert parse_tool_calls("set {a: 1} here", ["get_weather"]) == ("set {a: 1} here", [], [])


def test_tool_instructions_show_only_valid_json() -> None:
    from green_chain.models.prompting import tools_instructions

    text = tools_instructions([TOOL], None)
    assert "<argument name>" not in text and "<value>" not in text
    example = text.split("for example: ", 1)[1].splitlines()[0]
    assert json.loads(example) == {"tool": "get_weather", "arguments": {"city": "<string>"}}


def test_truncated_call_that_lost_its_arguments_is_invalid() -> None:
    # cut at max_tokens inside the arguments' first string: no comma-cut may keep the call
    text = '{"tool": "get_weather", "arguments": {"city": "San Francisco, in Calif'
    _, calls, bad = parse_tool_calls(text, ["get_weather"])
    assert calls == [] and "cut off" in bad[0]["error"] and bad[0]["args"] == text
    # a truncated call whose arguments survive is still repaired
    _, calls, _ = parse_tool_calls(
        '{"tool": "get_weather", "arguments": {"city": "Lima", "x": [', ["get_weather"]
    )
    assert calls[0]["args"]["city"] == "Lima"


def test_copied_example_placeholder_is_an_invalid_call() -> None:
    text = '{"tool": "get_weather", "arguments": {"city": "<string>"}}'
    _, calls, bad = parse_tool_calls(text, ["get_weather"])
    assert calls == [] and "placeholder" in bad[0]["error"]
