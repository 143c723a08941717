"""Paired bootstrap intervals of the benchmark's headline figures.

Each test item is run by both chains, so the figures are paired: one bootstrap resample
draws items (with replacement) and keeps each item's baseline and green figures together.
Over several scenarios the items are resampled within each scenario (a stratified
bootstrap), so every resample keeps each scenario's item count.

Definitions (per scenario; overall over the pooled items of the scenarios given):

* ``energy_saved_pct = 100 x (1 - sum green J / sum baseline J)`` (energy-weighted).
* ``quality_delta_pts = 100 x (mean green quality - mean baseline quality)``: points on
  the task metric's 0-100 scale (green minus baseline; negative = green worse).
* ``quality_retained_pct = 100 x mean green quality / mean baseline quality``; never capped.
* ``*_ci95``: the 2.5th and 97.5th percentiles over the resamples (percentile bootstrap).
* ``quality_ok``: the lower bound of ``quality_retained_ci95`` is at least
  ``min_retained_pct`` (95).

The resampling is seeded (:class:`numpy.random.Generator`), so the same figures give the
same intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Bootstrap resamples unless a caller asks for more (the benchmark's floor).
DEFAULT_RESAMPLES = 2000
#: Quality retained (%) whose lower 95 % bound makes a result ``quality_ok``.
MIN_RETAINED_PCT = 95.0


@dataclass(frozen=True)
class PairedSample:
    """The paired per-item figures of one scenario (one position = one item).

    ``baseline_j``/``green_j`` are joules (``nan`` where the item has no energy pair, e.g.
    a failed run: it then counts for quality only); ``baseline_q``/``green_q`` are item
    qualities in [0, 1] (``nan``: the item has no quality pair).
    """

    baseline_j: Sequence[float]
    green_j: Sequence[float]
    baseline_q: Sequence[float]
    green_q: Sequence[float]

    def __post_init__(self) -> None:
        n = len(self.baseline_j)
        for name in ("green_j", "baseline_q", "green_q"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"PairedSample.{name} has {len(getattr(self, name))} items, baseline_j has {n}"
                )

    def __len__(self) -> int:
        return len(self.baseline_j)


def _arrays(s: PairedSample) -> tuple[np.ndarray, ...]:
    return tuple(
        np.asarray(v, dtype=float) for v in (s.baseline_j, s.green_j, s.baseline_q, s.green_q)
    )


def _figures(bj: np.ndarray, gj: np.ndarray, bq: np.ndarray, gq: np.ndarray) -> np.ndarray:
    """``[saved %, delta pts, retained %]`` along the last axis from per-resample sums.

    Every argument is ``(..., 2)``: the sum and the count of the valid values.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        saved = np.where(bj[..., 0] > 0, 100.0 * (1.0 - gj[..., 0] / bj[..., 0]), np.nan)
        mb = bq[..., 0] / bq[..., 1]
        mg = gq[..., 0] / gq[..., 1]
        delta = 100.0 * (mg - mb)
        retained = np.where(mb > 0, 100.0 * mg / mb, np.nan)
    return np.stack([saved, delta, retained], axis=-1)


def _sums(values: np.ndarray, valid: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Sum and count of the valid values, per resample row of ``idx`` (or of all items)."""
    v = np.where(valid, values, 0.0)
    m = valid.astype(float)
    if idx is None:
        return np.array([v.sum(), m.sum()])
    return np.stack([v[idx].sum(axis=-1), m[idx].sum(axis=-1)], axis=-1)


def _interval(samples: np.ndarray) -> list[float] | None:
    finite = samples[np.isfinite(samples)]
    # an interval only when (almost) every resample defines the figure
    if finite.size == 0 or finite.size < 0.99 * samples.size:
        return None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [float(lo), float(hi)]


def _point(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def paired_bootstrap(
    samples: Mapping[str, PairedSample] | PairedSample,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    min_retained_pct: float = MIN_RETAINED_PCT,
) -> dict[str, Any]:
    """Point figures and 95 % intervals of energy saved and quality, paired over items.

    Args:
        samples: One scenario's :class:`PairedSample`, or several by name (pooled; items
            resampled within each scenario).
        n_resamples: Bootstrap resamples (at least 1,000).
        seed: Resampling seed.
        min_retained_pct: The ``quality_ok`` threshold on the retained lower bound (%).

    Returns:
        ``{energy_saved_pct, energy_saved_ci95, quality_delta_pts, quality_delta_ci95,
        quality_retained_pct, quality_retained_ci95, quality_ok, n_items, n_resamples}``;
        a figure without data is ``None`` (``quality_ok`` then ``None`` too).
    """
    if n_resamples < 1000:
        raise ValueError(f"n_resamples must be >= 1000, got {n_resamples}")
    groups = {"": samples} if isinstance(samples, PairedSample) else dict(samples)
    rng = np.random.default_rng(seed)
    point = np.zeros((4, 2))
    boot = np.zeros((n_resamples, 4, 2))
    n_items = 0
    for name in sorted(groups):  # a fixed order: the same seed draws the same items
        arrays = _arrays(groups[name])
        n = len(arrays[0])
        if n == 0:
            continue
        n_items += n
        energy_ok = np.isfinite(arrays[0]) & np.isfinite(arrays[1])
        quality_ok = np.isfinite(arrays[2]) & np.isfinite(arrays[3])
        valid = (energy_ok, energy_ok, quality_ok, quality_ok)
        idx = rng.integers(0, n, size=(n_resamples, n))
        for k in range(4):
            point[k] += _sums(arrays[k], valid[k], None)
            boot[:, k] += _sums(arrays[k], valid[k], idx)
    figures = _figures(point[0], point[1], point[2], point[3])
    dist = _figures(boot[:, 0], boot[:, 1], boot[:, 2], boot[:, 3])
    retained_ci = _interval(dist[:, 2])
    return {
        "energy_saved_pct": _point(figures[0]),
        "energy_saved_ci95": _interval(dist[:, 0]),
        "quality_delta_pts": _point(figures[1]),
        "quality_delta_ci95": _interval(dist[:, 1]),
        "quality_retained_pct": _point(figures[2]),
        "quality_retained_ci95": retained_ci,
        "quality_ok": None if retained_ci is None else bool(retained_ci[0] >= min_retained_pct),
        "n_items": n_items,
        "n_resamples": n_resamples,
    }


def mean_ci95(
    values: Sequence[float], *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> list[float] | None:
    """The bootstrap 95 % interval of the mean of ``values`` (``nan`` ignored; ``None`` if empty)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [float(lo), float(hi)]
