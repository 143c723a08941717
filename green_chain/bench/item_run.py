"""One benchmark item: invoke a chain on it, measured, and score its answer afterwards.

:func:`run_item` opens an energy window on the shared
:class:`~green_chain.energy.monitor.EnergyMonitor` around one chain invocation and builds
the item's record; :func:`handler_figures` reads the energy, the optimizers' own energy
and the ETR from the energy callback handler's run records; :func:`score_records` adds
quality outside every window. Used by the runner and by the validated-ETR sweep.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import Runnable

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.components import Components
from green_chain.bench.items import Item
from green_chain.bench.metrics import multiple_choice
from green_chain.bench.scenarios.base import Scenario
from green_chain.bench.tags import OPTIMIZER_TAG
from green_chain.energy.monitor import EnergyMonitor
from green_chain.routing.decision import model_name

logger = logging.getLogger(__name__)


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
