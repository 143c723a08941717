"""Summaries, results.json, CSV and the terminal table.

Definitions (per scenario, and overall):

* ``energy_saved_pct = 100 x (1 - sum green J / sum baseline J)``; overall over all
  items of all scenarios (energy-weighted).
* ``quality_retained_pct = 100 x mean green quality / mean baseline quality``; overall
  the mean over scenarios of each scenario's retention.
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

SCHEMA_VERSION = 1
CSV_FIELDS = (
    "scenario",
    "status",
    "n_items",
    "energy_source",
    "energy_baseline_j",
    "energy_green_j",
    "energy_saved_pct",
    "quality_metric",
    "quality_baseline",
    "quality_green",
    "quality_retained_pct",
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


def summarize_scenario(
    entry: dict[str, Any],
    *,
    projection: Any = None,
    cheap_names: set[str] | None = None,
    carbon_g_per_j: float | None = None,
) -> dict[str, Any]:
    """The summary fields of one scenario entry (computed from its records).

    ``entry["records"]`` holds :class:`~green_chain.bench.records.ItemRecord` objects or
    their results.json dicts.
    """
    recs: list[ItemRecord] = [as_record(r) for r in entry.get("records") or []]
    by = {v: [r for r in recs if r.variant == v] for v in ("baseline", "green")}
    base_j = _sum(r.energy_j for r in by["baseline"])
    green_j = _sum(r.energy_j for r in by["green"])
    qb = _mean([r.quality or 0.0 for r in by["baseline"]])
    qg = _mean([r.quality or 0.0 for r in by["green"]])
    n = len(by["baseline"])
    out: dict[str, Any] = {
        "name": entry.get("name"),
        "status": entry.get("status", "ok"),
        "n_items": n,
        "energy_source": energy_source(recs),
        "energy_baseline_j": base_j,
        "energy_green_j": green_j,
        "energy_saved_pct": _pct_saved(base_j, green_j),
        "quality_metric": next((r.quality_metric for r in recs if r.quality_metric), None),
        "quality_baseline": qb,
        "quality_green": qg,
        "quality_retained_pct": (100.0 * qg / qb) if qb and qg is not None else None,
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
        pj_b = sum(projection.record_j(r, names) for r in by["baseline"])
        pj_g = sum(projection.record_j(r, names) for r in by["green"])
        out.update(
            energy_baseline_j_projected=pj_b,
            energy_green_j_projected=pj_g,
            energy_saved_pct_projected=_pct_saved(pj_b, pj_g),
        )
    etr = entry.get("validated_etr") or {}
    out["validated_token_share"] = etr.get("validated_token_share")
    return out


def overall(
    summaries: Sequence[dict[str, Any]],
    *,
    target_saved_pct: float = 60.0,
    target_retained_pct: float = 95.0,
) -> dict[str, Any]:
    """Energy-weighted overall saving and mean retention over the scenarios that ran."""
    ok = [s for s in summaries if s["status"] == "ok" and s["n_items"]]
    base = sum(s["energy_baseline_j"] for s in ok)
    green = sum(s["energy_green_j"] for s in ok)
    retained = [s["quality_retained_pct"] for s in ok if s["quality_retained_pct"] is not None]
    out: dict[str, Any] = {
        "scenarios_ok": len(ok),
        "scenarios_failed": len(summaries) - len(ok),
        "energy_source": energy_source_of(ok),
        "energy_baseline_j": base,
        "energy_green_j": green,
        "energy_saved_pct": _pct_saved(base, green),
        "quality_retained_pct": _mean(retained),
        # conservative: a scenario where green beat the baseline counts as 100 %, so luck
        # on one scenario never hides a loss on another
        "quality_retained_pct_capped": _mean([min(r, 100.0) for r in retained]),
        "scenarios_without_retention": [
            s.get("name") for s in ok if s["quality_retained_pct"] is None
        ],
        "target": {
            "energy_saved_pct": target_saved_pct,
            "quality_retained_pct": target_retained_pct,
        },
    }
    out["target_met"] = _met(
        out["energy_saved_pct"], out["quality_retained_pct"], target_saved_pct, target_retained_pct
    )
    if ok and all("energy_saved_pct_projected" in s for s in ok):
        pb = sum(s["energy_baseline_j_projected"] for s in ok)
        pg = sum(s["energy_green_j_projected"] for s in ok)
        out["energy_baseline_j_projected"] = pb
        out["energy_green_j_projected"] = pg
        out["energy_saved_pct_projected"] = _pct_saved(pb, pg)
        out["target_met_projected"] = _met(
            out["energy_saved_pct_projected"],
            out["quality_retained_pct"],
            target_saved_pct,
            target_retained_pct,
        )
    return out


def _met(saved: float | None, retained: float | None, t_saved: float, t_ret: float) -> bool | None:
    if saved is None or retained is None:
        return None
    return saved >= t_saved and retained >= t_ret


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


def format_table(doc: dict[str, Any]) -> str:
    """The terminal table: one line per scenario and the overall line."""
    proj = "energy_saved_pct_projected" in doc["overall"]
    head = ["scenario", "items", "base J", "green J", "saved %", "quality %", "tok ratio", "ETR"]
    head += ["valid. share", "opt J"]
    if proj:
        head.append("saved % (proj)")
    rows = [head]
    for name, s in doc["scenarios"].items():
        if s["status"] != "ok":
            rows.append([name, "FAILED", (s.get("error") or "")[:60]])
            continue
        row = [
            name,
            str(s["n_items"]),
            _fj(s["energy_baseline_j"]),
            _fj(s["energy_green_j"]),
            _fsaved(s),
            _f(s["quality_retained_pct"]),
            _f(s.get("prompt_token_ratio", s.get("etr")), "{:.2f}"),
            _f(s.get("etr_handler"), "{:.2f}"),
            _f(s.get("validated_token_share"), "{:.2f}"),
            _fj(s["optimizer_energy_j"]),
        ]
        if proj:
            row.append(_fsaved(s, "energy_saved_pct_projected"))
        rows.append(row)
    o = doc["overall"]
    last = [
        "OVERALL",
        "",
        _fj(o["energy_baseline_j"]),
        _fj(o["energy_green_j"]),
        _fsaved(o),
        _f(o["quality_retained_pct"]),
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
    if o.get("quality_retained_pct_capped") is not None:
        lines.append(
            f"quality retained, each scenario capped at 100 %: "
            f"{_f(o['quality_retained_pct_capped'])} % (a dash: baseline quality 0, no ratio)"
        )
    if any(s.get("validated_token_share") is not None for s in doc["scenarios"].values()):
        lines.append(
            "valid. share: smallest share of prompt tokens whose quality stays within 5 % of the "
            "uncompressed prompt's (rate sweep; validated ETR)"
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
