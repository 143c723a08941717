"""EnergyCurve: NNLS fit recovers coefficients, never negative, JSON round trip, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from green_chain.energy.model import EnergyCurve, nnls_small

LENGTHS = [64, 128, 256, 512, 1024, 2048, 4096]


def test_recovers_known_coefficients_with_noise():
    rng = np.random.default_rng(0)
    n = np.repeat(LENGTHS, 3).astype(float)
    true = 2e-7 * n**2 + 3e-3 * n + 0.8
    e = true * (1 + rng.normal(0, 0.002, n.size))
    curve = EnergyCurve.fit(n, e, model_name="m", device="cpu", kind="estimated")
    assert curve.a == pytest.approx(2e-7, rel=0.1)
    assert curve.b == pytest.approx(3e-3, rel=0.1)
    assert curve.c == pytest.approx(0.8, rel=0.2)
    assert curve.r2 > 0.99
    assert (curve.n_points, curve.kind, curve.model_name) == (21, "estimated", "m")
    assert (curve.min_tokens, curve.max_tokens) == (64.0, 4096.0)


def test_exact_fit():
    n = np.array(LENGTHS, dtype=float)
    curve = EnergyCurve.fit(n, 1e-6 * n**2 + 0.002 * n + 0.5)
    assert (curve.a, curve.b, curve.c) == pytest.approx((1e-6, 0.002, 0.5))
    assert curve.r2 == pytest.approx(1.0)


def test_decreasing_data_gives_non_negative_coefficients():
    n = np.array(LENGTHS, dtype=float)
    curve = EnergyCurve.fit(n, 10.0 - 0.001 * n)
    assert min(curve.a, curve.b, curve.c) >= 0.0
    assert curve.a == 0.0 and curve.b == 0.0
    assert curve.c == pytest.approx(float(np.mean(10.0 - 0.001 * n)))


def test_concave_data_drops_quadratic_term():
    n = np.array(LENGTHS, dtype=float)
    curve = EnergyCurve.fit(n, np.sqrt(n))
    assert curve.a >= 0 and curve.b > 0 and curve.c >= 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 5000), st.floats(0, 1e4, allow_nan=False)),
        min_size=3,
        max_size=30,
        unique_by=lambda t: t[0],
    )
)
def test_fit_never_negative_and_optimal_among_supports(points):
    n = np.array([p[0] for p in points], dtype=float)
    e = np.array([p[1] for p in points], dtype=float)
    curve = EnergyCurve.fit(n, e)
    assert min(curve.a, curve.b, curve.c) >= 0.0
    assert np.all(curve.predict(n) >= 0)
    # no feasible constant-only fit is better than the NNLS optimum
    x = np.column_stack([n**2, n, np.ones_like(n)])
    rss = float(np.sum((e - x @ [curve.a, curve.b, curve.c]) ** 2))
    rss_const = float(np.sum((e - e.mean()) ** 2))
    assert rss <= rss_const * (1 + 1e-7) + 1e-9


def test_nnls_small_matches_unconstrained_when_feasible():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = x @ np.array([2.0, 3.0])
    assert nnls_small(x, y) == pytest.approx([2.0, 3.0])


def test_predict_scalar_and_array():
    curve = EnergyCurve(a=1.0, b=2.0, c=3.0, r2=1.0)
    assert curve.predict(2) == 11.0 and isinstance(curve.predict(2), float)
    assert curve.predict([0, 1]).tolist() == [3.0, 6.0]
    with pytest.raises(ValueError, match=">= 0"):
        curve.predict(-1)


@pytest.mark.parametrize(
    ("tokens", "energies", "match"),
    [
        ([1, 2], [1, 2], "at least 3 points"),
        ([1, 2, 3], [1, 2], "same length"),
        ([1, 1, 2], [1, 2, 3], "3 distinct"),
        ([1, 2, 3], [1, -2, 3], ">= 0"),
        ([1, 2, float("nan")], [1, 2, 3], "finite"),
    ],
)
def test_fit_errors(tokens, energies, match):
    with pytest.raises(ValueError, match=match):
        EnergyCurve.fit(tokens, energies)


def test_save_load_round_trip(tmp_path):
    n = np.array(LENGTHS, dtype=float)
    curve = EnergyCurve.fit(n, 3e-7 * n**2 + 0.5, model_name="smol", device="cpu", source="rapl")
    path = curve.save(tmp_path / "sub" / "curve.json")
    loaded = EnergyCurve.load(path)
    assert loaded == curve
    assert loaded.predict(1000) == pytest.approx(curve.predict(1000))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no energy curve"):
        EnergyCurve.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        EnergyCurve.load(bad)
    with pytest.raises(ValueError, match="missing coefficient"):
        EnergyCurve.from_dict({"a": 1})
    with pytest.raises(ValueError, match=">= 0"):
        EnergyCurve.from_dict({"a": -1, "b": 0, "c": 0})
    with pytest.raises(ValueError, match="format"):
        EnergyCurve.from_dict({"format": "other", "a": 1, "b": 0, "c": 0})


def test_predict_call_counts_only_prefilled_and_generated_tokens():
    curve = EnergyCurve(a=1e-6, b=2e-3, c=0.5, r2=1.0)
    assert curve.predict_call(1000, 20) == pytest.approx(curve.predict(1020))
    assert curve.predict_call(1000, 20, cached_tokens=960) == pytest.approx(curve.predict(60))
    assert curve.predict_call(1000, 20, 960) < curve.predict_call(1000, 20)
    with pytest.raises(ValueError, match="cached_tokens"):
        curve.predict_call(10, 0, cached_tokens=11)
    with pytest.raises(ValueError, match="completion_tokens"):
        curve.predict_call(10, -1)
