"""Profile a model's energy across prompt lengths and fit an :class:`EnergyCurve`.

Framework-free: the caller passes ``run_fn(token_ids)`` (one prefill plus a few
generated tokens on the real model) and a tokenizer with ``encode``; this
module builds prompts of exact token lengths from real text, measures every
call in its own :class:`~green_chain.energy.monitor.EnergyMonitor` window and
fits the curve. ``green-chain profile`` wires it to a local model.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from green_chain.energy.model import EnergyCurve
from green_chain.energy.monitor import EnergyMonitor

DEFAULT_LENGTHS: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096)


@dataclass(frozen=True)
class ProfilePoint:
    """One measured call: ``tokens`` prompt tokens took ``energy_j`` joules."""

    tokens: int
    energy_j: float
    duration_s: float
    uncertainty_j: float | None = None


@dataclass
class ProfileResult:
    """Every measured point and the curve fitted to them."""

    curve: EnergyCurve
    points: list[ProfilePoint] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    net_of_idle: bool = False

    def table(self) -> list[dict[str, float]]:
        """Per length: median energy and duration over repeats, and the curve's prediction."""
        rows = []
        for n in sorted({p.tokens for p in self.points}):
            pts = [p for p in self.points if p.tokens == n]
            rows.append(
                {
                    "tokens": n,
                    "repeats": len(pts),
                    "energy_j": statistics.median(p.energy_j for p in pts),
                    "duration_s": statistics.median(p.duration_s for p in pts),
                    "predicted_j": self.curve.predict(n),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "curve": self.curve.to_dict(),
            "net_of_idle": self.net_of_idle,
            "sources": self.sources,
            "points": [p.__dict__ for p in self.points],
        }


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (HF tokenizers), else ``encode(text)``."""
    try:
        ids = tokenizer.encode(text, add_special_tokens=False)
    except TypeError:
        ids = tokenizer.encode(text)
    return list(ids)


def prompt_ids(token_pool: Sequence[int], n_tokens: int) -> list[int]:
    """The first ``n_tokens`` ids of ``token_pool`` (repeated if the pool is shorter)."""
    if n_tokens <= 0:
        raise ValueError(f"prompt length must be >= 1 token, got {n_tokens}")
    if not token_pool:
        raise ValueError("cannot build prompts: the text encoded to zero tokens")
    reps = -(-n_tokens // len(token_pool))
    return (list(token_pool) * reps)[:n_tokens]


def parse_lengths(spec: str) -> list[int]:
    """``"64,128,256"`` -> ``[64, 128, 256]`` (sorted, unique, each >= 1)."""
    try:
        values = sorted({int(x) for x in spec.split(",") if x.strip()})
    except ValueError as exc:
        raise ValueError(f"--lengths must be comma-separated integers, got {spec!r}") from exc
    if len(values) < 3 or values[0] < 1:
        raise ValueError(f"--lengths needs at least 3 distinct lengths >= 1, got {spec!r}")
    return values


def profile_model(
    run_fn: Callable[[list[int]], Any],
    tokenizer: Any,
    lengths: Sequence[int],
    monitor: EnergyMonitor,
    *,
    text: str,
    repeats: int = 3,
    warmup: bool = True,
    model_name: str = "",
    device: str = "",
    on_point: Callable[[ProfilePoint], None] | None = None,
) -> ProfileResult:
    """Measure ``run_fn`` on prompts of every length and fit an energy curve.

    Args:
        run_fn: Runs the model on a list of token ids (prefill + generation).
        tokenizer: Object with ``encode(text)`` (a transformers tokenizer).
        lengths: Prompt lengths in tokens (at least 3 distinct).
        monitor: Energy monitor; with ``idle_power_w`` set, energies are net of idle.
        text: Real text the prompts are cut from (repeated if too short).
        repeats: Measured calls per length (>= 1).
        warmup: One unmeasured call first (loads caches, allocates buffers).
        on_point: Called after every measured call (progress output).

    Raises:
        RuntimeError: the monitor produced no energy figure (no meter available).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    lengths = sorted({int(n) for n in lengths})
    if len(lengths) < 3:
        raise ValueError(f"need at least 3 distinct lengths to fit a curve, got {lengths}")
    pool = encode(tokenizer, text)
    prompts = {n: prompt_ids(pool, n) for n in lengths}
    if warmup:
        run_fn(prompts[lengths[0]])
    net = bool(monitor.idle_power_w)
    points: list[ProfilePoint] = []
    kinds: set[str] = set()
    sources: set[str] = set()
    for n in lengths:
        for i in range(repeats):
            key = ("green-chain-profile", n, i)
            monitor.begin(key)
            try:
                run_fn(prompts[n])
            except BaseException:
                monitor.cancel(key)
                raise
            m = monitor.end(key)
            energy = m.net_total_j if net else m.total_j
            if energy is None:
                reasons = "; ".join(f"{k}: {v}" for k, v in m.unavailable_reasons.items())
                raise RuntimeError(
                    f"no energy figure for the {n}-token call: no meter available"
                    + (f" ({reasons})" if reasons else "")
                )
            kinds.add(m.kind or "measured")
            sources.update(m.sources)
            point = ProfilePoint(n, energy, m.duration_s, m.uncertainty_j)
            points.append(point)
            if on_point is not None:
                on_point(point)
    kind = kinds.pop() if len(kinds) == 1 else "mixed"
    curve = EnergyCurve.fit(
        [p.tokens for p in points],
        [p.energy_j for p in points],
        model_name=model_name,
        device=device,
        kind=kind,
        source=",".join(sorted(sources)),
    )
    return ProfileResult(curve, points, sorted(sources), net)
