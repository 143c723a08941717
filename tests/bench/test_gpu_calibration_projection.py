"""The projection priced from a measured gpu_calibration.json (bench --projection-calibration)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from green_chain.bench.document import build_document
from green_chain.bench.gpu_calibration_file import SCHEMA
from green_chain.bench.projection import ENCODER_PARAMS, calibrated_projection
from green_chain.bench.results import format_table

DEVICE = "NVIDIA H200 (test)"


def _model(params: float, prefill: float, decode: dict[str, float]) -> dict[str, Any]:
    return {
        "status": "ok",
        "params": params,
        "prefill": {"fit": {"j_per_prompt_token": prefill}},
        "decode": {"j_per_generated_token": decode},
    }


def _doc() -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": 1,
        "kind": "measured",
        "created": "2026-11-29T00:00:00+00:00",
        "device": {"name": DEVICE, "driver": "999.1"},
        "idle": {"power_w": 75.0},
        "models": {
            "smollm2-135m": _model(1.35e8, 0.0001, {"1": 0.2, "64": 0.01}),
            "llama-3.1-8b": _model(8.0e9, 0.01, {"1": 0.5, "16": 0.2, "64": 0.1}),
            "qwen2.5-32b": _model(3.2e10, 0.04, {"1": 1.5, "16": 0.5}),
            "broken": {"status": "error", "error": "OOM"},
        },
    }


def _write(tmp_path: Path, doc: Any, name: str = "cal.json") -> str:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(p)


def test_default_pair_prices_from_the_file(tmp_path):
    proj = calibrated_projection(_write(tmp_path, _doc()))
    assert (proj.cheap.name, proj.large.name) == ("llama-3.1-8b", "qwen2.5-32b")
    assert proj.decode_batch == 16  # the largest batch size measured for both
    assert proj.label == f"projected (calibrated on {DEVICE})"
    assert proj.call_j("cheap", 100, 10) == pytest.approx(100 * 0.01 + 10 * 0.2)
    assert proj.call_j("large", 100, 10) == pytest.approx(100 * 0.04 + 10 * 0.5)
    # optimizers: encoder priced from the smallest calibrated model, scaled by parameters
    enc = 0.0001 * ENCODER_PARAMS / 1.35e8
    rec = {
        "calls": [{"model_name": "small", "prompt_tokens": 100, "completion_tokens": 10}],
        "optimizer_events": [{"tokens_before": 1000}],
        "optimizer_model_tokens": 50,
    }
    assert proj.record_j(rec, {"small"}) == pytest.approx(
        100 * 0.01 + 10 * 0.2 + 1000 * enc + 50 * 0.01
    )
    d = proj.describe()
    assert d["kind"] == "projected" and d["label"] == proj.label
    assert d["calibration"]["device"] == DEVICE and len(d["calibration"]["sha256"]) == 64


def test_explicit_pair_and_pair_errors(tmp_path):
    path = _write(tmp_path, _doc())
    proj = calibrated_projection(path, "smollm2-135m:llama-3.1-8b")
    assert proj.decode_batch == 64 and proj.call_j("cheap", 0, 1) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="'gpt-9' is not a usable model"):
        calibrated_projection(path, "llama-3.1-8b:gpt-9")
    with pytest.raises(ValueError, match="'broken' is not a usable model"):
        calibrated_projection(path, "llama-3.1-8b:broken")
    with pytest.raises(ValueError, match="CHEAP:LARGE only"):
        calibrated_projection(path, "llama-3.1-8b:qwen2.5-32b@h100")


def _mutated(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_doc())
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "not a gpu_calibration.json"),
        (_mutated(lambda d: d.pop("schema")), "not a gpu_calibration.json"),
        (_mutated(lambda d: d.update(kind="simulated")), "kind 'simulated', not 'measured'"),
        (_mutated(lambda d: d.update(device={})), "names no device"),
        (_mutated(lambda d: d.update(models=[])), "no 'models' object"),
        (
            _mutated(
                lambda d: d["models"].update(
                    {
                        "llama-3.1-8b": _model(8e9, float("nan"), {"1": 0.5}),
                        "qwen2.5-32b": _model(3.2e10, 0.04, {"1": -1.0, "x": 2.0}),
                    }
                )
            ),
            "1 usable model",
        ),
    ],
)
def test_bad_files_are_rejected_with_one_clear_line(tmp_path, content, message):
    path = _write(tmp_path, content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError, match="--projection-calibration") as err:
        calibrated_projection(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"--projection-calibration: file .* not found"):
        calibrated_projection(str(tmp_path / "absent.json"))


def _record(variant: str, model: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "item_id": "i",
        "variant": variant,
        "energy_j": 1.0,
        "energy_kind": "estimated",
        "energy_sources": ["estimate"],
        "duration_s": 1.0,
        "optimizer_energy_j": 0.0,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 5,
        "quality": 1.0,
        "quality_metric": "mc_correct",
        "calls": [{"model_name": model, "prompt_tokens": prompt_tokens, "completion_tokens": 5}],
        "optimizer_events": [],
        "optimizer_model_tokens": 0,
    }


def test_results_and_table_say_calibrated(tmp_path):
    proj = calibrated_projection(_write(tmp_path, _doc()))
    doc = build_document(
        [
            {
                "name": "squad",
                "status": "ok",
                "records": [_record("baseline", "big", 100), _record("green", "small", 50)],
            }
        ],
        options={},
        components_versions={"cheap": "small", "large": "big"},
        meters=[],
        projection=proj,
        projection_spec=proj.spec,
        command=["green-chain", "bench"],
    )
    assert doc["projection"]["label"] == f"projected (calibrated on {DEVICE})"
    assert doc["projection"]["spec"] == f"llama-3.1-8b:qwen2.5-32b@calibrated:{DEVICE}"
    assert doc["scenarios"]["squad"]["energy_saved_pct_projected"] > 0
    assert f"projected (calibrated on {DEVICE})" in format_table(doc)
