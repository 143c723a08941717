"""`EnergyCallbackHandler`: every step of a LangChain chain or agent, metered.

Attach it like any callback (``chain.invoke(x, config={"callbacks": [handler]})``)
or use :func:`green_chain.callbacks.get_energy_callback`. Each start event opens
a run (:meth:`EnergyCallbackHandler.open_run`) and the matching end or error
event closes it (:meth:`EnergyCallbackHandler.close_run`); one meter reading per
event serves the run's own window and the concurrency attribution
(:mod:`green_chain.callbacks.attribution`). Design notes (why a sync inline
handler, ETR and its join rule, fault handling, agents) are in
``docs/callbacks.md``; record fields and units in :mod:`green_chain.callbacks.records`.

Never raises into the user's chain: a failing meter gives ``energy_j=None`` with
``energy_reason``, a failure of the handler itself is logged and noted in the
record's ``handler_error``, and every run tree is finished and delivered.
"""

from __future__ import annotations

import logging
import threading
import time
from asyncio import _get_running_loop
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from green_chain.callbacks import lifecycle
from green_chain.callbacks.adapters import RunEventAdapter
from green_chain.callbacks.attribution import AttributionLedger
from green_chain.callbacks.estimators import resolve_estimators
from green_chain.callbacks.lifecycle import Run, RunStart, Tree
from green_chain.callbacks.records import MODEL_RUN_TYPES, RunRecord, checked_score
from green_chain.energy.backends.base import NullBackend
from green_chain.energy.measurement import Reading, checked_reading
from green_chain.energy.monitor import EnergyMonitor, check_idle_power_w

if TYPE_CHECKING:
    from green_chain.callbacks.measure import MeasuredBlock
    from green_chain.callbacks.report import EnergyReport

logger = logging.getLogger(__name__)

#: Default cap on kept run records (oldest finished root trees are dropped first).
DEFAULT_MAX_RUNS = 10_000
#: Longest wait (seconds) for a blocking meter read on an event-loop thread.
LOOP_READ_TIMEOUT_S = 0.02


def _idle_power_w(idle_baseline: Any, monitor: EnergyMonitor) -> dict[str, float]:
    if idle_baseline is None:
        return dict(monitor.idle_power_w)
    if isinstance(idle_baseline, Mapping):
        return check_idle_power_w(idle_baseline, "idle_baseline")
    power = getattr(idle_baseline, "power_w", None)
    if not isinstance(power, Mapping):
        raise TypeError(
            "idle_baseline must be an IdleBaseline or a mapping of domain -> idle watts, "
            f"got {type(idle_baseline).__name__} {idle_baseline!r}"
        )
    return check_idle_power_w(power, "idle_baseline.power_w")


class EnergyCallbackHandler(RunEventAdapter):
    """Meter every LangChain run and keep one :class:`RunRecord` per run.

    Args:
        monitor: The :class:`EnergyMonitor` to read; ``None`` probes the machine
            (falls back to a :class:`NullBackend` with the reason if probing fails).
        carbon: An object with ``carbon_kg(energy_j)`` (e.g.
            :class:`~green_chain.energy.carbon.CarbonIntensity`); ``None`` = world average.
        idle_baseline: An :class:`~green_chain.energy.idle.IdleBaseline` or a
            mapping domain -> idle watts (finite, >= 0) for ``net_energy_j``;
            ``None`` uses the monitor's ``idle_power_w``.
        evaluator: ``evaluator(inputs, outputs) -> score`` (0-100) applied to
            each root run when it ends; errors are logged.
        max_runs: Most run records kept (a whole number >= 1, or ``None`` for no
            cap); older finished trees are dropped (counted in
            :attr:`dropped_runs` / :attr:`dropped_roots`).
        sink: Called with each finished record (a plain dict) once its whole
            tree has ended; errors are logged.
        estimators: ``"auto"`` (entry points of ``green_chain.call_estimators``),
            ``None``, or a list of :class:`CallEnergyEstimator` for hosted-API calls.
        loop_read_timeout_s: Longest wait in seconds for a blocking meter read
            (``read_blocks`` backends, e.g. NVML) on an event-loop thread; a
            read not done by then marks the window unavailable with the reason.
            Unused when the monitor's ``read_timeout_s`` is ``None`` (no timeouts).
    """

    def __init__(
        self,
        monitor: EnergyMonitor | None = None,
        *,
        carbon: Any | None = None,
        idle_baseline: Any | None = None,
        evaluator: Callable[[Any, Any], float] | None = None,
        max_runs: int | None = DEFAULT_MAX_RUNS,
        sink: Callable[[dict[str, Any]], Any] | None = None,
        estimators: str | Sequence[Any] | None = "auto",
        loop_read_timeout_s: float = LOOP_READ_TIMEOUT_S,
    ) -> None:
        if monitor is not None and not isinstance(monitor, EnergyMonitor):
            raise TypeError(
                "monitor must be an EnergyMonitor (e.g. EnergyMonitor([NVMLBackend()])) or "
                f"None to probe the machine, got {type(monitor).__name__} {monitor!r}"
            )
        if max_runs is not None and (
            isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1
        ):
            raise ValueError(f"max_runs must be a whole number >= 1 or None, got {max_runs!r}")
        if evaluator is not None and not callable(evaluator):
            raise TypeError("evaluator must be a callable evaluator(inputs, outputs) -> float")
        if sink is not None and not callable(sink):
            raise TypeError("sink must be a callable receiving one record dict")
        if not (isinstance(loop_read_timeout_s, int | float) and loop_read_timeout_s > 0):
            raise ValueError(
                f"loop_read_timeout_s must be a number of seconds > 0, got {loop_read_timeout_s!r}"
            )
        if monitor is None:
            try:
                monitor = EnergyMonitor()
            except Exception as exc:
                logger.warning("energy meter detection failed: %s", exc)
                monitor = EnergyMonitor([NullBackend(f"meter detection failed: {exc}")])
        if carbon is None:
            from green_chain.energy.carbon import CarbonIntensity

            carbon = CarbonIntensity()
        elif not callable(getattr(carbon, "carbon_kg", None)):
            raise TypeError("carbon needs a carbon_kg(energy_j) method (e.g. CarbonIntensity)")
        self.monitor = monitor
        self.carbon = carbon
        self.idle_power_w: dict[str, float] = _idle_power_w(idle_baseline, monitor)
        self.evaluator = evaluator
        self.max_runs = max_runs
        self.sink = sink
        self.estimators = resolve_estimators(estimators)
        self.loop_read_timeout_s = float(loop_read_timeout_s)
        self.dropped_runs = 0
        self.dropped_roots = 0
        self._lock = threading.Lock()  # bookkeeping only; meter reads happen outside it
        self._ledger = AttributionLedger()
        self._open: dict[UUID, Run] = {}
        self._runs: dict[UUID, Run] = {}
        # a plain dict (insertion-ordered): OrderedDict rehashes every key on churn
        self._trees: dict[UUID, Tree] = {}
        self._last_root: UUID | None = None
        self._trusted_read = type(monitor).read is EnergyMonitor.read
        self._no_meter_reason = next(
            (b.reason for b in monitor.backends if isinstance(b, NullBackend)), None
        )

    # copies share this very object: config copies must never split the records
    def __copy__(self) -> EnergyCallbackHandler:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> EnergyCallbackHandler:
        return self

    # ---------------------------------------------------------------- open / close
    def open_run(self, start: RunStart) -> None:
        """Open a run (a window and a record) for ``start``; never raises."""
        try:
            self._open_run(start)
        except Exception:
            logger.warning("EnergyCallbackHandler failed opening run %s", start.name, exc_info=True)

    def close_run(
        self,
        run_id: UUID,
        *,
        error: BaseException | None = None,
        outputs: Any = None,
        response: Any = None,
    ) -> None:
        """Close the run ``run_id`` (``error`` when it failed); never raises.

        The run's tree is finished and delivered to the sink once its last run
        closes, even when computing some figure of a record fails.
        """
        try:
            self._close_run(run_id, error, outputs, response)
        except Exception:
            logger.warning("EnergyCallbackHandler failed closing run %s", run_id, exc_info=True)

    def _read(self) -> tuple[Reading | None, str | None]:
        try:
            if not self._trusted_read:  # a custom monitor: plain read, check what it returned
                reading = self.monitor.read()
                if not isinstance(reading, Reading):
                    return None, f"meter read returned {type(reading).__name__}, not a Reading"
                domains = {n: checked_reading(v, "monitor") for n, v in reading.domains.items()}
                return Reading(reading.timestamp_s, domains, reading.info, reading.seq), None
            if self.monitor.read_timeout_s is not None and _get_running_loop() is not None:
                return self.monitor.read(timeout_s=self.loop_read_timeout_s), None
            return self.monitor.read(), None
        except Exception as exc:  # a custom monitor may raise; never break the chain
            return None, f"meter read failed: {type(exc).__name__}: {exc}"

    def _open_run(self, start: RunStart) -> None:
        unix_s = time.time()
        reading, read_error = self._read()
        with self._lock:
            if start.run_id in self._runs:
                return  # duplicate start (handler attached twice)
            self._ledger.advance(reading)
            pid = start.parent_run_id
            parent = self._runs.get(pid) if pid is not None else None
            if parent is not None and parent.tree.finished:
                parent = None
            run = lifecycle.new_run(start, parent, reading, read_error, unix_s)
            if parent is None:
                self._trees[start.run_id] = run.tree
                self._last_root = start.run_id
            self._open[start.run_id] = run
            self._runs[start.run_id] = run
            self._ledger.open(run.node, parent.node if parent is not None else None)
            if start.run_type in MODEL_RUN_TYPES:
                lifecycle.consume_pending(run)

    def _close_run(
        self, run_id: UUID, error: BaseException | None, outputs: Any, response: Any
    ) -> None:
        unix_s = time.time()
        reading, read_error = self._read()
        with self._lock:
            run = self._open.pop(run_id, None)
            if run is None:
                return
            try:
                self._ledger.advance(reading)
            finally:  # the run leaves the attribution whatever happened
                self._ledger.close(run.node, run.parent.node if run.parent is not None else None)
                lifecycle.bubble_pending(run)
        finished: list[RunRecord] = []
        try:
            lifecycle.close_record(
                run, reading, read_error, unix_s, error, self.idle_power_w, self._no_meter_reason
            )
            if run.record.run_type in MODEL_RUN_TYPES and error is None:
                lifecycle.finish_model_call(run, response, self.estimators)
        except Exception as exc:
            logger.warning("EnergyCallbackHandler failed closing run %s", run_id, exc_info=True)
            lifecycle.note_failure(run.record, f"closing the record failed: {exc!r}")
        finally:
            with self._lock:
                run.tree.open_count -= 1
                if run.tree.open_count == 0 and not run.tree.finished:
                    finished = self._finish_tree(run.tree)
        if run.parent is None and self.evaluator is not None and error is None:
            self._evaluate(run, outputs if response is None else response)
        for record in finished if self.sink is not None else ():
            try:
                self.sink(record.to_dict())  # type: ignore[misc]
            except Exception:
                logger.warning("energy sink failed", exc_info=True)

    def _finish_tree(self, tree: Tree) -> list[RunRecord]:
        tree.finished = True
        try:
            lifecycle.compute_inclusive(tree, self.carbon)
        except Exception as exc:
            logger.warning("EnergyCallbackHandler failed summing a run tree", exc_info=True)
            for r in tree.runs:
                lifecycle.note_failure(r.record, f"inclusive figures failed: {exc!r}")
        if self.max_runs is not None and len(self._runs) > self.max_runs:
            kept, drop = len(self._runs), []
            for root_id, old in self._trees.items():  # oldest first; stops early
                if kept <= self.max_runs:
                    break
                if old.finished:
                    drop.append(root_id)
                    kept -= len(old.runs)
            for root_id in drop:
                for r in self._trees.pop(root_id).runs:
                    self._runs.pop(r.run_id, None)
                    self.dropped_runs += 1
                self.dropped_roots += 1
        return [r.record for r in tree.runs]

    @property
    def keeps_root_inputs(self) -> bool:
        return self.evaluator is not None

    def _evaluate(self, run: Run, outputs: Any) -> None:
        try:
            score = self.evaluator(run.inputs, outputs)  # type: ignore[misc]
            self.record_score(float(score), run_id=run.run_id)
        except Exception:
            logger.warning("energy evaluator failed for run %s", run.record.name, exc_info=True)

    def record_event(self, name: str, data: Any, run_id: UUID) -> None:
        """Keep an optimizer-tokens or routing-decision event of ``run_id``; never raises.

        An optimizer event whose token counts are not whole numbers >= 0 is
        kept in ``published_events`` with an ``error`` and left out of ETR.
        """
        try:
            self._record_event(name, data, run_id)
        except Exception:
            logger.warning("EnergyCallbackHandler failed on event %s", name, exc_info=True)

    def _record_event(self, name: str, data: Any, run_id: UUID) -> None:
        payload = lifecycle.checked_event(name, data)
        if payload is None:
            return
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                lifecycle.add_event(run, name, payload)

    # ---------------------------------------------------------------- public API
    def record_score(self, score: float, run_id: UUID | str | None = None) -> None:
        """Record a task score (0-100) for ``run_id`` (default: the latest root run).

        A score in (0, 1] is accepted with a warning: it looks like a 0-1 fraction.

        Raises:
            ValueError: the score is outside 0-100, or no run was recorded yet.
            KeyError: ``run_id`` is unknown (or its record was dropped by ``max_runs``).
        """
        score = checked_score(score, stacklevel=2)
        with self._lock:
            if run_id is None:
                if self._last_root is None:
                    raise ValueError("record_score(): no run recorded yet; run a chain first")
                key = self._last_root
            else:
                key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
            run = self._runs.get(key)
            if run is None:
                raise KeyError(f"no kept run with run_id {key} (unknown, or dropped by max_runs)")
            run.record.score = score
            if run.tree.finished:
                run.record.derive(self.carbon)

    def records(self) -> list[dict[str, Any]]:
        """Plain-dict records of every kept run, in start order (open runs are provisional)."""
        return self.report().records()

    @property
    def device_energy_j(self) -> float:
        """Device energy (J, all domains) over the union of all windows seen so far."""
        with self._lock:
            return sum(self._ledger.union_j.values())

    def report(self) -> EnergyReport:
        """An :class:`~green_chain.callbacks.report.EnergyReport` of every kept run."""
        from green_chain.callbacks.report import EnergyReport

        with self._lock:
            for tree in self._trees.values():
                if not tree.finished:
                    lifecycle.compute_inclusive(tree, self.carbon)
            records = [r.record.to_dict() for t in self._trees.values() for r in t.runs]
            union = dict(self._ledger.union_j)
        return EnergyReport(
            records,
            device_energy_j=union,
            carbon=self.carbon,
            dropped_runs=self.dropped_runs,
            dropped_roots=self.dropped_roots,
        )

    def measure(
        self, name: str, *, tags: list[str] | None = None, metadata: dict[str, Any] | None = None
    ) -> MeasuredBlock:
        """A context manager and decorator metering code outside LangChain as a run.

        The block becomes a ``measure`` run in the same tree: a child of the
        current LangChain run when called inside one, else its own root; any
        LangChain run started inside the block becomes its child.
        """
        from green_chain.callbacks.measure import MeasuredBlock

        return MeasuredBlock(self, name, tags=tags, metadata=metadata)
