"""RelevantHistory: budget, relevance, tool-call groups, shapes, events, bad input."""

from __future__ import annotations

import random
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import Runnable, RunnableLambda

from green_chain.events import OPTIMIZER_TOKENS_EVENT
from green_chain.memory import (
    HistoryBudgetError,
    RelevantHistory,
    relevant_history,
)
from green_chain.memory.messages import message_tokens
from green_chain.testing.embeddings import BagOfWordsEmbeddings
from green_chain.testing.models import ScriptedChatModel


def words(text: str) -> int:
    return len(text.split())


def conversation() -> list[BaseMessage]:
    return [
        SystemMessage("you are helpful"),
        HumanMessage("my dog is called rex and likes bones"),
        AIMessage("nice dog rex"),
        HumanMessage("weather in paris tomorrow?"),
        AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "paris"}, "id": "c1"}]),
        ToolMessage("sunny 20C", tool_call_id="c1"),
        AIMessage("sunny"),
        HumanMessage("recipe for pancakes"),
        AIMessage("flour eggs milk, mix and fry"),
        HumanMessage("stock price of apple"),
        AIMessage("about 200 dollars"),
        HumanMessage("what does my dog rex like?"),
    ]


def make(max_tokens: int, **kw: Any) -> RelevantHistory:
    kw.setdefault("embeddings", BagOfWordsEmbeddings())
    kw.setdefault("token_counter", words)
    return RelevantHistory(max_tokens, **kw)


def cost(msgs: list[BaseMessage]) -> int:
    return sum(message_tokens(m, words, 4) for m in msgs)


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, UUID | None]] = []
        self.chains: dict[UUID, str] = {}
        self.chat_parents: list[UUID | None] = []

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self.chains[run_id] = kw.get("name") or ""

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any
    ) -> None:
        self.chat_parents.append(kw.get("parent_run_id"))

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append((name, data, run_id))


def test_relevant_old_turn_beats_newer_irrelevant_ones() -> None:
    msgs = conversation()
    out = make(60).invoke(msgs)
    texts = [m.text for m in out]
    assert "my dog is called rex and likes bones" in texts and "nice dog rex" in texts
    assert "recipe for pancakes" not in texts
    # system, keep_last turn and the new message are always there
    assert texts[0] == "you are helpful"
    assert "stock price of apple" in texts and texts[-1] == "what does my dog rex like?"
    # original order
    positions = [msgs.index(m) for m in out]
    assert positions == sorted(positions)


@pytest.mark.parametrize("budget", list(range(17, 90, 3)))
def test_budget_respected_and_tool_groups_atomic(budget: int) -> None:
    msgs = conversation()
    history = make(budget, granularity="message", keep_last=0)
    out = history.invoke(msgs)
    assert cost(out) <= budget
    result = history.filter(msgs)
    assert result.tokens_after == cost(out) and result.tokens_before == cost(msgs)
    tool_call_ai = msgs[4]
    has_ai = any(m is tool_call_ai for m in out)
    has_tool = any(isinstance(m, ToolMessage) for m in out)
    assert has_ai == has_tool  # both or neither: never an orphan ToolMessage


def test_random_conversations_never_orphan_tool_messages() -> None:
    rng = random.Random(7)
    vocab = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "rex",
        "paris",
        "bones",
        "pancake",
        "apple",
        "weather",
    ]
    for trial in range(40):
        msgs: list[BaseMessage] = [SystemMessage("sys")]
        for t in range(rng.randint(1, 6)):
            msgs.append(HumanMessage(" ".join(rng.choices(vocab, k=rng.randint(1, 8)))))
            if rng.random() < 0.5:
                ids = [f"t{trial}_{t}_{k}" for k in range(rng.randint(1, 3))]
                msgs.append(
                    AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": i} for i in ids])
                )
                msgs.extend(
                    ToolMessage(" ".join(rng.choices(vocab, k=5)), tool_call_id=i) for i in ids
                )
            msgs.append(AIMessage(" ".join(rng.choices(vocab, k=rng.randint(1, 8)))))
        msgs.append(HumanMessage("rex apple"))
        gran = rng.choice(["turn", "message"])
        budget = rng.randint(cost([msgs[0], msgs[-1]]), cost(msgs) + 5)
        out = make(budget, granularity=gran, keep_last=rng.randint(0, 2)).invoke(msgs)
        assert cost(out) <= budget
        kept_ids = {c["id"] for m in out if isinstance(m, AIMessage) for c in m.tool_calls}
        for i, m in enumerate(out):
            if isinstance(m, ToolMessage):
                assert m.tool_call_id in kept_ids
                assert isinstance(out[i - 1], (AIMessage, ToolMessage))
        for m in out:
            if isinstance(m, AIMessage) and m.tool_calls:
                kept_tools = {x.tool_call_id for x in out if isinstance(x, ToolMessage)}
                assert {c["id"] for c in m.tool_calls} <= kept_tools
        assert out[-1] is msgs[-1] and out[0] is msgs[0]


def test_recency_only_keeps_the_newest_turns() -> None:
    msgs = conversation()
    out = make(55, recency_weight=1.0, keep_last=0).invoke(msgs)
    texts = [m.text for m in out]
    assert "recipe for pancakes" in texts and "my dog is called rex and likes bones" not in texts


def test_deterministic_and_async_matches_sync() -> None:
    msgs = conversation()
    a = make(50).invoke(msgs)
    b = make(50).invoke(msgs)
    assert [m.text for m in a] == [m.text for m in b]


async def test_async_matches_sync() -> None:
    msgs = conversation()
    assert [m.text for m in await make(50).ainvoke(msgs)] == [m.text for m in make(50).invoke(msgs)]


def test_embeddings_are_cached_across_turns() -> None:
    emb = BagOfWordsEmbeddings()
    history = make(50, embeddings=emb)
    msgs = conversation()
    history.invoke(msgs)
    calls = emb.calls
    history.invoke(msgs)
    assert emb.calls == calls
    history.invoke([*msgs, AIMessage("bones"), HumanMessage("and his favourite toy?")])
    assert emb.calls <= calls + 3


def test_budget_smaller_than_new_message_raises_or_keeps_whole() -> None:
    msgs = [SystemMessage("sys"), HumanMessage("hi"), AIMessage("yo"), HumanMessage("a " * 50)]
    with pytest.raises(HistoryBudgetError, match="max_tokens is 20"):
        make(20).invoke(msgs)
    out = make(20, on_overflow="keep_mandatory").invoke(msgs)
    assert out == [msgs[0], msgs[-1]]
    assert out[-1].content == "a " * 50  # never truncated


def test_empty_and_system_only_histories() -> None:
    assert make(10).invoke([]) == []
    sys_only = [SystemMessage("rules one"), SystemMessage("rules two")]
    assert make(100).invoke(sys_only) == sys_only
    with pytest.raises(HistoryBudgetError):
        make(3).invoke(sys_only)


def test_non_text_content_counts_text_and_keeps_images() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    msgs = [
        HumanMessage(content=[{"type": "text", "text": "look at my dog rex"}, image]),
        AIMessage("cute dog"),
        HumanMessage("pancakes please"),
        AIMessage("ok"),
        HumanMessage("what breed is rex the dog?"),
    ]
    out = make(40, keep_last=0).invoke(msgs)
    assert msgs[0] in out and out[0].content[1] == image
    assert make(40).filter(msgs).tokens_before == cost(msgs)


@pytest.mark.parametrize("bad", [42, "hello", {"foo": []}, [object()]])
def test_wrong_input_types_get_clear_errors(bad: Any) -> None:
    with pytest.raises(TypeError, match="RelevantHistory expects"):
        make(50).invoke(bad)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        make(0)
    with pytest.raises(ValueError, match="recency_weight"):
        make(10, recency_weight=2)
    with pytest.raises(TypeError, match="token_counter must be"):
        make(10, token_counter=3.5)
    with pytest.raises(TypeError, match="summarizer"):
        make(10, summarizer="gpt")
    with pytest.raises(TypeError, match=r"unknown option.*'tokenizer'"):
        make(10, tokenizer="smollm2-135m-instruct")
    with pytest.raises(TypeError, match=r"relevant_history\(messages, max_tokens"):
        RelevantHistory(conversation())  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_shapes_chat_history_prompt_value_and_langgraph_state() -> None:
    msgs = conversation()
    expected = [m.text for m in make(50).invoke(msgs)]
    store = InMemoryChatMessageHistory(messages=msgs)
    assert [m.text for m in make(50).invoke(store)] == expected
    state = {"messages": msgs, "user": "u1"}
    out = make(50).invoke(state)
    assert out["user"] == "u1" and [m.text for m in out["messages"]] == expected
    assert len(state["messages"]) == len(msgs)  # input state untouched
    pv = make(50).invoke(ChatPromptValue(messages=msgs))
    assert isinstance(pv, ChatPromptValue) and [m.text for m in pv.messages] == expected
    tuples = [
        ("system", "you are helpful"),
        ("human", "hi rex"),
        ("ai", "hello"),
        ("human", "rex?"),
    ]
    assert [m.type for m in make(50).invoke(tuples)] == ["system", "human", "ai", "human"]


def test_function_style_entry_point_like_trim_messages() -> None:
    msgs = conversation()
    kw = {"max_tokens": 50, "embeddings": BagOfWordsEmbeddings(), "token_counter": words}
    direct = relevant_history(msgs, **kw)
    runnable = relevant_history(**kw)
    assert isinstance(runnable, Runnable)
    chain = RunnableLambda(lambda x: x) | runnable
    assert [m.text for m in chain.invoke(msgs)] == [m.text for m in direct]


def test_publishes_token_counts_from_its_own_run() -> None:
    rec = Recorder()
    msgs = conversation()
    out = make(50).invoke(msgs, config={"callbacks": [rec]})
    [(name, data, run_id)] = rec.events
    assert name == OPTIMIZER_TOKENS_EVENT and data["optimizer"] == "history"
    assert data["tokens_before"] == cost(msgs) and data["tokens_after"] == cost(out)
    assert data["tokens_after"] < data["tokens_before"]
    assert rec.chains[run_id] == "RelevantHistory"


async def test_async_publishes_token_counts() -> None:
    rec = Recorder()
    await make(50).ainvoke(conversation(), config={"callbacks": [rec]})
    assert [e[1]["optimizer"] for e in rec.events] == ["history"]


def test_summarizer_replaces_dropped_messages_inside_the_history_run() -> None:
    rec = Recorder()
    model = ScriptedChatModel(responses=["user has a dog named rex"])
    history = make(60, summarizer=model, summary_max_tokens=20, recency_weight=1.0, keep_last=0)
    out = history.invoke(conversation(), config={"callbacks": [rec]})
    summaries = [m for m in out if "Summary of the earlier conversation" in m.text]
    assert len(summaries) == 1 and "rex" in summaries[0].text
    assert isinstance(out[1], SystemMessage) and out[1] is summaries[0]
    assert cost(out) <= 60
    [parent] = rec.chat_parents
    assert rec.chains.get(parent) == "RelevantHistory"
    assert rec.events[0][1]["summarized"] is True


def test_no_summary_when_nothing_is_dropped() -> None:
    model = ScriptedChatModel(responses=["never used"])
    msgs = conversation()
    assert make(1000, summarizer=model).invoke(msgs) == msgs
    assert not model.calls


GATE = [
    HumanMessage("my flight leaves from gate b32 at noon"),
    AIMessage("noted gate b32"),
    HumanMessage("recommend a book"),
    AIMessage("try pessoa"),
    HumanMessage("weather in lisbon"),
    AIMessage("sunny"),
    HumanMessage("food tips"),
    AIMessage("eat sardines"),
    HumanMessage("which gate does my flight leave from"),
]


@pytest.mark.parametrize("keep_last", [0, 1, 2])
def test_relevance_beats_recency_for_a_clearly_relevant_turn(keep_last: int) -> None:
    # budget 35: the new message (11) and the gate turn (19) fit, not the newest turn too
    kept = [m.text for m in make(35, keep_last=keep_last).invoke(GATE)]
    assert kept == [GATE[0].text, GATE[1].text, GATE[-1].text]


def test_relevant_above_none_restores_recency_first() -> None:
    kept = [m.text for m in make(35, keep_last=1, relevant_above=None).invoke(GATE)]
    assert "food tips" in kept and GATE[0].text not in kept


class TemplateCounter(ScriptedChatModel):
    """Counts like a chat template: words + 5 per message + 7 fixed + 20 per tool."""

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Any = None) -> int:
        return 7 + sum(words(m.text) + 5 for m in messages) + 20 * len(tools or [])


def flight_tool(flight: str) -> str:
    """Flight status."""
    return flight


def test_prompt_budget_counts_template_and_tools() -> None:
    counter = TemplateCounter()
    msgs = conversation()
    by_messages = make(40, token_counter=counter).filter(msgs)
    assert by_messages.budget == "messages"
    assert by_messages.tokens_after == cost(by_messages.messages) <= 40
    prompt = make(60, token_counter=counter, budget="prompt", tools=[flight_tool]).filter(msgs)
    assert prompt.budget == "prompt"
    assert prompt.tokens_after == counter.get_num_tokens_from_messages(prompt.messages, [1])
    assert prompt.tokens_after <= 60
    assert prompt.tokens_before == counter.get_num_tokens_from_messages(msgs, [1])
    with pytest.raises(HistoryBudgetError):  # the tool schema alone leaves no room
        make(30, token_counter=counter, budget="prompt", tools=[flight_tool]).filter(msgs)


def test_prompt_budget_needs_a_prompt_counter() -> None:
    with pytest.raises(ValueError, match="budget='prompt' needs a token_counter"):
        make(50, budget="prompt")  # words: a str -> int counter


def test_class_called_with_messages_points_to_the_function() -> None:
    msgs = conversation()
    assert relevant_history(msgs, max_tokens=60, embeddings=BagOfWordsEmbeddings()) == (
        RelevantHistory(max_tokens=60, embeddings=BagOfWordsEmbeddings()).invoke(msgs)
    )
    with pytest.raises(TypeError, match="takes max_tokens, not messages"):
        RelevantHistory(msgs)  # type: ignore[arg-type]
