"""`EnergyCallbackHandler`: every step of a LangChain chain or agent, metered.

Attach it like any callback (``chain.invoke(x, config={"callbacks": [handler]})``)
or use :func:`green_chain.callbacks.get_energy_callback`. Every start event
(chain, LLM, chat model, retriever, tool, and :meth:`EnergyCallbackHandler.measure`
blocks) opens a window keyed by ``run_id``; the matching end or error event closes
it; the run tree comes from ``parent_run_id``. One monitor reading is taken per
event and shared by the run's own window and the concurrency attribution
(:mod:`green_chain.callbacks.attribution`), so attributed energy is conserved.

Sync handler, inline
--------------------
The handler is a plain (sync) :class:`~langchain_core.callbacks.BaseCallbackHandler`
with ``run_inline = True``. In async runs LangChain calls an inline sync handler
directly on the event-loop thread at the moment of the event; a non-inline sync
handler would instead be pushed to a thread-pool executor, so its meter reading
would happen later than the event (and out of order with other events),
skewing windows. An ``AsyncCallbackHandler`` would be awaited in order too, but
sync ``invoke``/``batch`` would then have to run its coroutines on a helper
loop. All work per event is short and non-blocking (one meter read under a
lock, O(domains) bookkeeping), so inline sync is exact for ``invoke``,
``ainvoke``, ``batch``, ``abatch``, ``stream`` and ``astream`` (all tested),
and thread-safe for ``batch`` thread pools. Handler errors are logged, never
raised (``raise_error = False``); a failing meter gives ``energy_j=None`` with
``energy_reason``.

ETR (effective token ratio)
---------------------------
For a model call whose prompt passed through green-chain optimizers
(compression, history filtering, example selection)::

    ETR = tokens sent / tokens the prompt would have had without those optimizers
        = prompt_tokens / (prompt_tokens + sum(tokens_before - tokens_after))

Optimizers dispatch :data:`green_chain.events.OPTIMIZER_TOKENS_EVENT` from
inside their own run. **Join rule:** an event is stored as *pending* on the run
that dispatched it; when that run ends, its unconsumed pending events move to
its parent (so they bubble up as runs finish). When a chat-model/LLM run
starts, it consumes (takes and clears) the pending events of every one of its
ancestors. This joins an optimizer that ran earlier in a sequence, one in a
finished sibling branch of a ``RunnableParallel``, an agent's ``before_model``
middleware node (a sibling of the model node) and a ``wrap_model_call``
middleware that dispatches inside the model node (an ancestor of the model
call). The first model call to start after the events consumes them. A call no
optimizer touched has ``etr=None`` (never 1.0). The consumed events are listed
in the model record's ``optimizer_events``; the dispatching run lists them in
``published_events``.

PER, carbon
-----------
``per = score / energy`` with ``score`` in 0-100 from :meth:`record_score` or the
``evaluator(inputs, outputs)`` callable (applied to root runs), and
``carbon_kg = carbon.carbon_kg(energy)`` (world-average grid by default). The
energy is the record's basis (see :mod:`green_chain.callbacks.records`).

Agents (``langchain.agents.create_agent``)
------------------------------------------
Verified with langchain 1.5.2 / langgraph 1.2: chat-model start/end events *do*
fire inside ``create_agent`` (langchain-ai/langchain#36477 did not reproduce)
as children of the ``model`` node run, and every tool call is a ``tool`` run
under the ``tools`` node; each record carries ``langgraph_node`` from metadata.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from green_chain.callbacks import lifecycle
from green_chain.callbacks.attribution import AttributionLedger
from green_chain.callbacks.estimators import resolve_estimators
from green_chain.callbacks.lifecycle import Run, Tree
from green_chain.callbacks.records import RunRecord
from green_chain.energy.backends.base import NullBackend
from green_chain.energy.monitor import EnergyMonitor
from green_chain.events import (
    OPTIMIZER_TOKENS_EVENT,
    RESPONSE_BUDGET_EVENT,
    ROUTING_DECISION_EVENT,
)

logger = logging.getLogger(__name__)

#: Default cap on kept run records (oldest finished root trees are dropped first).
DEFAULT_MAX_RUNS = 10_000


def _name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if name:
        return str(name)
    if serialized:
        if serialized.get("name"):
            return str(serialized["name"])
        ids = serialized.get("id")
        if isinstance(ids, list) and ids:
            return str(ids[-1])
    return default


class EnergyCallbackHandler(BaseCallbackHandler):
    """Meter every LangChain run and keep one :class:`RunRecord` per run.

    Args:
        monitor: The energy monitor to read; ``None`` probes the machine
            (falls back to a :class:`NullBackend` with the reason if probing fails).
        carbon: An object with ``carbon_kg(energy_j)`` (e.g.
            :class:`~green_chain.energy.carbon.CarbonIntensity`); ``None`` = world average.
        idle_baseline: An :class:`~green_chain.energy.idle.IdleBaseline` (or a
            mapping domain -> idle watts) for ``net_energy_j``; ``None`` uses the
            monitor's ``idle_power_w``.
        evaluator: ``evaluator(inputs, outputs) -> score`` (0-100) applied to
            each root run when it ends; errors are logged.
        max_runs: Most run records kept; older finished trees are dropped
            (counted in :attr:`dropped_runs` / :attr:`dropped_roots`).
        sink: Called with each finished record (a plain dict) once its whole
            tree has ended; errors are logged.
        estimators: ``"auto"`` (entry points of ``green_chain.call_estimators``),
            ``None``, or a list of :class:`CallEnergyEstimator` for hosted-API calls.
    """

    raise_error: bool = False
    run_inline: bool = True

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
    ) -> None:
        if max_runs is not None and max_runs < 1:
            raise ValueError(f"max_runs must be >= 1 or None, got {max_runs}")
        if evaluator is not None and not callable(evaluator):
            raise TypeError("evaluator must be a callable evaluator(inputs, outputs) -> float")
        if sink is not None and not callable(sink):
            raise TypeError("sink must be a callable receiving one record dict")
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
        if idle_baseline is None:
            self.idle_power_w: dict[str, float] = dict(monitor.idle_power_w)
        elif isinstance(idle_baseline, Mapping):
            self.idle_power_w = {str(k): float(v) for k, v in idle_baseline.items()}
        else:
            self.idle_power_w = dict(idle_baseline.power_w)
        self.evaluator = evaluator
        self.max_runs = max_runs
        self.sink = sink
        self.estimators = resolve_estimators(estimators)
        self.dropped_runs = 0
        self.dropped_roots = 0
        self._lock = threading.Lock()
        self._ledger = AttributionLedger()
        self._open: dict[UUID, Run] = {}
        self._runs: dict[UUID, Run] = {}
        self._trees: OrderedDict[UUID, Tree] = OrderedDict()
        self._last_root: UUID | None = None
        self._no_meter_reason = next(
            (b.reason for b in monitor.backends if isinstance(b, NullBackend)), None
        )

    # copies share this very object: config copies must never split the records
    def __copy__(self) -> EnergyCallbackHandler:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> EnergyCallbackHandler:
        return self

    # ---------------------------------------------------------------- core
    def _read(self) -> tuple[Any, str | None]:
        try:
            return self.monitor.read(), None
        except Exception as exc:  # a custom monitor may raise; never break the chain
            return None, f"meter read failed: {type(exc).__name__}: {exc}"

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        run_type: str,
        name: str,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        **extra: Any,
    ) -> None:
        unix_s = time.time()
        with self._lock:
            if run_id in self._runs:
                return  # duplicate start (handler attached twice)
            reading, read_error = self._read()
            self._ledger.advance(reading)
            parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
            if parent is not None and parent.tree.finished:
                parent = None
            run = lifecycle.new_run(
                run_id,
                parent_run_id,
                parent,
                run_type,
                name,
                tags,
                metadata,
                reading,
                read_error,
                unix_s,
                extra,
            )
            if parent is None:
                self._trees[run_id] = run.tree
                self._last_root = run_id
            self._ledger.open(run.node, parent.node if parent is not None else None)
            self._open[run_id] = run
            self._runs[run_id] = run
            if run_type in ("chat_model", "llm"):
                lifecycle.consume_pending(run)

    def _end(
        self,
        run_id: UUID,
        *,
        error: BaseException | None = None,
        outputs: Any = None,
        response: Any = None,
    ) -> None:
        unix_s = time.time()
        with self._lock:
            run = self._open.pop(run_id, None)
            if run is None:
                return
            reading, read_error = self._read()
            self._ledger.advance(reading)
            parent = run.parent
            self._ledger.close(run.node, parent.node if parent is not None else None)
            lifecycle.bubble_pending(run)
        lifecycle.close_record(
            run, reading, read_error, unix_s, error, self.idle_power_w, self._no_meter_reason
        )
        if run.record.run_type in ("chat_model", "llm") and error is None:
            lifecycle.finish_model_call(run, response, self.estimators)
        finished: list[RunRecord] = []
        with self._lock:
            run.tree.open_count -= 1
            if run.tree.open_count == 0 and not run.tree.finished:
                finished = self._finish_tree(run.tree)
        if run.parent is None and self.evaluator is not None and error is None:
            self._evaluate(run, outputs if response is None else response)
        if finished and self.sink is not None:
            for record in finished:
                try:
                    self.sink(record.to_dict())
                except Exception:
                    logger.warning("energy sink failed", exc_info=True)

    def _finish_tree(self, tree: Tree) -> list[RunRecord]:
        tree.finished = True
        lifecycle.compute_inclusive(tree, self.carbon)
        records = [r.record for r in tree.runs]
        if self.max_runs is not None and len(self._runs) > self.max_runs:
            drop: list[UUID] = []
            kept = len(self._runs)
            for root_id, old in self._trees.items():  # oldest first
                if kept <= self.max_runs:
                    break
                if old.finished:
                    drop.append(root_id)
                    kept -= len(old.runs)
            for root_id in drop:
                old = self._trees.pop(root_id)
                for r in old.runs:
                    self._runs.pop(r.run_id, None)
                self.dropped_runs += len(old.runs)
                self.dropped_roots += 1
        return records

    def _evaluate(self, run: Run, outputs: Any) -> None:
        try:
            score = self.evaluator(run.inputs, outputs)  # type: ignore[misc]
            self.record_score(float(score), run_id=run.run_id)
        except Exception:
            logger.warning("energy evaluator failed for run %s", run.record.name, exc_info=True)

    def _safe(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            logger.warning("EnergyCallbackHandler failed in %s", fn.__name__, exc_info=True)

    # ---------------------------------------------------------------- events
    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        keep = inputs if (self.evaluator is not None and parent_run_id is None) else None
        self._safe(
            self._start,
            run_id,
            parent_run_id,
            "chain",
            _name(serialized, kwargs, "chain"),
            tags,
            metadata,
            inputs=keep,
        )

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        self._safe(self._end, run_id, outputs=outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._safe(self._end, run_id, error=error)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._safe(
            self._start,
            run_id,
            parent_run_id,
            "llm",
            _name(serialized, kwargs, "llm"),
            tags,
            metadata,
            prompts=prompts,
            serialized=serialized,
            invocation_params=kwargs.get("invocation_params"),
            inputs=prompts if parent_run_id is None else None,
        )

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._safe(
            self._start,
            run_id,
            parent_run_id,
            "chat_model",
            _name(serialized, kwargs, "chat_model"),
            tags,
            metadata,
            messages=messages,
            serialized=serialized,
            invocation_params=kwargs.get("invocation_params"),
            inputs=messages if parent_run_id is None else None,
        )

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._safe(self._end, run_id, response=response)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._safe(self._end, run_id, error=error)

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._safe(
            self._start,
            run_id,
            parent_run_id,
            "retriever",
            _name(serialized, kwargs, "retriever"),
            tags,
            metadata,
            inputs=query if parent_run_id is None else None,
        )

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._safe(self._end, run_id, outputs=documents)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._safe(self._end, run_id, error=error)

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._safe(
            self._start,
            run_id,
            parent_run_id,
            "tool",
            _name(serialized, kwargs, "tool"),
            tags,
            metadata,
            inputs=(inputs or input_str) if parent_run_id is None else None,
        )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._safe(self._end, run_id, outputs=output)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._safe(self._end, run_id, error=error)

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if name not in (OPTIMIZER_TOKENS_EVENT, ROUTING_DECISION_EVENT, RESPONSE_BUDGET_EVENT):
            return
        self._safe(self._custom_event, name, data, run_id)

    def _custom_event(self, name: str, data: Any, run_id: UUID) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or not isinstance(data, Mapping):
                return
            if name == ROUTING_DECISION_EVENT:
                run.record.routing = dict(data)
                return
            if name == RESPONSE_BUDGET_EVENT:
                lifecycle.latest_model_call(run).record.response_budget = dict(data)
                return
            payload = dict(data)
            run.record.published_events.append(payload)
            if run.pending is None:
                run.pending = []
            run.pending.append(payload)

    # ---------------------------------------------------------------- public API
    def record_score(self, score: float, run_id: UUID | str | None = None) -> None:
        """Record a task score (0-100) for ``run_id`` (default: the latest root run).

        Raises:
            ValueError: the score is outside 0-100, or no run was recorded yet.
            KeyError: ``run_id`` is unknown (or its record was dropped by ``max_runs``).
        """
        import math

        score = float(score)
        if not math.isfinite(score) or not 0.0 <= score <= 100.0:
            raise ValueError(f"score must be a number in 0-100, got {score}")
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

    def report(self) -> Any:
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
    ) -> Any:
        """A context manager and decorator metering code outside LangChain as a run.

        The block becomes a ``measure`` run in the same tree: a child of the
        current LangChain run when called inside one, else its own root; any
        LangChain run started inside the block becomes its child.
        """
        from green_chain.callbacks.measure import MeasuredBlock

        return MeasuredBlock(self, name, tags=tags, metadata=metadata)
