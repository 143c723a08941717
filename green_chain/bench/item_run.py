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

The secondary prompt probe (``prompt_evidence_*``) is scored where the item ran, right
after its metered window, by :class:`InPlaceProbe`: the final answering call's own
messages, re-read by the variant's own local model through its prefix cache (which the
call just filled), so only the prompt's last partial block and the candidates' tokens are
computed, and the cache is only read (nothing stored, no recency or counter changed): the
probe cannot change what the next metered call finds. Records it could not probe (models
without ``choice_scores``, plain-text LLM calls) are probed by :func:`score_records` in
the driver as before (the likelihood scorer, the prompt as plain text).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable

from green_chain.bench.capture import CaptureHandler, ModelCall
from green_chain.bench.components import Components, cap_answer
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


#: The prompt probe scores each candidate's first this many words (whitespace-separated):
#: the beginning of an answer tells gold from distractors, and each scored candidate token
#: costs a log-softmax over the model's whole vocabulary (Gemma: 262k), so whole
#: multi-paragraph answers (MT-Bench-101: 4.0 CPU s a record at 28b1250) cost more than the
#: items themselves. Short answers (QA, labels, QMSum's summaries) are scored whole.
PROBE_MAX_WORDS = 32


def probe_text(text: str, max_words: int = PROBE_MAX_WORDS) -> str:
    """``text`` cut to its first ``max_words`` words (unchanged when it has no more)."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words!r}")
    words = text.split()
    if len(words) <= max_words:
        return text
    return " ".join(words[:max_words])


@dataclass(frozen=True)
class ProbeCandidates:
    """The prompt probe's candidates for one item, as the scenario writes them (``mc_text``).

    Attributes:
        gold: The gold answer.
        distractors: The wrong answers (``scenario.candidates``: the item's other choices or
            other items' golds), at least one.
        normalized: Compare mean log-probabilities per token (long answers) instead of sums.
    """

    gold: str
    distractors: tuple[str, ...]
    normalized: bool


def item_candidates(
    scenario: Scenario, item: Item, pool: Sequence[Item], seed: int
) -> ProbeCandidates | None:
    """One item's probe candidates, each cut by :func:`probe_text`; ``None`` without
    distractors. The one definition both probes (in place and in the driver) use."""
    wrong = scenario.candidates(item, pool, seed)
    if not wrong:
        return None
    return ProbeCandidates(
        probe_text(scenario.mc_text(item.reference, item)),
        tuple(probe_text(scenario.mc_text(w, item)) for w in wrong),
        scenario.normalized_for(item),
    )


def probe_candidates(
    scenario: Scenario, items: Sequence[Item], pool: Sequence[Item], seed: int
) -> dict[str, ProbeCandidates]:
    """Each item's probe candidates (items without distractors are left out).

    Computed in the driver, which holds the whole pool, and shipped with the items to
    where they run; the same candidates the driver's probe in :func:`score_records` uses.
    """
    out: dict[str, ProbeCandidates] = {}
    for item in items:
        cands = item_candidates(scenario, item, pool, seed)
        if cands is not None:
            out[item.id] = cands
    return out


#: The chain variants the prompt probe scores: the results summarise the probe for these
#: only (``prompt_evidence_baseline`` / ``prompt_evidence_green``), never for an ablation
#: variant, so probing those would cost a scoring pass per record for no reported figure.
PROBED_VARIANTS = ("baseline", "green")


class InPlaceProbe:
    """The prompt probe scored where the item ran, right after its metered window.

    For a record whose final answering call went to one of ``components.models`` that has
    ``choice_scores`` (``ChatLocal``), the candidates are scored after that call's own
    messages by a copy of that model with the variant's prefix cache (``cache_salt`` =
    the variant, as :func:`~green_chain.bench.runner.build_chains` salts each chain), read
    only (``store=False``). Sets ``record.prompt_probe``; leaves it ``None`` when it cannot
    probe (no such model, no messages, no candidates, or a failure, which is logged and
    never fails the item), so the driver probes that record instead.

    Args:
        components: The models of the run (or of this worker).
        candidates: :func:`probe_candidates` by item id.
    """

    def __init__(self, components: Components, candidates: Mapping[str, ProbeCandidates]):
        self.components = components
        self.candidates = dict(candidates)
        self._models: dict[tuple[str, str], Any] = {}

    def _model(self, name: str | None, variant: str) -> Any:
        if name is None:
            return None
        key = (name, variant)
        if key not in self._models:
            found = None
            for model in self.components.models.values():
                if getattr(model, "model", None) == name and hasattr(model, "choice_scores"):
                    found = cap_answer(model, None, cache_salt=variant)
                    break
            self._models[key] = found
        return self._models[key]

    def __call__(self, record: ItemRecord, call: ModelCall | None) -> None:
        cands = self.candidates.get(record.item_id)
        if record.variant not in PROBED_VARIANTS:
            return
        if record.error or call is None or call.messages is None or cands is None:
            return
        model = self._model(call.model_name, record.variant)
        if model is None:
            return
        started = (time.monotonic(), time.process_time())
        messages, options = call.messages, dict(call.prompt_options)

        def scorer(_: str, prompts: list[str], continuations: list[str]) -> list[float]:
            scores = model.choice_scores(messages, continuations, store=False, **options)
            return [s.mean_logprob if cands.normalized else s.logprob_sum for s in scores]

        try:
            mc = multiple_choice(scorer, "", "", cands.gold, list(cands.distractors))
        except Exception:  # a failing probe never fails the item: the driver probes it
            logger.warning("in-place prompt probe failed on %s", record.item_id, exc_info=True)
            return
        record.prompt_probe = {
            "score": mc["mc_correct"],
            "margin": mc["margin"],
            "cpu_s": time.process_time() - started[1],
            "wall_s": time.monotonic() - started[0],
        }


def run_item(
    chain: Runnable,
    item: Item,
    *,
    scenario: str,
    variant: str,
    monitor: EnergyMonitor,
    capture: CaptureHandler,
    handler: EnergyCallbackHandler | None = None,
    probe: InPlaceProbe | None = None,
) -> ItemRecord:
    """Invoke ``chain`` on one item; return its record (not yet scored).

    ``handler`` (default: :func:`default_handler` on ``monitor``; use a fresh one per item)
    gives the headline energy, the optimizers' own energy and the ETR
    (``energy_basis: "handler"``); the runner's own window around the call is kept as
    ``window_energy_j``, a cross-check, and is the figure only if the handler recorded
    nothing (``energy_basis: "window"``). ``probe`` scores the prompt probe after the
    window has closed (:class:`InPlaceProbe`; unmetered, the prefix cache only read).
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
    if probe is not None:  # outside the window: unmetered
        probe(record, final)
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
) -> dict[str, Any]:
    """Add quality to each record in place, outside every energy window.

    ``quality`` is the task's own metric (``scenario.generation_metric``: exact match, F1,
    accuracy, function choice, ROUGE-L) on the parsed answer the chain generated; a failed
    item scores 0. The ``metrics`` of the baseline and green records
    (:data:`PROBED_VARIANTS`) also get the secondary prompt probe
    ``prompt_evidence_score`` (1 when the gold answer is the most likely continuation of
    the prompt the chain sent, against distractors) and ``prompt_evidence_margin``:
    evidence kept in the prompt, never the item's quality. A record probed where it ran
    (``rec.prompt_probe``, :class:`InPlaceProbe`) keeps that result; the others are probed
    here with the likelihood scorer, when there is one (the prompt as plain text: one more
    prefill per record). Either way each candidate is its first :data:`PROBE_MAX_WORDS`
    words (:func:`item_candidates`). ``prompt_probe=False`` skips the probe
    (``--no-prompt-probe``).

    Returns:
        How the probe was scored: ``prompt_probe`` (``"in-place"``, ``"driver"``,
        ``"mixed"``, or ``False`` when no record was probed), ``probed_in_place`` and
        ``probed_in_driver`` (records), ``in_place_cpu_s``/``in_place_wall_s`` (seconds
        the in-place probes took where the items ran, summed; unmetered).
    """
    fallback_model = model_name(components.models["large"])
    counts = {"in-place": 0, "driver": 0}
    cpu_s = wall_s = 0.0
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
        if not prompt_probe or rec.variant not in PROBED_VARIANTS:
            continue
        if rec.prompt_probe is not None:
            rec.metrics["prompt_evidence_score"] = rec.prompt_probe["score"]
            rec.metrics["prompt_evidence_margin"] = rec.prompt_probe["margin"]
            counts["in-place"] += 1
            cpu_s += rec.prompt_probe.get("cpu_s", 0.0)
            wall_s += rec.prompt_probe.get("wall_s", 0.0)
            continue
        scorer = (
            components.scorer_normalized if scenario.normalized_for(item) else components.scorer
        )
        if scorer is not None and rec.prompt is not None:
            cands = item_candidates(scenario, item, pool, seed)
            if cands is None:
                continue
            mc = multiple_choice(
                scorer,
                rec.model or fallback_model,
                rec.prompt,
                cands.gold,
                list(cands.distractors),
            )
            rec.metrics["prompt_evidence_score"] = mc["mc_correct"]
            rec.metrics["prompt_evidence_margin"] = mc["margin"]
            counts["driver"] += 1
    paths = [p for p, n in counts.items() if n]
    return {
        "prompt_probe": (paths[0] if len(paths) == 1 else "mixed") if paths else False,
        "probed_in_place": counts["in-place"],
        "probed_in_driver": counts["driver"],
        "in_place_cpu_s": round(cpu_s, 3),
        "in_place_wall_s": round(wall_s, 3),
        "probe_max_words": PROBE_MAX_WORDS,
    }
