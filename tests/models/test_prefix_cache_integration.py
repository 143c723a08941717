"""Prefix KV reuse with the real packaged models (``-m integration``)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from green_chain.models import ChatLocal

pytestmark = pytest.mark.integration

#: gemma3-270m has sliding-window layers (512 tokens): the long system prompt makes the
#: dialogue leave the window, so reuse must rebuild the windowed layers exactly.
SYSTEM = "You are a patient tutor. Answer briefly and precisely. " * 50


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "gemma3-270m"])
def test_greedy_dialogue_identical_with_and_without_prefix_cache(model: str) -> None:
    off = ChatLocal(model=model, max_new_tokens=16)
    on = ChatLocal(model=model, max_new_tokens=16, prefix_cache=True)
    on.kv_cache.clear()  # type: ignore[union-attr]
    history: list[BaseMessage] = [SystemMessage(SYSTEM)]
    reads = []
    for question in ("What is photosynthesis?", "Why is it important?", "Give an example."):
        history.append(HumanMessage(question))
        a, b = off.invoke(history), on.invoke(history)
        assert b.content == a.content
        assert b.usage_metadata is not None and a.usage_metadata is not None
        assert b.usage_metadata["output_tokens"] == a.usage_metadata["output_tokens"]
        reads.append(b.usage_metadata["input_token_details"]["cache_read"])
        history.append(AIMessage(a.content))
    assert reads[0] == 0 and all(r > 500 for r in reads[1:]), reads
