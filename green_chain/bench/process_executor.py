"""Run the benchmark's test items in local worker processes (``bench --jobs N``).

The driver keeps what needs the whole split (item selection, the router's scorer and
threshold, scoring, the validated-ETR sweep), as with Ray
(:mod:`green_chain.bench.ray_executor`). The router fit's model calls (each calibration
item answered by both models: most of a fit's time) go to the workers too
(:meth:`ProcessExecutor.run_both_models`; an item's two calls on one worker, metered
there, their energy added to the fit's one-off cost), so the fit no longer runs on one
core while the others wait. The test items go to ``jobs`` worker processes started with the ``spawn`` context (a fresh
interpreter: no forked torch state), each a
:class:`~green_chain.bench.ray_executor.BenchWorker` that loads its own models once, runs
one torch thread, builds and warms a scenario's chains (ablation variants included) the
first time it gets one of its items, and meters each item with *its own*
:class:`~green_chain.energy.monitor.EnergyMonitor`: with the CPU-time estimate, an item's
estimated energy is that worker process's CPU time. Every record names its worker
(``worker``: host hash, pid, meters). Records come back in item order, so a run writes
the same files as ``--jobs 1``.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any

from green_chain.bench.item_run import ProbeCandidates
from green_chain.bench.items import Item
from green_chain.bench.ray_executor import (
    BenchWorker,
    WorkerSetup,
    default_worker_setup,
    fit_spec,
    scenario_spec,
)
from green_chain.bench.records import ItemRecord
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv
from green_chain.energy.monitor import EnergyMonitor

#: This process's worker (set by :func:`_start_worker` in each pool process).
_WORKER: BenchWorker | None = None


def _start_worker(
    setup: WorkerSetup,
    threads: int,
    handler_factory: Callable[[EnergyMonitor], Any] | None,
) -> None:
    global _WORKER
    _WORKER = BenchWorker(setup, threads, handler_factory)


def _identity() -> dict[str, Any]:
    if _WORKER is None:
        raise RuntimeError("the worker process has no BenchWorker")
    return _WORKER.info()


def _run_item(
    key: str, spec_path: str, skip_baseline: frozenset[str], item: Item
) -> list[ItemRecord]:
    """Every variant of ``item`` in this worker (no baseline for a cached one); the
    scenario's chains built on first use."""
    if _WORKER is None:
        raise RuntimeError("the worker process has no BenchWorker")
    if not _WORKER.prepared(key):
        spec = pickle.loads(Path(spec_path).read_bytes())
        _WORKER.ensure(key, spec)
    return _WORKER.run(key, item, item.id in skip_baseline)


def _run_fit_item(key: str, spec_path: str, item: Item) -> dict[str, ItemRecord]:
    """One router-fit item with both models in this worker (chains built on first use)."""
    if _WORKER is None:
        raise RuntimeError("the worker process has no BenchWorker")
    spec = None if _WORKER.fit_ready(key) else pickle.loads(Path(spec_path).read_bytes())
    return _WORKER.run_fit(key, spec, item)


class ProcessExecutor:
    """Runs test items on ``jobs`` local worker processes (a runner ``ItemExecutor``).

    Args:
        jobs: Worker processes (>= 1); each runs ``threads`` torch threads.
        setup: ``() -> (components, monitor)`` run once in each worker (default: the real
            packaged models and this host's meters); must be importable (picklable).
        threads: Torch CPU threads per worker (default 1).
        handler_factory: The energy callback handler per item and variant, as locally.
    """

    def __init__(
        self,
        jobs: int,
        *,
        setup: WorkerSetup | None = None,
        threads: int = 1,
        handler_factory: Callable[[EnergyMonitor], Any] | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {jobs}")
        if threads < 1:
            raise ValueError(f"worker threads must be >= 1, got {threads}")
        self.jobs = jobs
        self.threads = threads
        self.setup = setup or partial(default_worker_setup, None)
        self.handler_factory = handler_factory
        self._pool: ProcessPoolExecutor | None = None
        self._first: Future[dict[str, Any]] | None = None
        self._identities: dict[int, dict[str, Any]] = {}
        self._spec_dir: tempfile.TemporaryDirectory[str] | None = None
        self._runs = 0

    def start(self, *, wait: bool = True) -> None:
        """Start the worker processes; a worker that cannot load its models fails here.

        ``wait=False`` returns at once, while the workers load their models (the driver
        loads its own meanwhile); :meth:`wait_started` then waits and raises as this would.
        """
        self._pool = ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.setup, self.threads, self.handler_factory),
        )
        self._spec_dir = tempfile.TemporaryDirectory(prefix="green-chain-jobs-")
        self._first = self._pool.submit(_identity)
        if wait:
            self.wait_started()

    def wait_started(self) -> None:
        """Wait until a worker has loaded its models (after :meth:`start`); a worker that
        cannot is a :class:`RuntimeError` naming ``--jobs``, the pool shut down."""
        if self._pool is None:
            self.start()
            return
        first_future, self._first = self._first, None
        if first_future is None:
            return
        try:
            first = first_future.result()
        except BrokenProcessPool as exc:
            self.shutdown()
            raise RuntimeError(
                "the --jobs worker processes did not start (a worker could not load its "
                "models; its traceback is printed above)"
            ) from exc
        self._identities[int(first["pid"])] = first

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
        """Run ``items`` on the workers; records in item order (every variant per item, no
        baseline for the ids in ``skip_baseline``, none of the variants in ``skip_variants``;
        ``probe``: candidates of the prompt probe, scored in the workers after each item's
        window)."""
        self.wait_started()
        assert self._pool is not None and self._spec_dir is not None
        self._runs += 1
        key = f"{scenario.name}:{os.getpid()}:{self._runs}"
        spec_path = Path(self._spec_dir.name) / f"{self._runs}.pkl"
        spec_path.write_bytes(
            pickle.dumps(
                scenario_spec(
                    scenario,
                    env,
                    ablation=ablation,
                    warm_up=warm_up,
                    skip=skip_variants,
                    probe=probe,
                )
            )
        )
        task = partial(_run_item, key, str(spec_path), frozenset(skip_baseline))
        per_item = self._pool.map(task, list(items))
        records = [rec for recs in per_item for rec in recs]
        for rec in records:
            if rec.worker:
                self._identities.setdefault(int(rec.worker["pid"]), rec.worker)
        return records

    def run_both_models(
        self, scenario: Scenario, env: ScenarioEnv, items: Sequence[Item]
    ) -> dict[str, list[ItemRecord]]:
        """The router fit's calls on the workers: each item with the cheap and with the
        large model, both on one worker, each metered there
        (:meth:`~green_chain.bench.ray_executor.BenchWorker.run_fit`); ``{role: records}``
        in ``items`` order, as :func:`~green_chain.bench.routefit.run_both_models` returns
        them in the driver."""
        from green_chain.bench.routefit import ROLES

        self.wait_started()
        assert self._pool is not None and self._spec_dir is not None
        self._runs += 1
        key = f"fit:{scenario.name}:{os.getpid()}:{self._runs}"
        spec_path = Path(self._spec_dir.name) / f"{self._runs}.pkl"
        spec_path.write_bytes(pickle.dumps(fit_spec(scenario, env)))
        per_item = list(self._pool.map(partial(_run_fit_item, key, str(spec_path)), list(items)))
        out: dict[str, list[ItemRecord]] = {role: [] for role in ROLES}
        for recs in per_item:
            for role in ROLES:
                rec = recs[role]
                out[role].append(rec)
                if rec.worker is not None:
                    self._identities.setdefault(int(rec.worker["pid"]), rec.worker)
        return out

    def describe(self) -> dict[str, Any]:
        """For results.json: worker processes, their threads, and each worker seen."""
        return {
            "jobs": self.jobs,
            "threads_per_worker": self.threads,
            "start_method": "spawn",
            "worker_identities": list(self._identities.values()),
        }

    def shutdown(self) -> None:
        """Stop the worker processes and remove the shipped scenario specs."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._spec_dir is not None:
            self._spec_dir.cleanup()
            self._spec_dir = None
