"""log_benchmark against a local MLflow file store in tmp_path."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from green_chain_mlflow import benchmark_metrics, benchmark_params, log_benchmark

FIXTURE = Path(__file__).parent / "mlflow_fixtures" / "results.json"


def _png(path: Path) -> Path:
    """Write a valid 1x1 PNG (a stand-in for a benchmark plot)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00\x80\x00")
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    out = tmp_path / "green-chain-results"
    out.mkdir()
    shutil.copy(FIXTURE, out / "results.json")
    _png(out / "energy_vs_quality.png")
    _png(out / "energy_by_scenario.png")
    (out / "table.txt").write_text("scenario  saved\nqa  67.3\n")
    (out / "notes.md").write_text("not an artifact by default")
    return out


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_logs_params_metrics_tags_and_artifacts(bench_dir: Path, tmp_path: Path) -> None:
    uri = (tmp_path / "mlruns").as_uri()
    run_id = log_benchmark(bench_dir / "results.json", experiment="bench-test", tracking_uri=uri)
    client = _client(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "bench-test"
    doc = json.loads(FIXTURE.read_text())
    metrics = run.data.metrics
    assert metrics["overall.energy_saved_pct"] == pytest.approx(doc["overall"]["energy_saved_pct"])
    assert metrics["overall.quality_retained_pct"] == pytest.approx(96.5)
    assert metrics["overall.target_met"] == 1.0
    assert metrics["qa.energy_saved_pct"] == pytest.approx(100 * (1 - 320 / 980))
    assert metrics["dialogue.quality_retained_pct"] == pytest.approx(97.5)
    assert metrics["qa.etr"] == pytest.approx(290 / 812)
    assert "fewshot.energy_saved_pct" not in metrics  # None is skipped, never logged as 0
    assert not any(k.endswith(".records") for k in metrics)
    params = run.data.params
    assert params["models.large"] == "smollm2-135m-instruct"
    assert params["options.items"] == "8"
    assert params["options.router.threshold"] == "-1.2"
    assert params["energy_source"] == "estimated (estimate)"
    assert params["target.energy_saved_pct"] == "60.0"
    assert params["scenarios"] == "qa,dialogue,fewshot"
    tags = run.data.tags
    assert tags["green_chain.energy_source"] == "estimated (estimate)"
    assert tags["scenario.fewshot.status"] == "failed"
    assert "data file missing" in tags["scenario.fewshot.error"]
    names = sorted(a.path for a in client.list_artifacts(run_id))
    assert names == ["energy_by_scenario.png", "energy_vs_quality.png", "results.json", "table.txt"]
    local = Path(client.download_artifacts(run_id, "results.json", str(tmp_path / "dl")))
    assert json.loads(local.read_text()) == doc


def test_dict_input_explicit_artifacts_and_same_experiment(bench_dir: Path, tmp_path: Path) -> None:
    uri = (tmp_path / "mlruns").as_uri()
    doc = json.loads(FIXTURE.read_text())
    first = log_benchmark(doc, tracking_uri=uri, run_name="one", tags={"branch": "main"})
    second = log_benchmark(
        doc, tracking_uri=uri, run_name="two", artifacts=[bench_dir / "notes.md"]
    )
    client = _client(uri)
    a, b = client.get_run(first), client.get_run(second)
    assert a.info.experiment_id == b.info.experiment_id
    assert client.get_experiment(a.info.experiment_id).name == "green-chain-bench"
    assert a.data.tags["branch"] == "main" and a.data.tags["mlflow.runName"] == "one"
    assert [x.path for x in client.list_artifacts(first)] == ["results.json"]
    assert sorted(x.path for x in client.list_artifacts(second)) == ["notes.md", "results.json"]


def test_bad_inputs_fail_before_any_run(tmp_path: Path) -> None:
    uri = (tmp_path / "mlruns").as_uri()
    with pytest.raises(FileNotFoundError, match="results"):
        log_benchmark(tmp_path / "missing.json", tracking_uri=uri)
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    with pytest.raises(ValueError, match="overall"):
        log_benchmark(bad, tracking_uri=uri)
    with pytest.raises(FileNotFoundError, match=r"nope\.png"):
        log_benchmark(FIXTURE, tracking_uri=uri, artifacts=[tmp_path / "nope.png"])
    assert not (tmp_path / "mlruns").exists()  # nothing was created


def test_flatteners_are_pure() -> None:
    doc = json.loads(FIXTURE.read_text())
    metrics = benchmark_metrics(doc)
    assert metrics["overall.scenarios_failed"] == 1.0
    assert not any(k.startswith("overall.target.") for k in metrics)  # targets are params
    params = benchmark_params(doc)
    assert params["options.scenarios"] == '["qa", "dialogue", "fewshot"]'
    assert all(len(v) <= 500 for v in params.values())
