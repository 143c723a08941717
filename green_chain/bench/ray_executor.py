"""Run the benchmark's test items as Ray tasks on an existing cluster (``bench --ray``).

The driver (``green-chain bench``) keeps what needs the whole split: it selects the
items, fits each scenario's router on its calibration items, scores quality and runs
the validated-ETR sweep. The test items go to a pool of :class:`BenchWorker` actors,
one per ``cpus_per_worker`` CPUs of the cluster. Each actor loads its models once (at
start), builds and warms a scenario's chains once, and runs items as the local runner
does (both variants, interleaved), each inside an energy window of *its own* monitor:
every record says which host (hashed, as ``environment.machine.hostname_hash``),
process and meters measured it (``worker``). Records come back in item order, so the
run writes the same files as a local one.

Ray is an optional extra: ``pip install 'green-chain[ray]'``. Workers must be able to
import ``green_chain`` (installed on every node, or a Ray ``runtime_env``).
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from green_chain.bench.components import Components, uncached
from green_chain.bench.item_run import InPlaceProbe, ProbeCandidates
from green_chain.bench.items import Item
from green_chain.bench.records import ItemRecord
from green_chain.bench.scenarios.base import GreenSettings, Scenario, ScenarioEnv
from green_chain.energy.monitor import EnergyMonitor

#: ``() -> (components, monitor)``, called once in each worker process.
WorkerSetup = Callable[[], tuple[Components, EnergyMonitor]]
#: ``--ray`` value that starts a local Ray instance instead of joining a cluster.
LOCAL = "local"


def default_worker_setup(
    compressor: str | None = None, prefix_cache: bool = True
) -> tuple[Components, EnergyMonitor]:
    """The real components (packaged local models) and an energy monitor of this host."""
    from green_chain.bench.components import DEFAULT_COMPRESSOR, default_components

    comps = default_components(
        compressor=compressor or DEFAULT_COMPRESSOR, prefix_cache=prefix_cache
    )
    return comps, EnergyMonitor()


def meter_info(monitor: EnergyMonitor) -> list[dict[str, Any]]:
    """The monitor's meters: domain, source, kind (measured or estimated), description."""
    return [
        {"domain": d.domain, "source": d.source, "kind": d.kind, "description": d.description}
        for d in monitor.domains.values()
    ]


def _detached(obj: Any) -> tuple[Any, bool]:
    """A shallow copy of ``obj`` without its embeddings model (``_embeddings``), and
    whether it had one: workers re-attach their own copy of the same packaged model."""
    out = copy.copy(obj)
    needs = getattr(out, "_embeddings", None) is not None
    if needs:
        out._embeddings = None
    return out, needs


def _detach_policy(policy: Any) -> tuple[Any, bool]:
    """A copy of the fitted router policy to ship, without the driver's embeddings model.

    The embedding scorer keeps its (large) embeddings model; workers re-attach their own
    copy of the same packaged model. Returns ``(policy, needs_embeddings)``.
    """
    if policy is None:
        return None, False
    scorer, needs = _detached(policy.scorer)
    shipped = copy.copy(policy)
    shipped.scorer = scorer
    return shipped, needs


def _ship_first_tiers(scenario: Scenario, env: ScenarioEnv) -> dict[str, tuple[Any, bool]]:
    """The driver's fitted first tiers, detached, by (member) scenario name: ``{name:
    (tier, needs_embeddings)}``. A tier that cannot be pickled is left out (that worker
    fits its own, unmetered, as before)."""
    shipped: dict[str, tuple[Any, bool]] = {}
    for name, tier in scenario.fitted_first_tiers(env).items():
        detached = _detached(tier)
        try:
            pickle.dumps(detached)
        except Exception:  # e.g. a test factory's closure
            continue
        shipped[name] = detached
    return shipped


def scenario_spec(
    scenario: Scenario,
    env: ScenarioEnv,
    *,
    ablation: bool,
    warm_up: bool,
    skip: Collection[str] = (),
    probe: Mapping[str, ProbeCandidates] | None = None,
) -> dict[str, Any]:
    """What a worker needs to build ``scenario``'s chains as the driver would (picklable);
    ``probe``: the prompt probe's candidates by item id (the driver holds the pool), to
    probe each record where it runs (``None``: no probe there). The driver's fitted first
    tiers go along (``first_tiers``), so workers use the fit the run metered."""
    policy, needs = _detach_policy(env.route_policy)
    settings: GreenSettings = env.settings
    return {
        "scenario": scenario.name,
        "calibration": list(env.calibration),
        "settings": settings,
        "seed": env.seed,
        "route_policy": policy,
        "policy_needs_embeddings": needs,
        "ablation": ablation,
        "warm_up": warm_up,
        "skip_variants": sorted(skip),
        "probe": None if probe is None else dict(probe),
        "first_tiers": _ship_first_tiers(scenario, env),
    }


def fit_spec(scenario: Scenario, env: ScenarioEnv) -> dict[str, Any]:
    """What a worker needs to build ``scenario``'s router-fit chains as the driver would
    (:func:`~green_chain.bench.routefit.both_model_chains`; picklable)."""
    return {
        "scenario": scenario.name,
        "calibration": list(env.calibration),
        "settings": env.settings,
        "seed": env.seed,
    }


@dataclass
class _Prepared:
    scenario: Scenario
    chains: dict[str, Any]
    probe: InPlaceProbe | None = None


class BenchWorker:
    """One worker process: its models, its monitor, and the chains of the scenarios it runs."""

    def __init__(
        self,
        setup: WorkerSetup,
        threads: int | None,
        handler_factory: Callable[[EnergyMonitor], Any] | None,
    ) -> None:
        if threads:
            from green_chain.bench.threads import limit_threads

            limit_threads(threads)  # torch, OpenMP and numpy's BLAS alike
        from green_chain.bench.document import hash_host

        self.components, self.monitor = setup()
        self.components.warm_up()
        self.handler_factory = handler_factory
        self.identity = {
            "host": hash_host(),
            "pid": os.getpid(),
            "meters": meter_info(self.monitor),
        }
        self._prepared: dict[str, _Prepared] = {}
        self._fit_chains: dict[str, tuple[Scenario, dict[str, Any]]] = {}

    def info(self) -> dict[str, Any]:
        return self.identity

    def prepare(self, key: str, spec: dict[str, Any]) -> None:
        """Build (and warm up) one scenario's chains for this run, once per worker.

        ``spec``: what :func:`scenario_spec` ships (scenario name, calibration items,
        settings, seed, the fitted router and first tiers, ``ablation``, ``warm_up``,
        ``probe``).
        """
        from green_chain.bench.scenarios import get_scenarios
        from green_chain.bench.variants import build_chains
        from green_chain.bench.warm_up import warm_up

        (scenario,) = get_scenarios([spec["scenario"]])
        policy = spec["route_policy"]
        if policy is not None and spec["policy_needs_embeddings"]:
            policy.scorer._embeddings = self.components.embeddings
        calibration: list[Item] = spec["calibration"]
        env = ScenarioEnv(
            self.components,
            calibration,
            spec["settings"],
            spec["seed"],
            stop=scenario.stop,
            first_line=scenario.first_line,
            route_policy=policy,
            monitor=self.monitor,
        )
        tiers = {}
        for name, (tier, needs) in (spec.get("first_tiers") or {}).items():
            if needs:
                tier._embeddings = uncached(self.components.embeddings)
            tiers[name] = tier
        scenario.adopt_first_tiers(env, tiers)
        chains = build_chains(
            scenario,
            env,
            ablation=bool(spec.get("ablation")),
            skip=spec.get("skip_variants") or (),
        )
        if spec["warm_up"]:
            for variant, chain in chains.items():
                if variant != "baseline":  # the green chain and its ablation variants
                    warm_up(
                        scenario,
                        chain,
                        calibration,
                        components=self.components,
                        cache_salt=variant,
                    )
        cands = spec.get("probe")
        probe = InPlaceProbe(self.components, cands) if cands is not None else None
        self._prepared[key] = _Prepared(scenario, chains, probe)

    def prepared(self, key: str) -> bool:
        """Whether this worker has built the chains of ``key``."""
        return key in self._prepared

    def ensure(self, key: str, spec: dict[str, Any]) -> None:
        """Prepare ``key`` unless it is; forget every other scenario (one at a time)."""
        if key in self._prepared:
            return
        self._prepared.clear()
        self.prepare(key, spec)

    def run(self, key: str, item: Item, skip_baseline: bool = False) -> list[ItemRecord]:
        """Every variant on one item (the baseline not if ``skip_baseline``: it is cached),
        measured here; the records name this worker."""
        from green_chain.bench.runner import run_items

        prepared = self._prepared[key]
        records = run_items(
            prepared.scenario.name,
            prepared.chains,
            [item],
            self.monitor,
            self.handler_factory,
            skip_baseline={item.id} if skip_baseline else (),
            probe=prepared.probe,
        )
        for rec in records:
            rec.worker = dict(self.identity)
        return records

    def fit_ready(self, key: str) -> bool:
        """Whether this worker has built the router-fit chains of ``key``."""
        return key in self._fit_chains

    def run_fit(self, key: str, spec: dict[str, Any] | None, item: Item) -> dict[str, ItemRecord]:
        """One router-fit item with the cheap and with the large model, measured here
        (:func:`~green_chain.bench.routefit.run_on_both`); the two chains are built once
        per ``key`` from ``spec`` (:func:`fit_spec`; ``None`` once built); the records
        name this worker."""
        from green_chain.bench.routefit import both_model_chains, run_on_both
        from green_chain.bench.scenarios import get_scenarios

        if key not in self._fit_chains:
            if spec is None:
                raise RuntimeError(f"router-fit chains of {key} not built and no spec given")
            self._fit_chains.clear()
            (scenario,) = get_scenarios([spec["scenario"]])
            env = ScenarioEnv(
                self.components,
                spec["calibration"],
                spec["settings"],
                spec["seed"],
                stop=scenario.stop,
                first_line=scenario.first_line,
                monitor=self.monitor,
            )
            self._fit_chains[key] = (scenario, both_model_chains(scenario, env))
        scenario, chains = self._fit_chains[key]
        records = run_on_both(scenario, chains, item, self.monitor)
        for rec in records.values():
            rec.worker = dict(self.identity)
        return records

    def forget(self, key: str) -> None:
        self._prepared.pop(key, None)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(
            f"--ray needs Ray ({exc}); install it with `pip install 'green-chain[ray]'`"
        ) from exc
    return ray


class RayExecutor:
    """Runs test items on a pool of :class:`BenchWorker` actors (a runner ``ItemExecutor``).

    Args:
        address: A Ray cluster address (``ray://host:10001``, ``auto``, ``host:6379``), or
            ``"local"`` to start a local Ray instance for this run.
        workers: Actors in the pool (``None``: the cluster's CPUs / ``cpus_per_worker``).
        cpus_per_worker: CPUs each actor reserves (and its torch threads).
        setup: ``() -> (components, monitor)`` run once in each actor (default: the real
            packaged models and this host's meters).
        handler_factory: The energy callback handler per item and variant, as locally.
        local_cpus: CPUs of a ``"local"`` instance (``None``: ``workers * cpus_per_worker``,
            or Ray's default without ``workers``).
    """

    def __init__(
        self,
        address: str,
        *,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        setup: WorkerSetup | None = None,
        handler_factory: Callable[[EnergyMonitor], Any] | None = None,
        local_cpus: int | None = None,
    ) -> None:
        if not address:
            raise ValueError("--ray needs a cluster address or 'local'")
        if workers is not None and workers < 1:
            raise ValueError(f"--ray-workers must be >= 1, got {workers}")
        if cpus_per_worker <= 0:
            raise ValueError(f"--ray-cpus-per-worker must be > 0, got {cpus_per_worker}")
        self.address = address
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.setup = setup or partial(default_worker_setup, None)
        self.handler_factory = handler_factory
        self.local_cpus = local_cpus
        self._actors: list[Any] = []
        self._identities: list[dict[str, Any]] = []
        self._started_ray = False

    def start(self) -> None:
        """Connect to (or start) Ray and create the worker pool; each worker loads its models."""
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address == LOCAL:
                cpus = self.local_cpus
                if cpus is None and self.workers is not None:
                    cpus = math.ceil(self.workers * self.cpus_per_worker)
                if cpus is not None:
                    kwargs["num_cpus"] = cpus
            else:
                kwargs["address"] = self.address
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError) as exc:
                raise RuntimeError(f"--ray {self.address}: cannot connect to Ray ({exc})") from exc
            self._started_ray = True
        n = self.workers
        if n is None:
            cluster_cpus = float(ray.cluster_resources().get("CPU", 1.0))
            n = max(1, int(cluster_cpus // self.cpus_per_worker))
        threads = max(1, int(self.cpus_per_worker))
        actor_cls = ray.remote(num_cpus=self.cpus_per_worker)(BenchWorker)
        try:
            self._actors = [
                actor_cls.remote(self.setup, threads, self.handler_factory) for _ in range(n)
            ]
            self._identities = ray.get([a.info.remote() for a in self._actors])
        except Exception as exc:  # a worker could not load its models
            self.shutdown()
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]  # the cause
            raise RuntimeError(f"the Ray workers did not start: {last}") from exc

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
    ) -> list[ItemRecord]:
        """Run ``items`` on the pool; records in item order (every variant per item, no
        baseline for the ids in ``skip_baseline``, none of the variants in ``skip_variants``;
        ``probe``: candidates of the prompt probe, scored on the actors after each item's
        window)."""
        ray = _import_ray()
        from ray.util import ActorPool

        if not self._actors:
            self.start()
        spec = scenario_spec(
            scenario, env, ablation=ablation, warm_up=warm_up, skip=skip_variants, probe=probe
        )
        key = f"{scenario.name}:{uuid.uuid4().hex}"
        spec_ref = ray.put(spec)
        ray.get([a.prepare.remote(key, spec_ref) for a in self._actors])
        try:
            pool = ActorPool(self._actors)
            skip = set(skip_baseline)
            per_item = pool.map(lambda a, it: a.run.remote(key, it, it.id in skip), list(items))
            return [rec for recs in per_item for rec in recs]
        finally:
            ray.get([a.forget.remote(key) for a in self._actors])

    def run_both_models(
        self, scenario: Scenario, env: ScenarioEnv, items: Sequence[Item]
    ) -> dict[str, list[ItemRecord]]:
        """The router fit's calls on the pool: each item with the cheap and with the large
        model, both on one actor, each metered there (:meth:`BenchWorker.run_fit`);
        ``{role: records}`` in ``items`` order."""
        ray = _import_ray()
        from ray.util import ActorPool

        from green_chain.bench.routefit import ROLES

        if not self._actors:
            self.start()
        key = f"fit:{scenario.name}:{uuid.uuid4().hex}"
        spec_ref = ray.put(fit_spec(scenario, env))
        pool = ActorPool(self._actors)
        per_item = list(pool.map(lambda a, it: a.run_fit.remote(key, spec_ref, it), list(items)))
        return {role: [recs[role] for recs in per_item] for role in ROLES}

    def describe(self) -> dict[str, Any]:
        """For results.json: address, pool size, and each worker's host, process and meters."""
        return {
            "address": self.address,
            "workers": len(self._actors),
            "cpus_per_worker": self.cpus_per_worker,
            "worker_identities": self._identities,
        }

    def shutdown(self) -> None:
        """Release the actors (and the local Ray instance this executor started)."""
        if not self._actors and not self._started_ray:
            return
        ray = _import_ray()
        for a in self._actors:
            ray.kill(a)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
