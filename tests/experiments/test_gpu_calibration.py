"""The GPU calibration experiment on its CPU path: tiny configs, FakeNVML, scripted counters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from green_chain.experiments import gpu_calibration as gc
from green_chain.testing.fake_nvml import FakeNVML

ROOT = Path(__file__).resolve().parents[2]
BLOCK = "import sys\nfor m in ('langchain_core', 'langchain', 'pydantic'): sys.modules[m] = None\n"


def _python(code: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def test_module_imports_without_langchain_pydantic_torch():
    res = _python(
        "import green_chain.experiments.gpu_calibration as g\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'pydantic', 'torch', 'transformers') and sys.modules[m] is not None]\n"
        "print('LOADED', bad)\n"
    )
    assert res.returncode == 0, res.stderr
    assert "LOADED []" in res.stdout


def test_tiny_run_without_langchain_writes_well_formed_json(tmp_path):
    out = tmp_path / "cal" / "gpu_calibration.json"
    res = _python(
        "from green_chain.experiments.gpu_calibration import main\n"
        f"rc = main(['--tiny', '--out', {str(out)!r}, '--models', 'smollm2-135m,gemma-3-270m'])\n"
        "assert not [m for m in sys.modules if m.startswith('langchain')"
        " and sys.modules[m] is not None]\n"
        "sys.exit(rc)\n"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["schema"] == gc.SCHEMA and doc["kind"] == "simulated"
    assert {"torch", "transformers", "nvidia-ml-py", "python"} <= set(doc["versions"])
    assert doc["device"]["name"].startswith("FakeNVML")
    assert doc["idle"]["power_w"] == pytest.approx(gc.TINY_POWER_W, rel=0.05)
    for name in ("smollm2-135m", "gemma-3-270m"):
        m = doc["models"][name]
        assert m["status"] == "ok", m
        assert m["architecture"] in ("llama", "gemma3_text") and m["params"] > 0
        pre = m["prefill"]
        assert [w["prompt_tokens"] for w in pre["windows"]] == [16, 32, 64, 128]
        for w in pre["windows"] + m["decode"]["windows"]:
            assert w["counter_end_mj"] >= w["counter_start_mj"]
            assert w["energy_j"] == pytest.approx(
                (w["counter_end_mj"] - w["counter_start_mj"]) / 1000
            )
            assert w["t_end_s"] > w["t_start_s"]
        assert "j_per_prompt_token" in pre["fit"]
        assert set(m["decode"]["j_per_generated_token"]) == {"1", "2", "4"}
        assert len(m["decode"]["windows"]) == 6  # two windows (n, 2n steps) per batch size
    cc = doc["cross_check"]
    assert cc["model"] == "smollm2-135m" and "NVML power samples" in cc["power_source"]
    assert cc["reference"] == "nvml_power"  # no nvidia-smi here
    assert len(cc["references"]["nvml_power"]["samples"]) >= 2
    # constant simulated power: the counter and the integrated samples agree
    assert cc["ratio_counter_to_sampled"] == pytest.approx(1.0, abs=0.1)
    summary = res.stdout
    assert "J/prompt tok" in summary and "idle power: 100" in summary and "cross-check" in summary


class ScriptedWorkload:
    """Adds known joules to a FakeNVML counter per call: ``fixed + per-token x tokens``."""

    params = 1000
    max_prompt_tokens = 4096

    def __init__(self, nvml: FakeNVML, prefill_j: float, decode_j: dict[int, float]) -> None:
        self.nvml, self.prefill_j, self.decode_j = nvml, prefill_j, decode_j
        self.closed = False

    def prefill(self, batch: int, tokens: int) -> None:
        quad = 1e-6 * tokens**2 if tokens > 1024 else 0.0  # attention beyond the fit range
        self.nvml.add_energy(0, 0.5 + self.prefill_j * batch * tokens + quad)

    def start_decode(self, batch: int, prompt_tokens: int) -> Any:
        self.nvml.add_energy(0, 7.0)  # outside the windows: must not count
        return {"batch": batch}

    def decode(self, state: Any, steps: int) -> None:
        b = state["batch"]
        self.nvml.add_energy(0, 0.3 + self.decode_j[b] * b * steps)

    def sync(self) -> None:
        self.nvml.add_energy(0, 0.0)

    def close(self) -> None:
        self.closed = True


def _scripted_settings(**over: Any) -> gc.Settings:
    base: dict[str, Any] = {
        "models": ("llama-3.1-8b", "smollm2-135m"),
        "prompt_lengths": (128, 256, 512, 2048),
        "fit_max_prompt_tokens": 1024,
        "batch_sizes": (1, 8, 64),
        "idle_s": 0.0,
        "cross_check_s": 0.01,
        "cross_check_model": "smollm2-135m",
        "cross_check_batch": 8,
        "min_window_s": 0.0,
    }
    return gc.Settings.for_tiny(**{**base, **over})


def test_fit_recovers_scripted_per_token_costs():
    nvml = FakeNVML(1)
    nvml.nvmlInit()
    decode = {1: 0.5, 8: 0.09, 64: 0.02}
    made: list[ScriptedWorkload] = []

    def factory(arch: gc.Architecture) -> ScriptedWorkload:
        made.append(ScriptedWorkload(nvml, 0.0125, decode))
        return made[-1]

    doc = gc.run_calibration(
        _scripted_settings(), counter=gc.EnergyCounter(nvml, 0), workload=factory, simulated=True
    )
    assert all(w.closed for w in made) and len(made) == 2
    for name in ("llama-3.1-8b", "smollm2-135m"):
        m = doc["models"][name]
        fit = m["prefill"]["fit"]
        assert fit["prompt_tokens_used"] == [128, 256, 512]
        assert fit["j_per_prompt_token"] == pytest.approx(0.0125, rel=1e-3)
        assert fit["intercept_j"] == pytest.approx(0.5, abs=0.01)
        # beyond the fit range the quadratic term shows in J/token by length
        assert m["prefill"]["j_per_prompt_token_by_length"]["2048"] > 0.0125 * 1.1
        per_token = m["decode"]["j_per_generated_token"]
        for b, j in decode.items():
            assert per_token[str(b)] == pytest.approx(j, rel=1e-3)
        assert m["decode"]["fits"]["1"]["intercept"] == pytest.approx(0.3, abs=0.01)
    assert doc["kind"] == "simulated"
    assert (
        doc["cross_check"]["model"] == "smollm2-135m" and doc["cross_check"]["window"]["batch"] == 8
    )


def test_failing_model_is_recorded_and_budget_skips():
    nvml = FakeNVML(1)
    nvml.nvmlInit()

    def broken(arch: gc.Architecture) -> ScriptedWorkload:
        if arch.name == "llama-3.1-8b":
            raise RuntimeError("CUDA out of memory")
        return ScriptedWorkload(nvml, 0.01, {1: 0.1, 8: 0.1, 64: 0.1})

    doc = gc.run_calibration(
        _scripted_settings(), counter=gc.EnergyCounter(nvml, 0), workload=broken, simulated=True
    )
    assert doc["models"]["llama-3.1-8b"]["status"] == "error"
    assert "out of memory" in doc["models"]["llama-3.1-8b"]["error"]
    assert doc["models"]["smollm2-135m"]["status"] == "ok"
    assert "cross-check" in gc.format_summary(doc) and "error" in gc.format_summary(doc)

    doc = gc.run_calibration(
        _scripted_settings(budget_s=1e-9),
        counter=gc.EnergyCounter(nvml, 0),
        workload=broken,
        simulated=True,
    )
    assert all(m["status"] == "skipped: time budget" for m in doc["models"].values())
    assert "skipped" in doc["cross_check"]


def test_integrate_power_and_fit_line():
    samples = [(t / 10, 10.0) for t in range(0, 21)]
    assert gc.integrate_power(samples, 0.55, 1.55) == pytest.approx(10.0)
    ramp = [(0.0, 0.0), (2.0, 20.0)]
    assert gc.integrate_power(ramp, 0.0, 1.0) == pytest.approx(5.0)
    assert gc.integrate_power(samples, 1.5, 2.5) is None  # not covered
    fit = gc.fit_line([1.0, 2.0, 3.0], [3.0, 5.0, 7.0])
    assert fit["slope"] == pytest.approx(2.0) and fit["intercept"] == pytest.approx(1.0)
    assert gc.fit_line([4.0], [2.0])["slope"] == 0.5
    with pytest.raises(ValueError, match="fit_line"):
        gc.fit_line([], [])


def test_architectures_and_bad_arguments(capsys):
    for name in gc.DEFAULT_MODELS:
        arch = gc.ARCHITECTURES[name]
        assert arch.params > 0 and arch.model_type in ("llama", "qwen2", "gemma3_text")
        tiny = gc.model_config(arch, tiny=True)
        assert tiny["hidden_size"] == 64 and tiny["num_hidden_layers"] == 2
    assert gc.ARCHITECTURES["llama-3.1-8b"].config["hidden_size"] == 4096
    assert gc.main(["--tiny", "--models", "gpt-9"]) == 2
    assert "--models: unknown gpt-9" in capsys.readouterr().err
    assert gc.main(["--tiny", "--batch-sizes", "1,x"]) == 2
    assert "--batch-sizes" in capsys.readouterr().err
    assert gc.main(["--tiny", "--budget-s", "0"]) == 2
    assert "--budget-s" in capsys.readouterr().err
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        assert gc.main(["--out", "unused.json"]) == 2
        assert "no CUDA device; use --tiny" in capsys.readouterr().err


FAKE_SMI = """#!{python}
import datetime, sys, time
args = sys.argv[1:]
query = next(a for a in args if a.startswith("--query-gpu="))
if "instant" in query:
    sys.exit(6)  # an older driver: field not supported
if "timestamp" not in query:
    print("250.00")
    sys.exit(0)
while True:
    now = datetime.datetime.now().strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
    print(f"{{now}}, 250.00")
    time.sleep(0.02)
"""


class SleepyWorkload(ScriptedWorkload):
    """Adds no scripted joules; each decode step takes 1 ms of wall time."""

    def decode(self, state: Any, steps: int) -> None:
        time.sleep(steps * 0.001)


def test_cross_check_with_nvidia_smi(tmp_path, monkeypatch):
    """A fake nvidia-smi at 250 W; a counter scripted at 250 W of wall time: ratio ~1."""
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text(FAKE_SMI.format(python=sys.executable))
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    nvml = gc.wall_clock_nvml(250.0)
    doc = gc.run_calibration(
        _scripted_settings(models=("smollm2-135m",), cross_check_s=0.5),
        counter=gc.EnergyCounter(nvml, 0),
        workload=lambda arch: SleepyWorkload(nvml, 0.0, {}),
        simulated=True,
    )
    cc = doc["cross_check"]
    assert cc["reference"] == "nvidia-smi", cc.get("sample_errors")
    assert "--query-gpu=timestamp,power.draw " in cc["power_source"] + " "
    assert cc["references"]["nvidia-smi"]["samples"] and not cc["sample_errors"]
    assert cc["ratio_counter_to_sampled"] == pytest.approx(1.0, abs=0.1)
    assert cc["references"]["nvml_power"]["ratio_counter_to_sampled"] == pytest.approx(1.0, abs=0.1)


def test_gpu_branch_of_main_on_fakes_feeds_the_projection(tmp_path, monkeypatch, capsys):
    """main() without --tiny: CUDA reported, pynvml = FakeNVML, scripted workloads."""
    torch = pytest.importorskip("torch")
    from green_chain.bench.projection import calibrated_projection

    nvml = FakeNVML(2)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    devices: list[str] = []

    class OnGPU1(ScriptedWorkload):
        def __init__(self, arch: gc.Architecture, *, device: str, tiny: bool) -> None:
            assert not tiny
            devices.append(device)
            super().__init__(nvml, 0.002, {1: 0.3, 16: 0.05})

        def prefill(self, batch: int, tokens: int) -> None:
            self.nvml.add_energy(1, self.prefill_j * tokens)

        def start_decode(self, batch: int, prompt_tokens: int) -> Any:
            return {"batch": batch}

        def decode(self, state: Any, steps: int) -> None:
            b = state["batch"]
            self.nvml.add_energy(1, 0.1 + self.decode_j[b] * b * steps)

    monkeypatch.setattr(gc, "TorchWorkload", OnGPU1)
    out = tmp_path / "docs" / "results" / "gpu_calibration.json"
    rc = gc.main(
        ["--out", str(out), "--models", "smollm2-135m,gemma-3-270m", "--prompt-lengths",
         "128,512", "--batch-sizes", "1,16", "--min-window-s", "0", "--idle-s", "0",
         "--cross-check-s", "0.05", "--budget-s", "60"]
    )  # fmt: skip
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["kind"] == "measured" and doc["device"]["nvml_index"] == 1
    assert doc["device"]["name"] == "Fake GPU 1" and devices == ["cuda:0", "cuda:0"]
    assert doc["models"]["gemma-3-270m"]["decode"]["j_per_generated_token"]["16"] == (
        pytest.approx(0.05, rel=1e-3)
    )
    assert "J/gen tok b=16" in capsys.readouterr().out
    proj = calibrated_projection(str(out))
    assert proj.label == "projected (calibrated on Fake GPU 1)" and proj.decode_batch == 16
    assert proj.call_j("large", 1000, 0) == pytest.approx(2.0, rel=1e-3)
