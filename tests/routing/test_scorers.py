"""Scorers: heuristic baseline, ladder mapping, embedding scorer fit/save/load."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage

from green_chain.routing import (
    CascadeScorer,
    EmbeddingScorer,
    EmptyRequestError,
    HeuristicScorer,
    as_messages,
    conversation_text,
)
from green_chain.routing.embedding_scorer import ScorerFitWarning, auto_l2
from green_chain.routing.scorers import ladder
from green_chain.testing.embeddings import BagOfWordsEmbeddings


def _embeddings() -> BagOfWordsEmbeddings:
    """The shipped hashed bag-of-words embeddings, 64 dims, keeping every word."""
    return BagOfWordsEmbeddings(dim=64, stop_words=frozenset())


def _data(n: int = 40) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(0)
    requests, labels = [], []
    for i in range(n):
        easy = i % 2 == 0
        word = rng.choice(["capital", "colour", "year"] if easy else ["prove", "derive", "essay"])
        requests.append(f"{word} question number {i}")
        labels.append(int(easy))
    return requests, labels


def test_as_messages_and_conversation_text() -> None:
    msgs = as_messages([("system", "s"), ("human", "hi"), AIMessage(content="yo")])
    assert conversation_text(msgs) == "system: s\nhuman: hi\nai: yo"
    assert as_messages({"question": "q"})[0].content == "question: q"
    with pytest.raises(EmptyRequestError):
        as_messages([])
    with pytest.raises(TypeError, match="routing request"):
        as_messages(42)


def test_ladder() -> None:
    assert ladder(0.36, 1) == [pytest.approx(0.36)]
    assert ladder(0.25, 2) == [pytest.approx(0.25), pytest.approx(0.5)]
    with pytest.raises(ValueError):
        ladder(0.5, 0)


def test_heuristic_prefers_short_factoid_requests() -> None:
    h = HeuristicScorer()
    short = h.score([HumanMessage(content="Who wrote Hamlet?")])
    long_hard = h.score([HumanMessage(content="Explain why " + "the economy grows " * 100)])
    assert 0.0 <= long_hard < short <= 1.0
    assert short > 0.5 > long_hard
    with pytest.raises(ValueError):
        HeuristicScorer(reference_words=0)


@pytest.mark.parametrize("method", ["logistic", "knn"])
def test_embedding_scorer_learns_and_round_trips(method: str, tmp_path: Path) -> None:
    requests, labels = _data()
    emb = _embeddings()
    scorer = EmbeddingScorer(emb, method=method, k=5).fit(requests, labels)  # type: ignore[arg-type]
    test = ["capital question number 99", "prove question number 98"]
    scores = scorer.score_batch([[HumanMessage(content=t)] for t in test])
    assert scores[0] > 0.5 > scores[1]
    path = scorer.save(tmp_path / "scorer")
    assert path.suffix == ".npz" and path.stat().st_size < 200_000
    loaded = EmbeddingScorer.load(path, emb)
    assert loaded.method == method
    again = loaded.score_batch([[HumanMessage(content=t)] for t in test])
    assert again == pytest.approx(scores, abs=1e-6)
    # the saved file holds plain arrays only: loads without pickle
    with np.load(path, allow_pickle=False) as data:
        assert "meta" in data


def test_embedding_scorer_multi_column_probabilities() -> None:
    requests, labels = _data()
    rows = [[y, 1] for y in labels]  # the middle model is always good enough
    with pytest.warns(ScorerFitWarning, match="column 1"):
        scorer = EmbeddingScorer(_embeddings()).fit(requests, rows)
    probs = scorer.probabilities([HumanMessage(content="prove question number 1")], 2)
    assert probs[0] < 0.5 < probs[1]
    with pytest.raises(ValueError, match="fitted on 2 cheaper models"):
        scorer.probabilities([HumanMessage(content="x")], 3)


def test_embedding_scorer_errors(tmp_path: Path) -> None:
    scorer = EmbeddingScorer(_embeddings())
    with pytest.raises(RuntimeError, match="not fitted"):
        scorer.score([HumanMessage(content="x")])
    with pytest.raises(ValueError, match="labels"):
        scorer.fit(["a", "b"], [1])
    with pytest.raises(ValueError, match="0 or 1"):
        scorer.fit(["a", "b"], [1, 2])
    with pytest.raises(ValueError, match="method"):
        EmbeddingScorer(method="svm")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        EmbeddingScorer.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, meta=np.array('{"format": "other"}'))
    with pytest.raises(ValueError, match="format"):
        EmbeddingScorer.load(bad)
    # one class only: a constant, smoothed prior
    with pytest.warns(ScorerFitWarning, match="every training label is 1"):
        const = EmbeddingScorer(_embeddings()).fit(["a b", "c d", "e f"], [1, 1, 1])
    assert const.score([HumanMessage(content="zzz")]) == pytest.approx(4 / 5)


def test_cascade_scorer_confidence() -> None:
    s = CascadeScorer()
    msg = AIMessage(content="x", response_metadata={"mean_token_logprob": math.log(0.6)})
    assert s.score_response([HumanMessage(content="q")], msg) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="mean_token_logprob"):
        s.score_response([HumanMessage(content="q")], AIMessage(content="x"))
    with pytest.raises(RuntimeError, match="model="):
        s.score([HumanMessage(content="q")])
    bad = CascadeScorer(lambda m, r: 1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bad.score_response([HumanMessage(content="q")], msg)


@pytest.mark.integration
def test_embedding_scorer_with_packaged_minilm(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from green_chain.models import LocalEmbeddings

    emb = LocalEmbeddings()
    requests, labels = _data(20)
    scorer = EmbeddingScorer(emb, method="knn", k=3).fit(requests, labels)
    easy = scorer.score([HumanMessage(content="capital question number 77")])
    hard = scorer.score([HumanMessage(content="prove question number 77")])
    assert easy > hard
    loaded = EmbeddingScorer.load(scorer.save(tmp_path / "s.npz"), emb)
    assert loaded.score([HumanMessage(content="prove question number 77")]) == pytest.approx(hard)


def test_scorer_that_cannot_separate_its_training_data_warns() -> None:
    # the same requests labelled both ways: no scorer can tell them apart
    requests = ["summarise this text", "summarise this text", "a b c", "a b c"]
    with pytest.warns(ScorerFitWarning, match="cannot separate its own training data"):
        EmbeddingScorer(_embeddings()).fit(requests, [1, 0, 1, 0])


def test_small_training_set_is_not_flattened_to_the_prior() -> None:
    requests, labels = _data()
    few = [r for i, r in enumerate(requests) if i < 8]
    few_labels = labels[:8]
    assert 0 < sum(few_labels) < 8
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScorerFitWarning)
        scorer = EmbeddingScorer(_embeddings()).fit(few, few_labels)
    scores = scorer.score_batch([[HumanMessage(content=r)] for r in few])
    good = [s for s, y in zip(scores, few_labels, strict=True) if y]
    bad = [s for s, y in zip(scores, few_labels, strict=True) if not y]
    assert min(good) > 0.6 > max(bad)  # threshold=0.6 (the README's) routes the easy ones
    assert auto_l2(8) == pytest.approx(0.08) and auto_l2(500) == 1.0
