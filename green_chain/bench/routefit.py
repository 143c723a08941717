"""Fit each scenario's router on its calibration items (never on its test items).

For ``n`` calibration items the fitter

1. renders the baseline prompt of each item (the chain runs with a silent echo model,
   so no generation is paid),
2. scores the gold answer against the same distractors as the quality metric under
   the cheap and the large model (the log-likelihood multiple choice),
3. labels an item 1 where the cheap model is right whenever the large one is,
4. measures what a call costs with each model: the baseline chain runs on the first
   ``cost_items`` calibration items once with the cheap and once with the large model
   (answer cap and stop sequences of the scenario), metered by the run's monitor. The
   ratio of the two sums is the cheap model's cost relative to the large one *on this
   task*, generation included: a cheap model that writes ten times longer replies is
   not cheap (MT-Bench-101 here). Without a working meter (or ``cost_items=0``) the
   ratio falls back to :data:`CHEAP_COST_RATIO`, and ``info`` says so.
5. fits an :class:`~green_chain.routing.EmbeddingScorer` (logistic regression on MiniLM
   embeddings of the request) and picks the threshold with
   :func:`~green_chain.routing.calibrate` at a quality floor of 95 % of large-only,
   pricing each call by its prompt length times the model's cost ratio; a threshold
   saving less than :data:`MIN_SAVING` of large-only energy falls back to large-only.
6. a policy that sends every calibration item to the large model is marked
   ``routes=False``: the green chain then calls the large model directly, paying no
   per-request scorer (an embedding per request costs about as much as a short cached
   prompt's whole model call).

The mixed scenario fits one policy on its whole (mixed) calibration set, shared by
every member chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.items import Item, shuffled
from green_chain.bench.metrics import multiple_choice
from green_chain.routing.decision import model_name

#: Fallback energy of a cheap-model call relative to a large-model call with the same
#: prompt, used only when the per-scenario measurement is off or has no meter
#: (SmolLM2-135M vs Gemma-3-270M on SQuAD, measured here: 0.71x; see issue 8).
CHEAP_COST_RATIO = 0.71
#: Calibration items whose baseline chain runs on both models to measure the cost ratio.
COST_ITEMS = 2
#: Quality floor of the threshold choice, relative to large-only.
QUALITY_FLOOR = 0.95
#: Least in-sample energy saving (share of large-only) for which routing is used at all:
#: with a dozen calibration items, a policy saving 3-4 % (a cheap model costing 0.96x)
#: lost 13-31 % quality out of sample on SST-2 and HotpotQA (16-item run, issue 8).
MIN_SAVING = 0.0  # frozen: docs/results/tuning/router.json (calibration items only)


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


def measure_cost_ratio(
    scenario: Any, env: Any, items: Sequence[Item], monitor: Any = None
) -> dict[str, Any]:
    """Energy of the baseline chain with the cheap model over that with the large one.

    Runs ``scenario.baseline`` on each item twice (large model replaced by the cheap one,
    then the large one), each call in its own meter window, so the figure includes each
    model's own answer length. Returns ``cost_ratio`` (``None`` when no energy could be
    read), the item ids and the joules per role.
    """
    from green_chain.energy.monitor import EnergyMonitor

    monitor = monitor if monitor is not None else EnergyMonitor()
    comps = env.components
    joules: dict[str, float | None] = {}
    reasons: list[str] = []
    for role in ("cheap", "large"):
        model = comps.models[role]
        chain = scenario.baseline(
            replace(env, components=replace(comps, models={"cheap": model, "large": model}))
        )
        total: float | None = 0.0
        for i, it in enumerate(items):
            key = f"route-cost:{scenario.name}:{role}:{i}"
            monitor.begin(key)
            try:
                chain.invoke(it.inputs)
            finally:
                m = monitor.end(key)
            if m.total_j is None or total is None:
                total = None
                reasons.append(f"{role}: no energy reading ({m.kind})")
            else:
                total += float(m.total_j)
        joules[role] = total
    cheap_j, large_j = joules["cheap"], joules["large"]
    ratio = cheap_j / large_j if cheap_j is not None and large_j else None
    return {
        "cost_ratio": ratio,
        "cost_items": [it.id for it in items],
        "cost_cheap_j": cheap_j,
        "cost_large_j": large_j,
        "cost_notes": reasons,
    }


def score_route_items(
    scenario: Any, env: Any, items: Sequence[Item], pool: Sequence[Item] = ()
) -> tuple[list[str], dict[str, list[float]]]:
    """Each item's baseline prompt and the gold answer's multiple choice under both models.

    Returns the prompts and ``{"cheap": [0/1 ...], "large": [0/1 ...]}`` (``mc_correct``
    per item; distractors from ``pool``, else ``items``). Likelihoods only: nothing is
    generated.
    """
    comps = env.components
    names = {r: model_name(comps.models[r]) for r in ("cheap", "large")}
    prompts = render_prompts(scenario, env, items)
    quality: dict[str, list[float]] = {"cheap": [], "large": []}
    for it, prompt in zip(items, prompts, strict=True):
        scorer = comps.scorer_normalized if scenario.normalized_for(it) else comps.scorer
        wrong = [scenario.mc_text(w, it) for w in scenario.candidates(it, pool or items, env.seed)]
        gold = scenario.mc_text(it.reference, it)
        for role in ("cheap", "large"):
            mc = multiple_choice(scorer, names[role], prompt, gold, wrong)
            quality[role].append(mc["mc_correct"])
    return prompts, quality


def fit_route_policy(
    scenario: Any,
    env: Any,
    items: Sequence[Item],
    *,
    pool: Sequence[Item] = (),
    cost_items: int | None = None,
    monitor: Any = None,
    cost_ratio: float | None = None,
) -> RoutePolicy:
    """Fit the scorer and threshold of ``scenario``'s router on calibration ``items``.

    ``cost_items`` (default: ``env.route_cost_items``, else the scenario's
    ``route_cost_items``, else
    :data:`COST_ITEMS`) items measure the cost ratio; ``monitor`` meters them (``env.monitor`` if set, else a new
    :class:`~green_chain.energy.monitor.EnergyMonitor` over the detected meters).
    ``cost_ratio`` (a ratio recorded by an earlier run) is reused instead of measured
    (``cost_ratio_source: "reused"``).
    """
    from green_chain.routing import EmbeddingScorer, calibrate

    if not items:
        raise ValueError(f"{scenario.name}: no calibration items to fit the router on")
    comps = env.components
    prompts, quality = score_route_items(scenario, env, items, pool)
    labels = [int(c >= g) for c, g in zip(quality["cheap"], quality["large"], strict=True)]
    cost: dict[str, Any] = {"cost_ratio": None, "cost_items": [], "cost_notes": []}
    if cost_items is None:
        cost_items = getattr(env, "route_cost_items", None)
    if cost_items is None:
        cost_items = int(getattr(scenario, "route_cost_items", COST_ITEMS))
    if cost_ratio is not None:
        if not cost_ratio > 0:
            raise ValueError(f"cost_ratio must be > 0, got {cost_ratio}")
        cost = {"cost_ratio": cost_ratio, "cost_items": [], "cost_notes": []}
    elif cost_items > 0:
        cost = measure_cost_ratio(
            scenario, env, items[:cost_items], monitor or getattr(env, "monitor", None)
        )
    ratio = cost["cost_ratio"]
    cost["cost_ratio_source"] = (
        "reused" if cost_ratio is not None else "measured" if ratio is not None else "fallback"
    )
    if ratio is None:
        ratio = CHEAP_COST_RATIO
    requests = [[HumanMessage(p)] for p in prompts]
    route_scorer = EmbeddingScorer(comps.embeddings).fit(requests, labels)
    scores = route_scorer.score_batch(requests)
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
        "calibration_ids": [it.id for it in items],
        "labels": labels,
        "cheap_mc": quality["cheap"],
        "large_mc": quality["large"],
        "cheap_cost_ratio": ratio,
        **cost,
        "quality_floor": QUALITY_FLOOR,
        "min_saving": MIN_SAVING,
        "in_sample_large_share": result.point.large_share,
        "routes": result.point.large_share < 1.0,
        "notes": list(result.notes),
    }
    return RoutePolicy(route_scorer, float(result.threshold), info, routes=info["routes"])


def router_items(calibration: Sequence[Item], n: int, seed: int) -> list[Item]:
    """A deterministic subset of ``n`` calibration items for the router fit."""
    return shuffled(calibration, seed + 7)[:n]
