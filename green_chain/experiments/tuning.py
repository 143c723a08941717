"""Re-derive the benchmark's tuned choices on calibration items only (run: python -m green_chain.experiments.tuning).

Every scenario is split exactly as ``green-chain bench`` splits it (``Scenario.split``
with the run's seed; the test side taken whole, so no run size of that seed can reach
an item used here), and only calibration items are read. Nothing is generated: every
measurement is a likelihood (the prompt probe: is the gold answer the most likely
continuation of the rendered prompt, against the scenario's distractors, under the
large model) or a token count. Three choices are re-derived and written, with the item
ids each used, to ``--out``:

* **compression backend and rates** (compressible scenarios): the validated-ETR sweep
  (:func:`green_chain.bench.etr.validated_etr`, rates 1.0 and ``--rates``) on the first
  ``--etr-items`` calibration items, once per candidate backend. A backend's retention
  is the mean over scenarios and rates < 1 of the probe score over the rate-1.0 score;
  the backend chosen is the cheapest (render seconds per item, compression included,
  this machine, one thread) whose retention is at least ``1 - tolerance`` of the best
  one. Each scenario's rate is the validated rate of the chosen backend: the smallest
  rate whose probe score is at least ``1 - tolerance`` of the uncompressed prompt's,
  except where the compressed text is a stable prefix (GSM8K's worked examples,
  compressed once per task): a prefix cache prefills it once per task whatever its
  size, so cutting it saves only that first prefill. Such a scenario keeps its
  validated rate only if the tokens cut once are at least :data:`MIN_CACHED_SAVING` of
  the whole task's tokens (prefix + a standard run's requests x (new prompt tokens +
  reference answer tokens)); else its rate is 1.0, no compression
  (:func:`cached_prefix_saving`).
* **the router's minimum saving**: on ``2 x --router-items`` calibration items per
  scenario (the bench's router-fit items first), the gold answer's multiple choice
  under both models; a two-fold cross-fit (the bench's scorer and threshold rule,
  fallback cost ratio, no minimum) gives per fold the in-sample saving and the quality
  on the other fold. The minimum saving is the smallest value of ``--saving-grid``
  for which the pooled out-of-fold quality (a fold's policy used where its in-sample
  saving reaches the minimum, large-only elsewhere) is at least
  ``routefit.QUALITY_FLOOR`` of large-only.
* **answer caps** (a check, nothing fitted here): per scenario the share of
  calibration references within the answer cap (large model's tokens).

Then every id used is checked against the whole test side of its scenario's split and
the run fails on any overlap. ``--parts`` and ``--scenarios`` run a subset; ``--merge``
combines subsets run apart (in parallel) and decides each choice again over all their
scenarios. The committed outputs are
``docs/results/tuning/compression.json`` and ``router.json`` (commands in
:data:`green_chain.bench.tuning.TUNING_COMMANDS`; 6 items per sweep and per router fold,
one torch thread).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

#: Candidate compression backends (the two whose cost and kept evidence differ most:
#: BM25 sentence ranking and MiniLM sentence similarity).
BACKENDS = ("lexical", "embedding")
#: Rates of the sweep besides 1.0 (the uncompressed reference).
RATES = (0.75, 0.5, 0.33, 0.25)
#: Candidate minimum savings (share of large-only energy).
SAVING_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
#: Relative quality loss tolerated (the validated-ETR tolerance).
TOLERANCE = 0.05
#: Least share of a task's prefill tokens a cached-prefix compression must save to be
#: used: the validated rate may cost up to :data:`TOLERANCE` of quality, so it has to
#: save at least as large a share (a design constant, set before any item was seen).
MIN_CACHED_SAVING = TOLERANCE


def choose_backend(
    rows: dict[str, dict[str, Any]], tolerance: float = TOLERANCE
) -> tuple[str, dict[str, Any]]:
    """The cheapest backend whose ``retention`` is >= ``1 - tolerance`` of the best one.

    ``rows``: ``{backend: {"retention": 0-1, "seconds_per_item": s}}``. Returns the name
    and a note of the rule's numbers.
    """
    if not rows:
        raise ValueError("choose_backend needs at least one backend row")
    best = max(r["retention"] for r in rows.values())
    ok = [b for b, r in rows.items() if r["retention"] >= (1.0 - tolerance) * best]
    chosen = min(ok, key=lambda b: rows[b]["seconds_per_item"])
    return chosen, {"best_retention": best, "within_tolerance": ok}


def choose_min_saving(
    folds: Sequence[dict[str, Any]], grid: Sequence[float], floor: float
) -> tuple[float, list[dict[str, float]]]:
    """The smallest ``grid`` value whose pooled out-of-fold quality is >= ``floor`` x large-only.

    ``folds``: per fitted fold ``in_sample_saving`` (0-1) and per held-out item
    ``routed_quality`` (the fold policy's model) and ``large_quality``. A fold whose
    saving is below the candidate minimum runs large-only. Returns the value (the
    largest grid value when none qualifies) and the curve.
    """
    if not grid:
        raise ValueError("the saving grid is empty")
    large = sum(sum(f["large_quality"]) for f in folds)
    curve = []
    for m in sorted(grid):
        q = sum(
            sum(
                f["routed_quality"]
                if f["in_sample_saving"] >= m and f["routes"]
                else f["large_quality"]
            )
            for f in folds
        )
        retention = q / large if large else 1.0
        used = sum(1 for f in folds if f["in_sample_saving"] >= m and f["routes"])
        curve.append({"min_saving": m, "retention": retention, "folds_routing": used})
    ok = [c["min_saving"] for c in curve if c["retention"] >= floor]
    return (min(ok) if ok else max(grid)), curve


def _render_seconds(scenario: Any, env: Any, items: Sequence[Any], rate: float, warm: Any) -> float:
    """Seconds to render the green chain's prompt (compression included) per item.

    ``warm`` (an item not among ``items``) is rendered first, untimed: it loads the
    backend's encoder, while the timed items' sentences are not yet in any cache.
    """
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    echo = FakeListChatModel(responses=[""])
    silent = replace(env.components, models={"cheap": echo, "large": echo})
    settings = replace(env.settings, compress=True, compression_rate=rate, route=False)
    chain = scenario.green(replace(env, settings=settings, components=silent))
    chain.invoke(warm.inputs)
    t0 = time.perf_counter()
    for it in items:
        chain.invoke(it.inputs)
    return (time.perf_counter() - t0) / len(items)


def compression_part(
    scenarios: Sequence[Any],
    splits: dict[str, Any],
    components: dict[str, Any],
    rates: Sequence[float],
    n_items: int,
    seed: int,
) -> dict[str, Any]:
    """Sweep every backend on every compressible scenario; the backend and rates chosen."""
    from green_chain.bench.etr import validated_etr
    from green_chain.bench.scenarios import GreenSettings, ScenarioEnv
    from green_chain.routing.decision import model_name
    from green_chain.tokens import count_tokens

    per: dict[str, dict[str, Any]] = {}
    for s in scenarios:
        if not s.compressible:
            continue
        cal = splits[s.name].calibration
        items = cal[: min(n_items, len(cal) - 1)]
        per[s.name] = {"item_ids": [it.id for it in items], "backends": {}}
        for name, comps in components.items():
            env = ScenarioEnv(comps, cal, GreenSettings(route=False), seed, stop=s.stop)
            t0 = time.perf_counter()
            # timed first, before the sweep caches the items' sentence embeddings
            secs = _render_seconds(s, env, items, min(rates), cal[-1])
            sweep = validated_etr(s, env, items, cal, rates, TOLERANCE)
            per[s.name]["backends"][name] = {
                "sweep": sweep["sweep"],
                "validated_rate": sweep["validated_rate"],
                "validated_token_share": sweep["validated_token_share"],
                "render_seconds_per_item": secs,
                "elapsed_s": round(time.perf_counter() - t0, 1),
            }
            prefix = getattr(s, "stable_prefix", lambda _env: None)(env)
            if prefix is not None:  # a cached prefix: its compression pays off once per task
                large = model_name(comps.models["large"])
                answers = [count_tokens(s.response_reference(it), large).tokens for it in items]
                per[s.name]["cached_prefix_tokens"] = count_tokens(prefix, large).tokens
                per[s.name]["answer_tokens_per_request"] = sum(answers) / len(answers)
            print(
                json.dumps({"scenario": s.name, "backend": name, **per[s.name]["backends"][name]}),
                flush=True,
            )
    return decide_compression(per, list(components), rates)


def decide_compression(
    per: dict[str, Any], backends: Sequence[str], rates: Sequence[float]
) -> dict[str, Any]:
    """The backend and rates chosen from every scenario's sweeps (``per``).

    Only scenarios swept with every backend compare the backends (a run stopped early
    may leave one swept with some backends only); such a scenario gets the chosen
    backend's validated rate where it was swept with it, else no rate (listed in
    ``not_swept``).
    """
    full = {n: e for n, e in per.items() if all(b in e["backends"] for b in backends)}
    if not full:
        raise ValueError("no scenario was swept with every backend")
    rows: dict[str, dict[str, Any]] = {}
    for name in backends:
        ret, secs = [], 0.0
        for entry in full.values():
            pts = entry["backends"][name]["sweep"]
            ref = next(p["quality"] for p in pts if p["rate"] >= 1.0)
            if ref > 0:
                ret += [p["quality"] / ref for p in pts if p["rate"] < 1.0]
            secs += entry["backends"][name]["render_seconds_per_item"]
        rows[name] = {"retention": sum(ret) / len(ret) if ret else 0.0, "seconds_per_item": secs}
    backend, note = choose_backend(rows)
    from green_chain.bench.runner import STANDARD_ITEMS

    chosen: dict[str, float] = {}
    cached: dict[str, dict[str, Any]] = {}
    not_swept = sorted(n for n, e in per.items() if backend not in e["backends"])
    for n, e in per.items():
        if n in not_swept:
            continue
        rate = e["backends"][backend]["validated_rate"]
        if "cached_prefix_tokens" in e and rate < 1.0:
            cached[n] = cached_prefix_saving(
                e["backends"][backend]["sweep"],
                rate,
                e["cached_prefix_tokens"],
                STANDARD_ITEMS,
                answer_tokens=e.get("answer_tokens_per_request", 0.0),
            )
            if not cached[n]["used"]:
                rate = 1.0
        chosen[n] = rate
    return {
        "measure": "prompt probe of the large model (gold vs distractors), no generation",
        "tolerance": TOLERANCE,
        "rates": [1.0, *rates],
        "backend_rows": rows,
        "backend": backend,
        "backend_rule": note,
        "rates_chosen": chosen,
        "backend_voters": sorted(full),
        "not_swept": not_swept,
        "cached_prefix_rule": (
            "a scenario whose compressed text is a stable prefix (prefilled once per task, "
            "then read from the prefix cache) keeps its validated rate only if the tokens it "
            "saves once are at least min_saving of the task's tokens (prefix + requests x "
            "(new prompt tokens + reference answer tokens) per request, each token counted "
            "once: an upper bound on the energy share); else rate 1.0 (no compression)"
        ),
        "cached_prefix": cached,
        "scenarios": per,
    }


def cached_prefix_saving(
    sweep: Sequence[dict[str, Any]],
    rate: float,
    prefix_tokens: float,
    requests: int,
    min_saving: float = MIN_CACHED_SAVING,
    *,
    answer_tokens: float = 0.0,
) -> dict[str, Any]:
    """What compressing a cached prefix at ``rate`` saves over a task of ``requests``.

    ``sweep``: the validated-ETR points (mean ``prompt_tokens`` per ``rate``, 1.0
    included); ``prefix_tokens``: the uncompressed prefix; ``answer_tokens``: the mean
    reference answer per request (all in the large model's tokens). With a prefix cache
    the prefix is prefilled once and each request prefills only its new tokens
    (``prompt_tokens`` at 1.0 minus the prefix), then generates its answer, so the task
    processes ``prefix + requests x (new + answer)`` tokens and compression saves its
    prefix cut once. Each token counts once, though a generated token costs a CPU more
    than a prefilled one, so the share is an upper bound on the energy share. ``used``:
    the share is at least ``min_saving``.
    """
    if requests < 1:
        raise ValueError(f"requests must be >= 1, got {requests}")
    full = next(p["prompt_tokens"] for p in sweep if p["rate"] >= 1.0)
    cut = next(p["prompt_tokens"] for p in sweep if p["rate"] == rate)
    new = max(0.0, full - prefix_tokens)
    saved = max(0.0, full - cut)
    total = prefix_tokens + requests * (new + answer_tokens)
    share = saved / total if total else 0.0
    return {
        "rate": rate,
        "prefix_tokens": prefix_tokens,
        "new_tokens_per_request": new,
        "answer_tokens_per_request": answer_tokens,
        "requests": requests,
        "saved_tokens_once": saved,
        "prefill_saving_share": share,
        "min_saving": min_saving,
        "used": share >= min_saving,
    }


def router_part(
    scenarios: Sequence[Any],
    splits: dict[str, Any],
    comps: Any,
    n_items: int,
    seed: int,
    grid: Sequence[float],
) -> dict[str, Any]:
    """Two-fold cross-fit of the router per scenario; the minimum saving chosen."""
    import warnings

    from langchain_core.messages import HumanMessage

    from green_chain.bench.routefit import (
        CHEAP_COST_RATIO,
        QUALITY_FLOOR,
        router_items,
        score_route_items,
    )
    from green_chain.bench.scenarios import GreenSettings, ScenarioEnv
    from green_chain.routing import EmbeddingScorer, calibrate
    from green_chain.routing.calibration import evaluate_threshold

    per: dict[str, Any] = {}
    for s in scenarios:
        if s.name == "mixed":
            continue
        cal = splits[s.name].calibration
        items = router_items(cal, 2 * n_items, seed)
        if len(items) < 4:
            continue
        env = ScenarioEnv(comps, cal, GreenSettings(), seed, stop=s.stop, first_line=s.first_line)
        t0 = time.perf_counter()
        prompts, quality = score_route_items(s, env, items, cal)
        half = len(items) // 2
        parts = [list(range(half)), list(range(half, len(items)))]
        per[s.name] = {
            "item_ids": [it.id for it in items],
            "cheap_mc": quality["cheap"],
            "large_mc": quality["large"],
            "folds": [],
        }
        for k in (0, 1):
            fit, held = parts[k], parts[1 - k]
            req = [[HumanMessage(prompts[i])] for i in range(len(items))]
            labels = [int(quality["cheap"][i] >= quality["large"][i]) for i in fit]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scorer = EmbeddingScorer(comps.embeddings).fit([req[i] for i in fit], labels)
            tokens = [max(1.0, len(p) / 4.0) for p in prompts]
            scores = scorer.score_batch(req)
            res = calibrate(
                [scores[i] for i in fit],
                [quality["cheap"][i] for i in fit],
                [quality["large"][i] for i in fit],
                [CHEAP_COST_RATIO * tokens[i] for i in fit],
                [tokens[i] for i in fit],
                quality_floor=QUALITY_FLOOR,
            )
            saving = res.energy_saved_pct / 100.0
            cheap = [scores[i] >= res.threshold and res.threshold < 1.0 for i in held]
            routed = [
                quality["cheap"][i] if c else quality["large"][i]
                for i, c in zip(held, cheap, strict=True)
            ]
            out = evaluate_threshold(
                [scores[i] for i in held],
                [quality["cheap"][i] for i in held],
                [quality["large"][i] for i in held],
                [CHEAP_COST_RATIO * tokens[i] for i in held],
                [tokens[i] for i in held],
                res.threshold,
            )
            fold = {
                "scenario": s.name,
                "fit_ids": [items[i].id for i in fit],
                "threshold": res.threshold,
                "in_sample_saving": saving,
                "routes": res.point.large_share < 1.0,
                "routed_quality": routed,
                "large_quality": [quality["large"][i] for i in held],
                "out_of_fold_large_share": out.large_share,
            }
            per[s.name]["folds"].append({k2: v for k2, v in fold.items() if k2 != "fit_ids"})
        per[s.name]["elapsed_s"] = round(time.perf_counter() - t0, 1)
        print(json.dumps({"scenario": s.name, "router": per[s.name]}), flush=True)
    return decide_router(per, grid)


def decide_router(per: dict[str, Any], grid: Sequence[float]) -> dict[str, Any]:
    """The minimum saving chosen from every scenario's cross-fit folds (``per``)."""
    from green_chain.bench.routefit import CHEAP_COST_RATIO, QUALITY_FLOOR

    folds = [f for e in per.values() for f in e["folds"]]
    value, curve = choose_min_saving(folds, grid, QUALITY_FLOOR)
    return {
        "measure": "gold-vs-distractor multiple choice under both models, no generation",
        "cost_ratio": CHEAP_COST_RATIO,
        "quality_floor": QUALITY_FLOOR,
        "grid": list(grid),
        "curve": curve,
        "min_saving": value,
        "scenarios": per,
    }


def caps_part(
    scenarios: Sequence[Any], splits: dict[str, Any], comps: Any, seed: int
) -> dict[str, Any]:
    """Per scenario: the answer cap and the share of calibration references within it."""
    from green_chain.bench.scenarios import GreenSettings, ScenarioEnv
    from green_chain.routing.decision import model_name
    from green_chain.tokens import count_tokens

    large = model_name(comps.models["large"])
    out = {}
    for s in scenarios:
        if s.name == "mixed":
            continue
        cal = splits[s.name].calibration
        env = ScenarioEnv(comps, cal, GreenSettings(), seed)
        cap = s.answer_cap(env)
        sizes = [count_tokens(s.mc_text(it.reference, it), large).tokens for it in cal]
        out[s.name] = {
            "answer_cap": cap,
            "items": len(cal),
            "references_within_cap": sum(n <= cap for n in sizes) / len(sizes) if sizes else None,
            "reference_tokens_max": max(sizes, default=None),
        }
    return out


def check_disjoint(result: dict[str, Any], splits: dict[str, Any]) -> dict[str, int]:
    """Per scenario, the ids used here that are not calibration items (must be 0); raises on any."""
    used: dict[str, set[str]] = {}
    for name, e in result.get("compression", {}).get("scenarios", {}).items():
        used.setdefault(name, set()).update(e["item_ids"])
    for name, e in result.get("router", {}).get("scenarios", {}).items():
        used.setdefault(name, set()).update(e["item_ids"])
    for name, e in result.get("generated", {}).get("scenarios", {}).items():
        used.setdefault(name, set()).update(e["item_ids"])
    bad: dict[str, int] = {}
    for name, ids in used.items():
        split = splits[name]
        test = {it.id for it in split.test}
        cal = {it.id for it in split.calibration}
        bad[name] = len(ids & test) + len(ids - cal)
    leaks = {n: k for n, k in bad.items() if k}
    if leaks:
        raise RuntimeError(f"tuning items outside calibration or among test items: {leaks}")
    return bad


def merge_results(results: Sequence[dict[str, Any]], root: Any = None) -> dict[str, Any]:
    """One result from runs over disjoint scenario subsets (same seed): each choice is
    decided again over all their scenarios, and the disjointness check is redone."""
    from green_chain.bench.scenarios import get_scenarios

    seeds = {r["seed"] for r in results}
    if len(seeds) != 1:
        raise ValueError(f"cannot merge runs of different seeds: {sorted(seeds)}")
    out: dict[str, Any] = {"seed": seeds.pop(), "merged_from": [r["command"] for r in results]}
    out["calibration_ids"] = {}
    comp: dict[str, Any] = {}
    router: dict[str, Any] = {}
    generated: dict[str, Any] = {}
    caps: dict[str, Any] = {}
    for r in results:
        for name, ids in r["calibration_ids"].items():
            if out["calibration_ids"].setdefault(name, ids) != ids:
                raise ValueError(f"{name}: the runs split its calibration items differently")
        for part, acc in (("compression", comp), ("router", router), ("generated", generated)):
            for name, e in r.get(part, {}).get("scenarios", {}).items():
                if name in acc:
                    raise ValueError(f"{name} is in two runs' {part} part")
                acc[name] = e
        caps.update(r.get("caps", {}))
    firsts = {p: next((r[p] for r in results if p in r), None) for p in ("compression", "router")}
    if comp and firsts["compression"] is not None:
        backends = list(dict.fromkeys(b for e in comp.values() for b in e["backends"]))
        rates = [x for x in firsts["compression"]["rates"] if x < 1.0]
        out["compression"] = decide_compression(comp, backends, rates)
        if generated:
            out["generated"] = {"scenarios": generated}
            apply_generated_rates(out["compression"], generated)
    if router and firsts["router"] is not None:
        out["router"] = decide_router(router, firsts["router"]["grid"])
    if caps:
        out["caps"] = caps
    names = set(out["calibration_ids"])
    splits = {s.name: s.split(root, None, out["seed"]) for s in get_scenarios(sorted(names))}
    out["test_items_used"] = check_disjoint(out, splits)
    out["chosen"] = _chosen(out)
    return out


def apply_generated_rates(compression: dict[str, Any], generated: dict[str, Any]) -> None:
    """Replace the probe's rate by the generated-answer sweep's where one ran.

    ``generated``: :func:`green_chain.bench.etr_generated.generated_sweep` results by
    scenario (``python -m green_chain.experiments.compression_generated``), run for the
    scenarios whose quality these models can measure. Each such scenario takes the sweep's
    ``validated_rate`` (the mean rule, the probe sweep's rule on the task's own metric); the
    probe's rate is kept beside it (``rates_generated``). A scenario whose rate the cached
    prefix rule set to 1.0 is left alone (its compression pays off once per task).
    """
    chosen = compression["rates_chosen"]
    replaced: dict[str, Any] = {}
    for name, sweep in sorted(generated.items()):
        if name not in chosen or name in compression.get("cached_prefix", {}):
            continue
        rate = sweep.get("validated_rate")
        if rate is None:
            continue
        replaced[name] = {"probe_rate": chosen[name], "generated_rate": rate}
        chosen[name] = rate
    compression["rates_generated"] = replaced
    compression["rates_rule"] = (
        "the probe's validated rate (6 calibration items), except where a generated-answer "
        "sweep ran (rates_generated: the smallest rate whose mean task metric on the large "
        "model's answers is within the tolerance of the uncompressed prompt's)"
    )


def _chosen(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "compressor": result.get("compression", {}).get("backend"),
        "compression_rates": result.get("compression", {}).get("rates_chosen"),
        "min_saving": result.get("router", {}).get("min_saving"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="data folder (default: as green-chain bench)")
    p.add_argument("--seed", type=int, default=0, help="item selection seed (default 0)")
    p.add_argument("--etr-items", type=int, default=6, help="calibration items of each sweep")
    p.add_argument("--router-items", type=int, default=6, help="items per router fold")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--rates", default=",".join(str(r) for r in RATES))
    p.add_argument("--scenarios", default="", help="comma-separated (default: all)")
    p.add_argument("--parts", default="compression,router,caps")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", help="write the result as JSON here")
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="combine the outputs of runs over disjoint --scenarios subsets into --out "
        "(each choice decided again over all their scenarios); runs nothing else",
    )
    a = p.parse_args(argv)
    if a.merge:
        merged = merge_results([json.loads(Path(f).read_text()) for f in a.merge], a.data)
        merged["command"] = " ".join(
            ["python -m green_chain.experiments.tuning", *(sys.argv[1:] if argv is None else argv)]
        )
        print(json.dumps({"chosen": merged["chosen"]}), flush=True)
        if a.out:
            os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
            with open(a.out, "w") as f:
                json.dump(merged, f, indent=1)
        return 0
    for flag in ("etr_items", "router_items", "threads"):
        if getattr(a, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(a, flag)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(a.threads)
    from green_chain.bench.components import default_components
    from green_chain.bench.scenarios import get_scenarios

    scenarios = [
        s for s in get_scenarios([n for n in a.scenarios.split(",") if n]) if s.name != "mixed"
    ]
    rates = tuple(float(r) for r in a.rates.split(",") if r)
    parts = {x for x in a.parts.split(",") if x}
    t0 = time.perf_counter()
    splits = {s.name: s.split(a.data, None, a.seed) for s in scenarios}
    names = [b for b in a.backends.split(",") if b]
    comps = {b: default_components(compressor=b) for b in names}
    base = comps[names[0]]
    result: dict[str, Any] = {
        "command": " ".join(
            ["python -m green_chain.experiments.tuning", *(sys.argv[1:] if argv is None else argv)]
        ),
        "args": vars(a),
        "seed": a.seed,
        "split": "Scenario.split(data, n_test=None, seed): calibration only; test side checked",
        "calibration_ids": {n: [it.id for it in sp.calibration] for n, sp in splits.items()},
    }
    if "compression" in parts:
        result["compression"] = compression_part(
            scenarios, splits, comps, rates, a.etr_items, a.seed
        )
    if "router" in parts:
        result["router"] = router_part(scenarios, splits, base, a.router_items, a.seed, SAVING_GRID)
    if "caps" in parts:
        result["caps"] = caps_part(scenarios, splits, base, a.seed)
    result["test_items_used"] = check_disjoint(result, splits)
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    chosen = _chosen(result)
    result["chosen"] = chosen
    print(json.dumps({"chosen": chosen, "elapsed_s": result["elapsed_s"]}), flush=True)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
