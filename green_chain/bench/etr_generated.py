"""The compression-rate sweep judged on the answers the model generates (calibration items).

:func:`~green_chain.bench.etr.validated_etr` judges a rate by the prompt probe: whether the
gold answer is still the most likely continuation of the compressed prompt. That is cheap
(nothing is generated) but it is not the benchmark's quality: on NQ the frozen rate 0.33,
validated by the probe on 6 calibration items, cost 9.9 F1 points [-18.3, -2.1] on the
generated answers of the test items (run-3917156). :func:`generated_sweep` judges each rate
the way the benchmark judges a test item: the green chain with compression alone (every
other optimizer off, so nothing else changes) answers each calibration item with the
large model, and the answer is scored by the scenario's own metric
(:func:`~green_chain.bench.item_run.score_records`). For each rate it reports the mean
quality, the paired difference from the uncompressed prompt with a seeded paired-bootstrap
95 % interval (:func:`~green_chain.bench.stats.paired_bootstrap`), the prompt tokens and the
calls' energy. The validated rate is the smallest whose mean quality is at least
``1 - tolerance`` of the uncompressed prompt's (:func:`~green_chain.bench.etr.pick_validated`,
the probe sweep's rule), and ``validated_rate_ci`` the smallest whose interval's lower bound
is at least ``-tolerance`` x that quality (a rate the items cannot tell apart from no
compression). Items must be calibration items: it is a tuning step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.etr import pick_validated
from green_chain.bench.item_run import run_item, score_records
from green_chain.bench.items import Item
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv
from green_chain.bench.stats import PairedSample, paired_bootstrap
from green_chain.energy.monitor import EnergyMonitor
from green_chain.routing.decision import model_name
from green_chain.tokens import count_tokens


def generated_sweep(
    scenario: Scenario,
    env: ScenarioEnv,
    items: Sequence[Item],
    rates: Sequence[float],
    *,
    tolerance: float = 0.05,
    monitor: EnergyMonitor | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Generate an answer per calibration item at rate 1.0 and each of ``rates``; score them.

    Returns ``sweep`` (per rate: ``quality``, ``quality_delta_pts`` and its
    ``quality_delta_ci95`` against rate 1.0, ``prompt_tokens``, ``token_share``,
    ``energy_j``, ``failed``), ``per_item`` (each rate's item qualities, in ``item_ids``
    order), ``validated_rate`` / ``validated_rate_ci`` (module doc) and what was measured.

    Raises:
        ValueError: a rate outside (0, 1], no items, or a scenario that does not compress.
    """
    if any(not 0 < r <= 1 for r in rates):
        raise ValueError(f"rates must be in (0, 1], got {list(rates)}")
    if not items:
        raise ValueError(f"{scenario.name}: the generated sweep needs calibration items")
    if not scenario.compressible:
        raise ValueError(f"{scenario.name} has no compression to sweep")
    monitor = monitor if monitor is not None else EnergyMonitor()
    by_id = {it.id: it for it in items}
    large = model_name(env.components.models["large"])
    capture = CaptureHandler()
    points: list[dict[str, Any]] = []
    per_item: dict[str, list[float]] = {}
    for rate in sorted({1.0, *rates}, reverse=True):
        settings = replace(
            env.settings.only("compress"), compress=rate < 1.0, compression_rate=rate
        )
        chain = scenario.green(replace(env, settings=settings, cache_salt=f"sweep:{rate}"))
        records = [
            run_item(
                chain,
                it,
                scenario=scenario.name,
                variant=f"sweep:{rate}",
                monitor=monitor,
                capture=capture,
            )
            for it in items
        ]
        score_records(scenario, by_id, items, records, env.components, env.seed, prompt_probe=False)
        quality = [float(r.quality or 0.0) for r in records]
        energy = [r.energy_j for r in records]
        per_item[str(rate)] = quality
        points.append(
            {
                "rate": rate,
                "quality": sum(quality) / len(quality),
                # the final call's prompt, counted as the probe sweep counts it
                "prompt_tokens": sum(count_tokens(r.prompt or "", large).tokens for r in records)
                / len(records),
                "energy_j": sum(e for e in energy if e is not None)
                if all(e is not None for e in energy)
                else None,
                "failed": sum(1 for r in records if r.error),
            }
        )
    ref = points[0]
    for p in points:
        p["token_share"] = (
            p["prompt_tokens"] / ref["prompt_tokens"] if ref["prompt_tokens"] else None
        )
        base_q, rate_q = per_item["1.0"], per_item[str(p["rate"])]
        sample = PairedSample([1.0] * len(base_q), [1.0] * len(rate_q), base_q, rate_q)
        stats = paired_bootstrap(sample, n_resamples=n_resamples, seed=seed)
        p["quality_delta_pts"] = stats["quality_delta_pts"]
        p["quality_delta_ci95"] = stats["quality_delta_ci95"]
    best = pick_validated(points, tolerance)
    floor_pts = -tolerance * ref["quality"] * 100.0
    ci_ok = [
        p for p in points if p["quality_delta_ci95"] and p["quality_delta_ci95"][0] >= floor_pts
    ]
    best_ci = min(ci_ok, key=lambda p: p["rate"]) if ci_ok else None
    return {
        "tolerance": tolerance,
        "quality": f"{scenario.generation_metric} on the large model's generated answers",
        "chain": "green with compression alone (every other optimizer off)",
        "item_ids": [it.id for it in items],
        "items_from": "calibration",
        "sweep": points,
        "per_item": per_item,
        "validated_rate": best["rate"] if best else None,
        "validated_rate_ci": best_ci["rate"] if best_ci else None,
    }


__all__ = ["generated_sweep"]
