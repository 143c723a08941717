"""The router benchmark's pieces: metrics, evaluation on scripted results, real data split."""

from __future__ import annotations

import random

import pytest

from green_chain.energy.monitor import EnergyMonitor
from green_chain.experiments.router import (
    CHEAP,
    LARGE,
    CallResult,
    Item,
    evaluate,
    exact_match,
    f1_score,
    load_items,
)
from green_chain.testing.embeddings import BagOfWordsEmbeddings
from green_chain.testing.meters import FakeMeterBackend


def test_em_f1() -> None:
    assert exact_match("The Eiffel tower.", ["eiffel tower"]) == 1.0
    assert exact_match("Paris", ["London"]) == 0.0
    assert f1_score("eiffel tower paris", ["eiffel tower"]) == pytest.approx(0.8)
    assert f1_score("", ["x"]) == 0.0


def _items(n: int, offset: int) -> list[Item]:
    return [
        Item(
            f"i{offset + k}",
            "sst2",
            f"{'easy' if k % 2 else 'hard'} review {k}",
            ["positive"],
            ["negative", "positive"],
            1,
            3,
        )
        for k in range(n)
    ]


def _results(items: list[Item], cheap: bool) -> list[CallResult]:
    out = []
    for it in items:
        easy = it.prompt.startswith("easy")
        ok = 1.0 if (easy or not cheap) else 0.0
        out.append(CallResult("positive", 1.0 if cheap else 2.0, 0.9 if easy else 0.2, ok, ok, ok))
    return out


def test_evaluate_saves_energy_at_the_floor_with_scripted_results() -> None:
    train, test = _items(40, 0), _items(40, 100)
    res = {
        CHEAP: {"train": _results(train, True), "test": _results(test, True)},
        LARGE: {"train": _results(train, False), "test": _results(test, False)},
    }
    monitor = EnergyMonitor([FakeMeterBackend()])
    reports = {
        r.scorer: r
        for r in evaluate(
            train, test, res, 0.95, monitor, BagOfWordsEmbeddings(dim=32, stop_words=frozenset())
        )
    }
    assert set(reports) == {"heuristic", "embedding:logistic", "cascade", "oracle (test labels)"}
    # oracle: half the items go cheap at full quality: 1 - (20*1 + 20*2) / 80 = 25% saved
    assert reports["oracle (test labels)"].energy_saved_pct == pytest.approx(25.0)
    assert reports["oracle (test labels)"].quality_retained_pct == pytest.approx(100.0)
    # the cascade pays the cheap call on every item: 1 - (40*1 + 20*2) / 80 = 0%
    assert reports["cascade"].energy_saved_pct == pytest.approx(0.0)
    assert reports["embedding:logistic"].quality_retained_pct >= 95.0
    assert reports["embedding:logistic"].energy_saved_pct > 15.0


@pytest.mark.integration
def test_load_items_real_data_is_disjoint_and_mixed() -> None:
    items = load_items(40, seed=3)
    assert len(items) == 40 and len({i.id for i in items}) == 40
    assert {i.task for i in items} == {"squad", "nq", "sst2"}
    for it in items:
        assert 0 <= it.answer_index < len(it.options)
        assert it.options[it.answer_index] in it.gold or it.task != "sst2"
        assert len(set(it.options)) == len(it.options)
    again = load_items(40, seed=3)
    assert [i.id for i in again] == [i.id for i in items]
    random.seed(0)
