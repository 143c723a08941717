"""EnergyReport: records, JSON, CSV, DataFrame, summary table and plot."""

from __future__ import annotations

import csv
import json

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableConfig, RunnableLambda

from green_chain.events import publish_token_counts
from green_chain.testing.models import ScriptedChatModel, ai_message


def _run_some(metered, n: int = 4):
    sizes = [10, 40, 90, 160, 250, 360][:n]
    model = ScriptedChatModel(
        responses=[ai_message("ok", input_tokens=s, output_tokens=5) for s in sizes],
        model_name="tiny-model",
        on_call=lambda msgs: metered.work(0.01 * len(msgs[0].content) + 1.0),
    )

    def compress(text: str, config: RunnableConfig) -> str:
        publish_token_counts("compression", 2 * len(text), len(text), config=config)
        return text

    chain = RunnableLambda(compress) | model | StrOutputParser()
    for s in sizes:
        chain.invoke("x" * s, config={"callbacks": [metered.handler]})
        metered.handler.record_score(50.0)
    return sizes


def test_summary_and_aggregates(metered):
    _run_some(metered)
    report = metered.handler.report()
    models = report.by_model()
    assert [m["group"] for m in models] == ["tiny-model"]
    row = models[0]
    assert row["calls"] == 4 and row["tokens"] == 10 + 40 + 90 + 160 + 20
    assert row["energy_j"] == pytest.approx(0.01 * 300 + 4.0)
    assert row["tokens_per_j"] == pytest.approx(320 / 7.0)
    assert row["etr"] == pytest.approx(300 / 600)
    assert row["carbon_g"] == pytest.approx(7.0 / 3.6e6 * 480.0)
    types = {r["group"]: r for r in report.by_step_type()}
    assert sum(r["energy_j"] for r in types.values()) == pytest.approx(7.0)
    assert types["chain"]["per"] == pytest.approx(200 / 7.0)
    text = report.summary()
    assert "per step type" in text and "per model" in text and "tiny-model" in text
    assert "measured" in text and "device energy over all windows: 7 J" in text


def test_exports(metered, tmp_path):
    _run_some(metered, 2)
    report = metered.handler.report()
    assert len(report) == 8
    data = json.loads(report.to_json(tmp_path / "r.json"))
    assert len(data["records"]) == 8 and (tmp_path / "r.json").exists()
    path = report.to_csv(tmp_path / "r.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 8 and {"energy_j", "attributed_energy_j", "etr"} <= set(rows[0])
    df = report.to_dataframe()
    assert len(df) == 8 and "tokens_per_j" in df.columns
    keys = set(report.records()[0])
    assert {
        "run_id",
        "parent_run_id",
        "name",
        "run_type",
        "tags",
        "metadata",
        "model_name",
        "start_time",
        "end_time",
        "duration_s",
        "energy_j",
        "energy_kind",
        "energy_sources",
        "attributed_energy_j",
        "attributed_inclusive_j",
        "prompt_tokens",
        "completion_tokens",
        "tokens_approximate",
        "tokens_per_j",
        "etr",
        "per",
        "carbon_kg",
        "error",
        "optimizer_events",
        "routing",
    } <= keys


def test_plot_writes_a_png(metered, tmp_path):
    _run_some(metered, 5)
    out = metered.handler.report().plot(tmp_path / "energy.png")
    assert out.exists() and out.read_bytes()[:4] == b"\x89PNG"


def test_by_model_counts_a_routed_call_once(metered):
    from green_chain.routing import HeuristicScorer, RoutedChatModel

    cheap = ScriptedChatModel(
        responses=[ai_message("cheap", input_tokens=10, output_tokens=2)],
        model_name="cheap-model",
        cycle=True,
        on_call=lambda msgs: metered.work(2.0),
    )
    large = ScriptedChatModel(
        responses=[ai_message("large", input_tokens=10, output_tokens=2)],
        model_name="large-model",
        cycle=True,
        on_call=lambda msgs: metered.work(5.0),
    )
    router = RoutedChatModel(models=[cheap, large], scorer=HeuristicScorer(), threshold=0.0)
    router.invoke("hello there", config={"callbacks": [metered.handler]})
    rows = metered.handler.report().by_model()
    assert sum(r["calls"] for r in rows) == 1
    assert sum(r["energy_j"] for r in rows) == pytest.approx(2.0)
    assert sum(r["tokens"] for r in rows) == 12
