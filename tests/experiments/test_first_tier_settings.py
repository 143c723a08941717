"""The first-tier settings experiment: calibration items only, cross-fitted check figures."""

from __future__ import annotations

import pytest

from green_chain.bench import data
from green_chain.bench.scenarios.fewshot import SST2
from green_chain.experiments.first_tier_settings import _Cached, candidate_items, cross_fit
from green_chain.routing import ExampleClassifier
from green_chain.testing.bench import write_tiny_data
from green_chain.testing.embeddings import BagOfWordsEmbeddings


@pytest.fixture
def tiny_data(tmp_path):
    root = tmp_path / "data"
    write_tiny_data(root)
    return root


def test_candidate_items_are_calibration_items_only(tiny_data) -> None:
    scenario = SST2()
    items, usable = candidate_items(scenario, tiny_data, 20, 0)
    assert usable == len(items) == 20
    test_ids = {it.id for it in scenario.split(tiny_data, None, 0).test}
    assert not {it.id for it in items} & test_ids
    assert all(it.id.startswith("sst2-train:") for it in items)


def test_candidate_items_refuse_test_items(tiny_data, monkeypatch) -> None:
    scenario = SST2()
    with pytest.raises(ValueError, match="in both calibration and test"):  # the split's check
        monkeypatch.setattr(scenario, "calibration_pool", lambda root: scenario.load(root))
        candidate_items(scenario, tiny_data, 20, 0)
    pools = iter(["train", "test"])  # a split that passes, then candidates from the test file
    monkeypatch.setattr(
        scenario, "calibration_pool", lambda root: data.load_sst2(root, next(pools))
    )
    with pytest.raises(ValueError, match="are test items"):
        candidate_items(scenario, tiny_data, 20, 0)


def toy() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for i in range(60):
        texts.append(f"great lovely film number {i}")
        labels.append("positive")
        texts.append(f"dull boring mess number {i}")
        labels.append("negative")
        texts.append(f"great boring film mess number {i}")  # ambiguous: alternate labels
        labels.append("positive" if i % 2 else "negative")
    return texts, labels


@pytest.mark.parametrize("head", ["knn", "logistic"])
def test_cross_fit_checks_on_items_the_fit_never_saw(head: str) -> None:
    texts, labels = toy()
    emb = _Cached(BagOfWordsEmbeddings(dim=64))
    rows = cross_fit(
        texts,
        labels,
        100,
        4,
        0,
        lambda: ExampleClassifier(emb, head=head, k=5),
        [(0.95, None), (0.6, None)],
    )
    strict, loose = rows
    assert strict["n_fit"] == 100 and strict["n_check"] == len(texts)  # every item checked once
    assert loose["check_coverage"] >= strict["check_coverage"]
    assert 0.3 < strict["check_coverage"] < 1.0  # the ambiguous third falls through
    assert strict["check_answered_accuracy"] >= 0.9
    lo, hi = strict["check_answered_ci95"]
    assert lo <= strict["check_answered_accuracy"] <= hi
    assert (strict["l2"] is None) == (head == "knn")


def test_embedding_cache_round_trips(tmp_path) -> None:
    path = tmp_path / "emb.npz"
    first = _Cached(BagOfWordsEmbeddings(dim=16), path)
    vectors = first.embed_documents(["a film", "a mess"])
    first.save()
    inner = BagOfWordsEmbeddings(dim=16)
    second = _Cached(inner, path)
    assert second.embed_documents(["a mess", "a film"]) == vectors[::-1]
    assert inner.calls == 0
