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


def _err(value: float | None, ci: Any) -> tuple[float, float]:
    """Matplotlib's (below, above) error lengths from a ``[lo, hi]`` interval (0 without one)."""
    if value is None or not ci:
        return (0.0, 0.0)
    return (max(value - ci[0], 0.0), max(ci[1] - value, 0.0))


def write_plots(doc: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write energy_by_scenario.png, quality_vs_energy.png and energy_curves.png.

    Every figure with an interval in results.json is drawn with it as an error bar (95 %
    paired bootstrap); quality is the paired delta or the retention, with the 95 % line;
    scenario names sit on the axis or in the legend, never on top of each other.
    """
    plt = _pyplot()
    out = Path(out_dir)
    paths: list[Path] = []
    ok = {n: s for n, s in doc["scenarios"].items() if s["status"] == "ok"}
    names = list(ok)
    src = doc["overall"].get("energy_source", "")

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, len(names) * 0.8), 6.5), sharex=True)
    xs = list(range(len(names)))
    saved = [ok[n].get("energy_saved_pct") for n in names]
    top.bar(
        xs,
        [v or 0.0 for v in saved],
        yerr=list(
            zip(
                *[
                    _err(v, ok[n].get("energy_saved_ci95"))
                    for v, n in zip(saved, names, strict=True)
                ],
                strict=True,
            )
        )
        if names
        else None,
        capsize=3,
        color="tab:green",
    )
    top.axhline(60, ls="--", lw=0.8, color="grey", label="target 60")
    top.set_ylabel("energy saved (%)")
    top.set_title(f"Per scenario, 95 % intervals (energy: {src})", fontsize=9)
    top.legend(fontsize=8)
    delta = [ok[n].get("quality_delta_pts") for n in names]
    colors = ["tab:blue" if ok[n].get("quality_measurable", True) else "lightgrey" for n in names]
    bottom.bar(
        xs,
        [v or 0.0 for v in delta],
        yerr=list(
            zip(
                *[
                    _err(v, ok[n].get("quality_delta_ci95"))
                    for v, n in zip(delta, names, strict=True)
                ],
                strict=True,
            )
        )
        if names
        else None,
        capsize=3,
        color=colors,
    )
    bottom.axhline(0, lw=0.8, color="black")
    bottom.set_ylabel("quality, green - baseline (points)")
    bottom.set_xticks(
        xs,
        [n if ok[n].get("quality_measurable", True) else f"{n} (n.m.)" for n in names],
        rotation=45,
        ha="right",
    )
    fig.tight_layout()
    paths.append(out / "energy_by_scenario.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n in names:
        s = ok[n]
        x, y = s.get("energy_saved_pct"), s.get("quality_retained_pct")
        if x is None or y is None:
            continue
        measurable = s.get("quality_measurable", True)
        xe, ye = _err(x, s.get("energy_saved_ci95")), _err(y, s.get("quality_retained_ci95"))
        ax.errorbar(
            x,
            y,
            xerr=[[xe[0]], [xe[1]]],
            yerr=[[ye[0]], [ye[1]]],
            fmt="o" if measurable else "x",
            capsize=3,
            label=n if measurable else f"{n} (n.m.)",
        )
    ax.axhline(95, ls="--", lw=0.8, color="grey")
    ax.axvline(60, ls="--", lw=0.8, color="grey")
    ax.set_xlabel("energy saved (%)")
    ax.set_ylabel("quality retained (%)")
    ax.set_title(f"Quality retained vs energy saved, 95 % intervals (energy: {src})", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
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
