"""resolve_token_counter: the one resolver of every optimizer's ``token_counter=``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import count_tokens_approximately

from green_chain.models.token_counters import resolve_token_counter
from green_chain.testing import ScriptedChatModel
from green_chain.tokens import register_tokenizer, unregister_tokenizer


class WordTokenizer:
    def encode(self, text: str, add_special_tokens: bool = True) -> list[str]:
        return text.split()


class WordCountingChat(ScriptedChatModel):
    """A chat model whose own counter is: words + 3 per message + 10 per tool."""

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        return sum(len(str(m.content).split()) + 3 for m in messages) + 10 * len(tools or [])


class ZeroCountingChat(ScriptedChatModel):
    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        return 0


def per_message(message: BaseMessage) -> int:
    return len(str(message.content).split()) + 2


def on_list(messages: list[BaseMessage]) -> int:
    return sum(len(str(m.content).split()) + 5 for m in messages)


def test_resolver_accepts_what_trim_messages_accepts() -> None:
    model = WordCountingChat(responses=[])
    assert resolve_token_counter(model)("one two three") == 3  # per-message overhead removed
    assert resolve_token_counter(model).method == "model:WordCountingChat"
    assert resolve_token_counter(per_message)("one two three") == 3
    assert resolve_token_counter(on_list)("one two three four") == 4
    msgs = [HumanMessage("one two"), AIMessage("three")]
    assert resolve_token_counter(on_list).count_prompt(msgs) == on_list(msgs)
    assert resolve_token_counter(model).count_prompt(msgs, [{"name": "t"}]) == 3 + 6 + 10
    # trim_messages' own approximate counter and its "approximate" shortcut
    assert resolve_token_counter(count_tokens_approximately)("a b c d e f g h") > 0
    approx = resolve_token_counter("approximate")
    assert approx.approximate and approx("a b c d e f g h") == resolve_token_counter(None)(
        "a b c d e f g h"
    )


def test_resolver_text_counters_and_tokenizers() -> None:
    assert resolve_token_counter(len)("abcd") == 4
    assert resolve_token_counter(lambda t: len(t.split()))("a b c") == 3
    tok = resolve_token_counter(WordTokenizer())
    assert tok("a b c") == 3 and tok.method == "tokenizer:WordTokenizer"
    with pytest.raises(ValueError, match="counts texts, not whole prompts"):
        tok.count_prompt([HumanMessage("a")])
    with pytest.raises(ValueError, match="cannot count tool schemas"):
        resolve_token_counter(on_list).count_prompt([HumanMessage("a")], [{"name": "t"}])
    resolved = resolve_token_counter(len)
    assert resolve_token_counter(resolved) is resolved


def test_resolver_counts_are_cached_and_checked() -> None:
    calls: list[str] = []

    def counting(text: str) -> int:
        calls.append(text)
        return -1 if text == "bad" else 1

    counter = resolve_token_counter(counting)
    assert counter("x") == counter("x") == 1 and calls == ["x"]
    assert counter("") == 0
    with pytest.raises(ValueError, match="negative count"):
        counter("bad")


def test_registered_and_openai_names() -> None:
    register_tokenizer("unit-test-model", WordTokenizer())
    try:
        counter = resolve_token_counter("unit-test-model")
        assert counter("one two") == 2 and counter.method == "tokenizer:unit-test-model"
    finally:
        unregister_tokenizer("unit-test-model")
    pytest.importorskip("tiktoken")
    gpt = resolve_token_counter("gpt-4")  # a known OpenAI name: tiktoken or approximate
    assert gpt("hello world") > 0


@pytest.mark.parametrize("argument", ["token_counter", "target"])
def test_misspelt_name_raises_naming_argument_and_accepted_names(argument: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve_token_counter("smolm2-135m-instruct", argument=argument)
    message = str(info.value)
    assert f"{argument}='smolm2-135m-instruct'" in message
    assert "smollm2-135m-instruct" in message and "'approximate'" in message


def test_bad_specs_raise() -> None:
    with pytest.raises(TypeError, match="token_counter must be"):
        resolve_token_counter(3.5)
    with pytest.raises(ValueError, match="non-empty"):
        resolve_token_counter("")
    with pytest.raises(ValueError, match="counts 0 tokens"):
        resolve_token_counter(ZeroCountingChat(responses=[]))


def test_misspelt_name_raises_in_every_optimizer() -> None:
    from green_chain.compression import PromptCompressor
    from green_chain.memory import RelevantHistory, relevant_history
    from green_chain.selection import BudgetedExampleSelector
    from green_chain.testing.embeddings import BagOfWordsEmbeddings

    bad = "smolm2-135m-instruct"
    builders = [
        lambda: PromptCompressor("lexical", token_counter=bad),
        lambda: RelevantHistory(max_tokens=50, token_counter=bad),
        lambda: relevant_history([HumanMessage("hi")], max_tokens=50, token_counter=bad),
        lambda: BudgetedExampleSelector(
            [{"q": "a"}], max_tokens=50, token_counter=bad, embeddings=BagOfWordsEmbeddings()
        ),
    ]
    try:
        from green_chain.middleware.history import RelevantHistoryMiddleware

        builders.append(lambda: RelevantHistoryMiddleware(max_tokens=50, token_counter=bad))
    except ImportError:  # the agents extra is optional
        pass
    for build in builders:
        with pytest.raises(ValueError, match="token_counter='smolm2-135m-instruct' names no"):
            build()
