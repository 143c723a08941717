"""Length predictors: task budgets and nearest-neighbour quantiles."""

from __future__ import annotations

import pytest
from budget_fakes import WordEmbeddings
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from green_chain.response import NearestNeighbourBudget, TaskBudgets, quantile_of, request_text

VOCAB = ["classify", "review", "explain", "history", "rome", "movie"]


def test_quantile_is_an_observed_length_not_the_mean() -> None:
    lengths = [10, 10, 10, 10, 10, 10, 10, 10, 10, 500]
    assert quantile_of(lengths, 0.9) == 10
    assert quantile_of(lengths, 1.0) == 500
    assert quantile_of([3, 1, 2], 0.5) == 2
    assert quantile_of([7], 0.1) == 7
    with pytest.raises(ValueError, match="quantile"):
        quantile_of([1], 0.0)
    with pytest.raises(ValueError, match="at least one"):
        quantile_of([], 0.5)


def test_request_text_is_last_human_message() -> None:
    msgs = [SystemMessage("sys"), HumanMessage("first"), AIMessage("a"), HumanMessage("second")]
    assert request_text(msgs) == "second"
    assert request_text("plain") == "plain"


def test_task_budgets() -> None:
    p = TaskBudgets({"classify": 4, "chat": 120}, default=64)
    assert p.predict([HumanMessage("x")], "classify").tokens == 4
    assert p.predict([HumanMessage("x")], "classify").source == "task:classify"
    assert p.predict([HumanMessage("x")], "other").source == "default"
    assert TaskBudgets({"a": 3}).predict([HumanMessage("x")]).tokens is None
    with pytest.raises(ValueError, match=r"budgets\['a'\]"):
        TaskBudgets({"a": 0})
    with pytest.raises(ValueError, match="default"):
        TaskBudgets({}, default=-1)


def test_knn_uses_the_quantile_of_the_nearest_requests() -> None:
    emb = WordEmbeddings(VOCAB)
    p = NearestNeighbourBudget(emb, k=4, quantile=0.75, min_examples=2)
    requests = [
        "classify this review",
        "classify the movie review",
        "classify review please",
        "classify a review",
        "explain the history of rome",
        "explain rome history in depth",
        "explain history of rome again",
        "explain rome",
    ]
    lengths = [2, 3, 2, 40, 300, 250, 280, 200]
    p.fit(requests, lengths)
    short = p.predict([HumanMessage("classify my review")])
    assert short.source == "knn"
    assert sorted(short.detail["neighbour_lengths"]) == [2, 2, 3, 40]
    assert short.tokens == 3  # ceil(0.75 * 4) = 3rd shortest: 3, not the mean (11.75)
    long = p.predict([HumanMessage("explain the history of rome")])
    assert long.tokens == 280


def test_knn_bounds_default_and_online_learning() -> None:
    emb = WordEmbeddings(VOCAB)
    p = NearestNeighbourBudget(
        emb, k=2, quantile=1.0, slack=1.5, min_tokens=5, max_tokens=50, min_examples=2, default=9
    )
    first = p.predict([HumanMessage("classify")])
    assert (first.tokens, first.source) == (9, "default")
    p.add("classify review", 2)
    p.add("explain rome", 100)
    assert len(p) == 2
    assert p.predict([HumanMessage("classify review")]).tokens == 50  # capped
    p.fit(["classify review", "classify movie"], [2, 3])
    assert p.predict([HumanMessage("classify review")]).tokens == 5  # ceil(1.5*3)=5 >= min


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must"),
        ({"quantile": 1.5}, "quantile"),
        ({"slack": 0.5}, "slack"),
        ({"min_tokens": 10, "max_tokens": 5}, "max_tokens"),
        ({"min_examples": 0}, "min_examples"),
    ],
)
def test_knn_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NearestNeighbourBudget(WordEmbeddings(VOCAB), **kwargs)


def test_knn_fit_rejects_bad_lengths() -> None:
    p = NearestNeighbourBudget(WordEmbeddings(VOCAB))
    with pytest.raises(ValueError, match="lengths"):
        p.fit(["a", "b"], [1])
    with pytest.raises(ValueError, match=r"lengths\[1\]"):
        p.fit(["a", "b"], [1, -2])
