"""PNG plots of a results document (matplotlib imported lazily, Agg backend)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def energy_points(doc: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """(prefilled prompt tokens, model joules) per answering model, from single-call records.

    Prompt tokens read from a prefix cache (``cached_tokens``) are not prefilled, so they
    are not counted.
    """
    pts: dict[str, list[tuple[int, float]]] = {}
    for entry in doc["scenarios"].values():
        for r in entry.get("records") or []:
            calls = r.get("calls") or []
            if len(calls) != 1 or r.get("energy_j") is None or r.get("error"):
                continue
            joules = r["energy_j"] - (r.get("optimizer_energy_j") or 0.0)
            pts.setdefault(calls[0].get("model_name") or "model", []).append(
                (
                    int(calls[0].get("prompt_tokens") or 0)
                    - int(calls[0].get("cached_tokens") or 0),
                    max(joules, 0.0),
                )
            )
    return pts


def fit_curves(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """E(n) = a n^2 + b n + c per model (``green_chain.energy.model.EnergyCurve``), where >= 3 points."""
    from green_chain.energy.model import EnergyCurve

    out = {}
    kind = doc["overall"].get("energy_source", "").split(" ")[0]
    for name, pts in energy_points(doc).items():
        try:
            curve = EnergyCurve.fit(
                [p[0] for p in pts], [p[1] for p in pts], model_name=name, kind=kind
            )
        except ValueError as exc:
            logger.debug("no E(n) fit for %s: %s", name, exc)
            continue
        out[name] = curve.to_dict()
    return out


def write_plots(doc: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write energy_by_scenario.png, quality_vs_energy.png and energy_curves.png."""
    plt = _pyplot()
    out = Path(out_dir)
    paths: list[Path] = []
    ok = {n: s for n, s in doc["scenarios"].items() if s["status"] == "ok"}
    names = list(ok)
    src = doc["overall"].get("energy_source", "")

    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.8), 4))
    xs = range(len(names))
    ax.bar(
        [x - 0.2 for x in xs], [ok[n]["energy_baseline_j"] for n in names], 0.4, label="baseline"
    )
    ax.bar([x + 0.2 for x in xs], [ok[n]["energy_green_j"] for n in names], 0.4, label="green")
    ax.set_xticks(list(xs), names, rotation=45, ha="right")
    ax.set_ylabel(f"energy, J ({src})")
    ax.set_title("Energy by scenario")
    ax.legend()
    fig.tight_layout()
    paths.append(out / "energy_by_scenario.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for n in names:
        x, y = ok[n]["energy_saved_pct"], ok[n]["quality_retained_pct"]
        if x is not None and y is not None:
            ax.scatter(x, y)
            ax.annotate(n, (x, y), fontsize=8)
    ax.axhline(95, ls="--", lw=0.8, color="grey")
    ax.axvline(60, ls="--", lw=0.8, color="grey")
    ax.set_xlabel(f"energy saved, % ({src})")
    ax.set_ylabel("quality retained, %")
    ax.set_title("Quality retained vs energy saved")
    fig.tight_layout()
    paths.append(out / "quality_vs_energy.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    curves = doc.get("energy_curves") or {}
    for name, pts in energy_points(doc).items():
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=10, label=f"{name} (items)")
        c = curves.get(name)
        if c and pts:
            top = max(p[0] for p in pts)
            ns = [top * i / 50 for i in range(51)]
            ax.plot(
                ns, [c["a"] * n * n + c["b"] * n + c["c"] for n in ns], label=f"{name} E(n) fit"
            )
    ax.set_xlabel("prompt tokens")
    ax.set_ylabel(f"model energy per call, J ({src})")
    ax.set_title("Fitted E(n) curves")
    if curves or energy_points(doc):
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "energy_curves.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
