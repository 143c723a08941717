"""Run bookkeeping of the energy handler: create, close and finish run records.

Functions here mutate one run (or one tree) and are called by
:class:`~green_chain.callbacks.handler.EnergyCallbackHandler` under its lock
where they touch shared state (pending optimizer events, tree totals).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from green_chain.callbacks.attribution import LedgerNode, sequence_step
from green_chain.callbacks.estimators import LLMCallInfo, is_hosted_provider
from green_chain.callbacks.records import LOAD_RUN_TYPE, MODEL_RUN_TYPES, RunRecord
from green_chain.callbacks.usage import (
    count_or_none,
    model_name_at_end,
    model_name_at_start,
    token_usage,
)
from green_chain.energy.measurement import Reading
from green_chain.energy.monitor import energy_between
from green_chain.events import (
    OPTIMIZER_TOKENS_EVENT,
    RESPONSE_BUDGET_EVENT,
    ROUTING_DECISION_EVENT,
)

logger = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Tree:
    """All runs under one root, in start order."""

    runs: list[Run] = field(default_factory=list)
    open_count: int = 0
    finished: bool = False


@dataclass(slots=True, eq=False)
class Run:
    """One open or finished run: its record plus the handler's working state."""

    run_id: UUID
    record: RunRecord
    node: LedgerNode
    tree: Tree
    parent: Run | None
    start_reading: Reading | None
    start_error: str | None
    pending: list[dict[str, Any]] | None = None
    messages: Any = None
    prompts: Any = None
    inputs: Any = None


@dataclass(slots=True)
class RunStart:
    """What one start event says about a new run; built by the handler's ``on_*_start``.

    Attributes:
        run_id: LangChain's id of the run.
        parent_run_id: Its parent's id (``None`` for a root).
        run_type: One of :data:`~green_chain.callbacks.records.RUN_TYPES`.
        name: Display name (run name, serialized name or class).
        tags: LangChain tags of the run.
        metadata: LangChain metadata of the run (``ls_provider``, ``langgraph_node``, ...).
        inputs: The root's inputs, kept only when an evaluator will score the root.
        messages: Chat-model input messages (for counting tokens when the
            provider reports none).
        prompts: LLM prompts (likewise).
        serialized: The serialized model (for its name).
        invocation_params: The model's invocation parameters (for its name).
    """

    run_id: UUID
    parent_run_id: UUID | None
    run_type: str
    name: str
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    inputs: Any = None
    messages: Any = None
    prompts: Any = None
    serialized: Mapping[str, Any] | None = None
    invocation_params: Mapping[str, Any] | None = None


def new_run(
    start: RunStart,
    parent: Run | None,
    reading: Reading | None,
    read_error: str | None,
    unix_s: float,
) -> Run:
    """A new open run, appended to its parent's tree (or to a new tree when a root)."""
    meta = dict(start.metadata or {})
    tree = parent.tree if parent is not None else Tree()
    record = RunRecord(
        run_id=str(start.run_id),
        parent_run_id=str(start.parent_run_id) if start.parent_run_id is not None else None,
        root_run_id=parent.record.root_run_id if parent is not None else str(start.run_id),
        name=start.name,
        run_type=start.run_type,
        tags=list(start.tags or []),
        metadata=meta,
        langgraph_node=meta.get("langgraph_node"),
        start_unix_s=unix_s,
        start_s=reading.timestamp_s if reading is not None else None,
    )
    if start.run_type in MODEL_RUN_TYPES:
        record.model_name = model_name_at_start(start.serialized, start.invocation_params, meta)
        provider = meta.get("ls_provider")
        record.provider = str(provider) if provider else None
    elif start.run_type == LOAD_RUN_TYPE:
        loaded = meta.get("ls_model_name")
        record.model_name = str(loaded) if loaded else None
    run = Run(
        run_id=start.run_id,
        record=record,
        node=LedgerNode(sequence_step(start.tags)),
        tree=tree,
        parent=parent,
        start_reading=reading,
        start_error=read_error,
        messages=start.messages,
        prompts=start.prompts,
        inputs=start.inputs,
    )
    tree.runs.append(run)
    tree.open_count += 1
    return run


def note_failure(rec: RunRecord, message: str) -> None:
    """Record that the handler could not finish ``rec``'s figures, with the reason.

    The run keeps every figure computed before the failure; a missing energy
    figure gets ``message`` as its ``energy_reason``.
    """
    rec.handler_error = message if rec.handler_error is None else f"{rec.handler_error}; {message}"
    if rec.status == "running":
        rec.status = "ok"
    if rec.energy_j is None and rec.energy_reason is None:
        rec.energy_reason = message


def optimizer_event_error(payload: Mapping[str, Any]) -> str | None:
    """Why an optimizer-tokens event cannot enter ETR, or ``None`` when it is well formed.

    ``tokens_before`` and ``tokens_after`` must be whole numbers >= 0.
    """
    for key in ("tokens_before", "tokens_after"):
        if count_or_none(payload.get(key)) is None:
            return f"{key} must be a whole number >= 0, got {payload.get(key)!r}"
    return None


def checked_event(name: str, data: Any) -> dict[str, Any] | None:
    """A copy of a custom event's data to keep, or ``None`` (logged) when it is unusable.

    A malformed optimizer-tokens event is kept with an ``error`` (see :func:`add_event`).
    """
    if not isinstance(data, Mapping):
        logger.warning("ignoring %s event whose data is not a mapping: %r", name, data)
        return None
    payload = dict(data)
    if name == OPTIMIZER_TOKENS_EVENT:
        problem = optimizer_event_error(payload)
        if problem is not None:
            logger.warning("ignoring malformed %s event for ETR: %s", name, problem)
            payload["error"] = problem
    return payload


def add_event(run: Run, name: str, payload: dict[str, Any]) -> None:
    """Keep an event dispatched inside ``run``: a routing decision, a response budget's
    outcome, or optimizer tokens.

    A response budget's outcome goes on the model call it reports on: the latest
    model-call run under ``run`` (it is dispatched right after that call).
    Optimizer events are listed in ``published_events``; well-formed ones also
    wait as *pending* for the next model call (the ETR join rule).
    """
    if name == ROUTING_DECISION_EVENT:
        run.record.routing = payload
        return
    if name == RESPONSE_BUDGET_EVENT:
        latest_model_call(run).record.response_budget = payload
        return
    run.record.published_events.append(payload)
    if "error" not in payload:
        run.pending = [*(run.pending or []), payload]


def latest_model_call(run: Run) -> Run:
    """The last-started model-call run under ``run`` (``run`` itself when none)."""
    for other in reversed(run.tree.runs):
        if other.record.run_type not in MODEL_RUN_TYPES:
            continue
        ancestor: Run | None = other
        while ancestor is not None and ancestor is not run:
            ancestor = ancestor.parent
        if ancestor is run:
            return other
    return run


def consume_pending(run: Run) -> None:
    """Join every pending optimizer event of ``run``'s ancestors to ``run`` (a model call)."""
    ancestor = run.parent
    while ancestor is not None:
        if ancestor.pending:
            run.record.optimizer_events.extend(ancestor.pending)
            ancestor.pending = None
        ancestor = ancestor.parent


def bubble_pending(run: Run) -> None:
    """Move ``run``'s unconsumed optimizer events to its parent when it ends."""
    if run.pending and run.parent is not None:
        if run.parent.pending is None:
            run.parent.pending = []
        run.parent.pending.extend(run.pending)
        run.pending = None


def close_record(
    run: Run,
    reading: Reading | None,
    read_error: str | None,
    unix_s: float,
    error: BaseException | None,
    idle_power_w: Mapping[str, float],
    no_meter_reason: str | None,
) -> None:
    """Fill the window's times and energy into ``run.record`` at the run's end."""
    rec = run.record
    rec.end_unix_s = unix_s
    rec.status = "error" if error is not None else "ok"
    if error is not None:
        rec.error = f"{type(error).__name__}: {error}"
    if reading is not None:
        rec.end_s = reading.timestamp_s
    if rec.start_s is not None and rec.end_s is not None:
        rec.duration_s = max(0.0, rec.end_s - rec.start_s)
    else:
        rec.duration_s = max(0.0, unix_s - (rec.start_unix_s or unix_s))
    run.messages = run.messages if rec.run_type in MODEL_RUN_TYPES else None
    start = run.start_reading
    run.start_reading = None
    if start is None or reading is None:
        rec.energy_reason = run.start_error or read_error or "meter read failed"
        return
    m = energy_between(start, reading, idle_power_w)
    node = run.node
    domains: dict[str, dict[str, Any]] = {}
    total = net_total = 0.0
    uncertainty: float | None = None
    kinds: set[str] = set()
    sources: set[str] = set()
    reasons: list[str] = []
    duration_s = m.duration_s
    for name, dom in m.domains.items():
        entry = dom.to_dict()
        failed = name in node.failed_domains
        entry["exclusive_energy_j"] = None if failed else node.exclusive_j.get(name, 0.0)
        entry["attributed_j"] = None if failed else node.attributed_j.get(name, 0.0)
        entry["net_energy_j"] = None
        domains[name] = entry
        if not dom.available or dom.energy_j is None:
            reasons.append(f"{name}: {dom.reason or 'unavailable'}")
            continue
        kinds.add(dom.kind)
        sources.add(dom.source)
        total += dom.energy_j
        idle = idle_power_w.get(name)
        net = dom.energy_j if idle is None else max(0.0, dom.energy_j - idle * duration_s)
        net_total += net
        if idle_power_w:
            entry["net_energy_j"] = net
        if dom.uncertainty_j is not None:
            uncertainty = (uncertainty or 0.0) + dom.uncertainty_j
        if failed:
            reasons.append(f"attribution incomplete (unreadable interval) for {name}")
    rec.domains = domains
    if kinds:
        rec.energy_j = total
        rec.net_energy_j = net_total if idle_power_w else None
        rec.energy_kind = kinds.pop() if len(kinds) == 1 else "mixed"
        rec.energy_sources = sorted(sources)
        rec.energy_uncertainty_j = uncertainty
    excl = [
        d["exclusive_energy_j"]
        for d in domains.values()
        if d["available"] and d["exclusive_energy_j"] is not None
    ]
    attr = [
        d["attributed_j"]
        for d in domains.values()
        if d["available"] and d["attributed_j"] is not None
    ]
    rec.exclusive_energy_j = sum(excl) if excl else None
    rec.attributed_energy_j = sum(attr) if attr else None
    if not m.domains:
        reasons.append(no_meter_reason or "no energy meter available")
    rec.energy_reason = "; ".join(reasons) or None


def finish_model_call(run: Run, response: Any, estimators: Sequence[Any]) -> None:
    """Tokens, ETR and hosted-API estimates of a finished chat-model/LLM run."""
    rec = run.record
    rec.model_name = model_name_at_end(response) or rec.model_name
    usage = token_usage(
        response, messages=run.messages, prompts=run.prompts, model_name=rec.model_name
    )
    run.messages = run.prompts = None
    rec.prompt_tokens = usage.prompt_tokens
    rec.completion_tokens = usage.completion_tokens
    rec.cached_prompt_tokens = usage.cached_prompt_tokens
    rec.token_method = usage.method
    rec.tokens_approximate = usage.approximate
    if rec.optimizer_events:
        saved = sum(int(e["tokens_before"]) - int(e["tokens_after"]) for e in rec.optimizer_events)
        rec.tokens_saved = saved
        denominator = usage.prompt_tokens + saved
        rec.etr = usage.prompt_tokens / denominator if denominator > 0 else None
    if estimators and is_hosted_provider(rec.provider):
        _estimate_api(rec, estimators)


def _estimate_api(rec: RunRecord, estimators: Sequence[Any]) -> None:
    call = LLMCallInfo(
        provider=str(rec.provider),
        model_name=rec.model_name,
        prompt_tokens=rec.prompt_tokens,
        completion_tokens=rec.completion_tokens,
        duration_s=rec.duration_s,
    )
    domain = f"api:{rec.provider}"
    for estimator in estimators:
        try:
            result = estimator.estimate(call)
        except Exception:
            logger.warning("call-energy estimator %r failed", estimator, exc_info=True)
            continue
        if result is None:
            continue
        entry = result.to_dict()
        entry["domain"] = domain
        rec.api_domains[domain] = entry
        rec.api_energy_j = result.energy_j if result.available else None
        rec.api_energy_kind = result.kind
        rec.api_energy_sources = [result.source]
        return


def compute_inclusive(tree: Tree, carbon: Any | None) -> None:
    """Inclusive attributed energy (own + descendants') of every run, its model-loading
    part (``load_energy_j``), then derived figures."""
    acc: dict[int, dict[str, float | None]] = {}
    loads: dict[int, list[float | None]] = {}  # per run: load energies in its subtree
    for run in reversed(tree.runs):
        mine = acc.pop(id(run), {})
        my_loads = loads.pop(id(run), None)
        node = run.node
        for d, value in node.attributed_j.items():
            prior = mine.get(d, 0.0)
            mine[d] = None if prior is None or d in node.failed_domains else prior + value
        for d in node.failed_domains:
            mine[d] = None
        rec = run.record
        for d, entry in rec.domains.items():
            entry["attributed_inclusive_j"] = mine.get(
                d, 0.0 if d not in node.failed_domains else None
            )
        values = [v for v in mine.values() if v is not None]
        missing = sorted(d for d, v in mine.items() if v is None)
        if (rec.end_s is None or missing) and not values:
            rec.attributed_inclusive_j = None
        else:
            rec.attributed_inclusive_j = sum(values) if values else rec.attributed_energy_j
        if missing:
            reason = (
                "attributed_inclusive_j incomplete: unreadable interval in this run's tree "
                f"for {', '.join(missing)}"
            )
            if reason not in (rec.energy_reason or ""):
                rec.energy_reason = (
                    f"{rec.energy_reason}; {reason}" if rec.energy_reason else reason
                )
        if rec.run_type == LOAD_RUN_TYPE:
            my_loads = [rec.attributed_inclusive_j]
        rec.load_energy_j = _load_total(my_loads)
        parent = run.parent
        if parent is not None and parent.tree is tree:
            into = acc.setdefault(id(parent), {})
            for d, v in mine.items():
                prior = into.get(d, 0.0)
                into[d] = None if v is None or prior is None else prior + v
            if my_loads:
                loads.setdefault(id(parent), []).extend(my_loads)
        rec.derive(carbon)


def _load_total(values: list[float | None] | None) -> float | None:
    """Sum of model-load energies; ``None`` when there was none or one is unknown."""
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)
