"""Choose a router's threshold on a labelled set, and the quality-vs-energy curve.

Routing rule (two models): cheap when ``score >= threshold``, else large. For each
candidate threshold the curve gives the share of large-model calls, the mean
quality and the total energy of routing the calibration set that way.

* ``target_large_share``: RouteLLM's quantile method, ``threshold =
  quantile(scores, target_large_share)`` so about that share scores below it.
* ``quality_floor``: the threshold with the lowest energy among those whose
  quality is ``>= quality_floor * (large-only quality)``.

With ``cascade=True`` every request pays the cheap call, and escalated requests
pay the large call on top (the cheap answer was thrown away).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class CurvePoint(NamedTuple):
    """One point of the curve: routing with this threshold on the calibration set."""

    threshold: float
    large_share: float
    quality: float
    energy_j: float


@dataclass
class CalibrationResult:
    """The chosen threshold, its point, the whole curve and the two extremes.

    Energies are sums over the calibration set in joules, of the kind of the
    energies given (measured/estimated).
    """

    threshold: float
    method: str
    point: CurvePoint
    curve: list[CurvePoint]
    large_only: CurvePoint
    cheap_only: CurvePoint
    notes: list[str] = field(default_factory=list)

    @property
    def energy_saved_pct(self) -> float:
        """Energy saved against large-only, percent."""
        base = self.large_only.energy_j
        return 100.0 * (1.0 - self.point.energy_j / base) if base > 0 else 0.0

    @property
    def quality_retained_pct(self) -> float:
        """Quality as a percentage of large-only quality."""
        base = self.large_only.quality
        return 100.0 * self.point.quality / base if base != 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "method": self.method,
            "point": self.point._asdict(),
            "energy_saved_pct": self.energy_saved_pct,
            "quality_retained_pct": self.quality_retained_pct,
            "large_only": self.large_only._asdict(),
            "cheap_only": self.cheap_only._asdict(),
            "curve": [p._asdict() for p in self.curve],
            "notes": list(self.notes),
        }


def _per_item(values: float | Sequence[float], n: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{what} has shape {arr.shape}; expected a scalar or {n} values")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


class _Data:
    def __init__(
        self,
        scores: Sequence[float],
        cheap_quality: Any,
        large_quality: Any,
        cheap_energy_j: Any,
        large_energy_j: Any,
        cascade: bool,
    ) -> None:
        self.s = np.asarray(scores, dtype=np.float64)
        if self.s.ndim != 1 or self.s.size == 0:
            raise ValueError("scores must be a non-empty 1-d sequence")
        if not np.all(np.isfinite(self.s)):
            raise ValueError("scores contain NaN or infinite values")
        n = self.s.size
        self.qc = _per_item(cheap_quality, n, "cheap_quality")
        self.ql = _per_item(large_quality, n, "large_quality")
        self.ec = _per_item(cheap_energy_j, n, "cheap_energy_j")
        self.el = _per_item(large_energy_j, n, "large_energy_j")
        if np.any(self.ec < 0) or np.any(self.el < 0):
            raise ValueError("energies must be >= 0 J")
        self.cascade = cascade

    def point(self, threshold: float) -> CurvePoint:
        cheap = (self.s >= threshold) if threshold < 1.0 else np.zeros(len(self.s), dtype=bool)
        quality = float(np.where(cheap, self.qc, self.ql).mean())
        large_cost = self.el + self.ec if self.cascade else self.el
        energy = float(np.where(cheap, self.ec, large_cost).sum())
        return CurvePoint(float(threshold), float(1.0 - cheap.mean()), quality, energy)

    def all_large_threshold(self) -> float:
        """``1.0``: "always the large model", for new requests too, not only for the
        calibration set (the largest calibration score + epsilon would let a new request
        scoring higher go to the cheap model); see :func:`~green_chain.routing.decision.choose`."""
        return 1.0


def evaluate_threshold(
    scores: Sequence[float],
    cheap_quality: float | Sequence[float],
    large_quality: float | Sequence[float],
    cheap_energy_j: float | Sequence[float],
    large_energy_j: float | Sequence[float],
    threshold: float,
    *,
    cascade: bool = False,
) -> CurvePoint:
    """Large share, mean quality and total energy of routing a set with ``threshold``."""
    return _Data(
        scores, cheap_quality, large_quality, cheap_energy_j, large_energy_j, cascade
    ).point(threshold)


def calibrate(
    scores: Sequence[float],
    cheap_quality: float | Sequence[float],
    large_quality: float | Sequence[float],
    cheap_energy_j: float | Sequence[float],
    large_energy_j: float | Sequence[float],
    *,
    target_large_share: float | None = None,
    quality_floor: float | None = None,
    cascade: bool = False,
    min_saving: float = 0.0,
) -> CalibrationResult:
    """Pick a threshold for a target large-model share or a quality floor.

    Args:
        scores: Scorer outputs (P(cheap good enough)) per calibration request.
        cheap_quality, large_quality: Per-request quality of each model's answer
            (or one number for all).
        cheap_energy_j, large_energy_j: Per-request energy of each model's call, J.
        target_large_share: In ``[0, 1]``: RouteLLM quantile method.
        quality_floor: E.g. ``0.95``: lowest energy with quality ``>=`` floor x large-only.
        cascade: Escalated requests pay the cheap and the large call.
        min_saving: With ``quality_floor``: the least share (0-1) of large-only energy
            the chosen threshold must save, else large-only is kept. Routing trades a
            quality risk (calibration sets are small) for energy; a threshold that
            saves only a few percent is not worth that risk.

    Exactly one of ``target_large_share`` and ``quality_floor`` must be given.
    """
    if (target_large_share is None) == (quality_floor is None):
        raise ValueError("give exactly one of target_large_share= or quality_floor=")
    data = _Data(scores, cheap_quality, large_quality, cheap_energy_j, large_energy_j, cascade)
    top = data.all_large_threshold()
    # a threshold of 1 means "always large", so a score of exactly 1 is reached by the
    # largest threshold below 1
    below_one = float(np.nextafter(1.0, 0.0))
    thresholds = sorted({*(min(v, below_one) for v in data.s.tolist()), top})
    curve = [data.point(t) for t in thresholds]
    large_only = data.point(top)
    cheap_only = data.point(min(float(data.s.min()), below_one))
    notes: list[str] = []

    if target_large_share is not None:
        if not 0.0 <= target_large_share <= 1.0:
            raise ValueError(f"target_large_share must be in [0, 1], got {target_large_share}")
        if target_large_share >= 1.0:
            threshold = top
        else:
            threshold = min(float(np.quantile(data.s, target_large_share)), below_one)
        method = f"quantile(target_large_share={target_large_share})"
        point = data.point(threshold)
    else:
        assert quality_floor is not None
        if quality_floor <= 0:
            raise ValueError(f"quality_floor must be > 0, got {quality_floor}")
        needed = quality_floor * large_only.quality
        feasible = [p for p in curve if p.quality >= needed - 1e-12]
        if not feasible:  # only possible with a floor above 1
            notes.append(f"no threshold reaches quality {needed:.4f}; using large-only")
            feasible = [large_only]
        point = min(feasible, key=lambda p: (p.energy_j, -p.quality, -p.threshold))
        if not 0.0 <= min_saving < 1.0:
            raise ValueError(f"min_saving must be in [0, 1), got {min_saving}")
        saving = 1.0 - point.energy_j / large_only.energy_j if large_only.energy_j > 0 else 0.0
        if point is not large_only and point.large_share < 1.0 and saving < min_saving:
            notes.append(
                f"best threshold saves {100 * saving:.1f} % < min_saving "
                f"{100 * min_saving:.1f} %; using large-only"
            )
            point = large_only
        threshold = point.threshold
        method = f"quality_floor({quality_floor})"
    return CalibrationResult(threshold, method, point, curve, large_only, cheap_only, notes)
