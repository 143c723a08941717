"""Validated ETR: the smallest share of tokens that keeps quality within 5 %.

For a compression scenario, the green chain (routing off, so only compression
changes) runs at each rate of a sweep; rate 1.0 is the uncompressed prompt. The
validated rate is the smallest rate whose quality is at least ``1 - tolerance`` of
the uncompressed quality; its token share is measured prompt tokens over the
uncompressed prompt tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.item_run import run_item, score_records
from green_chain.bench.items import Item
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv
from green_chain.energy.monitor import EnergyMonitor


def pick_validated(
    points: Sequence[dict[str, Any]], tolerance: float = 0.05
) -> dict[str, Any] | None:
    """The point with the smallest ``rate`` whose ``quality`` >= (1 - tolerance) x the rate-1.0 quality."""
    ref = next((p for p in points if p["rate"] >= 1.0), None)
    if ref is None:
        raise ValueError("the sweep needs rate 1.0 (the uncompressed prompt) as reference")
    ok = [p for p in points if p["quality"] >= (1.0 - tolerance) * ref["quality"]]
    return min(ok, key=lambda p: p["rate"]) if ok else None


def validated_etr(
    scenario: Scenario,
    env: ScenarioEnv,
    items: Sequence[Item],
    pool: Sequence[Item],
    rates: Sequence[float],
    monitor: EnergyMonitor,
    tolerance: float = 0.05,
) -> dict[str, Any]:
    """Run the rate sweep on ``items`` and return the sweep and the validated point."""
    if any(not 0 < r <= 1 for r in rates):
        raise ValueError(f"compression rates must be in (0, 1], got {list(rates)}")
    sweep = sorted({1.0, *rates}, reverse=True)
    by_id = {it.id: it for it in items}
    points: list[dict[str, Any]] = []
    for rate in sweep:
        settings = replace(env.settings, compress=rate < 1.0, compression_rate=rate, route=False)
        chain = scenario.green(replace(env, settings=settings))
        capture = CaptureHandler()
        records = [
            run_item(
                chain,
                it,
                scenario=f"{scenario.name}@{rate}",
                variant="green",
                monitor=monitor,
                capture=capture,
            )
            for it in items
        ]
        score_records(scenario, by_id, pool, records, env.components, env.seed)
        n = max(len(records), 1)
        points.append(
            {
                "rate": rate,
                "quality": sum(r.quality or 0.0 for r in records) / n,
                "prompt_tokens": sum(r.prompt_tokens for r in records) / n,
                "energy_j": sum(r.energy_j or 0.0 for r in records) / n,
                "errors": sum(1 for r in records if r.error),
            }
        )
    ref_tokens = points[0]["prompt_tokens"] or None
    for p in points:
        p["token_share"] = (p["prompt_tokens"] / ref_tokens) if ref_tokens else None
    best = pick_validated(points, tolerance)
    return {
        "tolerance": tolerance,
        "item_ids": [it.id for it in items],
        "sweep": points,
        "validated_rate": best["rate"] if best else None,
        "validated_token_share": best["token_share"] if best else None,
    }
