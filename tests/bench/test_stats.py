"""The paired bootstrap on synthetic paired data with known answers."""

from __future__ import annotations

import math

import pytest

from green_chain.bench.stats import PairedSample, mean_ci95, paired_bootstrap


def _sample(n: int, *, base_j=10.0, green_j=4.0, base_q=1.0, green_q=1.0) -> PairedSample:
    return PairedSample([base_j] * n, [green_j] * n, [base_q] * n, [green_q] * n)


def test_constant_pairs_give_exact_figures_and_degenerate_intervals():
    out = paired_bootstrap(_sample(30), seed=1)
    assert out["energy_saved_pct"] == pytest.approx(60.0)
    assert out["energy_saved_ci95"] == pytest.approx([60.0, 60.0])
    assert out["quality_delta_pts"] == pytest.approx(0.0)
    assert out["quality_delta_ci95"] == pytest.approx([0.0, 0.0])
    assert out["quality_retained_pct"] == pytest.approx(100.0)
    assert out["quality_retained_ci95"] == pytest.approx([100.0, 100.0])
    assert out["quality_ok"] is True
    assert out["n_items"] == 30 and out["n_resamples"] == 2000


def test_binary_quality_interval_matches_the_normal_approximation():
    # baseline right on all 400 items, green right on half: delta = -50 points with a
    # standard error of 100 * sqrt(0.25 / 400) = 2.5 points -> about -50 +/- 4.9
    n = 400
    green_q = [1.0, 0.0] * (n // 2)
    out = paired_bootstrap(PairedSample([1.0] * n, [1.0] * n, [1.0] * n, green_q), seed=3)
    assert out["quality_delta_pts"] == pytest.approx(-50.0)
    lo, hi = out["quality_delta_ci95"]
    half = 1.96 * 2.5
    assert lo == pytest.approx(-50.0 - half, abs=0.8)
    assert hi == pytest.approx(-50.0 + half, abs=0.8)
    assert out["quality_retained_pct"] == pytest.approx(50.0)
    assert out["quality_retained_ci95"][1] < 95.0
    assert out["quality_ok"] is False


def test_retention_is_never_capped():
    out = paired_bootstrap(_sample(20, base_q=0.5, green_q=0.75))
    assert out["quality_retained_pct"] == pytest.approx(150.0)
    assert out["quality_delta_pts"] == pytest.approx(25.0)


def test_pairs_stay_together():
    # per item the green chain uses exactly half the baseline's energy, whatever the item:
    # a paired resample always gives 50 %, an unpaired one would not
    base = [float(i + 1) for i in range(50)]
    out = paired_bootstrap(
        PairedSample(base, [b / 2 for b in base], [1.0] * 50, [1.0] * 50), seed=5
    )
    assert out["energy_saved_ci95"] == pytest.approx([50.0, 50.0])


def test_overall_resamples_within_each_scenario():
    # one item per scenario: a stratified resample always holds both items (saved 50 %),
    # a pooled resample would sometimes draw one item twice (10 % or 90 %)
    samples = {
        "a": PairedSample([10.0], [1.0], [1.0], [1.0]),
        "b": PairedSample([10.0], [9.0], [1.0], [1.0]),
    }
    out = paired_bootstrap(samples, seed=0)
    assert out["energy_saved_pct"] == pytest.approx(50.0)
    assert out["energy_saved_ci95"] == pytest.approx([50.0, 50.0])
    assert out["n_items"] == 2


def test_seeded_and_seed_dependent():
    n = 60
    q = [float(i % 3 == 0) for i in range(n)]
    s = PairedSample(
        [2.0 + (i % 7) for i in range(n)], [1.0 + (i % 5) for i in range(n)], [1.0] * n, q
    )
    assert paired_bootstrap(s, seed=7) == paired_bootstrap(s, seed=7)
    assert (
        paired_bootstrap(s, seed=7)["energy_saved_ci95"]
        != paired_bootstrap(s, seed=8)["energy_saved_ci95"]
    )


def test_missing_energy_counts_for_quality_only():
    s = PairedSample([10.0, 10.0], [5.0, math.nan], [1.0, 1.0], [1.0, 0.0])
    out = paired_bootstrap(s)
    assert out["energy_saved_pct"] == pytest.approx(50.0)
    assert out["quality_delta_pts"] == pytest.approx(-50.0)


def test_no_baseline_quality_gives_no_retention():
    out = paired_bootstrap(_sample(5, base_q=0.0, green_q=0.0))
    assert out["quality_retained_pct"] is None
    assert out["quality_retained_ci95"] is None
    assert out["quality_ok"] is None


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap(_sample(3), n_resamples=10)
    with pytest.raises(ValueError, match="green_q"):
        PairedSample([1.0], [1.0], [1.0], [])


def test_mean_ci95_brackets_the_mean():
    lo, hi = mean_ci95([0.0, 1.0] * 100, seed=2)
    assert lo < 0.5 < hi and hi - lo < 0.2
    assert mean_ci95([]) is None
