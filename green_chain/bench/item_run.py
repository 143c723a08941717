"""One benchmark item: invoke a chain on it, metered, and score its answer afterwards.

The energy callback handler is the benchmark's meter: :func:`run_item` attaches one
:class:`~green_chain.callbacks.EnergyCallbackHandler` per item (on the run's shared
:class:`~green_chain.energy.monitor.EnergyMonitor`) and a
:class:`~green_chain.bench.capture.CaptureHandler` (which model answered, with what
prompt), and builds the item's :class:`~green_chain.bench.records.ItemRecord`;
:func:`handler_figures` reads the item's energy, the optimizers' own energy and the ETR
from the handler's run records. The runner's window around the call is kept only as
``window_energy_j`` (a cross-check, and the figure when the handler recorded nothing).
:func:`score_records` adds quality outside every window. Used by the runner and by the
validated-ETR sweep.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.components import Components
from green_chain.bench.items import Item
from green_chain.bench.metrics import multiple_choice
from green_chain.bench.records import HandlerFigures, ItemRecord
from green_chain.bench.scenarios.base import Scenario
from green_chain.bench.tags import OPTIMIZER_TAG
from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.routing.decision import model_name

logger = logging.getLogger(__name__)


def default_handler(monitor: EnergyMonitor) -> EnergyCallbackHandler:
    """The benchmark's meter for one item: an energy handler on the run's monitor."""
    return EnergyCallbackHandler(monitor=monitor, estimators=None)


def _handler_records(handler: EnergyCallbackHandler) -> list[dict[str, Any]]:
    try:
        return [dict(r) for r in handler.records()]
    except Exception:  # a failing meter never breaks the run: the window figure stands
        logger.debug("energy handler records unavailable", exc_info=True)
        return []


def handler_figures(records: Sequence[Mapping[str, Any]], root_id: str) -> HandlerFigures | None:
    """The item's energy, optimizer energy and ETR from the energy handler's run records.

    ``root_id`` is the run id of the item's chain invocation. Returns ``None`` when the
    handler did not record that run (the caller falls back to its own window).
    """
    tree = [r for r in records if r.get("root_run_id") == root_id]
    root = next((r for r in tree if r.get("run_id") == root_id), None)
    if root is None or root.get("energy_j") is None:
        return None
    by_id = {r["run_id"]: r for r in tree}

    def tagged(r: Mapping[str, Any] | None) -> bool:
        return r is not None and OPTIMIZER_TAG in (r.get("tags") or [])

    opt_roots = [r for r in tree if tagged(r) and not tagged(by_id.get(r.get("parent_run_id")))]
    consumers = [
        r for r in tree if r.get("run_type") in ("chat_model", "llm") and r.get("etr") is not None
    ]
    sent = sum(r.get("prompt_tokens") or 0 for r in consumers)
    saved = sum(r.get("tokens_saved") or 0 for r in consumers)
    return HandlerFigures(
        energy_j=float(root["energy_j"]),
        energy_kind=root.get("energy_kind"),
        energy_sources=list(root.get("energy_sources") or []),
        energy_uncertainty_j=root.get("energy_uncertainty_j"),
        duration_s=root.get("duration_s"),
        carbon_kg=root.get("carbon_kg"),
        optimizer_energy_j=sum(r.get("energy_j") or 0.0 for r in opt_roots),
        optimizer_runs=[
            {
                "name": r.get("name"),
                "energy_j": r.get("energy_j"),
                "duration_s": r.get("duration_s"),
                "error": r.get("error"),
            }
            for r in opt_roots
        ],
        # the handler's ETR: tokens sent / tokens the prompt had before the optimizers
        etr_handler=sent / (sent + saved) if consumers and sent + saved > 0 else None,
        handler_tokens_sent=sent if consumers else None,
        handler_tokens_saved=saved if consumers else None,
    )


def run_item(
    chain: Runnable,
    item: Item,
    *,
    scenario: str,
    variant: str,
    monitor: EnergyMonitor,
    capture: CaptureHandler,
    handler: EnergyCallbackHandler | None = None,
) -> ItemRecord:
    """Invoke ``chain`` on one item; return its record (not yet scored).

    ``handler`` (default: :func:`default_handler` on ``monitor``; use a fresh one per item)
    gives the headline energy, the optimizers' own energy and the ETR
    (``energy_basis: "handler"``); the runner's own window around the call is kept as
    ``window_energy_j``, a cross-check, and is the figure only if the handler recorded
    nothing (``energy_basis: "window"``).
    """
    handler = handler if handler is not None else default_handler(monitor)
    key = ("bench", scenario, variant, item.id)
    root_id = uuid.uuid4()
    capture.reset()
    output, error = "", None
    monitor.begin(key)
    try:
        result = chain.invoke(
            item.inputs,
            config={
                "callbacks": [capture, handler],
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
    record = ItemRecord(
        item_id=item.id,
        variant=variant,
        energy_basis="window",
        energy_j=m.total_j,
        energy_kind=m.kind,
        energy_sources=list(m.sources),
        energy_uncertainty_j=m.uncertainty_j,
        duration_s=m.duration_s,
        window_energy_j=m.total_j,
        prompt_tokens=sum(c.prompt_tokens or 0 for c in leaves),
        completion_tokens=sum(c.completion_tokens or 0 for c in leaves),
        cached_tokens=sum(c.cached_tokens or 0 for c in leaves),
        optimizer_model_tokens=sum(
            (c.prompt_tokens or 0) + (c.completion_tokens or 0) for c in cap.calls if c.optimizer
        ),
        calls=[c.summary() for c in leaves],
        model=final.model_name if final else None,
        optimizer_events=cap.optimizer_events,
        routing=cap.routing,
        output=output,
        error=error,
        prompt=final.prompt if final else None,
    )
    hrecs = _handler_records(handler)
    figures = handler_figures(hrecs, str(root_id))
    if figures is not None:
        record.apply_handler(figures)
    record.handler_records = [r for r in hrecs if r.get("root_run_id") == str(root_id)]
    return record


def score_records(
    scenario: Scenario,
    items: dict[str, Item],
    pool: Sequence[Item],
    records: list[ItemRecord],
    components: Components,
    seed: int,
    *,
    prompt_probe: bool = True,
) -> None:
    """Add quality to each record in place, outside every energy window.

    ``quality`` is the task's own metric (``scenario.generation_metric``: exact match, F1,
    accuracy, function choice, ROUGE-L) on the parsed answer the chain generated; a failed
    item scores 0. When a likelihood scorer is available, ``metrics`` also gets the
    secondary prompt probe ``prompt_evidence_score`` (1 when the gold answer is the most
    likely continuation of the prompt the chain sent, against distractors): evidence kept in
    the prompt, never the item's quality. ``prompt_probe=False`` skips the probe (it
    re-reads each prompt: one more prefill per record, unmetered; ``--no-prompt-probe``).
    """
    fallback_model = model_name(components.models["large"])
    for rec in records:
        if rec.cached:  # scored by the run that measured it
            continue
        item = items[rec.item_id]
        rec.quality_metric = scenario.generation_metric
        if rec.error:
            rec.metrics = {}
            rec.quality = 0.0
            continue
        rec.metrics = dict(scenario.score_generation(item, rec.output))
        rec.quality = float(rec.metrics.get(scenario.generation_metric, 0.0))
        scorer = (
            components.scorer_normalized if scenario.normalized_for(item) else components.scorer
        )
        if prompt_probe and scorer is not None and rec.prompt is not None:
            wrong = scenario.candidates(item, pool, seed)
            if not wrong:
                continue
            mc = multiple_choice(
                scorer,
                rec.model or fallback_model,
                rec.prompt,
                scenario.mc_text(item.reference, item),
                [scenario.mc_text(w, item) for w in wrong],
            )
            rec.metrics["prompt_evidence_score"] = mc["mc_correct"]
            rec.metrics["prompt_evidence_margin"] = mc["margin"]
