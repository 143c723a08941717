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
        "quality_metric": "f1",
        "calls": [{"model_name": model, "prompt_tokens": pt, "completion_tokens": ct}],
        "optimizer_events": [],
        "optimizer_model_tokens": 0,
    }


def _entry(name, base_j, green_j, qb, qg, n=1, chance=None):
    """``n`` identical item pairs (ids ``i``, ``i1``, ...)."""
    recs = []
    for k in range(n):
        item = "i" if k == 0 else f"i{k}"
        recs.append(_rec("baseline", base_j, qb, item=item))
        recs.append(_rec("green", green_j, qg, pt=50, model="small", item=item))
    out = {"name": name, "status": "ok", "records": recs}
    if chance is not None:
        out["quality_chance"] = chance
    return out


def _summary(entry):
    return {**summarize_scenario(entry), "records": entry["records"]}


def test_summary_and_overall_definitions():
    a = _summary(_entry("a", 100.0, 20.0, 1.0, 1.0, n=4))
    b = _summary(_entry("b", 10.0, 9.0, 1.0, 0.5, n=4))
    assert a["energy_saved_pct"] == pytest.approx(80.0)
    assert a["energy_saved_ci95"] == pytest.approx([80.0, 80.0])
    assert a["prompt_token_ratio"] == pytest.approx(0.5)
    assert b["quality_retained_pct"] == pytest.approx(50.0)
    assert b["quality_delta_pts"] == pytest.approx(-50.0)
    assert b["quality_ok"] is False and a["quality_ok"] is True
    o = overall([a, b])
    # energy-weighted over items: 1 - 4 x 29 / (4 x 110); quality pooled over items
    assert o["energy_saved_pct"] == pytest.approx(100 * (1 - 29 / 110))
    assert o["quality_retained_pct"] == pytest.approx(75.0)
    assert o["quality_delta_pts"] == pytest.approx(-25.0)
    assert o["quality_ok"] is False
    assert o["target_met"] is False
    assert o["energy_source"] == "estimated (estimate)"
    assert o["bootstrap"]["n_resamples"] >= 2000


def test_target_needs_the_saving_and_the_retained_lower_bound():
    good = _summary(_entry("a", 100.0, 30.0, 1.0, 1.0, n=5))
    o = overall([good])
    assert o["energy_saved_pct"] == pytest.approx(70.0)
    assert o["quality_ok"] is True and o["target_met"] is True
    small = _summary(_entry("a", 100.0, 50.0, 1.0, 1.0, n=5))
    assert overall([small])["target_met"] is False


def test_near_chance_baseline_is_not_measurable_and_left_out_of_quality():
    # a two-label task where the baseline is right half the time: chance, not a signal
    labels = _entry("labels", 10.0, 5.0, 1.0, 1.0, n=10, chance=0.5)
    for r in labels["records"][::4]:
        r["quality"] = 0.0  # baseline 0.6, green 0.8
    noisy = _summary(labels)
    assert noisy["quality_measurable"] is False and noisy["quality_ok"] is None
    clear = _summary(_entry("clear", 10.0, 5.0, 0.9, 0.9, n=10))
    assert clear["quality_measurable"] is True
    o = overall([noisy, clear])
    assert o["quality_scenarios"] == ["clear"]
    assert o["quality_not_measurable"] == ["labels"]
    assert o["quality_retained_pct"] == pytest.approx(100.0)
    assert o["energy_saved_pct"] == pytest.approx(50.0)  # energy still counts every scenario
    table = format_table({"overall": o, "scenarios": {"labels": noisy, "clear": clear}})
    assert "(n.m.)" in next(r for r in table.splitlines() if r.startswith("labels"))


def test_failed_items_never_count_as_saved_energy():
    e = _entry("a", 10.0, 5.0, 1.0, 1.0, n=3)
    green_fail = e["records"][5]
    green_fail.update(energy_j=0.01, error="RuntimeError: boom", quality=0.0)
    s = _summary(e)
    assert s["failed_items"] == 1 and s["failed_green"] == 1
    assert s["energy_baseline_j"] == pytest.approx(20.0)
    assert s["energy_green_j"] == pytest.approx(10.0)
    assert s["energy_saved_pct"] == pytest.approx(50.0)  # not 1 - 10.01 / 30
    assert s["quality_green"] == pytest.approx(2 / 3)  # the failed answer scores 0
    o = overall([s])
    assert o["failed_items"] == 1
    assert "FAILED ITEMS: 1" in format_table({"overall": o, "scenarios": {"a": s}})


def test_failed_scenario_excluded_from_overall():
    a = _summary(_entry("a", 100.0, 20.0, 1.0, 1.0))
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
        "quality_retained_ci95",
        "quality_delta_pts",
        "quality_delta_ci95",
        "energy_saved_ci95",
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
