"""`EnergyReport`: the records of an energy handler as data, a table and a plot.

Aggregates (``summary()``):

* per step type (``run_type``): joules are the sum of *exclusive attributed*
  energy, so rows add up to the device energy over the union of the windows
  without double counting nested runs;
* per model (model calls only): joules are the calls' attributed inclusive
  energy less model loading (``load_energy_j``); tokens/J = (prompt + completion
  tokens) / joules; a model loaded inside a call has its own ``<model> (load)`` row;
* a model load (run type ``load``) is its own row in both tables, never part of a
  call's tokens/J or PER;
* ETR (aggregate) = sum(prompt_tokens) / sum(prompt_tokens + tokens_saved) over
  calls with optimizer events; PER (aggregate) = sum(score) / sum(energy) over
  scored runs; gCO2e from the same joules and the handler's carbon intensity;
* cached = prompt tokens read from a prefix (KV) cache, not prefilled (``-`` when no
  call reported a cache); they are included in ``tokens``.

Every energy column says its kind (``measured``/``estimated``/``mixed``);
hosted-API estimates are reported in their own column, never summed with local
energy.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from green_chain.callbacks.records import LOAD_RUN_TYPE, MODEL_RUN_TYPES


def _sum(values: Iterable[Any]) -> float | None:
    nums = [float(v) for v in values if v is not None]
    return sum(nums) if nums else None


def _kinds(records: Sequence[Mapping[str, Any]], key: str = "energy_kind") -> str:
    kinds = sorted({str(r[key]) for r in records if r.get(key)})
    if not kinds:
        return "-"
    return kinds[0] if len(kinds) == 1 else "mixed"


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _basis_j(record: Mapping[str, Any]) -> float:
    """A record's efficiency energy basis (J): attributed inclusive less model loading."""
    if record.get("basis_energy_j") is not None:
        return float(record["basis_energy_j"])
    return float(record[record.get("energy_basis") or "energy_j"])  # records saved before


def model_label(record: Mapping[str, Any]) -> str:
    """A model call's label: its model name, else its run name marked as unnamed."""
    name = record.get("model_name")
    if name:
        return str(name)
    return f"{record.get('name') or record.get('run_type') or 'model'} (no model name)"


class EnergyReport:
    """Records of one handler (plain dicts, start order) plus aggregates.

    Args:
        records: Run records as plain dicts (``RunRecord.to_dict()``).
        device_energy_j: Device energy per domain (J) over the union of all windows.
        carbon: Object with ``carbon_kg(energy_j)`` for the aggregate gCO2e.
        dropped_runs: Records dropped by the handler's ``max_runs`` cap.
        dropped_roots: Root trees dropped by the cap.
    """

    def __init__(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        device_energy_j: Mapping[str, float] | None = None,
        carbon: Any | None = None,
        dropped_runs: int = 0,
        dropped_roots: int = 0,
    ) -> None:
        self._records = [dict(r) for r in records]
        self.device_energy_j = dict(device_energy_j or {})
        self.carbon = carbon
        self.dropped_runs = dropped_runs
        self.dropped_roots = dropped_roots

    def records(self) -> list[dict[str, Any]]:
        """The run records as plain dicts (copies)."""
        return [dict(r) for r in self._records]

    def __len__(self) -> int:
        return len(self._records)

    # ------------------------------------------------------------ export
    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per run (pandas is an optional dependency)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "EnergyReport.to_dataframe() needs pandas: pip install 'green-chain[bench]' "
                "(or pip install pandas)"
            ) from exc
        return pd.DataFrame(self._records)

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """The records as JSON (also written to ``path`` when given)."""
        text = json.dumps(
            {
                "records": self._records,
                "device_energy_j": self.device_energy_j,
                "dropped_runs": self.dropped_runs,
                "dropped_roots": self.dropped_roots,
            },
            indent=indent,
            default=str,
        )
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """One row per run; nested fields (dicts, lists) are JSON strings."""
        out = Path(path)
        columns: list[str] = []
        for r in self._records:
            columns.extend(k for k in r if k not in columns)
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for r in self._records:
                writer.writerow(
                    {
                        k: json.dumps(v, default=str) if isinstance(v, dict | list) else v
                        for k, v in r.items()
                    }
                )
        return out

    # ------------------------------------------------------------ aggregates
    def _carbon_g(self, energy_j: float | None) -> float | None:
        if energy_j is None or self.carbon is None:
            return None
        try:
            return float(self.carbon.carbon_kg(energy_j)) * 1000.0
        except Exception:
            return None

    @staticmethod
    def _etr(records: Sequence[Mapping[str, Any]]) -> float | None:
        joined = [r for r in records if r.get("etr") is not None]
        sent = sum(int(r["prompt_tokens"] or 0) for r in joined)
        saved = sum(int(r["tokens_saved"] or 0) for r in joined)
        return sent / (sent + saved) if joined and sent + saved > 0 else None

    @staticmethod
    def _per(records: Sequence[Mapping[str, Any]]) -> float | None:
        scored = [r for r in records if r.get("score") is not None and r.get("per") is not None]
        # the record's own energy basis, not score / per: a score of 0 has per == 0
        energy = sum(_basis_j(r) for r in scored)
        return sum(float(r["score"]) for r in scored) / energy if scored and energy > 0 else None

    def _row(self, label: str, rs: Sequence[Mapping[str, Any]], energy_key: str) -> dict[str, Any]:
        tokens = _sum(r.get("total_tokens") for r in rs)
        energy = _sum(r.get(energy_key) for r in rs)
        return {
            "group": label,
            "calls": len(rs),
            "tokens": int(tokens) if tokens is not None else None,
            "tokens_approximate": any(
                r.get("tokens_approximate") and r.get("total_tokens") is not None for r in rs
            ),
            "cached_tokens": _int(_sum(r.get("cached_prompt_tokens") for r in rs)),
            "energy_j": energy,
            "kind": _kinds(rs),
            "tokens_per_j": tokens / energy if tokens is not None and energy else None,
            "etr": self._etr(rs),
            "per": self._per(rs),
            "carbon_g": self._carbon_g(energy),
            "api_energy_j": _sum(r.get("api_energy_j") for r in rs),
            "api_kind": _kinds(rs, "api_energy_kind"),
        }

    def by_step_type(self) -> list[dict[str, Any]]:
        """Aggregate rows per ``run_type`` (energy = exclusive attributed joules).

        A model run that wraps another model run (``RoutedChatModel``) has its own
        group, ``<run_type> (wrapper)``, without tokens: the inner call counts them.
        """
        wrappers = self._wrapper_model_runs()
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for r in self._records:
            if r["run_id"] in wrappers:
                wrapped = {**r, "total_tokens": None, "prompt_tokens": None, "etr": None}
                groups.setdefault(f"{r['run_type']} (wrapper)", []).append(wrapped)
            else:
                groups.setdefault(str(r["run_type"]), []).append(r)
        return [self._row(k, v, "attributed_energy_j") for k, v in sorted(groups.items())]

    def _wrapper_model_runs(self) -> set[Any]:
        """Model runs that contain another model run (a router around its chosen model).

        Their energy and tokens are the inner call's, so per-model totals skip them.
        """
        by_id = {r["run_id"]: r for r in self._records}
        wrappers: set[Any] = set()
        for r in self._records:
            if r["run_type"] not in MODEL_RUN_TYPES:
                continue
            parent = by_id.get(r.get("parent_run_id"))
            seen = 0
            while parent is not None and seen < 1000:
                if parent["run_type"] in MODEL_RUN_TYPES:
                    wrappers.add(parent["run_id"])
                parent = by_id.get(parent.get("parent_run_id"))
                seen += 1
        return wrappers

    def by_model(self) -> list[dict[str, Any]]:
        """Aggregate rows per model name over model calls (energy = attributed inclusive J).

        A model run that wraps another model run (``RoutedChatModel``) is left out, so
        the chosen model's joules and tokens are counted once.
        """
        wrappers = self._wrapper_model_runs()
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for r in self._records:
            if r["run_type"] in MODEL_RUN_TYPES and r["run_id"] not in wrappers:
                call = r
                if (
                    r.get("load_energy_j") is not None
                    and r.get("attributed_inclusive_j") is not None
                ):
                    call = {**r, "attributed_inclusive_j": _basis_j(r)}
                groups.setdefault(model_label(r), []).append(call)
            elif r["run_type"] == LOAD_RUN_TYPE:
                groups.setdefault(f"{model_label(r)} (load)", []).append(r)
        return [self._row(k, v, "attributed_inclusive_j") for k, v in sorted(groups.items())]

    def summary(self) -> str:
        """A plain-text table per step type and per model, for terminals."""
        head = (
            f"{'group':<28} {'calls':>6} {'tokens':>8} {'cached':>8} {'joules':>10} {'kind':>9} "
            f"{'tok/J':>9} {'ETR':>6} {'PER':>8} {'gCO2e':>9} {'api J (kind)':>18}"
        )
        lines: list[str] = []
        for title, rows in (("per step type", self.by_step_type()), ("per model", self.by_model())):
            lines += [f"== {title} ==", head, "-" * len(head)]
            for row in rows:
                api = (
                    "-"
                    if row["api_energy_j"] is None
                    else f"{row['api_energy_j']:.3g} ({row['api_kind']})"
                )
                tokens = "-" if row["tokens"] is None else str(row["tokens"])
                tokens = f"~{tokens}" if row["tokens_approximate"] else tokens
                lines.append(
                    f"{row['group'][:28]:<28} {row['calls']:>6} {tokens:>8} "
                    f"{row['cached_tokens'] if row['cached_tokens'] is not None else '-':>8} "
                    f"{_fmt(row['energy_j']):>10} {row['kind']:>9} "
                    f"{_fmt(row['tokens_per_j']):>9} {_fmt(row['etr'], '.2f'):>6} "
                    f"{_fmt(row['per']):>8} {_fmt(row['carbon_g']):>9} {api:>18}"
                )
            lines.append("")
        if any(r["run_type"] == LOAD_RUN_TYPE for r in self._records):
            lines.append(
                "load = loading model weights on a first call: its own row, "
                "left out of the calls' joules, tokens/J and PER"
            )
        if any(r.get("tokens_approximate") for r in self._records):
            lines.append("~ = some token counts are approximate (no tokenizer for the model)")
        total = sum(self.device_energy_j.values()) if self.device_energy_j else None
        lines.append(
            f"device energy over all windows: {_fmt(total)} J ({_kinds(self._records)}); "
            f"runs: {len(self._records)}"
            + (f"; dropped {self.dropped_runs} runs by max_runs" if self.dropped_runs else "")
        )
        return "\n".join(lines)

    # ------------------------------------------------------------ plot
    def plot(self, path: str | os.PathLike[str], *, top: int = 15) -> Path:
        """Save a figure: energy by step (bars) and tokens vs energy per model call.

        Token counts are the tokens each call computed (prompt + completion, less
        prompt tokens read from a prefix cache). The right panel draws each model's
        fitted ``E(n) = a n^2 + b n + c``
        (:class:`green_chain.energy.model.EnergyCurve`) when it has at least three
        distinct token counts. Needs matplotlib (``pip install 'green-chain[plots]'``).
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "EnergyReport.plot() needs matplotlib: pip install 'green-chain[plots]'"
            ) from exc
        import numpy as np

        from green_chain.energy.model import EnergyCurve

        by_name: dict[str, float] = {}
        for r in self._records:
            if r.get("attributed_energy_j") is not None:
                by_name[r["name"]] = by_name.get(r["name"], 0.0) + float(r["attributed_energy_j"])
        bars = sorted(by_name.items(), key=lambda kv: kv[1], reverse=True)[:top]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
        ax1.barh([k for k, _ in bars][::-1], [v for _, v in bars][::-1], color="#4a8f4a")
        ax1.set_xlabel(f"attributed energy (J, {_kinds(self._records)})")
        ax1.set_title("Energy by step")
        models: dict[str, tuple[list[float], list[float]]] = {}
        for r in self._records:
            energy = _basis_j(r) if r.get("energy_basis") else None
            computed = (r.get("total_tokens") or 0) - (r.get("cached_prompt_tokens") or 0)
            if r["run_type"] in MODEL_RUN_TYPES and computed > 0 and energy is not None:
                xs, ys = models.setdefault(str(r.get("model_name") or "?"), ([], []))
                xs.append(float(computed))
                ys.append(float(energy))
        for model, (xs, ys) in sorted(models.items()):
            points = ax2.scatter(xs, ys, s=14, label=model)
            if len(set(xs)) >= 3:
                curve = EnergyCurve.fit(xs, ys, model_name=model, kind=_kinds(self._records))
                grid = np.linspace(0, max(xs) * 1.05, 100)
                ax2.plot(
                    grid,
                    curve.predict(grid),
                    color=points.get_facecolor()[0],
                    label=f"{model} fit (R²={curve.r2:.2f})",
                )
        ax2.set_xlabel("tokens computed (prefilled prompt + completion)")
        ax2.set_ylabel("energy per call (J)")
        ax2.set_title("Tokens vs energy per model call")
        if models:
            ax2.legend(fontsize=8)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return out
