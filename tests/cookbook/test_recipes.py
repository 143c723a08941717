"""Run every cookbook recipe end to end, so a recipe can never silently rot.

Each recipe is run as a subprocess with this interpreter (the project's venv) on the
packaged local models and the real data. The test checks the exit code, the energy
report's section markers, and the recipe's final ``RESULT {json}`` line: the figures
must be real (positive, finite, labelled with their kind) and consistent with each other.
Nothing is compared with hard-coded values.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COOKBOOK = ROOT / "cookbook"
KINDS = {"measured", "estimated", "mixed"}
REPORT_MARKERS = ("== per step type ==", "== per model ==", "device energy over all windows:")


def run_recipe(name: str, tmp_path: Path, *extra: str, timeout_s: int = 900) -> tuple[str, dict]:
    """Run ``cookbook/<name>`` and return its stdout and its parsed RESULT line."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(COOKBOOK / name), "--out", str(tmp_path), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    for marker in REPORT_MARKERS:
        assert marker in proc.stdout, f"{name}: report marker {marker!r} missing"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, f"{name}: expected one RESULT line, got {len(lines)}"
    return proc.stdout, json.loads(lines[0][len("RESULT ") :])


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def check_01(out: str, r: dict, tmp_path: Path) -> None:
    assert r["model_calls"] == r["questions"] == 3
    assert positive(r["model_energy_j"]) and r["energy_kind"] in KINDS
    # the model call is inside the chain: its energy cannot exceed the chain's
    assert r["model_energy_j"] <= r["chain_energy_j"] * (1 + 1e-9)
    assert math.isclose(r["chain_energy_j"], r["device_energy_j"], rel_tol=1e-6)
    assert 0 <= r["mean_score"] <= 100
    assert Path(r["plot"]).stat().st_size > 1000


def check_02(out: str, r: dict, tmp_path: Path) -> None:
    plain, small = r["variants"]
    assert small["retriever"] == "CompressingRetriever"  # the documented LangChain 1.x path
    assert positive(plain["model_energy_j"]) and positive(small["model_energy_j"])
    assert plain["energy_kind"] in KINDS
    assert small["prompt_tokens"] < plain["prompt_tokens"], "compression sent fewer tokens"
    assert plain["etr"] is None and 0 < small["etr"] < 1, "ETR only where a compressor ran"
    for v in (plain, small):
        assert 0 <= v["answer_in_output"] <= 1
        assert math.isfinite(v["gold_mean_logprob"]) and v["gold_mean_logprob"] < 0


def check_03(out: str, r: dict, tmp_path: Path) -> None:
    full, relevant = r["variants"]
    assert full["turns"] == relevant["turns"] >= 3
    assert sum(relevant["prompt_tokens"]) < sum(full["prompt_tokens"])
    assert all(positive(e) for e in full["energy_j"] + relevant["energy_j"])
    assert full["energy_kind"] in KINDS
    assert Path(r["plot"]).stat().st_size > 1000


def check_04(out: str, r: dict, tmp_path: Path) -> None:
    fixed, budgeted = r["variants"]
    assert fixed["items"] == budgeted["items"] >= 4
    assert sum(budgeted["prompt_tokens"]) < sum(fixed["prompt_tokens"])
    for v in (fixed, budgeted):
        assert positive(v["energy_j"]) and v["energy_kind"] in KINDS
        assert 0 <= v["accuracy"] <= 1


def check_05(out: str, r: dict, tmp_path: Path) -> None:
    curve = r["curve"]
    assert len(curve) >= 2 and all(positive(p["energy_j"]) for p in curve)
    assert all(0 <= p["quality"] <= 1 and 0 <= p["large_share"] <= 1 for p in curve)
    assert r["chosen"] in curve
    assert r["test"]["calls"] >= 1 and positive(r["test"]["energy_j"])
    assert r["energy_kind"] in KINDS


def check_06(out: str, r: dict, tmp_path: Path) -> None:
    nodes = r["energy_by_node"]
    assert "model" in nodes and positive(nodes["model"])
    assert r["model_calls"] >= 1 and r["energy_kind"] in KINDS
    assert isinstance(r["tool_calls"], int) and r["tool_calls"] >= 0
    assert r["answer"]


def check_07(out: str, r: dict, tmp_path: Path) -> None:
    curve = r["curve"]
    assert r["points"] >= 6 and curve["n_points"] == r["points"]
    assert curve["kind"] in KINDS and curve["a"] >= 0 and curve["b"] >= 0 and curve["c"] >= 0
    assert r["predictions"], "at least one real prompt was predicted and measured"
    for p in r["predictions"]:
        assert curve["min_tokens"] <= p["tokens"] <= curve["max_tokens"]
        assert positive(p["predicted_j"]) and positive(p["measured_j"])
    assert math.isfinite(r["mean_abs_rel_error"])
    assert (tmp_path / "07_smollm2.curve.json").exists()


def check_08(out: str, r: dict, tmp_path: Path) -> None:
    assert r["spans"] == r["records"] >= 4
    assert r["model_spans"] == 2 and r["energy_kind"] in KINDS
    assert positive(r["span_energy_j"])
    # metrics and spans carry the handler's own joules and tokens
    assert math.isclose(r["metric_energy_j"], r["device_energy_j"], rel_tol=1e-6)
    assert r["metric_tokens"] == r["model_tokens"] > 0


Check = Callable[[str, dict, Path], None]
RECIPES: list[Any] = [
    pytest.param("01_measure_a_chain.py", check_01, marks=pytest.mark.integration, id="01"),
    pytest.param(
        "02_rag_with_compression.py",
        check_02,
        marks=[pytest.mark.integration, pytest.mark.slow],
        id="02",
    ),
    pytest.param(
        "03_chatbot_relevant_history.py",
        check_03,
        marks=[pytest.mark.integration, pytest.mark.slow],
        id="03",
    ),
    pytest.param(
        "04_fewshot_budgeted_examples.py",
        check_04,
        marks=[pytest.mark.integration, pytest.mark.slow],
        id="04",
    ),
    pytest.param(
        "05_router_calibration.py",
        check_05,
        marks=[pytest.mark.integration, pytest.mark.slow],
        id="05",
    ),
    pytest.param(
        "06_agent_with_middleware.py",
        check_06,
        marks=[pytest.mark.integration, pytest.mark.slow],
        id="06",
    ),
    pytest.param("07_energy_curve.py", check_07, marks=pytest.mark.integration, id="07"),
    pytest.param("08_export_opentelemetry.py", check_08, marks=pytest.mark.integration, id="08"),
]


@pytest.mark.parametrize(("recipe", "check"), RECIPES)
def test_recipe_runs_and_reports_real_energy(recipe: str, check: Check, tmp_path: Path) -> None:
    if not (COOKBOOK / recipe).exists():
        pytest.fail(f"cookbook/{recipe} is missing")
    out, result = run_recipe(recipe, tmp_path)
    check(out, result, tmp_path)


def test_every_recipe_is_tested_and_listed_in_the_readme() -> None:
    recipes = sorted(p.name for p in COOKBOOK.glob("[0-9][0-9]_*.py"))
    tested = sorted(p.values[0] for p in RECIPES)
    assert recipes == tested
    readme = (COOKBOOK / "README.md").read_text(encoding="utf-8")
    for name in recipes:
        assert name in readme, f"cookbook/README.md does not list {name}"
        text = (COOKBOOK / name).read_text(encoding="utf-8")
        assert f".venv/bin/python cookbook/{name}" in text, f"{name}: docstring lacks how to run"
