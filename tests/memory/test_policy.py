"""HistoryPolicy: one configuration for RelevantHistory, relevant_history, HistoryFilter
and RelevantHistoryMiddleware."""

from __future__ import annotations

import dataclasses

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from green_chain.memory import HistoryFilter, HistoryPolicy, RelevantHistory
from green_chain.memory.policy import OPTION_NAMES, build_policy
from green_chain.testing.embeddings import BagOfWordsEmbeddings


def words(text: str) -> int:
    return len(text.split())


def test_keywords_build_the_same_policy() -> None:
    emb = BagOfWordsEmbeddings()
    policy = HistoryPolicy(max_tokens=40, embeddings=emb, token_counter=words, keep_last=0)
    by_keywords = RelevantHistory(max_tokens=40, embeddings=emb, token_counter=words, keep_last=0)
    assert by_keywords.policy == policy
    assert RelevantHistory(policy=policy).policy is policy
    assert HistoryFilter(policy).policy is policy
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_tokens = 5  # type: ignore[misc]


def test_policy_drives_the_filter() -> None:
    msgs = [HumanMessage("a b c d e f"), AIMessage("g h i j"), HumanMessage("k l")]
    policy = HistoryPolicy(max_tokens=10, embeddings=BagOfWordsEmbeddings(), token_counter=words)
    out = RelevantHistory(policy=policy).invoke(msgs)
    assert [m.text for m in out] == ["k l"]  # 6 tokens; the previous turn needs 18
    wider = dataclasses.replace(policy, max_tokens=30)
    assert len(RelevantHistory(policy=wider).invoke(msgs)) == 3


def test_middleware_shares_the_policy() -> None:
    pytest.importorskip("langchain.agents")
    from green_chain.middleware.history import RelevantHistoryMiddleware

    policy = HistoryPolicy(max_tokens=50, embeddings=BagOfWordsEmbeddings(), token_counter=words)
    assert RelevantHistoryMiddleware(policy=policy).policy is policy
    assert RelevantHistoryMiddleware(max_tokens=50, token_counter=words).policy.max_tokens == 50


def test_bad_configurations_raise_one_clear_error() -> None:
    policy = HistoryPolicy(max_tokens=10)
    with pytest.raises(TypeError, match="not both"):
        build_policy("RelevantHistory", 10, policy, {})
    with pytest.raises(TypeError, match="needs max_tokens"):
        RelevantHistory()
    with pytest.raises(TypeError, match="must be a HistoryPolicy"):
        RelevantHistory(policy={"max_tokens": 10})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="budget must be"):
        HistoryPolicy(max_tokens=10, budget="tokens")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="relevant_above"):
        HistoryPolicy(max_tokens=10, relevant_above=2.0)
    with pytest.raises(ValueError, match="max_tokens"):
        HistoryPolicy(max_tokens=True)
    assert "token_counter" in OPTION_NAMES and "tokenizer" not in OPTION_NAMES


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", True),
        ("max_tokens", 1.5),
        ("max_tokens", "100"),
        ("summary_max_tokens", True),
        ("message_overhead_tokens", 1.5),
        ("recency_weight", float("nan")),
        ("recency_weight", "high"),
        ("relevant_above", float("nan")),
        ("relevant_above", float("inf")),
        ("relevant_above", "0.5"),
        ("keep_last", True),
        ("keep_last", "2"),
    ],
)
def test_bad_field_is_one_line_naming_it(field: str, value: object) -> None:
    """Bools, NaN and strings fail at construction, naming the field (never a TypeError)."""
    options = {"max_tokens": 10, field: value}
    with pytest.raises(ValueError, match=field) as info:
        HistoryPolicy(**options)  # type: ignore[arg-type]
    assert "\n" not in str(info.value) and repr(value) in str(info.value)
    with pytest.raises(ValueError, match=field):
        RelevantHistory(**options)  # type: ignore[arg-type]
