"""Summaries, results.json, CSV and the terminal table.

Definitions (per scenario, and overall; the intervals are :mod:`green_chain.bench.stats`'s
seeded paired bootstrap over items, overall resampled within each scenario):

* Items pair by id. A pair where either chain failed never counts as saved energy: the
  energy figures use the clean pairs only (``failed_items`` counts the others). For
  quality a failed green item scores 0; a failed baseline item leaves the pair out.
* ``energy_saved_pct = 100 x (1 - sum green J / sum baseline J)`` over the clean pairs,
  with ``energy_saved_ci95``; overall over all items of all scenarios (energy-weighted).
* ``quality`` of an item is the task's own metric on the parsed generated answer
  (``quality_metric``: exact match, F1, accuracy, function choice, ROUGE-L).
  ``quality_delta_pts`` = green minus baseline mean quality in points (0-100);
  ``quality_retained_pct = 100 x mean green / mean baseline``; never capped; both with
  ``*_ci95``. ``quality_ok``: the lower bound of retained is at least 95 %.
* ``quality_measurable``: the baseline's mean quality is at least
  :data:`CHANCE_MARGIN` above the scenario's chance level (``quality_chance``) and its
  lower 95 % bound above chance. Scenarios that are not measurable are shown but kept out
  of the overall quality figures and verdict.
* ``target_met`` = overall ``energy_saved_pct >= 60`` and overall ``quality_ok``.
* ``prompt_evidence_*`` = the secondary prompt probe (log-likelihood choice of the gold
  answer against distractors given the prompt the chain sent): evidence kept in the prompt,
  not the answer's quality.
* ``prompt_token_ratio`` = green prompt tokens / baseline prompt tokens (what the model
  read, all changes included); ``etr_handler`` = the energy handler's ETR (tokens sent /
  tokens before the optimizers, from the optimizers' published events), token-weighted;
  ``per_baseline``/``per_green`` = quality per joule per item (performance-energy ratio).
* ``*_projected`` fields price the same token counts with :mod:`green_chain.bench.projection`;
  they are never mixed with the measured ones.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from green_chain.bench.records import ItemRecord, as_record
from green_chain.bench.results_schema import (
    INVALID,
    ResultsFileError,
    check_results,
    is_valid_energy,
)
from green_chain.bench.stats import (
    DEFAULT_RESAMPLES,
    MIN_RETAINED_PCT,
    PairedSample,
    mean_ci95,
    paired_bootstrap,
)

SCHEMA_VERSION = 2
#: How far (0-1 quality) the baseline must score above chance for quality to be measurable.
CHANCE_MARGIN = 0.10
CSV_FIELDS = (
    "scenario",
    "status",
    "n_items",
    "failed_items",
    "energy_source",
    "energy_baseline_j",
    "energy_green_j",
    "energy_saved_pct",
    "energy_saved_ci95",
    "quality_metric",
    "quality_measurable",
    "quality_baseline",
    "quality_green",
    "quality_delta_pts",
    "quality_delta_ci95",
    "quality_retained_pct",
    "quality_retained_ci95",
    "quality_ok",
    "prompt_evidence_baseline",
    "prompt_evidence_green",
    "prompt_tokens_baseline",
    "prompt_tokens_green",
    "cached_tokens_baseline",
    "cached_tokens_green",
    "completion_tokens_baseline",
    "completion_tokens_green",
    "prompt_token_ratio",
    "etr_handler",
    "tokens_per_j_baseline",
    "tokens_per_j_green",
    "per_baseline",
    "per_green",
    "optimizer_energy_j",
    "carbon_g_baseline",
    "carbon_g_green",
    "latency_s_baseline",
    "latency_s_green",
    "energy_saved_pct_projected",
    "validated_token_share",
    "error",
)


def _sum(values: Iterable[float | None]) -> float:
    return float(sum(v for v in values if v is not None))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pct_saved(base: float, green: float) -> float | None:
    return 100.0 * (1.0 - green / base) if base > 0 else None


def energy_source(records: Iterable[ItemRecord]) -> str:
    """``kind (sources)``, e.g. ``estimated (estimate)``; ``mixed`` when records differ."""
    recs = list(records)
    kinds = {r.energy_kind for r in recs if r.energy_kind}
    sources = sorted({s for r in recs for s in r.energy_sources})
    kind = str(kinds.pop()) if len(kinds) == 1 else ("mixed" if kinds else "unavailable")
    return f"{kind} ({', '.join(sources)})" if sources else kind


def handler_etr(records: Sequence[ItemRecord]) -> float | None:
    """Token-weighted ETR of the energy handler over ``records``.

    ``sum sent / sum (sent + removed by optimizers)`` over items whose model call
    consumed optimizer events (``etr_handler`` set); ``None`` when no optimizer ran.
    """
    sent = removed = 0.0
    for r in records:
        if r.etr_handler is None:
            continue
        sent += r.handler_tokens_sent or 0
        removed += r.handler_tokens_saved or 0
    return sent / (sent + removed) if sent + removed > 0 else None


def paired_sample(
    records: Sequence[ItemRecord], variant: str = "green"
) -> tuple[PairedSample, list[str], int]:
    """The scenario's paired figures (baseline vs ``variant``), item ids, failed item count.

    See the module doc: a pair with a failure has no energy; a failed green item scores
    quality 0; a failed baseline item has no quality pair; an unscored item neither.
    """
    nan = float("nan")
    pairs: dict[str, dict[str, ItemRecord]] = {}
    for r in records:
        pairs.setdefault(r.item_id, {})[r.variant] = r
    cols: tuple[list[float], ...] = ([], [], [], [])
    ids: list[str] = []
    failed = 0
    for item_id, pair in pairs.items():
        b, g = pair.get("baseline"), pair.get(variant)
        if b is None or g is None:
            continue
        ids.append(item_id)
        bad = bool(b.error or g.error)
        failed += bad
        clean = not bad and b.energy_j is not None and g.energy_j is not None
        cols[0].append(float(b.energy_j) if clean and b.energy_j is not None else nan)
        cols[1].append(float(g.energy_j) if clean and g.energy_j is not None else nan)
        scored = not b.error and b.quality is not None and (g.error or g.quality is not None)
        cols[2].append(float(b.quality or 0.0) if scored else nan)
        cols[3].append((0.0 if g.error else float(g.quality or 0.0)) if scored else nan)
    return PairedSample(*cols), ids, failed


def _clean_sum(values: Sequence[float]) -> float:
    return float(sum(v for v in values if v == v))  # nan != nan


def summarize_scenario(
    entry: dict[str, Any],
    *,
    projection: Any = None,
    cheap_names: set[str] | None = None,
    carbon_g_per_j: float | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """The summary fields of one scenario entry (computed from its records).

    ``entry["records"]`` holds :class:`~green_chain.bench.records.ItemRecord` objects or
    their results.json dicts; ``entry["quality_chance"]`` (optional, default 0) is the
    scenario's chance-level quality in [0, 1].
    """
    recs: list[ItemRecord] = [as_record(r) for r in entry.get("records") or []]
    by = {v: [r for r in recs if r.variant == v] for v in ("baseline", "green")}
    sample, ids, failed = paired_sample(recs)
    stats = paired_bootstrap(sample, n_resamples=n_resamples, seed=seed)
    qb = _mean([q for q in sample.baseline_q if q == q])
    qg = _mean([q for q in sample.green_q if q == q])
    chance = float(entry.get("quality_chance") or 0.0)
    base_ci = mean_ci95(sample.baseline_q, n_resamples=n_resamples, seed=seed)
    measurable = (
        qb is not None
        and base_ci is not None
        and qb >= chance + CHANCE_MARGIN
        and base_ci[0] > chance
    )
    out: dict[str, Any] = {
        "name": entry.get("name"),
        "status": entry.get("status", "ok"),
        "n_items": len(ids),
        "failed_items": failed,
        "failed_baseline": sum(1 for r in by["baseline"] if r.error),
        "failed_green": sum(1 for r in by["green"] if r.error),
        "energy_source": energy_source(recs),
        "energy_baseline_j": _clean_sum(sample.baseline_j),
        "energy_green_j": _clean_sum(sample.green_j),
        "energy_saved_pct": stats["energy_saved_pct"],
        "energy_saved_ci95": stats["energy_saved_ci95"],
        "quality_metric": next((r.quality_metric for r in recs if r.quality_metric), None),
        "quality_baseline": qb,
        "quality_green": qg,
        "quality_baseline_ci95": base_ci,
        "quality_chance": chance,
        "quality_measurable": measurable,
        "quality_delta_pts": stats["quality_delta_pts"],
        "quality_delta_ci95": stats["quality_delta_ci95"],
        "quality_retained_pct": stats["quality_retained_pct"],
        "quality_retained_ci95": stats["quality_retained_ci95"],
        "quality_ok": stats["quality_ok"] if measurable else None,
        "prompt_evidence_baseline": _evidence(by["baseline"]),
        "prompt_evidence_green": _evidence(by["green"]),
        "optimizer_energy_j": _sum(r.optimizer_energy_j for r in by["green"]),
        "error": entry.get("error"),
    }
    for v in ("baseline", "green"):
        rs = by[v]
        tokens = _sum(r.prompt_tokens + r.completion_tokens for r in rs)
        joules = _sum(r.energy_j for r in rs)
        out[f"prompt_tokens_{v}"] = _mean([r.prompt_tokens for r in rs])
        out[f"completion_tokens_{v}"] = _mean([r.completion_tokens for r in rs])
        out[f"cached_tokens_{v}"] = _mean([r.cached_tokens for r in rs])
        out[f"tokens_per_j_{v}"] = tokens / joules if joules > 0 else None
        q = qb if v == "baseline" else qg
        out[f"per_{v}"] = (q / (joules / len(rs))) if rs and joules > 0 and q is not None else None
        out[f"latency_s_{v}"] = _mean([r.duration_s for r in rs if r.duration_s is not None])
        out[f"carbon_g_{v}"] = joules * carbon_g_per_j if carbon_g_per_j is not None else None
    pb, pg = out["prompt_tokens_baseline"], out["prompt_tokens_green"]
    out["prompt_token_ratio"] = pg / pb if pb and pg is not None else None
    out["etr_handler"] = handler_etr(by["green"])
    if projection is not None:
        names = cheap_names or set()
        clean = {i for i, j in zip(ids, sample.baseline_j, strict=True) if j == j}
        per = {
            v: [projection.record_j(r, names) for r in by[v] if r.item_id in clean]
            for v in ("baseline", "green")
        }
        pj_b, pj_g = sum(per["baseline"]), sum(per["green"])
        proj = paired_bootstrap(
            PairedSample(per["baseline"], per["green"], [1.0] * len(clean), [1.0] * len(clean)),
            n_resamples=n_resamples,
            seed=seed,
        )
        out.update(
            energy_baseline_j_projected=pj_b,
            energy_green_j_projected=pj_g,
            energy_saved_pct_projected=_pct_saved(pj_b, pj_g),
            energy_saved_ci95_projected=proj["energy_saved_ci95"],
        )
    etr = entry.get("validated_etr") or {}
    out["validated_token_share"] = etr.get("validated_token_share")
    ablation = {}
    for variant in sorted({r.variant for r in recs if r.variant.startswith(ABLATION_PREFIX)}):
        a_sample, _, a_failed = paired_sample(recs, variant)
        a_stats = paired_bootstrap(a_sample, n_resamples=n_resamples, seed=seed)
        ablation[variant[len(ABLATION_PREFIX) :]] = {
            **{k: a_stats[k] for k in ABLATION_FIELDS},
            "failed_items": a_failed,
        }
        for ref in ("baseline", "green"):
            if all(r.same_as == ref for r in recs if r.variant == variant):
                ablation[variant[len(ABLATION_PREFIX) :]][f"same_as_{ref}"] = True
    if ablation:
        out["ablation"] = ablation
    return out


#: Variant name prefix of an ablation chain (the green chain with one optimizer alone).
ABLATION_PREFIX = "only:"
#: The figures reported per optimizer of the ablation.
ABLATION_FIELDS = (
    "energy_saved_pct",
    "energy_saved_ci95",
    "quality_delta_pts",
    "quality_delta_ci95",
    "quality_retained_pct",
    "quality_retained_ci95",
)


def _evidence(records: Sequence[ItemRecord]) -> float | None:
    """Mean prompt-probe score (``metrics.prompt_evidence_score``) of the scored records."""
    vals = [
        float(r.metrics["prompt_evidence_score"])
        for r in records
        if r.metrics and r.metrics.get("prompt_evidence_score") is not None
    ]
    return _mean(vals)


def overall(
    summaries: Sequence[dict[str, Any]],
    *,
    target_saved_pct: float = 60.0,
    target_retained_pct: float = MIN_RETAINED_PCT,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Overall figures over the scenarios that ran, from their records (see the module doc).

    Energy pools every item of every scenario that ran; quality pools the items of the
    scenarios whose quality is measurable. Both resample items within each scenario.
    """
    ok = [s for s in summaries if s["status"] == "ok" and s["n_items"]]
    samples = {
        str(s.get("name")): paired_sample([as_record(r) for r in s.get("records") or []])[0]
        for s in ok
    }
    energy = paired_bootstrap(samples, n_resamples=n_resamples, seed=seed)
    measurable = [s for s in ok if s.get("quality_measurable")]
    quality = paired_bootstrap(
        {str(s.get("name")): samples[str(s.get("name"))] for s in measurable},
        n_resamples=n_resamples,
        seed=seed,
        min_retained_pct=target_retained_pct,
    )
    out: dict[str, Any] = {
        "scenarios_ok": len(ok),
        "scenarios_failed": len(summaries) - len(ok),
        "failed_items": sum(int(s.get("failed_items") or 0) for s in summaries),
        "n_items": sum(int(s["n_items"]) for s in ok),
        "energy_source": energy_source_of(ok),
        "energy_baseline_j": sum(s["energy_baseline_j"] for s in ok),
        "energy_green_j": sum(s["energy_green_j"] for s in ok),
        "energy_saved_pct": energy["energy_saved_pct"],
        "energy_saved_ci95": energy["energy_saved_ci95"],
        "quality_scenarios": [s.get("name") for s in measurable],
        "quality_not_measurable": [s.get("name") for s in ok if not s.get("quality_measurable")],
        "quality_delta_pts": quality["quality_delta_pts"],
        "quality_delta_ci95": quality["quality_delta_ci95"],
        "quality_retained_pct": quality["quality_retained_pct"],
        "quality_retained_ci95": quality["quality_retained_ci95"],
        "quality_ok": quality["quality_ok"],
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "stratified_by": "scenario"},
        "target": {
            "energy_saved_pct": target_saved_pct,
            "quality_retained_ci95_low": target_retained_pct,
        },
    }
    out["target_met"] = _met(out["energy_saved_pct"], out["quality_ok"], target_saved_pct)
    optimizers = sorted({o for s in ok for o in s.get("ablation") or {}})
    if optimizers:
        out["ablation"] = {}
        for opt in optimizers:
            with_opt = [s for s in ok if opt in (s.get("ablation") or {})]
            a_samples = {
                str(s.get("name")): paired_sample(
                    [as_record(r) for r in s.get("records") or []], ABLATION_PREFIX + opt
                )[0]
                for s in with_opt
            }
            a_energy = paired_bootstrap(a_samples, n_resamples=n_resamples, seed=seed)
            a_quality = paired_bootstrap(
                {n: a_samples[n] for n in a_samples if n in out["quality_scenarios"]},
                n_resamples=n_resamples,
                seed=seed,
            )
            out["ablation"][opt] = {
                "scenarios": [s.get("name") for s in with_opt],
                "energy_saved_pct": a_energy["energy_saved_pct"],
                "energy_saved_ci95": a_energy["energy_saved_ci95"],
                **{k: a_quality[k] for k in ABLATION_FIELDS if k.startswith("quality")},
            }
        out["ablation_failed_items"] = sum(
            int(a.get("failed_items") or 0) for s in ok for a in (s.get("ablation") or {}).values()
        )
    if ok and all("energy_saved_pct_projected" in s for s in ok):
        pb = sum(s["energy_baseline_j_projected"] for s in ok)
        pg = sum(s["energy_green_j_projected"] for s in ok)
        out["energy_baseline_j_projected"] = pb
        out["energy_green_j_projected"] = pg
        out["energy_saved_pct_projected"] = _pct_saved(pb, pg)
        out["target_met_projected"] = _met(
            out["energy_saved_pct_projected"], out["quality_ok"], target_saved_pct
        )
    return out


def _met(saved: float | None, quality_ok: bool | None, t_saved: float) -> bool | None:
    if saved is None or quality_ok is None:
        return None
    return saved >= t_saved and quality_ok


def energy_source_of(summaries: Sequence[dict[str, Any]]) -> str:
    srcs = {s["energy_source"] for s in summaries}
    return (
        srcs.pop()
        if len(srcs) == 1
        else ("mixed: " + "; ".join(sorted(srcs)) if srcs else "unavailable")
    )


def write_json(
    doc: dict[str, Any], path: str | os.PathLike[str], *, allow_nan: bool = True
) -> Path:
    """Write ``doc`` as JSON; with ``allow_nan=False`` a NaN or inf is a ``ValueError``.

    The JSON is built before the file is opened, so a refused document leaves no file.
    """
    p = Path(path)
    text = json.dumps(doc, indent=2, default=str, allow_nan=allow_nan)
    p.write_text(text, encoding="utf-8")
    return p


def load_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a results.json and check its shape (:mod:`green_chain.bench.results_schema`).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ResultsFileError: not valid JSON, or JSON of the wrong shape (a ``ValueError``
            naming the file and the field).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"results file {p} not found")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{p} is not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ResultsFileError(f"{p} is nested too deeply to be a results.json") from exc
    return check_results(doc, str(p))


def write_csv(doc: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for name, s in doc["scenarios"].items():
            w.writerow({"scenario": name, **s})
        w.writerow({"scenario": "OVERALL", "status": "ok", **doc["overall"]})
    return p


def _f(value: Any, fmt: str = "{:.1f}") -> str:
    """``-`` for a missing figure, ``invalid`` for NaN/inf, else ``fmt``."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return INVALID
    return fmt.format(value)


def _fj(value: Any) -> str:
    """A figure in joules: ``invalid`` when NaN, infinite or negative."""
    return _f(value, "{:.2f}") if value is None or is_valid_energy(value) else INVALID


def _fsaved(entry: dict[str, Any], key: str = "energy_saved_pct") -> str:
    """A saving, ``invalid`` when either energy it is computed from is invalid."""
    suffix = key.removeprefix("energy_saved_pct")
    sources = [entry.get(f"energy_{v}_j{suffix}") for v in ("baseline", "green")]
    if any(v is not None and not is_valid_energy(v) for v in sources):
        return INVALID
    return _f(entry.get(key))


def _ci(value: Any, ci: Any, fmt: str = "{:.1f}", shown: str | None = None) -> str:
    """``value [lo, hi]`` (a dash when the value is missing; ``shown`` replaces the value)."""
    text = shown if shown is not None else _f(value, fmt)
    if value is None or not ci or text in ("-", INVALID):
        return text
    return f"{text} [{_f(ci[0], fmt)}, {_f(ci[1], fmt)}]"


def format_table(doc: dict[str, Any]) -> str:
    """The terminal table: one line per scenario and the overall line (95 % intervals)."""
    proj = "energy_saved_pct_projected" in doc["overall"]
    head = ["scenario", "items", "failed", "base J", "green J", "saved % [95% CI]"]
    head += ["quality", "metric", "d quality pts [95% CI]", "retained % [95% CI]", "ok"]
    head += ["evidence b/g", "tok ratio", "ETR", "valid. share", "opt J"]
    if proj:
        head.append("saved % (proj)")
    rows = [head]
    for name, s in doc["scenarios"].items():
        if s["status"] != "ok":
            rows.append([name, "FAILED"])
            continue
        measurable = s.get("quality_measurable", True)
        evid = (s.get("prompt_evidence_baseline"), s.get("prompt_evidence_green"))
        row = [
            name,
            str(s["n_items"]),
            str(s.get("failed_items", 0)),
            _fj(s["energy_baseline_j"]),
            _fj(s["energy_green_j"]),
            _ci(s["energy_saved_pct"], s.get("energy_saved_ci95"), shown=_fsaved(s)),
            _f(s.get("quality_baseline"), "{:.2f}") + "/" + _f(s.get("quality_green"), "{:.2f}"),
            (s.get("quality_metric") or "-") + ("" if measurable else " (n.m.)"),
            _ci(s.get("quality_delta_pts"), s.get("quality_delta_ci95")),
            _ci(s.get("quality_retained_pct"), s.get("quality_retained_ci95")),
            "-" if s.get("quality_ok") is None else ("yes" if s["quality_ok"] else "no"),
            "-" if evid[0] is None else f"{_f(evid[0], '{:.2f}')}/{_f(evid[1], '{:.2f}')}",
            _f(s.get("prompt_token_ratio", s.get("etr")), "{:.2f}"),
            _f(s.get("etr_handler"), "{:.2f}"),
            _f(s.get("validated_token_share"), "{:.2f}"),
            _fj(s["optimizer_energy_j"]),
        ]
        if proj:
            row.append(
                _ci(
                    s.get("energy_saved_pct_projected"),
                    s.get("energy_saved_ci95_projected"),
                    shown=_fsaved(s, "energy_saved_pct_projected"),
                )
            )
        rows.append(row)
    o = doc["overall"]
    last = [
        "OVERALL",
        str(o.get("n_items", "")),
        str(o.get("failed_items", 0)),
        _fj(o["energy_baseline_j"]),
        _fj(o["energy_green_j"]),
        _ci(o["energy_saved_pct"], o.get("energy_saved_ci95"), shown=_fsaved(o)),
        "",
        "",
        _ci(o.get("quality_delta_pts"), o.get("quality_delta_ci95")),
        _ci(o.get("quality_retained_pct"), o.get("quality_retained_ci95")),
        "-" if o.get("quality_ok") is None else ("yes" if o["quality_ok"] else "no"),
        "",
        "",
        "",
        "",
        "",
    ]
    if proj:
        last.append(_fsaved(o, "energy_saved_pct_projected"))
    rows.append(last)
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(
        "quality: the task metric on each chain's parsed answer (baseline/green, 0-1); "
        "d quality = green - baseline in points; retained = green / baseline; ok = lower "
        "bound of retained >= 95 %; (n.m.) = baseline near chance, quality not measurable "
        "(left out of OVERALL quality); intervals: paired bootstrap over items"
    )
    lines.append(
        "evidence b/g: secondary prompt probe (gold answer most likely given the prompt "
        "sent), evidence kept in the prompt, not answer quality"
    )
    for name, s in doc["scenarios"].items():
        if s["status"] != "ok":
            lines.append(f"FAILED {name}: {(s.get('error') or '')[:120]}")
    ablation_lines = [
        f"  {name:<11} {opt:<16} saved {_ci(a['energy_saved_pct'], a['energy_saved_ci95'])} %, "
        f"d quality {_ci(a['quality_delta_pts'], a['quality_delta_ci95'])} pts, retained "
        f"{_ci(a['quality_retained_pct'], a['quality_retained_ci95'])} %"
        + (" (the baseline's calls: not re-run)" if a.get("same_as_baseline") else "")
        + (" (the green chain's calls and work: not re-run)" if a.get("same_as_green") else "")
        for name, s in [*doc["scenarios"].items(), ("OVERALL", o)]
        for opt, a in (s.get("ablation") or {}).items()
    ]
    if ablation_lines:
        lines.append("ablation: each optimizer alone against the baseline, same items [95% CI]")
        lines.extend(ablation_lines)
    if o.get("failed_items"):
        lines.append(
            f"FAILED ITEMS: {o['failed_items']} (left out of the energy figures; a failed "
            "green answer scores quality 0)"
        )
    target = o.get("target", {})
    lines.append(
        f"target ({target.get('energy_saved_pct', 60):.0f} % saved with quality ok): "
        f"{'met' if o.get('target_met') else 'not met' if o.get('target_met') is False else 'undecided'}"
    )
    if any(s.get("validated_token_share") is not None for s in doc["scenarios"].values()):
        lines.append(
            "valid. share: smallest share of prompt tokens whose quality stays within 5 % of the "
            "uncompressed prompt's (rate sweep on calibration items; validated ETR)"
        )
    if any(INVALID in r for r in rows):
        lines.append(f"{INVALID}: a NaN, infinite or negative figure in the results file")
    lines.append(f"energy: {o['energy_source']} (measured/estimated on this machine)")
    source = (doc.get("data_source") or {}).get("source") or doc.get("options", {}).get(
        "data_source"
    )
    if source:
        note = ""
        if source == "embedded":
            note = " - a small sample; figures are not comparable to full-data runs"
        lines.append(f"data: {source} ({doc.get('options', {}).get('data', '')}){note}")
    if proj:
        pj = doc.get("projection", {})
        lines.append(
            f"{pj.get('label', 'projected')}: {pj.get('spec', '')} - priced token counts, not measured"
        )
    return "\n".join(lines)
