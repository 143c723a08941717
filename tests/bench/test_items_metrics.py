"""Item selection, splits without leakage, distractors, and the quality metrics."""

from __future__ import annotations

import pytest

from green_chain.bench.items import Item, distractors, split_items
from green_chain.bench.metrics import (
    accuracy,
    exact_match,
    f1,
    function_choice_correct,
    multiple_choice,
    normalize_answer,
    rouge_l,
)


def _items(n: int, groups: int | None = None) -> list[Item]:
    return [
        Item(
            id=f"d:{i}",
            inputs={"q": i},
            reference=f"answer {i}",
            group=None if groups is None else f"g{i % groups}",
        )
        for i in range(n)
    ]


def test_split_is_deterministic_and_disjoint():
    items = _items(100)
    a = split_items(items, n_test=10, n_calibration=20, seed=3)
    b = split_items(list(reversed(items)), n_test=10, n_calibration=20, seed=3)
    assert [i.id for i in a.test] == [i.id for i in b.test]  # independent of file order
    assert len(a.test) == 10 and len(a.calibration) == 20
    assert not {i.id for i in a.test} & {i.id for i in a.calibration}
    c = split_items(items, n_test=10, n_calibration=20, seed=4)
    assert [i.id for i in a.test] != [i.id for i in c.test]


def test_split_keeps_groups_on_one_side():
    s = split_items(_items(60, groups=12), n_test=None, n_calibration=10, seed=0)
    cal_groups = {i.group for i in s.calibration}
    assert cal_groups and not cal_groups & {i.group for i in s.test}
    # test items spread over groups first
    assert len({i.group for i in s.test[:5]}) == 5


def test_split_with_separate_calibration_pool():
    pool = [Item(id=f"train:{i}", inputs={}, reference="x") for i in range(30)]
    s = split_items(_items(10), n_test=4, n_calibration=8, seed=0, calibration_pool=pool)
    assert len(s.calibration) == 8 and all(i.id.startswith("train:") for i in s.calibration)
    assert len(s.test) == 4


def test_small_pool_keeps_test_items():
    s = split_items(_items(6), n_test=None, n_calibration=50, seed=0)
    assert len(s.test) == 3 and len(s.calibration) == 3


def test_split_rejects_negative_count():
    with pytest.raises(ValueError, match="n_test"):
        split_items(_items(5), n_test=-1, n_calibration=1, seed=0)


def test_item_rejects_reference_outside_choices():
    with pytest.raises(ValueError, match="not among its choices"):
        Item(id="x", inputs={}, reference="maybe", choices=("yes", "no"))


def test_distractors_deterministic_and_never_gold():
    items = [*_items(20), Item(id="dup", inputs={}, reference="Answer 0")]
    d1 = distractors(items[0], items, k=3, seed=1)
    assert d1 == distractors(items[0], items, k=3, seed=1)
    assert len(d1) == 3 and len({x.lower() for x in d1}) == 3
    assert "answer 0" not in {x.lower() for x in d1}


def test_squad_normalisation_em_f1():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert exact_match("the Atlantic Ocean.", ["Atlantic ocean"]) == 1.0
    assert exact_match("Pacific", ["Atlantic ocean"]) == 0.0
    assert f1("in October", ["October 1973"]) == pytest.approx(0.5)
    assert f1("x", ["nope", "x"]) == 1.0


def test_rouge_l_lcs():
    assert rouge_l("the cat sat on the mat", "the cat lay on a mat") == pytest.approx(0.75)
    assert rouge_l("w x y z", "w x y z") == 1.0
    assert rouge_l("", "x") == 0.0
    # LCS respects order: "y x" vs "x y" -> LCS 1
    assert rouge_l("y x", "x y") == pytest.approx(0.5)


def test_accuracy_and_function_choice():
    assert accuracy("Positive, not negative", "positive", ["negative", "positive"]) == 1.0
    assert accuracy("negative", "positive", ["negative", "positive"]) == 0.0
    assert (
        function_choice_correct(
            "math.area_circle(r=2)", "math.area_circle", ["math.area", "math.area_circle"]
        )
        == 1.0
    )
    assert function_choice_correct("nothing", "f", ["f", "g"]) == 0.0


def test_multiple_choice():
    def scorer(model, prompts, conts):
        return [len(c) for c in conts]  # longest continuation wins

    r = multiple_choice(scorer, "m", "p", "longest answer", ["a", "bb"])
    assert r["mc_correct"] == 1.0 and r["margin"] > 0
    r = multiple_choice(scorer, "m", "p", "x", ["yy", "x"])
    assert r["mc_correct"] == 0.0
    tie = multiple_choice(lambda m, p, c: [0.0] * len(c), "m", "p", "a", ["b"])
    assert tie["mc_correct"] == 0.0
    with pytest.raises(ValueError, match="distractor"):
        multiple_choice(scorer, "m", "p", "a", [])
