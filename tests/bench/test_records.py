"""ItemRecord: the results.json record, typed; the prompt is kept for scoring but never written."""

from __future__ import annotations

from green_chain.bench.records import CallRecord, HandlerFigures, ItemRecord, as_record


def _record() -> ItemRecord:
    return ItemRecord(
        item_id="q1",
        variant="green",
        energy_j=2.0,
        energy_kind="estimated",
        energy_sources=["estimate"],
        duration_s=0.5,
        window_energy_j=2.0,
        prompt_tokens=40,
        completion_tokens=3,
        calls=[CallRecord("small", 40, 3)],
        model="small",
        output="Paris",
        prompt="Context: ... Question: capital? Answer:",
    )


def test_window_record_keys_and_round_trip() -> None:
    rec = _record()
    d = rec.to_dict()
    assert "prompt" not in d and "_prompt" not in d
    assert list(d)[:3] == ["item_id", "variant", "energy_basis"] and d["energy_basis"] == "window"
    # handler-only keys appear only with handler figures; scoring keys only once scored
    assert not {"carbon_kg", "handler_tokens_sent", "handler_records", "quality"} & set(d)
    back = ItemRecord.from_dict(d)
    assert back.to_dict() == d and back.prompt is None
    assert as_record(d) == back and as_record(rec) is rec


def test_handler_figures_replace_the_window_figures() -> None:
    rec = _record()
    rec.apply_handler(
        HandlerFigures(
            energy_j=1.5,
            energy_kind="measured",
            energy_sources=["rapl"],
            energy_uncertainty_j=0.1,
            duration_s=0.4,
            carbon_kg=1e-7,
            optimizer_energy_j=0.2,
            optimizer_runs=[{"name": "compress", "energy_j": 0.2}],
            etr_handler=0.5,
            handler_tokens_sent=40,
            handler_tokens_saved=40,
        )
    )
    rec.handler_records = []
    rec.metrics, rec.quality, rec.quality_metric = {"mc_correct": 1.0}, 1.0, "mc_correct"
    d = rec.to_dict()
    assert d["energy_basis"] == "handler" and d["energy_j"] == 1.5 and d["window_energy_j"] == 2.0
    assert list(d)[-7:] == [
        "carbon_kg",
        "handler_tokens_sent",
        "handler_tokens_saved",
        "handler_records",
        "metrics",
        "quality",
        "quality_metric",
    ]
    assert ItemRecord.from_dict(d).to_dict() == d


def test_old_files_read_with_defaults() -> None:
    rec = ItemRecord.from_dict({"variant": "baseline", "energy_j": 1.0})
    assert rec.prompt_tokens == 0 and rec.calls == [] and rec.quality is None
