"""Summaries, overall definitions, the results.json schema, CSV/table, and the projection."""

from __future__ import annotations

import csv
import json

import pytest

from green_chain.bench.document import build_document, write_outputs
from green_chain.bench.projection import GPUS, Projection
from green_chain.bench.results import format_table, load_results, overall, summarize_scenario


def _rec(variant, energy, quality, pt=100, ct=10, model="big", item="i"):
    return {
        "item_id": item,
        "variant": variant,
        "energy_j": energy,
        "energy_kind": "estimated",
        "energy_sources": ["estimate"],
        "duration_s": 1.0,
        "optimizer_energy_j": 0.0,
        "prompt_tokens": pt,
        "completion_tokens": ct,
        "quality": quality,
        "quality_metric": "mc_correct",
        "calls": [{"model_name": model, "prompt_tokens": pt, "completion_tokens": ct}],
        "optimizer_events": [],
        "optimizer_model_tokens": 0,
    }


def _entry(name, base_j, green_j, qb, qg):
    return {
        "name": name,
        "status": "ok",
        "records": [_rec("baseline", base_j, qb), _rec("green", green_j, qg, pt=50, model="small")],
    }


def test_summary_and_overall_definitions():
    a = summarize_scenario(_entry("a", 100.0, 20.0, 1.0, 1.0))
    b = summarize_scenario(_entry("b", 10.0, 9.0, 1.0, 0.5))
    assert a["energy_saved_pct"] == pytest.approx(80.0)
    assert a["prompt_token_ratio"] == pytest.approx(0.5)
    assert b["quality_retained_pct"] == pytest.approx(50.0)
    o = overall([a, b])
    # energy-weighted: 1 - 29/110; quality: mean of retentions
    assert o["energy_saved_pct"] == pytest.approx(100 * (1 - 29 / 110))
    assert o["quality_retained_pct"] == pytest.approx(75.0)
    assert o["target_met"] is False
    assert o["energy_source"] == "estimated (estimate)"


def test_failed_scenario_excluded_from_overall():
    a = summarize_scenario(_entry("a", 100.0, 20.0, 1.0, 1.0))
    f = summarize_scenario({"name": "f", "status": "failed", "error": "boom", "records": []})
    o = overall([a, f])
    assert o["scenarios_failed"] == 1 and o["energy_saved_pct"] == pytest.approx(80.0)


def test_projection_math_and_parse():
    p = Projection.parse("llama-3.1-8b:llama-3.1-70b@h100")
    h100 = GPUS["h100"]
    expected = 2 * 8.03e9 / (h100.peak_flops * h100.prefill_efficiency) * h100.power_w
    assert p.prefill_j_per_token(8.03e9) == pytest.approx(expected)
    assert p.call_j("cheap", 0, 10) == pytest.approx(1.2)
    assert p.call_j("large", 100, 0) > p.call_j("cheap", 100, 0)
    rec = _rec("green", 1.0, 1.0, pt=100, ct=10, model="small")
    rec["optimizer_events"] = [{"optimizer": "x", "tokens_before": 1000, "tokens_after": 400}]
    assert p.record_j(rec, {"small"}) > p.call_j("cheap", 100, 10)
    cached = _rec("green", 1.0, 1.0, pt=100, ct=10, model="small")
    cached["calls"][0]["cached_tokens"] = 64  # read from the prefix cache: not prefilled
    assert p.record_j(cached, {"small"}) == pytest.approx(p.call_j("cheap", 36, 10))
    for bad in ("llama-3.1-8b", "gpt:llama-3.1-70b@h100", "llama-3.1-8b:llama-3.1-70b@tpu"):
        with pytest.raises(ValueError, match="projection"):
            Projection.parse(bad)


def test_prefill_curve_is_projected_and_linear():
    from green_chain.bench.projection import prefill_curve

    curve = prefill_curve("llama-3.1-70b@h100")
    per_token = Projection.parse("llama-3.1-70b:llama-3.1-70b@h100").prefill_j_per_token(70.6e9)
    assert curve.kind == "projected" and "70B" in curve.model_name
    assert curve.predict(1000) == pytest.approx(1000 * per_token)
    assert curve.predict(0) == 0
    with pytest.raises(ValueError, match="unknown projection model"):
        prefill_curve("gpt-9@h100")
    with pytest.raises(ValueError, match="GPU"):
        prefill_curve("llama-3.1-70b@tpu")


def test_document_schema_and_outputs(tmp_path):
    entries = [
        {
            **_entry("squad", 100.0, 30.0, 1.0, 1.0),
            "item_ids": ["i"],
            "calibration_ids": ["c"],
            "title": "t",
        },
        {"name": "sgd", "status": "failed", "error": "FileNotFoundError: missing", "records": []},
    ]
    proj = Projection.parse("llama-3.1-8b:llama-3.1-70b@h100")
    doc = build_document(
        entries,
        options={"seed": 0},
        components_versions={"cheap": "small", "large": "big"},
        meters=[{"domain": "cpu", "source": "estimate", "kind": "estimated"}],
        projection=proj,
        projection_spec="llama-3.1-8b:llama-3.1-70b@h100",
        command=["green-chain", "bench"],
    )
    for key in (
        "energy_saved_pct",
        "quality_retained_pct",
        "energy_source",
        "energy_saved_pct_projected",
    ):
        assert key in doc["overall"]
        assert key in doc["scenarios"]["squad"]
    assert doc["scenarios"]["squad"]["records"][0]["item_id"] == "i"
    assert doc["projection"]["kind"] == "projected"
    assert doc["scenarios"]["squad"]["energy_saved_pct_projected"] > 0
    paths = write_outputs(doc, tmp_path, plots=True)
    loaded = load_results(paths["json"])
    assert loaded["overall"] == json.loads(json.dumps(doc["overall"]))
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [r["scenario"] for r in rows] == ["squad", "sgd", "OVERALL"]
    for name in ("energy_by_scenario", "quality_vs_energy", "energy_curves"):
        assert paths[name].stat().st_size > 1000
    table = format_table(doc)
    assert "FAILED" in table and "OVERALL" in table and "proj" in table
    assert "valid. share" in table.splitlines()[0]
    assert "validated ETR" not in table  # no sweep ran: no legend
    doc["scenarios"]["squad"]["validated_token_share"] = 0.41
    table = format_table(doc)
    squad_row = next(r for r in table.splitlines() if r.startswith("squad"))
    assert "0.41" in squad_row and "validated ETR" in table


def test_load_results_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_results(bad)
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(ValueError, match=r"not a green-chain results\.json"):
        load_results(other)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_results(tmp_path / "none.json")


def test_overall_capped_retention_and_missing_ratio():
    from green_chain.bench.results import overall

    def s(name, ret):
        return {
            "name": name,
            "status": "ok",
            "n_items": 2,
            "energy_baseline_j": 10.0,
            "energy_green_j": 4.0,
            "quality_retained_pct": ret,
            "energy_source": "estimated (estimate)",
        }

    o = overall([s("a", 200.0), s("b", 80.0), s("c", None)])
    assert o["quality_retained_pct"] == pytest.approx(140.0)
    assert o["quality_retained_pct_capped"] == pytest.approx(90.0)
    assert o["scenarios_without_retention"] == ["c"]
    assert o["energy_saved_pct"] == pytest.approx(60.0)
