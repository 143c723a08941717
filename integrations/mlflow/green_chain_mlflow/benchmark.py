"""Log a green-chain benchmark (``results.json``) as one MLflow run.

What is logged:

* **parameters** - ``schema_version``, the run's ``options.*`` and ``models.*``
  (flattened), the scenario list, the overall energy source and targets;
* **metrics** - every numeric field of ``overall`` as ``overall.<field>`` and of
  each scenario as ``<scenario>.<field>`` (``energy_saved_pct``,
  ``quality_retained_pct``, ``energy_baseline_j``, ``etr``, ...; booleans as 0/1;
  missing values are skipped, never logged as 0);
* **tags** - ``green_chain.energy_source`` (measured/estimated and the meters)
  and ``green_chain.target_met``, plus each scenario's status and error;
* **artifacts** - ``results.json`` and the plots (by default every ``*.png``,
  ``*.csv`` and ``table.txt`` beside a results.json given by path).

It uses :class:`mlflow.tracking.MlflowClient` only, so MLflow's global active
run and tracking URI are left untouched.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_EXPERIMENT = "green-chain-bench"
_MAX_PARAM_CHARS = 500
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")
_AUTO_ARTIFACT_PATTERNS = ("*.png", "*.csv", "table.txt")
_SKIP_SCENARIO_KEYS = frozenset({"records", "validated_etr"})


def _key(text: str) -> str:
    """A valid MLflow metric/param/tag key (letters, digits, ``_ - . /`` and spaces)."""
    return _BAD_KEY_CHARS.sub("_", text)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def load_results_document(results: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """The results document from a path or a dict; ``ValueError`` when it is not one."""
    if isinstance(results, Mapping):
        doc = dict(results)
        where = "results dict"
    else:
        path = Path(results)
        if path.is_dir():
            path = path / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"no benchmark results file at {path} (run green-chain bench)")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON: {exc}") from exc
        where = str(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("overall"), Mapping):
        raise ValueError(f"{where} is not a green-chain results.json: no 'overall' object")
    if not isinstance(doc.get("scenarios"), Mapping):
        raise ValueError(f"{where} is not a green-chain results.json: no 'scenarios' object")
    return doc


def benchmark_params(doc: Mapping[str, Any]) -> dict[str, str]:
    """Run parameters (strings, truncated to 500 characters)."""
    flat: dict[str, Any] = {}
    for section in ("options", "models"):
        if isinstance(doc.get(section), Mapping):
            _flatten(section, doc[section], flat)
    overall = doc["overall"]
    if isinstance(overall.get("target"), Mapping):
        _flatten("target", overall["target"], flat)
    flat["energy_source"] = overall.get("energy_source")
    flat["scenarios"] = ",".join(str(s) for s in doc["scenarios"])
    if "schema_version" in doc:
        flat["schema_version"] = doc["schema_version"]
    out: dict[str, str] = {}
    for k, v in flat.items():
        if v is None:
            continue
        text = v if isinstance(v, str) else json.dumps(v, default=str)
        out[_key(k)] = text[:_MAX_PARAM_CHARS]
    return out


def benchmark_metrics(doc: Mapping[str, Any]) -> dict[str, float]:
    """``overall.<field>`` and ``<scenario>.<field>`` for every numeric field."""
    out: dict[str, float] = {}
    for k, v in doc["overall"].items():
        if k == "target":
            continue
        number = _number(v)
        if number is not None:
            out[_key(f"overall.{k}")] = number
    for name, entry in doc["scenarios"].items():
        if not isinstance(entry, Mapping):
            continue
        for k, v in entry.items():
            if k in _SKIP_SCENARIO_KEYS:
                continue
            number = _number(v)
            if number is not None:
                out[_key(f"{name}.{k}")] = number
    return out


def benchmark_tags(doc: Mapping[str, Any]) -> dict[str, str]:
    overall = doc["overall"]
    out = {
        "green_chain.energy_source": str(overall.get("energy_source", "unknown")),
        "green_chain.target_met": str(overall.get("target_met")),
    }
    for name, entry in doc["scenarios"].items():
        if isinstance(entry, Mapping):
            out[_key(f"scenario.{name}.status")] = str(entry.get("status", "ok"))
            if entry.get("error"):
                out[_key(f"scenario.{name}.error")] = str(entry["error"])[:_MAX_PARAM_CHARS]
    return out


def _artifact_paths(
    results: str | os.PathLike[str] | Mapping[str, Any],
    artifacts: Sequence[str | os.PathLike[str]] | None,
) -> list[Path]:
    if artifacts is not None:
        paths = [Path(a) for a in artifacts]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise FileNotFoundError(f"artifacts not found: {', '.join(missing)}")
        return paths
    if isinstance(results, Mapping):
        return []
    folder = Path(results) if Path(results).is_dir() else Path(results).parent
    found: list[Path] = []
    for pattern in _AUTO_ARTIFACT_PATTERNS:
        found.extend(sorted(folder.glob(pattern)))
    return found


@contextmanager
def _file_store_allowed(tracking_uri: str | None, allow: bool) -> Iterator[None]:
    """MLflow 3 refuses a file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set."""
    is_file = tracking_uri is not None and (
        tracking_uri.startswith("file:") or "://" not in tracking_uri
    )
    if not (allow and is_file) or "MLFLOW_ALLOW_FILE_STORE" in os.environ:
        yield
        return
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def log_benchmark(
    results: str | os.PathLike[str] | Mapping[str, Any],
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    run_name: str | None = None,
    artifacts: Sequence[str | os.PathLike[str]] | None = None,
    tags: Mapping[str, str] | None = None,
    allow_file_store: bool = True,
) -> str:
    """Log one benchmark run to MLflow and return the MLflow run id.

    Args:
        results: Path to a ``results.json`` (or its folder), or the document as a dict.
        experiment: MLflow experiment name (created when missing).
        tracking_uri: MLflow tracking URI (``file:///path/mlruns``, ``http://mlflow:5000``,
            ``sqlite:///mlflow.db``); ``None`` = MLflow's default (``MLFLOW_TRACKING_URI``).
        run_name: MLflow run name (default ``green-chain-bench <created>``).
        artifacts: Files or folders to attach besides results.json; ``None`` = every
            ``*.png``, ``*.csv`` and ``table.txt`` beside a results.json given by path.
        tags: Extra run tags.
        allow_file_store: MLflow 3 refuses file-store URIs unless
            ``MLFLOW_ALLOW_FILE_STORE`` is set; with True (default) it is set for
            this call when ``tracking_uri`` is a file store.

    Raises:
        FileNotFoundError / ValueError: for a missing or malformed results file or artifact
            (before any run is created).
        ImportError: when MLflow is not installed.
    """
    doc = load_results_document(results)
    extra = _artifact_paths(results, artifacts)
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ImportError(
            'green_chain_mlflow needs MLflow: pip install "green-chain-mlflow" '
            "(or pip install mlflow-skinny)"
        ) from exc

    with _file_store_allowed(tracking_uri, allow_file_store):
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id if found is not None else client.create_experiment(experiment)
        )
        run_tags = {**benchmark_tags(doc), **dict(tags or {})}
        name = run_name or f"green-chain-bench {doc.get('created', '')}".strip()
        run = client.create_run(experiment_id, run_name=name, tags=run_tags)
        run_id: str = run.info.run_id
        try:
            now_ms = int(time.time() * 1000)
            params = [Param(k, v) for k, v in benchmark_params(doc).items()]
            metrics = [Metric(k, v, now_ms, 0) for k, v in benchmark_metrics(doc).items()]
            for chunk in _chunks(params, 100):
                client.log_batch(run_id, params=chunk)
            for chunk in _chunks(metrics, 1000):
                client.log_batch(run_id, metrics=chunk)
            _log_results_json(client, run_id, results, doc)
            for path in extra:
                if path.name == "results.json":
                    continue
                if path.is_dir():
                    client.log_artifacts(run_id, str(path), artifact_path=path.name)
                else:
                    client.log_artifact(run_id, str(path))
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id, status="FINISHED")
    return run_id


def _log_results_json(
    client: Any, run_id: str, results: str | os.PathLike[str] | Mapping[str, Any], doc: Any
) -> None:
    """Attach results.json: the file itself when given by path, else the dict serialized."""
    if not isinstance(results, Mapping):
        path = Path(results)
        client.log_artifact(run_id, str(path / "results.json" if path.is_dir() else path))
        return
    with tempfile.TemporaryDirectory() as tmp:
        doc_path = Path(tmp) / "results.json"
        doc_path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
        client.log_artifact(run_id, str(doc_path))
