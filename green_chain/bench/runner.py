"""Run each scenario's baseline and green chains on the same items, measured.

Per item and variant the runner opens an energy window on the shared
:class:`~green_chain.energy.monitor.EnergyMonitor` around the chain invocation,
captures the model calls and optimizer events (:mod:`green_chain.bench.capture`),
optionally attaches the project's energy callback handler, and afterwards - outside
every window - scores quality. A scenario that fails is reported with its reason and
the others still run.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.runnables import Runnable

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.components import OPTIMIZER_TAG, Components, model_name
from green_chain.bench.data import Root
from green_chain.bench.items import Item
from green_chain.bench.metrics import multiple_choice
from green_chain.bench.scenarios.base import GreenSettings, Scenario, ScenarioEnv
from green_chain.energy.monitor import EnergyMonitor

logger = logging.getLogger(__name__)

VARIANTS = ("baseline", "green")


@dataclass
class RunOptions:
    """How to run the benchmark.

    Attributes:
        n_items: Test items per scenario; ``None`` = each scenario's ``quick_items``
            when ``quick``, else the whole split.
        quick: Small fixed subset of every scenario.
        seed: Item selection and distractor seed.
        data_root: Data folder (``None`` = default).
        settings: Green chain knobs.
        etr_rates: Compression rates of the validated-ETR sweep (empty = no sweep).
        progress: Show progress bars.
        handler_factory: ``monitor -> callback handler``, called once per item and
            variant (the energy callback handler, whose records give the energy);
            ``None`` = the runner's own window.
        router_items: Calibration items the router is fitted on (``None`` = the
            scenario's ``router_items``, ``quick_router_items`` in quick).
        etr_scenarios: Scenarios the validated-ETR sweep runs on (``None`` = all
            compressible ones).
        etr_items: Test items of the sweep (``None`` = all).
        warm_up: Run each green chain once on a calibration item before measuring.
        route_cost_items: Router-fit items run on both models to measure their energy
            ratio (``None`` = the scenario's ``route_cost_items``; see
            :meth:`route_cost_items_for` for quick runs).
        executor: Runs the test items elsewhere (Ray workers); ``None`` = here. Router
            fitting, scoring and the validated-ETR sweep stay here.
    """

    n_items: int | None = None
    quick: bool = False
    seed: int = 0
    data_root: Root = None
    settings: GreenSettings = field(default_factory=GreenSettings)
    etr_rates: tuple[float, ...] = ()
    progress: bool = True
    handler_factory: Callable[[EnergyMonitor], Any] | None = None
    router_items: int | None = None
    etr_scenarios: tuple[str, ...] | None = None
    etr_items: int | None = None
    warm_up: bool = True
    route_cost_items: int | None = None
    executor: ItemExecutor | None = None

    def items_for(self, scenario: Scenario) -> int | None:
        if self.n_items is not None:
            return self.n_items
        return scenario.quick_items if self.quick else None

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


def _warm_up(scenario: Scenario, green: Runnable, calibration: Sequence[Item]) -> None:
    """Run the green chain once per warm-up item, unmeasured (optimizer caches, indexes).

    Building an example index or loading an encoder is a one-off setup cost of a
    deployment, not a per-request cost; it must not be charged to the first item.
    """
    for it in scenario.warmup_items(calibration):
        try:
            green.invoke(it.inputs)
        except Exception:  # the measured run will report the failure
            logger.debug("warm-up of %s failed", scenario.name, exc_info=True)


def _progress(iterable: Sequence[Any], desc: str, enabled: bool) -> Any:
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, leave=False)


def _handler_records(handler: Any) -> list[dict[str, Any]]:
    records = getattr(handler, "records", None)
    if records is None:
        return []
    try:
        out = records() if callable(records) else records
        return [dict(r) for r in out]
    except Exception:
        logger.debug("energy handler records unavailable", exc_info=True)
        return []


def handler_figures(records: Sequence[dict[str, Any]], root_id: str) -> dict[str, Any] | None:
    """The item's energy, optimizer energy and ETR from the energy handler's run records.

    ``root_id`` is the run id of the item's chain invocation. Returns ``None`` when the
    handler did not record that run (the caller falls back to its own window).
    """
    tree = [r for r in records if r.get("root_run_id") == root_id]
    root = next((r for r in tree if r.get("run_id") == root_id), None)
    if root is None or root.get("energy_j") is None:
        return None
    by_id = {r["run_id"]: r for r in tree}

    def tagged(r: dict[str, Any] | None) -> bool:
        return r is not None and OPTIMIZER_TAG in (r.get("tags") or [])

    opt_roots = [r for r in tree if tagged(r) and not tagged(by_id.get(r.get("parent_run_id")))]
    consumers = [
        r for r in tree if r.get("run_type") in ("chat_model", "llm") and r.get("etr") is not None
    ]
    sent = sum(r.get("prompt_tokens") or 0 for r in consumers)
    saved = sum(r.get("tokens_saved") or 0 for r in consumers)
    return {
        "energy_j": float(root["energy_j"]),
        "energy_kind": root.get("energy_kind"),
        "energy_sources": list(root.get("energy_sources") or []),
        "energy_uncertainty_j": root.get("energy_uncertainty_j"),
        "duration_s": root.get("duration_s"),
        "carbon_kg": root.get("carbon_kg"),
        "optimizer_energy_j": sum(r.get("energy_j") or 0.0 for r in opt_roots),
        "optimizer_runs": [
            {
                "name": r.get("name"),
                "energy_j": r.get("energy_j"),
                "duration_s": r.get("duration_s"),
                "error": r.get("error"),
            }
            for r in opt_roots
        ],
        # the handler's ETR: tokens sent / tokens the prompt had before the optimizers
        "etr_handler": sent / (sent + saved) if consumers and sent + saved > 0 else None,
        "handler_tokens_sent": sent if consumers else None,
        "handler_tokens_saved": saved if consumers else None,
    }


def run_item(
    chain: Runnable,
    item: Item,
    *,
    scenario: str,
    variant: str,
    monitor: EnergyMonitor,
    capture: CaptureHandler,
    handler: Any = None,
) -> dict[str, Any]:
    """Invoke ``chain`` on one item; return its record.

    With ``handler`` (the energy callback handler, one per item) the headline energy,
    the optimizers' own energy and the ETR come from the handler's run records
    (``energy_basis: "handler"``); the runner's own window around the call is kept as
    ``window_energy_j``, a cross-check. Without a handler the window is the figure.
    """
    key = ("bench", scenario, variant, item.id)
    callbacks: list[Any] = [capture] + ([handler] if handler is not None else [])
    root_id = uuid.uuid4()
    capture.reset()
    output, error = "", None
    monitor.begin(key)
    try:
        result = chain.invoke(
            item.inputs,
            config={
                "callbacks": callbacks,
                "run_name": f"{scenario}:{variant}",
                "run_id": root_id,
                "tags": ["green_chain:bench", variant],
                "metadata": {"item_id": item.id, "scenario": scenario, "variant": variant},
            },
        )
        output = result if isinstance(result, str) else str(getattr(result, "content", result))
    except Exception as exc:  # the item failed: recorded, the run goes on
        error = f"{type(exc).__name__}: {exc}"
    m = monitor.end(key)
    cap = capture.reset()
    leaves = cap.leaf_calls()
    final = cap.final_call()
    record: dict[str, Any] = {
        "item_id": item.id,
        "variant": variant,
        "energy_basis": "window",
        "energy_j": m.total_j,
        "energy_kind": m.kind,
        "energy_sources": m.sources,
        "energy_uncertainty_j": m.uncertainty_j,
        "duration_s": m.duration_s,
        "window_energy_j": m.total_j,
        "optimizer_energy_j": cap.optimizer_energy_j,
        "optimizer_runs": cap.optimizer_runs,
        "etr_handler": None,
        "prompt_tokens": sum(c.prompt_tokens or 0 for c in leaves),
        "completion_tokens": sum(c.completion_tokens or 0 for c in leaves),
        "optimizer_model_tokens": sum(
            (c.prompt_tokens or 0) + (c.completion_tokens or 0) for c in cap.calls if c.optimizer
        ),
        "calls": [c.to_dict() for c in leaves],
        "model": final.model_name if final else None,
        "optimizer_events": cap.optimizer_events,
        "routing": cap.routing,
        "output": output,
        "error": error,
        "_prompt": final.prompt if final else None,
    }
    if handler is not None:
        hrecs = _handler_records(handler)
        figures = handler_figures(hrecs, str(root_id))
        if figures is not None:
            record.update(figures, energy_basis="handler")
        record["handler_records"] = [r for r in hrecs if r.get("root_run_id") == str(root_id)]
    return record


def run_items(
    scenario: str,
    chains: dict[str, Runnable],
    items: Iterable[Item],
    monitor: EnergyMonitor,
    handler_factory: Callable[[EnergyMonitor], Any] | None = None,
) -> list[dict[str, Any]]:
    """Run both variants on each item, interleaved (drift hits both alike); unscored records."""
    capture = CaptureHandler(None if handler_factory else monitor)
    records: list[dict[str, Any]] = []
    for item in items:
        for variant in VARIANTS:
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
                )
            )
    return records


class ItemExecutor(Protocol):
    """Runs a scenario's test items somewhere else (e.g. :mod:`green_chain.bench.ray_executor`).

    ``run`` gets the scenario, the driver's env (calibration, settings, fitted router)
    and the test items; it returns one unscored record per item and variant, in item
    order, measured where the item ran (as :func:`run_items` returns them).
    """

    def run(
        self, scenario: Scenario, env: ScenarioEnv, items: Sequence[Item]
    ) -> list[dict[str, Any]]: ...


def score_records(
    scenario: Scenario,
    items: dict[str, Item],
    pool: Sequence[Item],
    records: list[dict[str, Any]],
    components: Components,
    seed: int,
) -> None:
    """Add quality to each record in place: generation metrics and the log-likelihood choice.

    ``quality`` is the multiple-choice correctness when a scorer is available, else the
    scenario's generation metric. Failed items score 0.
    """
    fallback_model = model_name(components.models["large"])
    for rec in records:
        item = items[rec["item_id"]]
        rec["metrics"] = scenario.score_generation(item, rec["output"]) if not rec["error"] else {}
        scorer = (
            components.scorer_normalized if scenario.normalized_for(item) else components.scorer
        )
        prompt = rec.pop("_prompt", None)
        if rec["error"]:
            rec["quality"] = 0.0
        elif scorer is not None and prompt is not None:
            wrong = scenario.candidates(item, pool, seed)
            mc = multiple_choice(
                scorer,
                rec["model"] or fallback_model,
                prompt,
                scenario.mc_text(item.reference, item),
                [scenario.mc_text(w, item) for w in wrong],
            )
            rec["metrics"].update(mc)
            rec["quality"] = mc["mc_correct"]
        else:
            rec["quality"] = float(rec["metrics"].get(scenario.generation_metric, 0.0))
        rec["quality_metric"] = "mc_correct" if scorer is not None else scenario.generation_metric


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
        if options.settings.route and components.route_fitter is not None:
            from green_chain.bench.routefit import router_items

            n_route = options.router_items_for(scenario)
            fit_items = router_items(split.calibration, n_route, options.seed)
            if fit_items:
                policy = components.route_fitter(scenario, env, fit_items, pool=split.calibration)
                env.route_policy = policy
                entry["router"] = policy.info
        if options.executor is not None:  # items run elsewhere (Ray workers), measured there
            records = options.executor.run(scenario, env, split.test)
        else:
            chains = {"baseline": scenario.baseline(env), "green": scenario.green(env)}
            if options.warm_up:
                _warm_up(scenario, chains["green"], split.calibration)
            records = run_items(
                scenario.name,
                chains,
                _progress(split.test, scenario.name, options.progress),
                monitor,
                options.handler_factory,
            )
        for variant in VARIANTS:
            errs = [r["error"] for r in records if r["variant"] == variant and r["error"]]
            if errs and len(errs) == len(split.test):
                raise RuntimeError(f"every {variant} item failed; first error: {errs[0]}")
        items = {it.id: it for it in split.test}
        score_records(scenario, items, pool, records, components, options.seed)
        entry["records"] = records
        entry["status"] = "ok"
        if (
            options.etr_rates
            and scenario.compressible
            and (options.etr_scenarios is None or scenario.name in options.etr_scenarios)
        ):
            from green_chain.bench.etr import validated_etr

            entry["validated_etr"] = validated_etr(
                scenario,
                env,
                split.test[: options.etr_items] if options.etr_items else split.test,
                pool,
                options.etr_rates,
                monitor,
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
) -> list[dict[str, Any]]:
    """Run every scenario in order; a failure never stops the others."""
    return [run_scenario(s, components, monitor, options, log=log) for s in scenarios]
