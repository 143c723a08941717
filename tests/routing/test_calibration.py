"""calibrate(): quantile and quality-floor methods on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from green_chain.routing import calibrate, evaluate_threshold


def test_quantile_method_hits_target_share() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(1000)
    res = calibrate(scores, 0.8, 1.0, 1.0, 3.0, target_large_share=0.3)
    assert res.threshold == pytest.approx(np.quantile(scores, 0.3))
    assert res.point.large_share == pytest.approx(0.3, abs=0.002)
    # energy: 70% cheap (1 J) + 30% large (3 J)
    assert res.point.energy_j == pytest.approx(1000 * (0.7 * 1 + 0.3 * 3), rel=0.01)
    assert res.large_only.energy_j == pytest.approx(3000.0)
    assert res.cheap_only.large_share == 0.0
    all_large = calibrate(scores, 0.8, 1.0, 1.0, 3.0, target_large_share=1.0)
    assert all_large.point.large_share == 1.0


def test_quality_floor_picks_lowest_energy_feasible_threshold() -> None:
    # 10 items; the cheap model fails on items with low scores.
    scores = np.linspace(0.05, 0.95, 10)
    cheap_q = (scores > 0.4).astype(float)  # cheap right on the 6 high-score items
    large_q = np.ones(10)
    res = calibrate(scores, cheap_q, large_q, 1.0, 2.0, quality_floor=0.95)
    # quality >= 0.95 needs every failing item on large: threshold = 0.45 (first good item)
    assert res.threshold == pytest.approx(0.45)
    assert res.point.quality == pytest.approx(1.0)
    assert res.point.large_share == pytest.approx(0.4)
    assert res.point.energy_j == pytest.approx(6 * 1.0 + 4 * 2.0)
    assert res.energy_saved_pct == pytest.approx(100 * (1 - 14 / 20))
    loose = calibrate(scores, cheap_q, large_q, 1.0, 2.0, quality_floor=0.8)
    assert loose.point.quality >= 0.8 and loose.point.energy_j < res.point.energy_j
    assert loose.point.large_share == pytest.approx(0.2)


def test_curve_is_monotone_and_cascade_pays_both_calls() -> None:
    scores = [0.1, 0.5, 0.9]
    res = calibrate(scores, [0, 1, 1], [1, 1, 1], [1, 1, 1], [4, 4, 4], quality_floor=1.0)
    shares = [p.large_share for p in res.curve]
    assert shares == sorted(shares) and shares[0] == 0.0 and shares[-1] == 1.0
    casc = calibrate(scores, [0, 1, 1], [1, 1, 1], 1.0, 4.0, quality_floor=1.0, cascade=True)
    assert casc.point.energy_j == pytest.approx(1 + 1 + (1 + 4))
    assert casc.large_only.energy_j == pytest.approx(3 * 5)
    point = evaluate_threshold(scores, [0, 1, 1], 1.0, 1.0, 4.0, 0.5)
    assert point.large_share == pytest.approx(1 / 3) and point.quality == pytest.approx(1.0)


def test_all_large_choice_holds_for_unseen_requests() -> None:
    from green_chain.routing.decision import choose

    # the cheap model is never cheaper here: the floor picks large-only ...
    scores = [0.2, 0.5, 0.7]
    res = calibrate(scores, [1, 1, 1], [1, 1, 1], 2.0, 1.0, quality_floor=0.95)
    assert res.point.large_share == 1.0
    # ... and a new request scoring above every calibration score still goes large
    assert res.threshold == 1.0
    assert choose([0.99], [res.threshold]) == 1 and choose([1.0], [res.threshold]) == 1
    share = calibrate(scores, 0.8, 1.0, 1.0, 3.0, target_large_share=1.0)
    assert share.threshold == 1.0


def test_min_saving_keeps_large_only_when_routing_barely_pays() -> None:
    scores = [0.2, 0.5, 0.7, 0.9]
    # the cheap model is as good and costs 0.96x: all-cheap saves 4 %
    res = calibrate(scores, 1, 1, 0.96, 1.0, quality_floor=0.95)
    assert res.point.large_share == 0.0
    guarded = calibrate(scores, 1, 1, 0.96, 1.0, quality_floor=0.95, min_saving=0.10)
    assert guarded.point.large_share == 1.0 and guarded.threshold == 1.0
    assert "min_saving" in guarded.notes[0]
    # a cheap model at 0.7x saves 30 %: routing stays
    kept = calibrate(scores, 1, 1, 0.7, 1.0, quality_floor=0.95, min_saving=0.10)
    assert kept.point.large_share == 0.0 and not kept.notes
    with pytest.raises(ValueError, match="min_saving"):
        calibrate(scores, 1, 1, 0.7, 1.0, quality_floor=0.95, min_saving=1.0)


def test_calibrate_errors() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        calibrate([0.1], 1, 1, 1, 1)
    with pytest.raises(ValueError, match="exactly one"):
        calibrate([0.1], 1, 1, 1, 1, target_large_share=0.5, quality_floor=0.9)
    with pytest.raises(ValueError, match="cheap_quality"):
        calibrate([0.1, 0.2], [1, 1, 1], 1, 1, 1, quality_floor=0.9)
    with pytest.raises(ValueError, match="non-empty"):
        calibrate([], 1, 1, 1, 1, quality_floor=0.9)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibrate([0.1], 1, 1, 1, 1, target_large_share=1.5)
    res = calibrate([0.1, 0.2], [0, 0], [1, 1], 1, 2, quality_floor=1.2)
    assert res.point == res.large_only and res.notes
    assert set(res.to_dict()) >= {"threshold", "curve", "energy_saved_pct"}


def test_scores_of_exactly_one_can_still_go_cheap() -> None:
    # threshold 1 means "always the large model"; certain scores still route cheap below it
    scores = [1.0, 1.0, 0.0, 0.0]
    res = calibrate(scores, [1, 1, 0, 0], [1, 1, 1, 1], 1.0, 2.0, quality_floor=1.0)
    assert res.threshold < 1.0 and res.point.large_share == 0.5
