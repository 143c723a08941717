"""Run each scenario's baseline and green chains on the same items, measured.

Per item and variant (interleaved) :func:`~green_chain.bench.item_run.run_item` meters
the chain invocation with a fresh energy callback handler on the shared
:class:`~green_chain.energy.monitor.EnergyMonitor` and captures the model calls and
optimizer events (:mod:`green_chain.bench.capture`); afterwards - outside every
window - quality is scored. A scenario that fails is reported with its reason and
the others still run.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from langchain_core.runnables import Runnable

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.components import Components
from green_chain.bench.content_cache import BaselineCache
from green_chain.bench.data import Root
from green_chain.bench.etr import validated_etr
from green_chain.bench.item_run import (
    InPlaceProbe,
    ProbeCandidates,
    probe_candidates,
    run_item,
    score_records,
)
from green_chain.bench.items import Item
from green_chain.bench.records import ItemRecord
from green_chain.bench.same_calls import SAME_KEYS, same_calls
from green_chain.bench.scenarios.base import GreenSettings, Scenario, ScenarioEnv
from green_chain.bench.tuning import tuned_choices
from green_chain.bench.variants import VARIANTS, ablation_variants, build_chains
from green_chain.bench.warm_up import warm_up as _warm_up
from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor

logger = logging.getLogger(__name__)

#: Test items per scenario of the standard run (``green-chain bench`` with no flags).
STANDARD_ITEMS = 100


@dataclass
class RunOptions:
    """How to run the benchmark.

    Attributes:
        n_items: Test items per scenario; ``None`` = each scenario's ``quick_items``
            when ``quick``, else :data:`STANDARD_ITEMS` (all where the split is smaller).
        quick: Small fixed subset of every scenario.
        seed: Item selection and distractor seed.
        data_root: Data folder (``None`` = default).
        settings: Green chain knobs.
        etr_rates: Compression rates of the validated-ETR sweep (empty = no sweep).
        progress: Show progress bars.
        handler_factory: ``monitor -> EnergyCallbackHandler``, called once per item and
            variant (the benchmark's meter); ``None`` = an energy handler on ``monitor``
            with no hosted-API estimators.
        router_items: Calibration items the router is fitted on (``None`` = the
            scenario's ``router_items``, ``quick_router_items`` in quick).
        etr_scenarios: Scenarios the validated-ETR sweep runs on (``None`` = all
            compressible ones).
        etr_items: Calibration items of the sweep (``None`` = all); the sweep never
            touches test items and generates nothing.
        warm_up: Run each green chain once on a calibration item before measuring.
        route_cost_items: With probe route labels, the router-fit items run on both models
            to measure their energy ratio (``None`` = the scenario's ``route_cost_items``;
            see :meth:`route_cost_items_for` for quick runs); generated labels measure it
            on every fit item.
        executor: Runs the test items elsewhere (worker processes of ``--jobs N``, or Ray
            workers); ``None`` = here. Router fitting, scoring and the validated-ETR sweep
            stay here; the workers warm their own chains up (unmeasured: no ``warm_up_j``).
        cost_ratios: Cheap/large cost ratios by scenario recorded by an earlier run
            (``--route-costs``): reused instead of measured, so the same command on the
            same items routes the same way on a loaded or a quiet machine.
        ablation: Also run, per optimizer the scenario uses, the green chain with that
            optimizer alone (variant ``only:<optimizer>``) on the same items (here or on
            an ``executor``).
        baseline_cache: Scored baseline records by content
            (:mod:`green_chain.bench.content_cache`): a hit is taken (``cached: true``)
            instead of running that item's baseline; ``None`` = no cache.
        rerun_same: Run an ablation variant even when it makes the baseline's model calls,
            or the green chain's calls and optimizer work, on every test item
            (:mod:`green_chain.bench.same_calls`; off by default: its records are then
            that chain's, ``same_as: "baseline"`` or ``"green"``). On, the variant is an
            A/A measurement of the meter's noise.
        prompt_probe: Score the secondary prompt probe (``prompt_evidence_*``), unmetered:
            where each item ran, right after its window, through the variant's prefix
            cache (read only); in the driver for records that could not be probed there.
        route_labels: How the route fitter labels its items, passed as its ``labels=``
            (``"generated"`` or ``"probe"``, :mod:`green_chain.bench.routefit`); ``None`` =
            the fitter's default (generated answers).
    """

    n_items: int | None = None
    quick: bool = False
    seed: int = 0
    data_root: Root = None
    settings: GreenSettings = field(default_factory=GreenSettings)
    etr_rates: tuple[float, ...] = ()
    progress: bool = True
    handler_factory: Callable[[EnergyMonitor], EnergyCallbackHandler] | None = None
    router_items: int | None = None
    etr_scenarios: tuple[str, ...] | None = None
    etr_items: int | None = None
    warm_up: bool = True
    route_cost_items: int | None = None
    executor: ItemExecutor | None = None
    cost_ratios: dict[str, float] = field(default_factory=dict)
    ablation: bool = False
    rerun_same: bool = False
    prompt_probe: bool = True
    baseline_cache: BaselineCache | None = None
    route_labels: str | None = None

    def items_for(self, scenario: Scenario) -> int | None:
        if self.n_items is not None:
            return self.n_items
        return scenario.quick_items if self.quick else STANDARD_ITEMS

    def router_items_for(self, scenario: Scenario) -> int:
        """Calibration items the router is fitted on (fewer in ``--quick``)."""
        if self.router_items is not None:
            return self.router_items
        return scenario.quick_router_items if self.quick else scenario.router_items

    def route_cost_items_for(self, scenario: Scenario) -> int:
        """Router-fit items measuring the cheap/large energy ratio.

        In ``--quick`` one item, and only where answers may be long (a cap above 10
        tokens), since that is where the models' answer lengths can differ most;
        elsewhere quick runs use the fallback ratio (recorded as such).
        """
        if self.route_cost_items is not None:
            return self.route_cost_items
        if self.quick:
            return 1 if scenario.max_new_tokens > 10 else 0
        return scenario.route_cost_items


def _metered(monitor: EnergyMonitor, key: str, fn: Callable[[], Any]) -> tuple[Any, float | None]:
    """``fn()`` inside a meter window; its result and the window's joules (``None``: no reading)."""
    monitor.begin(key)
    try:
        result = fn()
    finally:
        m = monitor.end(key)
    return result, (None if m.total_j is None else float(m.total_j))


def _fit_runner(executor: Any, seen: list[ItemRecord]) -> Any:
    """``env.fit_runner`` for ``executor`` (``None`` where it cannot run router fits: the
    fit then runs in this process): its records are also appended to ``seen``."""
    run = getattr(executor, "run_both_models", None)
    if run is None:
        return None

    def fit_runner(scenario: Any, env: Any, items: Sequence[Item]) -> dict[str, Any]:
        out = run(scenario, env, items)
        seen.extend(rec for recs in out.values() for rec in recs)
        return out

    return fit_runner


def _add_worker_energy(
    driver_j: float | None, records: Sequence[ItemRecord]
) -> tuple[float | None, dict[str, Any]]:
    """A router fit's energy when its model calls ran on the workers: the driver's window
    (scoring, the scorer's fit) plus each call's energy measured where it ran; ``None``
    when either part has no reading. Returns it and ``router.fit_in_workers``."""
    worker_j = [r.energy_j for r in records]
    measured = all(j is not None for j in worker_j)
    total = sum(j for j in worker_j if j is not None)
    info = {
        "calls": len(records),
        "energy_j": total if measured else None,
        "driver_energy_j": driver_j,
        "workers": sorted({int(r.worker["pid"]) for r in records if r.worker}),
    }
    if driver_j is None or not measured:
        return None, info
    return driver_j + total, info


def one_off_costs(
    router_fit_j: float | None,
    warm_up_j: float | None,
    records: Sequence[ItemRecord],
    first_tier_fit_j: float | None = None,
) -> dict[str, Any]:
    """One-off costs of a scenario and the requests after which the green chain pays them off.

    The costs (joules, same meter as the items): fitting the router, fitting the first
    tier (embedding its labelled examples, choosing its threshold), warming the green
    chain up. ``break_even_requests`` = their sum / mean joules saved per request (clean
    item pairs); ``None`` when the green chain saves nothing per request.
    """
    total = (router_fit_j or 0.0) + (first_tier_fit_j or 0.0) + (warm_up_j or 0.0)
    pairs: dict[str, dict[str, ItemRecord]] = {}
    for r in records:
        pairs.setdefault(r.item_id, {})[r.variant] = r
    saved = [
        (p["baseline"].energy_j or 0.0) - (p["green"].energy_j or 0.0)
        for p in pairs.values()
        if {"baseline", "green"} <= set(p) and not p["baseline"].error and not p["green"].error
    ]
    per_request = sum(saved) / len(saved) if saved else None
    return {
        "router_fit_j": router_fit_j,
        "first_tier_fit_j": first_tier_fit_j,
        "warm_up_j": warm_up_j,
        "total_j": total,
        "saved_j_per_request": per_request,
        "break_even_requests": (
            math.ceil(total / per_request) if per_request and per_request > 0 else None
        ),
    }


def _progress(iterable: Sequence[Any], desc: str, enabled: bool) -> Any:
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, leave=False)


def copy_same_records(
    records: Sequence[ItemRecord],
    items: Sequence[Item],
    variants: Sequence[str],
    same: Mapping[str, str],
) -> list[ItemRecord]:
    """``records`` with, for each item and each variant in ``same``, a copy of the item's
    record of the chain it is the same as (``same[variant]``: ``"baseline"`` or
    ``"green"``; the copy says so in ``same_as``), in item order, variants in ``variants``
    order."""
    ran = {(r.item_id, r.variant): r for r in records}
    for it in items:
        for v, ref in same.items():
            ran[(it.id, v)] = replace(ran[(it.id, ref)], variant=v, same_as=ref)
    return [ran[(it.id, v)] for it in items for v in variants if (it.id, v) in ran]


def run_items(
    scenario: str,
    chains: dict[str, Runnable],
    items: Iterable[Item],
    monitor: EnergyMonitor,
    handler_factory: Callable[[EnergyMonitor], EnergyCallbackHandler] | None = None,
    skip_baseline: Collection[str] = (),
    probe: InPlaceProbe | None = None,
) -> list[ItemRecord]:
    """Run every variant of ``chains`` on each item, interleaved (drift hits all alike).

    Returns unscored records, item by item, variants in ``chains`` order; the items in
    ``skip_baseline`` (ids whose baseline record is cached) get no baseline record.
    ``probe`` scores each record's prompt probe right after its metered window.
    """
    capture = CaptureHandler()
    records: list[ItemRecord] = []
    for item in items:
        for variant in chains:
            if variant == "baseline" and item.id in skip_baseline:
                continue
            handler = handler_factory(monitor) if handler_factory else None
            records.append(
                run_item(
                    chains[variant],
                    item,
                    scenario=scenario,
                    variant=variant,
                    monitor=monitor,
                    capture=capture,
                    handler=handler,
                    probe=probe,
                )
            )
    return records


class ItemExecutor(Protocol):
    """Runs a scenario's test items somewhere else (e.g. :mod:`green_chain.bench.ray_executor`).

    ``run`` gets the scenario, the driver's env (calibration, settings, fitted router)
    and the test items; it builds the chains with :func:`build_chains` (``ablation``: the
    ablation variants too), warms each up once where it runs (``warm_up``), and returns one
    unscored record per item and variant, in item order, measured where the item ran (as
    :func:`run_items` returns them; no baseline record for the ids in ``skip_baseline``,
    no record of the variants in ``skip_variants``). With ``probe`` (candidates by item id)
    each record's prompt probe is scored where it ran, after its window
    (:class:`~green_chain.bench.item_run.InPlaceProbe`).
    """

    def run(
        self,
        scenario: Scenario,
        env: ScenarioEnv,
        items: Sequence[Item],
        *,
        ablation: bool = False,
        warm_up: bool = True,
        skip_baseline: Collection[str] = (),
        skip_variants: Collection[str] = (),
        probe: Mapping[str, ProbeCandidates] | None = None,
    ) -> list[ItemRecord]: ...


def run_scenario(
    scenario: Scenario,
    components: Components,
    monitor: EnergyMonitor,
    options: RunOptions,
    *,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run one scenario; returns its entry of results.json (``status`` ok or failed)."""
    entry: dict[str, Any] = {"name": scenario.name, "title": scenario.title, **scenario.describe()}
    started = time.monotonic()
    try:
        split = scenario.split(options.data_root, options.items_for(scenario), options.seed)
        entry["item_ids"] = [it.id for it in split.test]
        entry["calibration_ids"] = [it.id for it in split.calibration]
        if not split.test:
            raise ValueError(
                f"no test items left for {scenario.name} after holding out calibration"
            )
        pool = [*split.test, *split.calibration]
        env = ScenarioEnv(
            components,
            split.calibration,
            options.settings,
            options.seed,
            stop=scenario.stop,
            first_line=scenario.first_line,
            monitor=monitor,
            route_cost_items=options.route_cost_items_for(scenario),
        )
        entry["answer_cap"] = scenario.answer_cap(env)
        router_fit_j: float | None = None
        if options.settings.route and components.route_fitter is not None:
            from green_chain.bench.routefit import router_items

            n_route = options.router_items_for(scenario)
            fit_items = router_items(split.calibration, n_route, options.seed)
            if fit_items:
                extra: dict[str, Any] = {}
                if scenario.name in options.cost_ratios:
                    extra["cost_ratio"] = options.cost_ratios[scenario.name]
                if options.route_labels is not None:
                    extra["labels"] = options.route_labels
                fitter = components.route_fitter
                in_workers: list[ItemRecord] = []
                env.fit_runner = _fit_runner(options.executor, in_workers)
                try:
                    policy, router_fit_j = _metered(
                        monitor,
                        f"route-fit:{scenario.name}",
                        lambda: fitter(scenario, env, fit_items, pool=split.calibration, **extra),
                    )
                finally:
                    env.fit_runner = None
                env.route_policy = policy
                entry["router"] = policy.info
                if in_workers:  # the fit's model calls, metered where they ran
                    router_fit_j, entry["router"]["fit_in_workers"] = _add_worker_energy(
                        router_fit_j, in_workers
                    )
        first_tier_fit_j: float | None = None
        if options.settings.first_tier:
            fitted, fit_j = _metered(
                monitor, f"first-tier-fit:{scenario.name}", lambda: scenario.fit_first_tier(env)
            )
            first_tier_fit_j = fit_j if fitted else None
        entry["tuned"] = tuned_choices(
            scenario, env, entry.get("router"), split.test, seed=options.seed
        )
        records: list[ItemRecord]
        warm_up_j: float | None = None
        ablation = ablation_variants(scenario, options.settings) if options.ablation else []
        if ablation:
            entry["ablation_variants"] = ablation
        variants: list[str] = [*VARIANTS, *ablation]
        same: dict[str, str] = {}  # {variant: the chain it is the same as}
        if ablation and not options.rerun_same:
            same = same_calls(scenario, env, ablation, split.test)
            for ref, (key, reason) in SAME_KEYS.items():
                found = [v for v, r in same.items() if r == ref]
                if found:
                    entry[key] = {v: reason for v in found}
                    log(f"{scenario.name}: {', '.join(found)}: the {ref} chain's calls, not re-run")
        cache = options.baseline_cache
        keys = {it.id: cache.key(scenario, env, it) for it in split.test} if cache else {}
        hits = {i: r for i, k in keys.items() if cache and (r := cache.get(k)) is not None}
        if hits:
            log(f"{scenario.name}: {len(hits)} baseline record(s) from the content cache")
        candidates = (
            probe_candidates(scenario, split.test, pool, options.seed)
            if options.prompt_probe
            else None
        )
        if options.executor is not None:  # items run elsewhere (worker processes), measured there
            records = options.executor.run(
                scenario,
                env,
                split.test,
                ablation=options.ablation,
                warm_up=options.warm_up,
                skip_baseline=set(hits),
                skip_variants=set(same),
                probe=candidates,
            )
        else:
            chains = build_chains(scenario, env, ablation=options.ablation, skip=same)
            if options.warm_up:
                entry["warm_up"], warm_up_j = _metered(
                    monitor,
                    f"warm-up:{scenario.name}",
                    lambda: _warm_up(
                        scenario,
                        chains["green"],
                        split.calibration,
                        log,
                        components=components,
                        cache_salt="green",
                    ),
                )
                for v in (v for v in ablation if v not in same):  # unmeasured, not one-off
                    _warm_up(
                        scenario,
                        chains[v],
                        split.calibration,
                        log,
                        components=components,
                        cache_salt=v,
                    )
            records = run_items(
                scenario.name,
                chains,
                _progress(split.test, scenario.name, options.progress),
                monitor,
                options.handler_factory,
                skip_baseline=set(hits),
                probe=InPlaceProbe(components, candidates) if candidates is not None else None,
            )
        if hits:  # the cached baselines back in their places (item order, variant order)
            ran = {(r.item_id, r.variant): r for r in records}
            ran.update({(i, "baseline"): r for i, r in hits.items()})
            records = [ran[(it.id, v)] for it in split.test for v in variants if v not in same]
        if same:
            records = copy_same_records(records, split.test, variants, same)
        for variant in variants:
            errs = [r.error for r in records if r.variant == variant and r.error]
            if variant in VARIANTS and errs and len(errs) == len(split.test):
                raise RuntimeError(f"every {variant} item failed; first error: {errs[0]}")
            for err in errs[:3]:
                log(f"{scenario.name}: a {variant} item failed: {err}")
        entry["one_off"] = one_off_costs(
            router_fit_j,
            warm_up_j,
            [r for r in records if r.variant in VARIANTS],
            first_tier_fit_j=first_tier_fit_j,
        )
        items = {it.id: it for it in split.test}
        scoring_started = (time.monotonic(), time.process_time())
        probe_paths = score_records(
            scenario,
            items,
            pool,
            records,
            components,
            options.seed,
            prompt_probe=options.prompt_probe,
        )
        # the driver's scoring cost, and the in-place probes' (unmetered: outside every
        # energy window); ``prompt_probe`` says where the probe was scored
        entry["scoring"] = {
            "wall_s": round(time.monotonic() - scoring_started[0], 2),
            "cpu_s": round(time.process_time() - scoring_started[1], 2),
            **probe_paths,
        }
        if cache is not None:
            for rec in records:
                cache.put(keys[rec.item_id], rec)  # new, clean baseline records only
            entry["baseline_cache_hits"] = len(hits)
        entry["quality_chance"] = sum(scenario.chance_quality(it) for it in split.test) / len(
            split.test
        )
        entry["records"] = [r.to_dict() for r in records]
        entry["status"] = "ok"
        if (
            options.etr_rates
            and scenario.compressible
            and (options.etr_scenarios is None or scenario.name in options.etr_scenarios)
        ):
            cal = split.calibration
            entry["validated_etr"] = validated_etr(
                scenario,
                env,
                cal[: options.etr_items] if options.etr_items else cal,
                cal,
                options.etr_rates,
            )
    except Exception as exc:
        entry["status"] = "failed"
        entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["traceback"] = traceback.format_exc(limit=8)
        entry.setdefault("records", [])
        log(f"scenario {scenario.name} failed: {entry['error']}")
    entry["elapsed_s"] = round(time.monotonic() - started, 1)
    if entry["status"] == "ok":
        log(f"scenario {scenario.name}: {len(entry['item_ids'])} item(s) in {entry['elapsed_s']} s")
    return entry


def run_benchmark(
    scenarios: Sequence[Scenario],
    components: Components,
    monitor: EnergyMonitor,
    options: RunOptions,
    *,
    log: Callable[[str], None] = print,
    checkpoint_dir: str | Path | None = None,
    fingerprint: Any = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """Run every scenario in order; a failure never stops the others.

    With ``checkpoint_dir`` each finished scenario is saved there
    (:mod:`green_chain.bench.checkpoint`); with ``resume`` a scenario already saved under
    the same ``fingerprint`` is taken from its checkpoint (``resumed: true``) instead of
    being run again.
    """
    from green_chain.bench import checkpoint

    entries = []
    for s in scenarios:
        saved = (
            checkpoint.load(checkpoint_dir, s.name, fingerprint)
            if resume and checkpoint_dir is not None
            else None
        )
        if saved is not None:
            log(f"scenario {s.name}: resumed from its checkpoint")
            entries.append({**saved, "resumed": True})
            continue
        entry = run_scenario(s, components, monitor, options, log=log)
        if checkpoint_dir is not None and entry["status"] == "ok":
            checkpoint.save(checkpoint_dir, entry, fingerprint)
        entries.append(entry)
    return entries
