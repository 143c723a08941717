"""ExampleClassifier: calibration, threshold for a quality floor, first-tier routing."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.runnables import RunnableLambda
from routing_fakes import FixedScorer, answering_model

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.routing import EnergyRouter, ExampleClassifier, RoutedChatModel, TierAnswer
from green_chain.routing.classifier import isotonic_fit, isotonic_predict, wilson_lower
from green_chain.testing import FakeClock, FakeMeterBackend

SPORTS = ["goal", "match", "team", "score", "league"]
COOKING = ["recipe", "oven", "bake", "flour", "sauce"]


class WordEmbeddings(Embeddings):
    """Bag-of-words vectors over the toy vocabulary, plus a small constant."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower())
            out.append([float(words.count(w)) for w in SPORTS + COOKING] + [0.05])
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def toy_set() -> tuple[list[str], list[str]]:
    """30 clear items per topic (vote share 1) and 30 mixed ones with alternating labels."""
    texts, labels = [], []
    for i in range(30):
        texts.append(" ".join(SPORTS[(i + j) % 5] for j in range(3)))
        labels.append("sports")
        texts.append(" ".join(COOKING[(i + j) % 5] for j in range(3)))
        labels.append("cooking")
        texts.append("team goal oven bake")
        labels.append("sports" if i % 2 else "cooking")
    return texts, labels


def fitted(**kwargs: Any) -> ExampleClassifier:
    texts, labels = toy_set()
    return ExampleClassifier(WordEmbeddings(), head="knn", k=5).fit(texts, labels, **kwargs)


def test_confident_request_gets_a_label_unsure_falls_through() -> None:
    clf = fitted(quality_floor=0.95, holdout=0.3, seed=1)
    cal = clf.calibration
    assert cal is not None and cal.n_holdout == 27 and cal.n_train == 63
    sure = clf.invoke("team score league")
    assert sure.answered and sure.answer == "sports" and sure.confidence is not None
    assert sure.confidence >= clf.threshold
    unsure = clf.invoke("team goal oven bake")
    assert not unsure.answered and unsure.label in ("sports", "cooking")
    assert unsure.confidence is not None and unsure.confidence < clf.threshold
    off_domain = clf.invoke("what is the capital of France")
    assert not off_domain.answered and "similarity" in off_domain.reason


def test_calibration_meets_the_floor_on_held_aside_items() -> None:
    clf = fitted(quality_floor=0.95, holdout=0.3, seed=1)
    cal = clf.calibration
    assert cal is not None
    assert cal.answered_accuracy is not None and cal.answered_accuracy >= 0.95
    assert 0.5 < cal.coverage < 1.0  # the mixed items are left to the LLM
    assert cal.accuracy < cal.answered_accuracy
    assert cal.calibration_y == sorted(cal.calibration_y)  # isotonic: non-decreasing
    assert all(0.0 <= y <= 1.0 for y in cal.calibration_y)


def test_impossible_floor_never_answers() -> None:
    texts, labels = toy_set()
    noisy = [
        ("cooking" if lab == "sports" else "sports") if i % 6 in (0, 1) else lab
        for i, lab in enumerate(labels)
    ]
    clf = ExampleClassifier(WordEmbeddings(), head="knn", k=5).fit(texts, noisy, quality_floor=1.0)
    assert math.isinf(clf.threshold)
    assert clf.calibration is not None and clf.calibration.coverage == 0.0
    assert not clf.invoke("team score league").answered


def test_wilson_bound_is_stricter_than_the_point_estimate() -> None:
    point = fitted(quality_floor=0.9, seed=2)
    bound = fitted(quality_floor=0.9, confidence_level=0.95, seed=2)
    assert bound.threshold >= point.threshold
    assert wilson_lower(9, 10, 0.95) < wilson_lower(900, 1000, 0.95) < 0.9
    assert wilson_lower(900, 1000, 0.95) == pytest.approx(0.8833, abs=1e-3)  # z = 1.645
    assert wilson_lower(0, 0, 0.9) == 0.0


def test_explicit_holdout() -> None:
    texts, labels = toy_set()
    clf = ExampleClassifier(WordEmbeddings(), head="knn", k=5).fit(
        texts[:60], labels[:60], holdout=(texts[60:], labels[60:])
    )
    assert clf.calibration is not None and clf.calibration.n_holdout == 30


def test_isotonic_pools_violators() -> None:
    xs, ys = isotonic_fit([0.2, 0.4, 0.6, 0.8], [1.0, 0.0, 1.0, 1.0])
    assert xs == [0.2, 0.4, 0.6, 0.8]
    assert ys == [0.5, 0.5, 1.0, 1.0]
    assert isotonic_predict(xs, ys, 0.1) == 0.5 and isotonic_predict(xs, ys, 0.7) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quality_floor": 0.0}, "quality_floor"),
        ({"holdout": 1.0}, "holdout"),
        ({"confidence_level": 0.2}, "confidence_level"),
    ],
)
def test_bad_fit_arguments(kwargs: dict[str, Any], match: str) -> None:
    texts, labels = toy_set()
    with pytest.raises(ValueError, match=match):
        ExampleClassifier(WordEmbeddings()).fit(texts, labels, **kwargs)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="labels"):
        ExampleClassifier(WordEmbeddings()).fit(["a", "b"], ["x"])
    with pytest.raises(ValueError, match="labels"):
        ExampleClassifier(WordEmbeddings()).fit(["a"] * 10, ["x"] * 10)
    with pytest.raises(ValueError, match="k must"):
        ExampleClassifier(WordEmbeddings(), k=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        ExampleClassifier(WordEmbeddings()).invoke("x")


def make_handler() -> EnergyCallbackHandler:
    monitor = EnergyMonitor([FakeMeterBackend(["cpu"])], clock=FakeClock(start_s=1.0))
    return EnergyCallbackHandler(monitor, estimators=None)


def test_routed_chat_model_first_tier_decision_on_the_run() -> None:
    clf = fitted(seed=1)
    small, large = answering_model("small"), answering_model("large")
    router = RoutedChatModel(
        models=[small, large], scorer=FixedScorer(0.9), threshold=0.5, first_tier=clf
    )
    handler = make_handler()
    out = router.invoke("team score league", config={"callbacks": [handler]})
    assert out.content == "sports" and not small.calls and not large.calls
    routing = out.response_metadata["routing"]
    assert routing["chosen_model"] == "ExampleClassifier" and routing["chosen_index"] == -1
    assert routing["first_tier_answered"] is True
    assert routing["first_tier_confidence"] >= routing["first_tier_threshold"]
    recorded = [r for r in handler.records() if r["routing"]]
    assert recorded and recorded[0]["routing"]["first_tier"] == "ExampleClassifier"
    assert any(r["name"] == "ExampleClassifier" for r in handler.records())  # its own run

    out = router.invoke("team goal oven bake", config={"callbacks": [handler]})
    assert out.content == "small answer"
    routing = out.response_metadata["routing"]
    assert routing["chosen_model"] == "small" and routing["first_tier_answered"] is False
    assert routing["first_tier_confidence"] < routing["first_tier_threshold"]

    forced = router.invoke("team score league", route_to="large")
    assert forced.content == "large answer"
    assert forced.response_metadata["routing"]["first_tier"] is None

    chunks = list(router.stream("team score league"))
    assert "".join(str(c.content) for c in chunks) == "sports"
    assert asyncio.run(router.ainvoke("oven bake flour")).content == "cooking"


def test_energy_router_first_tier_and_a_failing_tier() -> None:
    clf = fitted(seed=1)
    routes = [RunnableLambda(lambda x: "cheap"), RunnableLambda(lambda x: "large")]
    router = EnergyRouter(routes, FixedScorer(0.1), 0.5, names=["c", "l"], first_tier=clf)
    assert router.invoke("team score league") == "sports"
    assert router.invoke("team goal oven bake") == "large"
    assert asyncio.run(router.ainvoke("oven bake flour")) == "cooking"

    def broken(_: Any) -> TierAnswer:
        raise RuntimeError("tier down")

    failing = EnergyRouter(
        routes, FixedScorer(0.9), 0.5, names=["c", "l"], first_tier=RunnableLambda(broken)
    )
    assert failing.invoke("team score league") == "cheap"
    declines = EnergyRouter(
        routes, FixedScorer(0.9), 0.5, names=["c", "l"], first_tier=RunnableLambda(lambda x: None)
    )
    assert declines.invoke("x") == "cheap"


def fitted_logistic(**kwargs: Any) -> ExampleClassifier:
    texts, labels = toy_set()
    return ExampleClassifier(WordEmbeddings(), head="logistic").fit(texts, labels, **kwargs)


def test_logistic_head_confident_gets_a_label_unsure_falls_through() -> None:
    clf = fitted_logistic(quality_floor=0.95, holdout=0.3, seed=1)
    cal = clf.calibration
    assert cal is not None and cal.head == "logistic" and cal.k is None
    assert cal.l2 is not None and cal.l2 in clf.l2_grid  # chosen by cross-validation
    assert set(cal.cv_log_loss) == {f"{s:g}" for s in clf.l2_grid}
    assert cal.l2 == min(clf.l2_grid, key=lambda s: cal.cv_log_loss[f"{s:g}"])
    sure = clf.invoke("team score league")
    assert sure.answered and sure.answer == "sports" and sure.confidence is not None
    assert sure.confidence >= clf.threshold
    assert clf.invoke("oven bake flour").answer == "cooking"
    unsure = clf.invoke("team goal oven bake")  # labelled half sports, half cooking
    assert not unsure.answered and unsure.label in ("sports", "cooking")
    assert unsure.confidence is not None and unsure.confidence < clf.threshold
    off_domain = clf.invoke("what is the capital of France")
    assert not off_domain.answered and "similarity" in off_domain.reason


def test_logistic_head_calibration_meets_the_floor() -> None:
    clf = fitted_logistic(quality_floor=0.95, holdout=0.3, seed=1)
    cal = clf.calibration
    assert cal is not None
    assert cal.answered_accuracy is not None and cal.answered_accuracy >= 0.95
    assert 0.5 < cal.coverage < 1.0  # the mixed items are left to the LLM
    assert cal.calibration_y == sorted(cal.calibration_y)
    # raw confidence is the top class probability: the mixed items sit near 1/2
    assert min(cal.calibration_x) < 0.75 and max(cal.calibration_x) > 0.9


def test_logistic_head_with_a_fixed_l2_skips_the_cross_validation() -> None:
    texts, labels = toy_set()
    clf = ExampleClassifier(WordEmbeddings(), head="logistic", l2=0.01).fit(texts, labels)
    assert clf.calibration is not None and clf.calibration.l2 == 0.01
    assert clf.calibration.cv_log_loss == {}
    weak = ExampleClassifier(WordEmbeddings(), head="logistic", l2=10.0).fit(texts, labels)
    # a heavy penalty flattens the probabilities towards the prior
    assert weak.calibration is not None
    assert max(weak.calibration.calibration_x) < max(clf.calibration.calibration_x)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"head": "svm"}, "head must be one of"),
        ({"head": "logistic", "l2": 0.0}, "l2 must be > 0"),
        ({"head": "logistic", "l2_grid": ()}, "l2_grid"),
        ({"head": "logistic", "l2_grid": (0.1, -1.0)}, "l2_grid"),
        ({"head": "logistic", "cv_folds": 1}, "cv_folds"),
    ],
)
def test_bad_head_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ExampleClassifier(WordEmbeddings(), **kwargs)


@pytest.mark.parametrize("head", ["knn", "logistic"])
def test_with_floor_rethresholds_without_refitting(head: str) -> None:
    texts, labels = toy_set()
    embeddings = WordEmbeddings()
    clf = ExampleClassifier(embeddings, head=head, k=5).fit(texts, labels, quality_floor=0.95)
    loose = clf.with_floor(0.5)
    strict = clf.with_floor(0.95, confidence_level=0.99)
    assert clf.calibration is not None and clf.calibration.quality_floor == 0.95  # unchanged
    assert loose.threshold <= clf.threshold <= strict.threshold
    assert loose.calibration is not None and loose.calibration.coverage == 1.0
    same = ExampleClassifier(embeddings, head=head, k=5).fit(texts, labels, quality_floor=0.5)
    assert same.calibration is not None
    assert same.calibration.to_dict() == loose.calibration.to_dict()
    with pytest.raises(ValueError, match="quality_floor"):
        clf.with_floor(1.5)
    with pytest.raises(RuntimeError, match="not fitted"):
        ExampleClassifier(embeddings).with_floor(0.9)
