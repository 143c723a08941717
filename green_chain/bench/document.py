"""Assemble results.json and write every output file of a run."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from green_chain.bench.results import (
    SCHEMA_VERSION,
    format_table,
    overall,
    summarize_scenario,
    write_csv,
    write_json,
)

#: Keys of a scenario entry copied beside its summary.
_ENTRY_KEYS = (
    "title",
    "generation_metric",
    "max_new_tokens",
    "answer_cap",
    "stop",
    "first_line",
    "item_ids",
    "calibration_ids",
    "quality_chance",
    "validated_etr",
    "router",
    "tuned",
    "warm_up",
    "one_off",
    "ablation_variants",
    "ablation_same_as_baseline",
    "ablation_same_as_green",
    "tier_head",
    "tier_calibration_size",
    "resumed",
    "elapsed_s",
    "scoring",
    "baseline_cache_hits",
    "traceback",
    "records",
)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for pkg in (
        "green-chain",
        "langchain-core",
        "torch",
        "transformers",
        "sentence-transformers",
        "llmlingua",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine() -> dict[str, Any]:
    import os

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "hostname_hash": hash_host(),
    }


def git_state(path: str | Path | None = None) -> dict[str, Any]:
    """The git commit of the code that ran and whether its tree had changes (``dirty``).

    ``path`` defaults to the installed ``green_chain`` package's folder; outside a git
    checkout (or without git) both are ``None``.
    """
    import subprocess

    where = Path(path) if path is not None else Path(__file__).resolve().parents[1]

    def git(*argv: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *argv], cwd=where, capture_output=True, text=True, timeout=20, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def hash_host() -> str:
    import hashlib

    return hashlib.sha256(platform.node().encode()).hexdigest()[:10]


def carbon_g_per_j() -> tuple[float | None, dict[str, Any]]:
    """Grid intensity as grams CO2e per joule (``green_chain.energy.carbon``), and its source."""
    from green_chain.energy.carbon import CarbonIntensity

    ci = CarbonIntensity()
    return ci.carbon_kg(1.0) * 1000.0, {
        "intensity_g_per_kwh": ci.intensity_g_per_kwh,
        "pue": ci.pue,
        "source": ci.source,
    }


def build_document(
    entries: Sequence[dict[str, Any]],
    *,
    options: dict[str, Any],
    components_versions: dict[str, str],
    meters: list[dict[str, Any]],
    projection: Any = None,
    projection_spec: str | None = None,
    command: Sequence[str] | None = None,
    git: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results document: overall, one entry per scenario (summary + records), provenance.

    ``git`` is the code's :func:`git_state` taken when the run *started* (default: now).
    """
    g_per_j, carbon_info = carbon_g_per_j()
    cheap_names = {components_versions.get("cheap", "")}
    scenarios: dict[str, Any] = {}
    for e in entries:
        summary = summarize_scenario(
            e, projection=projection, cheap_names=cheap_names, carbon_g_per_j=g_per_j
        )
        scenarios[e["name"]] = {**summary, **{k: e[k] for k in _ENTRY_KEYS if k in e}}
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": list(command if command is not None else sys.argv),
        "options": options,
        "models": components_versions,
        "environment": {
            "versions": _versions(),
            "machine": machine(),
            "meters": meters,
            "carbon": carbon_info,
            "git": git if git is not None else git_state(),
        },
        "overall": overall(list(scenarios.values())),
        "scenarios": scenarios,
    }
    if projection is not None:
        doc["projection"] = {"spec": projection_spec, **projection.describe()}
    try:
        from green_chain.bench.plots import fit_curves

        doc["energy_curves"] = fit_curves(doc)
    except Exception as exc:  # curves are a bonus; never lose a run for them
        doc["energy_curves"] = {"error": str(exc)}
    return doc


def write_outputs(
    doc: dict[str, Any], out_dir: str | Path, *, plots: bool = True, allow_nan: bool = True
) -> dict[str, Path]:
    """Write results.json, results.csv, table.txt and the PNG plots under ``out_dir``.

    ``allow_nan=False``: a NaN or inf in ``doc`` is a ``ValueError`` before any file is
    written (``green-chain merge`` never writes one).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": write_json(doc, out / "results.json", allow_nan=allow_nan),
        "csv": write_csv(doc, out / "results.csv"),
    }
    table = out / "table.txt"
    table.write_text(format_table(doc) + "\n", encoding="utf-8")
    paths["table"] = table
    if plots:
        try:
            from green_chain.bench.plots import write_plots

            for p in write_plots(doc, out):
                paths[p.stem] = p
        except ImportError as exc:
            print(f"plots skipped: {exc} (install green-chain[plots])", file=sys.stderr)
    return paths
