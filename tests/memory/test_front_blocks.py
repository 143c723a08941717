"""``drop="front_blocks"``: a prefix-stable history (cut from the front at fixed points)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from green_chain.memory import HistoryPolicy, RelevantHistory
from green_chain.memory.messages import message_tokens
from green_chain.memory.planner import front_cut_points
from green_chain.testing.embeddings import BagOfWordsEmbeddings
from green_chain.testing.models import ScriptedChatModel

TOPICS = ["weather", "pancakes", "stocks", "football", "gardening", "trains", "music"]


def words(text: str) -> int:
    return len(text.split())


def cost(msgs: list[BaseMessage]) -> int:
    return sum(message_tokens(m, words, 4) for m in msgs)


def dialogue(turns: int) -> list[tuple[str, str]]:
    return [
        (
            f"question {t} about {TOPICS[t % len(TOPICS)]} please explain",
            f"answer {t} on {TOPICS[t % len(TOPICS)]} with some detail here",
        )
        for t in range(turns)
    ]


def make(max_tokens: int, **kw: Any) -> RelevantHistory:
    kw.setdefault("embeddings", BagOfWordsEmbeddings())
    kw.setdefault("token_counter", words)
    kw.setdefault("drop", "front_blocks")
    return RelevantHistory(max_tokens, **kw)


def run(filt: RelevantHistory, turns: int) -> list[list[BaseMessage]]:
    """The messages sent at each turn of a growing conversation."""
    history: list[BaseMessage] = [SystemMessage("be brief")]
    sent = []
    for user, reply in dialogue(turns):
        sent.append(filt.invoke([*history, HumanMessage(user)]))
        history += [HumanMessage(user), AIMessage(reply)]
    return sent


def test_cut_points_depend_only_on_earlier_units() -> None:
    assert front_cut_points([], 10) == []
    assert front_cut_points([4, 4, 4, 4, 4], 10) == [0, 3]  # starts 0 4 8 12 16
    assert front_cut_points([25, 1, 1], 10) == [0, 1]  # one unit spans several multiples
    sizes = [3, 7, 2, 9, 4, 6, 5, 8]
    for n in range(1, len(sizes)):
        assert front_cut_points(sizes[:n], 6) == [p for p in front_cut_points(sizes, 6) if p < n]
    with pytest.raises(ValueError, match="block_tokens"):
        front_cut_points([1], 0)


def test_kept_prefix_is_identical_between_cuts_and_cuts_are_rare() -> None:
    filt = make(120, relevant_above=None, drop_block_tokens=40)
    sent = run(filt, 24)
    cuts = 0
    for prev, cur in itertools.pairwise(sent):
        # the previous prompt without its new message is a prefix of the next one ...
        stable = prev[:-1]
        if cur[: len(stable)] == stable:
            continue
        cuts += 1  # ... except when the cut moves: then it drops a whole block
        dropped = [m for m in stable if m not in cur]
        assert cost(dropped) >= 40 - 2 * 16, dropped
    history_tokens = cost([m for msgs in sent for m in msgs[-1:]]) + 23 * 12  # user + reply
    assert 1 <= cuts <= history_tokens // 40 + 1, cuts
    for msgs in sent:
        assert cost(msgs) <= 120
        assert isinstance(msgs[0], SystemMessage)
        assert msgs[-1].content.startswith("question")  # type: ignore[union-attr]


def test_front_blocks_shares_more_of_the_previous_prompt_than_relevance() -> None:
    def shared(sent: list[list[BaseMessage]]) -> int:
        """Tokens of each prompt that begin as the previous prompt did (cache proxy)."""
        total = 0
        for prev, cur in itertools.pairwise(sent):
            n = 0
            while n < min(len(prev), len(cur)) and prev[n] == cur[n]:
                n += 1
            total += cost(cur[:n])
        return total

    # scoring without the relevance threshold (which keeps the same old turns in both)
    front = shared(run(make(120, drop_block_tokens=40, relevant_above=None), 24))
    relevance = shared(run(make(120, drop="relevance", relevant_above=None), 24))
    assert front > relevance, (front, relevance)


@pytest.mark.parametrize(("max_tokens", "block"), [(60, None), (100, 30), (100, 200), (45, 5)])
def test_budget_holds(max_tokens: int, block: int | None) -> None:
    filt = make(max_tokens, drop_block_tokens=block)
    for msgs in run(filt, 20)[1:]:
        assert cost(msgs) <= max_tokens
        assert len(msgs) >= 4  # the newest exchange always fits these budgets


def test_relevant_dropped_turn_is_recalled_before_the_new_message() -> None:
    history: list[BaseMessage] = [
        HumanMessage("my dog rex likes bones"),
        AIMessage("nice dog rex"),
    ]
    for user, reply in dialogue(10):
        history += [HumanMessage(user), AIMessage(reply)]
    question = HumanMessage("what does my dog rex like?")
    filt = make(100, relevant_above=0.3, drop_block_tokens=30)
    out = filt.invoke([*history, question])
    assert out[-1] is question
    assert out[-3].content == "my dog rex likes bones"  # recalled, just before the new turn
    assert out[-2].content == "nice dog rex"
    assert cost(out) <= 100
    # without relevance, the old turn is gone (it was cut with its block)
    plain = make(100, relevant_above=None, drop_block_tokens=30).invoke([*history, question])
    assert all("rex" not in str(m.content) for m in plain[:-1])
    # the window before the recalled turn is the same as without recall (a stable prefix)
    window = out[: out.index(out[-3])]
    assert plain[: len(window)] == window


class CountingEmbeddings(Embeddings):
    def __init__(self) -> None:
        self.inner = BagOfWordsEmbeddings()
        self.documents = 0
        self.queries = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.queries += 1
        return self.inner.embed_query(text)


def test_only_new_dropped_messages_are_embedded() -> None:
    emb = CountingEmbeddings()
    filt = make(120, embeddings=emb, drop_block_tokens=40)
    turns = 24
    sent = run(filt, turns)
    assert len(sent[-1]) < 2 * turns  # something was dropped (and embedded)
    # each history message is embedded at most once over the whole conversation
    assert emb.documents <= 2 * turns
    # the first turns drop nothing: no embedding at all until the first cut
    assert emb.queries < turns


def test_bad_options_are_clear() -> None:
    with pytest.raises(ValueError, match="drop must be"):
        HistoryPolicy(max_tokens=10, drop="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="drop_block_tokens"):
        HistoryPolicy(max_tokens=10, drop="front_blocks", drop_block_tokens=0)
    assert HistoryPolicy(max_tokens=10).block_tokens == 2
    assert HistoryPolicy(max_tokens=2).block_tokens == 1


class TemplateCounter(ScriptedChatModel):
    """Counts like a chat template: words + 6 per message + 9 fixed (more than the
    ``messages`` budget's 4 per message, so the exact prompt check has work to do)."""

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Any = None) -> int:
        return 9 + sum(words(m.text) + 6 for m in messages)


def test_prompt_budget_holds_and_trims_the_window_front() -> None:
    counter = TemplateCounter()
    filt = make(110, token_counter=counter, budget="prompt", drop_block_tokens=40)
    sent = run(filt, 16)
    for msgs in sent:
        assert counter.get_num_tokens_from_messages(msgs) <= 110
    for msgs in sent[1:]:
        assert len(msgs) >= 4 and msgs[-1].content.startswith("question")  # type: ignore[union-attr]
