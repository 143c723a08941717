"""The bench, report and compare commands: a run on fakes, and the error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from green_chain.cli import UsageError, bench, build_parser, main
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.bench import make_components, write_tiny_data
from green_chain.testing.clock import FakeClock
from green_chain.testing.meters import FakeMeterBackend


@pytest.fixture
def fake_run(tmp_path):
    data = tmp_path / "data"
    write_tiny_data(data)
    clock = FakeClock()
    meter = FakeMeterBackend(["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock)
    monitor = EnergyMonitor([meter], clock=clock)
    comps = make_components(clock, meter)

    def run(*argv: str, out: str = "out") -> tuple[int, Path]:
        args = build_parser().parse_args(
            ["bench", "--data", str(data), "--out", str(tmp_path / out), "--no-progress", *argv]
        )
        return bench.run(args, components=comps, monitor=monitor), tmp_path / out

    return run


def test_bench_on_fakes_writes_everything(fake_run, capsys):
    rc, out = fake_run("--scenarios", "squad,sst2,mtbench101", "--items", "2")
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["scenarios"]) == {"squad", "sst2", "mtbench101"}
    assert doc["overall"]["energy_saved_pct"] > 0
    assert doc["overall"]["energy_source"] == "estimated (fake-estimate)"
    assert "energy_saved_pct_projected" in doc["overall"]
    assert doc["options"]["seed"] == 0 and doc["command"]
    assert doc["scenarios"]["squad"]["validated_etr"]["sweep"][0]["rate"] == 1.0
    for f in ("results.csv", "table.txt", "energy_by_scenario.png", "quality_vs_energy.png"):
        assert (out / f).is_file()
    printed = capsys.readouterr().out
    assert "OVERALL" in printed and str(out / "results.json") in printed


def test_bench_same_command_same_items(fake_run):
    _, a = fake_run("--scenarios", "squad", "--items", "2", "--no-etr-sweep", out="a")
    _, b = fake_run("--scenarios", "squad", "--items", "2", "--no-etr-sweep", out="b")
    ids = [
        json.loads((p / "results.json").read_text())["scenarios"]["squad"]["item_ids"]
        for p in (a, b)
    ]
    assert ids[0] == ids[1]


def test_missing_data_file_fails_scenario_not_run(fake_run, capsys):
    # one scenario ran, one failed: the other's figures are written, the run exits 1
    rc, out = fake_run("--scenarios", "squad,hotpotqa", "--items", "1", "--no-etr-sweep")
    assert rc == 1
    doc = json.loads((out / "results.json").read_text())
    assert doc["scenarios"]["squad"]["status"] == "ok"
    assert doc["scenarios"]["hotpotqa"]["status"] == "failed"
    captured = capsys.readouterr()
    assert "hotpotqa_dev_distractor_sample100.json" in captured.out + captured.err
    assert "FAILED hotpotqa" in captured.err


def test_no_scenario_ran_exits_1(fake_run, capsys):
    rc, out = fake_run("--scenarios", "hotpotqa", "--items", "1", "--no-etr-sweep")
    assert rc == 1
    assert json.loads((out / "results.json").read_text())["overall"]["scenarios_ok"] == 0


def test_energy_comes_from_the_handler_records(fake_run):
    _, out = fake_run("--scenarios", "squad", "--items", "2", "--no-etr-sweep")
    doc = json.loads((out / "results.json").read_text())
    assert doc["options"]["threads"] >= 1
    recs = doc["scenarios"]["squad"]["records"]
    for r in recs:
        assert r["energy_basis"] == "handler"
        root = next(h for h in r["handler_records"] if h["parent_run_id"] is None)
        assert r["energy_j"] == pytest.approx(root["energy_j"])
        # the runner's own window agrees with the handler (same fake meter)
        assert r["window_energy_j"] == pytest.approx(r["energy_j"], rel=1e-6)
    green = [r for r in recs if r["variant"] == "green"]
    for r in green:
        # the fake compressor spends 0.5 J inside its own (tagged) run
        assert r["optimizer_energy_j"] == pytest.approx(0.5)
        assert [o["name"] for o in r["optimizer_runs"]] == ["compress_context"]
        # handler ETR = tokens sent / (sent + tokens the optimizer removed)
        saved = sum(e["tokens_before"] - e["tokens_after"] for e in r["optimizer_events"])
        assert saved > 0 and r["handler_tokens_saved"] == saved
        sent = r["handler_tokens_sent"]
        assert r["etr_handler"] == pytest.approx(sent / (sent + saved))
        assert 0 < r["etr_handler"] < 1
    assert all(r["etr_handler"] is None for r in recs if r["variant"] == "baseline")
    summary = doc["scenarios"]["squad"]
    assert 0 < summary["etr_handler"] < 1 and 0 < summary["prompt_token_ratio"] < 1


def _entry_points_with(monkeypatch, *eps):
    """``importlib.metadata.entry_points`` answering ``green_chain.exporters`` with ``eps``."""
    import importlib.metadata

    real = importlib.metadata.entry_points

    def fake(**kwargs):
        if kwargs.get("group") == "green_chain.exporters":
            return importlib.metadata.EntryPoints(eps)
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)


def test_mlflow_flag(fake_run, monkeypatch, capsys):
    import importlib.metadata
    import sys
    import types

    _entry_points_with(monkeypatch)  # green-chain-mlflow not installed
    with pytest.raises(UsageError, match="pip install -e integrations/mlflow"):
        fake_run("--scenarios", "squad", "--items", "1", "--no-etr-sweep", "--mlflow")
    calls = []
    fake = types.ModuleType("fake_mlflow_exporter")

    def log_benchmark(path, *, experiment, tracking_uri):
        calls.append((path, experiment, tracking_uri))
        return "run-123"

    fake.log_benchmark = log_benchmark  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_mlflow_exporter", fake)
    _entry_points_with(
        monkeypatch,
        importlib.metadata.EntryPoint(
            name="mlflow", value="fake_mlflow_exporter:log_benchmark", group="green_chain.exporters"
        ),
    )
    rc, out = fake_run(
        "--scenarios",
        "squad",
        "--items",
        "1",
        "--no-etr-sweep",
        "--mlflow",
        "exp1",
        "--mlflow-tracking-uri",
        "file:///tmp/x",
    )
    assert rc == 0
    assert calls == [(str(out / "results.json"), "exp1", "file:///tmp/x")]
    assert "run-123" in capsys.readouterr().out


def test_bench_never_imports_an_integration():
    """The core loads exporters by entry point; no module of green_chain names an integration."""
    import green_chain

    root = Path(green_chain.__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if any(
            line.lstrip().startswith(("import green_chain_", "from green_chain_"))
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []


def test_threads_flag(monkeypatch):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        assert bench.set_threads(1) == 1
        with pytest.raises(ValueError, match="--threads"):
            bench.set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_etr_sweep_items_and_scenarios_flags(fake_run):
    rc, out = fake_run(
        "--scenarios", "squad,sst2", "--items", "3", "--etr-items", "1", "--etr-scenarios", "squad"
    )
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    squad = doc["scenarios"]["squad"]
    # the sweep tunes on calibration items only, never on test items
    assert squad["validated_etr"]["item_ids"] == squad["calibration_ids"][:1]
    assert not set(squad["validated_etr"]["item_ids"]) & set(squad["item_ids"])
    assert not doc["scenarios"]["sst2"].get("validated_etr")
    assert doc["options"]["etr_items"] == 1 and doc["options"]["etr_scenarios"] == ["squad"]


def test_cli_errors(tmp_path, capsys):
    assert main(["bench", "--etr-items", "0"]) == 2
    assert "--etr-items" in capsys.readouterr().err
    assert main(["bench", "--etr-scenarios", "squad,nope"]) == 2
    assert "unknown scenario(s) nope" in capsys.readouterr().err
    assert main(["bench", "--scenarios", "nope"]) == 2
    assert "unknown scenario(s) nope" in capsys.readouterr().err
    assert main(["bench", "--data", str(tmp_path / "absent")]) == 2
    assert "data folder" in capsys.readouterr().err
    assert main(["bench", "--items", "0"]) == 2
    assert "--items" in capsys.readouterr().err
    assert main(["bench", "--projection", "llama-3.1-8b:gpt-5@h100"]) == 2
    assert "unknown projection model" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("nope")
    assert main(["report", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["compare", str(bad), str(tmp_path / "missing.json")]) == 2
    assert "error" in capsys.readouterr().err


def test_report_and_compare(fake_run, capsys):
    _, a = fake_run("--scenarios", "squad", "--items", "2", "--no-etr-sweep", out="a")
    _, b = fake_run("--scenarios", "squad", "--items", "3", "--no-etr-sweep", "--no-route", out="b")
    capsys.readouterr()
    assert main(["report", str(a / "results.json"), "--out", str(a / "re")]) == 0
    out = capsys.readouterr().out
    assert "squad" in out and (a / "re" / "energy_by_scenario.png").is_file()
    assert main(["compare", str(a / "results.json"), str(b / "results.json")]) == 0
    out = capsys.readouterr().out
    assert "OVERALL" in out and "x" in out and "squad" in out


@pytest.mark.integration
def test_quick_smoke_with_real_components(shared_data_dir, tmp_path):
    """One real item of two scenarios with the packaged models and real optimizers (~60 s)."""
    from green_chain.bench.components import ComponentUnavailableError, default_components

    try:
        default_components()
    except ComponentUnavailableError as exc:
        pytest.skip(f"real components not available yet: {exc}")
    out = tmp_path / "real"
    rc = main(
        [
            "bench",
            "--quick",
            "--scenarios",
            "squad,sst2",
            "--items",
            "1",
            "--no-etr-sweep",
            "--no-plots",
            "--no-progress",
            "--data",
            str(shared_data_dir),
            "--out",
            str(out),
        ]
    )
    doc = json.loads((out / "results.json").read_text())
    assert rc == 0
    assert doc["overall"]["scenarios_failed"] == 0, {
        n: s.get("error") for n, s in doc["scenarios"].items()
    }
    for s in doc["scenarios"].values():
        assert s["energy_baseline_j"] > 0 and s["energy_green_j"] > 0
        assert s["quality_metric"] == s["generation_metric"]
        # figures from the energy handler, labelled with their kind and source
        assert all(r["energy_basis"] == "handler" for r in s["records"])
        assert s["energy_source"].split()[0] in ("measured", "estimated")
        # the prompt probe ran where each LLM-answered item ran, not in the driver
        assert s["scoring"]["prompt_probe"] in ("in-place", False)
        assert s["scoring"]["probed_in_driver"] == 0
        # the router was fitted on calibration items, never on test items
        assert s["router"]["scorer"].startswith("embedding")
        assert not set(s["router"]["calibration_ids"]) & set(s["item_ids"])
        # answers capped identically for both variants
        assert all(r["completion_tokens"] <= s["answer_cap"] for r in s["records"])
    assert doc["scenarios"]["squad"]["etr_handler"] < 1
    assert doc["models"]["compressor"] == "lexical"
    squad = doc["scenarios"]["squad"]
    assert squad["first_line"] is True
    # no answer goes on past its first line of text
    assert all("\n" not in r["output"].strip() for r in squad["records"])


def test_unknown_compressor_is_a_clear_error(tmp_path, capsys):
    from green_chain.bench.components import ComponentUnavailableError, default_components

    try:
        default_components()
    except ComponentUnavailableError as exc:
        pytest.skip(f"real components not available: {exc}")
    with pytest.raises(ValueError, match="unknown compression backend 'nope'"):
        default_components(compressor="nope")


def test_bench_projection_calibration(fake_run, tmp_path, capsys):
    model = {
        "status": "ok",
        "prefill": {"fit": {"j_per_prompt_token": 0.01}},
        "decode": {"j_per_generated_token": {"1": 0.5, "64": 0.1}},
    }
    cal = {
        "schema": "green-chain/gpu-calibration",
        "kind": "measured",
        "device": {"name": "NVIDIA H200"},
        "models": {"a": {**model, "params": 8e9}, "b": {**model, "params": 3.2e10}},
    }
    path = tmp_path / "gpu_calibration.json"
    path.write_text(json.dumps(cal))
    rc, out = fake_run(
        "--scenarios", "squad", "--items", "1", "--no-etr-sweep", "--no-plots",
        "--projection-calibration", str(path),
    )  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["projection"]["label"] == "projected (calibrated on NVIDIA H200)"
    assert doc["projection"]["spec"] == "a:b@calibrated:NVIDIA H200"
    assert "projected (calibrated on NVIDIA H200)" in capsys.readouterr().out
    rc, out = fake_run(
        "--scenarios", "squad", "--items", "1", "--no-etr-sweep", "--no-plots",
        "--projection-calibration", str(path), "--projection", "b:a", out="out2",
    )  # fmt: skip
    assert rc == 0
    assert json.loads((out / "results.json").read_text())["projection"]["cheap"]["name"] == "b"
    assert main(["bench", "--projection-calibration", str(path), "--projection", "none"]) == 2
    assert "contradicts" in capsys.readouterr().err
    cal["kind"] = "simulated"
    path.write_text(json.dumps(cal))
    assert main(["bench", "--projection-calibration", str(path)]) == 2
    assert "--projection-calibration" in capsys.readouterr().err


def test_prefix_cache_flag_is_recorded(fake_run, capsys):
    _, on = fake_run("--scenarios", "sst2", "--items", "2", "--no-etr-sweep", out="on")
    _, off = fake_run(
        "--scenarios", "sst2", "--items", "2", "--no-etr-sweep", "--prefix-cache", "off", out="off"
    )
    docs = [json.loads((p / "results.json").read_text()) for p in (on, off)]
    assert [d["options"]["prefix_cache"] for d in docs] == ["on", "off"]
    sst2 = docs[0]["scenarios"]["sst2"]
    assert sst2["cached_tokens_baseline"] == 0 and sst2["cached_tokens_green"] == 0  # fakes
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--prefix-cache", "maybe"])
    assert "--prefix-cache" in capsys.readouterr().err


def test_no_prompt_probe_skips_only_the_probe(fake_run):
    rc, out = fake_run("--scenarios", "squad", "--items", "2", "--no-etr-sweep", "--no-plots")
    rc_off, out_off = fake_run(
        "--scenarios", "squad", "--items", "2", "--no-etr-sweep", "--no-plots",
        "--no-prompt-probe", out="off",
    )  # fmt: skip
    assert rc == rc_off == 0
    on = json.loads((out / "results.json").read_text())
    off = json.loads((out_off / "results.json").read_text())
    assert on["options"]["prompt_probe"] is True and off["options"]["prompt_probe"] is False
    a, b = on["scenarios"]["squad"], off["scenarios"]["squad"]
    assert all("prompt_evidence_score" in r["metrics"] for r in a["records"])
    assert not any("prompt_evidence_score" in r["metrics"] for r in b["records"])
    assert [r["quality"] for r in a["records"]] == [r["quality"] for r in b["records"]]
    assert a["scoring"]["prompt_probe"] and a["scoring"]["cpu_s"] >= 0


def test_etr_sweep_default_items_is_the_standard_number(fake_run):
    from green_chain.cli.bench import STANDARD_ETR_ITEMS

    rc, out = fake_run("--scenarios", "squad", "--items", "2")
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    squad = doc["scenarios"]["squad"]
    assert doc["options"]["etr_items"] == STANDARD_ETR_ITEMS
    assert squad["validated_etr"]["item_ids"] == squad["calibration_ids"][:STANDARD_ETR_ITEMS]
