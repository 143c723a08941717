"""``base_prompt="completion"``: a base model gets a lone user message as its raw text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import PromptTemplate

from green_chain.models import ChatLocal, load_causal_lm
from green_chain.models.prompting import render
from green_chain.models.token_counters import resolve_token_counter

PROMPT = "Question: What is two plus two?\nAnswer:"


def test_completion_sends_a_lone_user_message_as_raw_text(tiny_base_folder: Path) -> None:
    lm = load_causal_lm(tiny_base_folder)
    prompt = render(lm, [HumanMessage(PROMPT)], base_prompt="completion")
    assert prompt.text == PROMPT
    assert prompt.ids == list(lm.tokenizer(PROMPT, add_special_tokens=True)["input_ids"])
    transcript = render(lm, [HumanMessage(PROMPT)])
    assert transcript.text == f"User: {PROMPT}\n\nAssistant:"


@pytest.mark.parametrize(
    "messages",
    [
        [SystemMessage("Be brief."), HumanMessage(PROMPT)],
        [HumanMessage("hi"), AIMessage("hello"), HumanMessage(PROMPT)],
    ],
)
def test_completion_keeps_the_transcript_for_conversations(
    tiny_base_folder: Path, messages: list[Any]
) -> None:
    lm = load_causal_lm(tiny_base_folder)
    completion = render(lm, messages, base_prompt="completion")
    assert completion.text == render(lm, messages).text
    assert completion.text.endswith("Assistant:")


def test_completion_keeps_the_transcript_with_tools(tiny_base_folder: Path) -> None:
    lm = load_causal_lm(tiny_base_folder)
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    text = render(lm, [HumanMessage(PROMPT)], [tool], base_prompt="completion").text
    assert text.startswith("System: You can call these tools")


def test_chat_template_models_ignore_base_prompt(tiny_lm: Any) -> None:
    msgs = [HumanMessage(PROMPT)]
    assert render(tiny_lm, msgs, base_prompt="completion") == render(tiny_lm, msgs)


def test_unknown_base_prompt_is_rejected(tiny_base_folder: Path) -> None:
    lm = load_causal_lm(tiny_base_folder)
    with pytest.raises(ValueError, match="base_prompt"):
        render(lm, [HumanMessage(PROMPT)], base_prompt="raw")
    with pytest.raises(ValueError, match="base_prompt"):
        ChatLocal(model=str(tiny_base_folder), base_prompt="raw")


def test_usage_and_token_counters_count_the_completion_prompt(tiny_base_folder: Path) -> None:
    chat = ChatLocal(model=str(tiny_base_folder), base_prompt="completion", max_tokens=3)
    lm = load_causal_lm(tiny_base_folder)
    expected = len(lm.tokenizer(PROMPT, add_special_tokens=True)["input_ids"])
    reply = (PromptTemplate.from_template("{p}") | chat).invoke({"p": PROMPT})
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == expected
    assert chat.get_num_tokens_from_messages([HumanMessage(PROMPT)]) == expected
    counter = resolve_token_counter(chat)
    assert counter.count_prompt([HumanMessage(PROMPT)]) == expected
    transcript = ChatLocal(model=str(tiny_base_folder))
    assert transcript.get_num_tokens_from_messages([HumanMessage(PROMPT)]) > expected


def test_prefix_cache_reads_the_completion_prompt(tiny_base_folder: Path) -> None:
    long = "Context: " + "the cat sat on the mat. " * 8 + "\nAnswer:"
    cached = ChatLocal(
        model=str(tiny_base_folder), base_prompt="completion", max_tokens=4, prefix_cache=True
    )
    cached.kv_cache.clear()  # type: ignore[union-attr]
    first = cached.invoke(long)
    second = cached.invoke(long)
    plain = ChatLocal(model=str(tiny_base_folder), base_prompt="completion", max_tokens=4)
    assert second.content == first.content == plain.invoke(long).content
    details = (second.usage_metadata or {}).get("input_token_details", {})
    assert details.get("cache_read", 0) >= 16
