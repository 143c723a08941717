"""Fit each scenario's router on its calibration items (never on its test items).

For ``n`` calibration items the fitter

1. labels each item 1 where the cheap model is as good as the large one, judged one of
   two ways (``labels=``):

   - ``"generated"`` (the default): the scenario's baseline chain runs on every fit item
     once with the cheap and once with the large model in both roles (answer cap, stop
     sequences and constrained choice of the scenario), each call metered like a test
     item (:func:`~green_chain.bench.item_run.run_item`), and each answer is scored
     exactly as the runner scores test items
     (:func:`~green_chain.bench.item_run.score_records`: the task's own metric on the
     parsed answer; a classification answer is the label its constrained choice
     generated; a failed call scores 0). Label = cheap's score >= large's. A tie at 0
     (neither model answers) is labelled 1: the label means "the cheap model loses
     nothing here", and on such an item it loses nothing while costing less; the
     threshold's quality is priced with the scores themselves (step 3), so ties move
     only the scorer's training, never the quality accounting.
   - ``"probe"``: the older prompt probe. Each item's baseline prompt is rendered with a
     silent echo model (nothing generated) and the gold answer is scored against the
     same distractors as the secondary prompt probe under each model (log-likelihood
     multiple choice, 0/1); label = cheap right whenever large is. It can say the cheap
     model is as good where its generated answers are not (NQ: routing alone lost 13.6
     F1 points in run-8f1aa2f).

2. measures what a call costs with each model. With generated labels the cost is read
   from those same metered runs, over every fit item both models answered without an
   error: the ratio of the two sums is the cheap model's cost relative to the large one
   *on this task*, generation included (a cheap model that writes ten times longer
   replies is not cheap: MT-Bench-101 here). With probe labels the baseline chain runs
   on the first ``cost_items`` fit items with each model for that measurement alone.
   Without a working meter (or probe labels with ``cost_items=0``) the ratio falls back
   to :data:`CHEAP_COST_RATIO`, and ``info`` says so. A ``cost_ratio`` recorded by an
   earlier run is reused instead (generated labels still run both models, for the
   labels; this run's figures are kept aside as ``measured_cost``).
3. fits an :class:`~green_chain.routing.EmbeddingScorer` (logistic regression on MiniLM
   embeddings of the baseline prompt) and picks the threshold with
   :func:`~green_chain.routing.calibrate` on out-of-fold scores (:data:`CROSSFIT_FOLDS`-fold
   cross-fit: no item is scored by a scorer trained on it) at a quality floor of 95 % of
   large-only, given each item's quality under each model (generated scores, or probe
   0/1) and pricing each call by its prompt length times the cost ratio (so a reused
   ratio decides the same way on a loaded or a quiet machine); a threshold saving less
   than :data:`MIN_SAVING` of large-only energy falls back to large-only
   (``in_sample_large_share``: the fit items' share sent to large at that threshold).
4. a policy that sends every calibration item to the large model is marked
   ``routes=False``: the green chain then calls the large model directly, paying no
   per-request scorer (an embedding per request costs about as much as a short cached
   prompt's whole model call).

The mixed scenario fits one policy on its whole (mixed) calibration set, shared by
every member chain; each mixed item is scored by its member's metric (``task``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.item_run import run_item, score_records
from green_chain.bench.items import Item, shuffled
from green_chain.bench.metrics import multiple_choice
from green_chain.bench.records import ItemRecord
from green_chain.routing.decision import model_name

#: Fallback energy of a cheap-model call relative to a large-model call with the same
#: prompt, used only when the per-scenario measurement is off or has no meter
#: (SmolLM2-135M vs Gemma-3-270M on SQuAD, measured here: 0.71x; see issue 8).
CHEAP_COST_RATIO = 0.71
#: Calibration items whose baseline chain runs on both models to measure the cost ratio
#: (probe labels only: generated labels measure it on every fit item).
COST_ITEMS = 2
#: Quality floor of the threshold choice, relative to large-only.
QUALITY_FLOOR = 0.95
#: Least in-sample energy saving (share of large-only) for which routing is used at all:
#: with a dozen calibration items, a policy saving 3-4 % (a cheap model costing 0.96x)
#: lost 13-31 % quality out of sample on SST-2 and HotpotQA (16-item run, issue 8).
MIN_SAVING = 0.0  # frozen: docs/results/tuning/router.json (calibration items only)
#: How the fit items are labelled (see the module doc); the first is the default.
ROUTE_LABELS = ("generated", "probe")
#: Folds of the cross-fit whose out-of-fold scores choose the threshold: a scorer scoring
#: its own dozen training items separates them perfectly, so an in-sample threshold sends
#: to the large model exactly the items where the cheap one failed (NQ, 12 items,
#: generated labels: in-sample 1 of 12 to large, 30 of 30 test items then went to SmolLM2
#: and lost 23.9 F1 points).
CROSSFIT_FOLDS = 4
#: Characters of each generated fit answer kept in ``info`` (a look at what was judged).
OUTPUT_CHARS = 160

RouteLabels = Literal["generated", "probe"]
ROLES = ("cheap", "large")


@dataclass
class RoutePolicy:
    """A fitted router: scorer, threshold and how they were chosen (for results.json)."""

    scorer: Any
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)
    #: ``False`` when the fit sends every calibration item to the large model: the green
    #: chain then uses the large model directly (no scorer run per request).
    routes: bool = True


def render_prompts(scenario: Any, env: Any, items: Sequence[Item]) -> list[str]:
    """The baseline prompt text of each item, without generating anything."""
    echo = FakeListChatModel(responses=[""])
    comps = replace(env.components, models={"cheap": echo, "large": echo})
    chain = scenario.baseline(replace(env, components=comps))
    capture = CaptureHandler()
    prompts = []
    for it in items:
        capture.reset()
        chain.invoke(it.inputs, config={"callbacks": [capture]})
        call = capture.reset().final_call()
        if call is None:
            raise RuntimeError(f"{scenario.name}: the baseline chain made no model call")
        prompts.append(call.prompt)
    return prompts


def both_model_chains(scenario: Any, env: Any) -> dict[str, Any]:
    """The scenario's baseline chain once per role, with that role's model in both roles
    (so the scenario's answer cap, stop sequences and constrained choice apply to it)."""
    comps = env.components
    chains = {}
    for role in ROLES:
        model = comps.models[role]
        chains[role] = scenario.baseline(
            replace(env, components=replace(comps, models={"cheap": model, "large": model}))
        )
    return chains


def run_on_both(
    scenario: Any, chains: dict[str, Any], item: Item, monitor: Any, capture: Any = None
) -> dict[str, ItemRecord]:
    """One item through :func:`both_model_chains`' chains, cheap then large, each call in
    its own meter window (variant ``route-fit:<role>``); unscored records."""
    capture = capture if capture is not None else CaptureHandler()
    return {
        role: run_item(
            chains[role],
            item,
            scenario=scenario.name,
            variant=f"route-fit:{role}",
            monitor=monitor,
            capture=capture,
        )
        for role in ROLES
    }


def run_both_models(
    scenario: Any, env: Any, items: Sequence[Item], monitor: Any = None
) -> dict[str, list[ItemRecord]]:
    """The baseline chain's record of each item with the cheap and with the large model.

    For each role the baseline chain is built with that model in both roles
    (:func:`both_model_chains`); every item runs through
    :func:`~green_chain.bench.item_run.run_item` with the cheap, then the large chain
    (interleaved item by item, so a load change hits both alike), each call in its own
    meter window with its own energy handler, as a test item runs (variant
    ``route-fit:<role>``). The records are not scored; a failed call is a record with
    ``error`` set.

    ``env.fit_runner`` (set by the runner on ``--jobs`` runs) runs the items elsewhere
    instead, the same way (the worker processes, an item's two calls on one worker, each
    metered there): ``(scenario, env, items) -> {role: records}`` in ``items`` order.
    """
    runner = getattr(env, "fit_runner", None)
    if runner is not None:
        return dict(runner(scenario, env, items))
    from green_chain.energy.monitor import EnergyMonitor

    monitor = monitor if monitor is not None else EnergyMonitor()
    capture = CaptureHandler()
    chains = both_model_chains(scenario, env)
    out: dict[str, list[ItemRecord]] = {role: [] for role in ROLES}
    for it in items:  # interleaved, as the runner runs test items: drift hits both alike
        for role, rec in run_on_both(scenario, chains, it, monitor, capture).items():
            out[role].append(rec)
    return out


def cost_of(records: dict[str, list[ItemRecord]]) -> dict[str, Any]:
    """The cheap/large energy ratio of :func:`run_both_models`' records.

    Sums each role's joules over the items both models answered without an error;
    ``cost_ratio`` is ``None`` when no pair is clean or a call has no energy reading
    (``cost_notes`` says why). ``cost_items`` are the ids summed; ``cost_cheap_s`` and
    ``cost_large_s`` the roles' summed call durations (seconds).
    """
    cheap, large = records["cheap"], records["large"]
    notes = [f"{r.variant} failed on {r.item_id}: {r.error}" for r in (*cheap, *large) if r.error]
    pairs = [(c, g) for c, g in zip(cheap, large, strict=True) if not c.error and not g.error]
    sums: dict[str, float | None] = {}
    secs: dict[str, float] = {}
    for k, role in enumerate(ROLES):
        recs = [p[k] for p in pairs]
        missing = [r for r in recs if r.energy_j is None]
        for r in missing[:1]:
            notes.append(f"{role}: no energy reading ({r.energy_kind})")
        sums[role] = None if missing or not recs else sum(float(r.energy_j or 0.0) for r in recs)
        secs[role] = sum(float(r.duration_s or 0.0) for r in recs)
    if not pairs:
        notes.append("no item answered by both models without an error")
    cheap_j, large_j = sums["cheap"], sums["large"]
    return {
        "cost_ratio": cheap_j / large_j if cheap_j is not None and large_j else None,
        "cost_items": [c.item_id for c, _ in pairs],
        "cost_cheap_j": cheap_j,
        "cost_large_j": large_j,
        "cost_cheap_s": secs["cheap"],
        "cost_large_s": secs["large"],
        "cost_notes": notes,
    }


def measure_cost_ratio(
    scenario: Any, env: Any, items: Sequence[Item], monitor: Any = None
) -> dict[str, Any]:
    """Energy of the baseline chain with the cheap model over that with the large one.

    Runs ``scenario.baseline`` on each item with each model (:func:`run_both_models`),
    each call metered, so the figure includes each model's own answer length; returns
    :func:`cost_of` its records (``cost_ratio`` ``None`` when no energy could be read).
    """
    return cost_of(run_both_models(scenario, env, items, monitor))


def score_route_items(
    scenario: Any, env: Any, items: Sequence[Item], pool: Sequence[Item] = ()
) -> tuple[list[str], dict[str, list[float]]]:
    """Each item's baseline prompt and the gold answer's multiple choice under both models.

    Returns the prompts and ``{"cheap": [0/1 ...], "large": [0/1 ...]}`` (``mc_correct``
    per item; distractors from ``pool``, else ``items``). Likelihoods only: nothing is
    generated.
    """
    comps = env.components
    names = {r: model_name(comps.models[r]) for r in ROLES}
    prompts = render_prompts(scenario, env, items)
    quality: dict[str, list[float]] = {"cheap": [], "large": []}
    for it, prompt in zip(items, prompts, strict=True):
        scorer = comps.scorer_normalized if scenario.normalized_for(it) else comps.scorer
        wrong = [scenario.mc_text(w, it) for w in scenario.candidates(it, pool or items, env.seed)]
        gold = scenario.mc_text(it.reference, it)
        for role in ROLES:
            mc = multiple_choice(scorer, names[role], prompt, gold, wrong)
            quality[role].append(mc["mc_correct"])
    return prompts, quality


def generate_route_items(
    scenario: Any, env: Any, items: Sequence[Item], monitor: Any = None
) -> tuple[dict[str, list[ItemRecord]], dict[str, list[float]]]:
    """Each item's generated answer with both models, scored as a test item is scored.

    :func:`run_both_models` runs them (metered); :func:`~green_chain.bench.item_run.score_records`
    scores every record with the scenario's generation metric (no prompt probe; a failed
    call scores 0). Returns the scored records and ``{"cheap": [...], "large": [...]}``,
    each item's ``quality`` (0-1) in ``items`` order.
    """
    records = run_both_models(scenario, env, items, monitor)
    by_id = {it.id: it for it in items}
    quality: dict[str, list[float]] = {}
    for role in ROLES:
        score_records(
            scenario, by_id, items, records[role], env.components, env.seed, prompt_probe=False
        )
        quality[role] = [float(r.quality or 0.0) for r in records[role]]
    if all(r.error for r in records["large"]):
        raise RuntimeError(
            f"{scenario.name}: the large model failed on every router-fit item; first error: "
            f"{records['large'][0].error}"
        )
    return records, quality


def _generated_info(records: dict[str, list[ItemRecord]]) -> dict[str, Any]:
    return {
        f"{role}_outputs": [r.output[:OUTPUT_CHARS] for r in records[role]] for role in ROLES
    } | {
        "fit_errors": {
            role: {r.item_id: r.error for r in records[role] if r.error} for role in ROLES
        },
        "fit_completion_tokens": {
            role: [r.completion_tokens for r in records[role]] for role in ROLES
        },
    }


def fit_route_policy(
    scenario: Any,
    env: Any,
    items: Sequence[Item],
    *,
    pool: Sequence[Item] = (),
    cost_items: int | None = None,
    monitor: Any = None,
    cost_ratio: float | None = None,
    labels: RouteLabels = "generated",
    crossfit_folds: int = CROSSFIT_FOLDS,
) -> RoutePolicy:
    """Fit the scorer and threshold of ``scenario``'s router on calibration ``items``.

    ``labels``: ``"generated"`` (each model's generated answers scored by the task's metric,
    the cost ratio over every fit item) or ``"probe"`` (the prompt probe; ``pool`` gives its
    distractors); see the module doc. ``monitor`` meters the model runs (``env.monitor`` if
    set, else a new :class:`~green_chain.energy.monitor.EnergyMonitor` over the detected
    meters). With probe labels, ``cost_items`` (default: ``env.route_cost_items``, else the
    scenario's ``route_cost_items``, else :data:`COST_ITEMS`) items measure the cost ratio;
    generated labels ignore it. ``cost_ratio`` (a ratio recorded by an earlier run) is
    reused instead of measured (``cost_ratio_source: "reused"``). ``crossfit_folds``: the
    threshold is chosen on out-of-fold scores (:func:`crossfit_scores`); below 2, on the
    final scorer's scores of its own training items (in-sample).
    """
    from green_chain.routing import EmbeddingScorer, calibrate

    if labels not in ROUTE_LABELS:
        raise ValueError(f"labels must be one of {list(ROUTE_LABELS)}, got {labels!r}")
    if not items:
        raise ValueError(f"{scenario.name}: no calibration items to fit the router on")
    if cost_ratio is not None and not cost_ratio > 0:
        raise ValueError(f"cost_ratio must be > 0, got {cost_ratio}")
    started = time.monotonic()
    comps = env.components
    monitor = monitor or getattr(env, "monitor", None)
    extra: dict[str, Any] = {}
    cost: dict[str, Any] = {"cost_ratio": None, "cost_items": [], "cost_notes": []}
    if labels == "generated":
        records, quality = generate_route_items(scenario, env, items, monitor)
        prompts = render_prompts(scenario, env, items)
        measured = cost_of(records)
        cost = measured
        if cost_ratio is not None:  # the earlier run's ratio decides; this run's is kept aside
            cost = {"cost_ratio": cost_ratio, "cost_items": [], "cost_notes": []}
            cost["measured_cost"] = measured
        extra = {
            "quality_source": f"generated:{scenario.generation_metric}",
            **_generated_info(records),
        }
    else:
        prompts, quality = score_route_items(scenario, env, items, pool)
        extra = {
            "quality_source": "probe:mc_correct",
            "cheap_mc": quality["cheap"],
            "large_mc": quality["large"],
        }
        if cost_items is None:
            cost_items = getattr(env, "route_cost_items", None)
        if cost_items is None:
            cost_items = int(getattr(scenario, "route_cost_items", COST_ITEMS))
        if cost_ratio is not None:
            cost = {"cost_ratio": cost_ratio, "cost_items": [], "cost_notes": []}
        elif cost_items > 0:
            cost = measure_cost_ratio(scenario, env, items[:cost_items], monitor)
    # ties (0 = 0 included) are labelled 1: the cheap model loses nothing there
    route_labels = [int(c >= g) for c, g in zip(quality["cheap"], quality["large"], strict=True)]
    ratio = cost["cost_ratio"]
    cost["cost_ratio_source"] = (
        "reused" if cost_ratio is not None else "measured" if ratio is not None else "fallback"
    )
    if ratio is None:
        ratio = CHEAP_COST_RATIO
    requests = [[HumanMessage(p)] for p in prompts]
    route_scorer = EmbeddingScorer(comps.embeddings).fit(requests, route_labels)
    scores = (
        crossfit_scores(route_scorer, requests, route_labels, crossfit_folds)
        if crossfit_folds >= 2
        else route_scorer.score_batch(requests)
    )
    tokens = [max(1.0, len(p) / 4.0) for p in prompts]
    result = calibrate(
        scores,
        quality["cheap"],
        quality["large"],
        [ratio * t for t in tokens],
        tokens,
        quality_floor=QUALITY_FLOOR,
        min_saving=MIN_SAVING,
    )
    info = {
        "scorer": route_scorer.name,
        "threshold": result.threshold,
        "method": result.method,
        "route_labels": labels,
        "calibration_ids": [it.id for it in items],
        "labels": route_labels,
        "cheap_quality": quality["cheap"],
        "large_quality": quality["large"],
        **extra,
        "cheap_cost_ratio": ratio,
        **cost,
        "quality_floor": QUALITY_FLOOR,
        "min_saving": MIN_SAVING,
        "crossfit_folds": crossfit_folds if crossfit_folds >= 2 else None,
        "fit_scores": [round(float(v), 4) for v in scores],
        "in_sample_large_share": result.point.large_share,
        "routes": result.point.large_share < 1.0,
        "fit_s": round(time.monotonic() - started, 2),
        "notes": list(result.notes),
    }
    return RoutePolicy(route_scorer, float(result.threshold), info, routes=info["routes"])


def crossfit_scores(
    scorer: Any, requests: Sequence[Any], labels: Sequence[int], folds: int
) -> list[float]:
    """Each request's score from a scorer fitted without it (``folds``-fold cross-fit).

    Item ``i`` is held out in fold ``i % folds`` (the fit items come in a seeded order); each
    fold's scorer is a fresh one like ``scorer`` (an
    :class:`~green_chain.routing.EmbeddingScorer`) fitted on the other folds' embeddings.
    A fold whose training labels are all alike scores with that class's smoothed prior.
    """
    import numpy as np

    k = min(folds, len(requests))
    x = scorer.embed(requests)
    y = np.asarray(labels, dtype=np.float64)[:, None]
    out = np.empty(len(requests))
    for f in range(k):
        held = np.arange(len(requests)) % k == f
        fold = type(scorer)(scorer.embeddings, method=scorer.method, l2=scorer.l2, k=scorer.k)
        fold.fit_embedded(x[~held], y[~held])
        out[held] = fold.predict_embedded(x[held])[:, 0]
    return [float(v) for v in out]


def router_items(calibration: Sequence[Item], n: int, seed: int) -> list[Item]:
    """A deterministic subset of ``n`` calibration items for the router fit."""
    return shuffled(calibration, seed + 7)[:n]
