"""OTelExporter with the OpenTelemetry SDK's in-memory span exporter and metric reader."""

from __future__ import annotations

import random
from typing import Any

import pytest
from green_chain_otel import OTelExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

T0 = 1_764_000_000.0


def rec(
    run_id: str,
    parent: str | None,
    name: str,
    run_type: str,
    start: float,
    end: float,
    **extra: Any,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": run_id,
        "parent_run_id": parent,
        "root_run_id": "root",
        "name": name,
        "run_type": run_type,
        "tags": [],
        "model_name": None,
        "provider": None,
        "start_unix_s": T0 + start,
        "end_unix_s": T0 + end,
        "duration_s": end - start,
        "energy_j": None,
        "attributed_energy_j": None,
        "attributed_inclusive_j": None,
        "energy_kind": None,
        "energy_sources": [],
        "prompt_tokens": None,
        "completion_tokens": None,
        "etr": None,
        "per": None,
        "carbon_kg": None,
        "error": None,
    }
    base.update(extra)
    return base


def tree() -> list[dict[str, Any]]:
    return [
        rec(
            "root",
            None,
            "RunnableSequence",
            "chain",
            0.0,
            2.0,
            energy_j=30.0,
            attributed_energy_j=2.0,
            attributed_inclusive_j=30.0,
            energy_kind="measured",
            energy_sources=["rapl"],
            per=3.0,
            carbon_kg=0.004,
            score=90.0,
        ),
        rec(
            "compress",
            "root",
            "compress_prompt",
            "chain",
            0.0,
            0.5,
            energy_j=3.0,
            attributed_energy_j=3.0,
            attributed_inclusive_j=3.0,
            energy_kind="measured",
            energy_sources=["rapl"],
        ),
        rec(
            "llm",
            "root",
            "ChatLocal",
            "chat_model",
            0.5,
            1.8,
            model_name="smollm2-135m-instruct",
            provider="local",
            energy_j=25.0,
            attributed_energy_j=25.0,
            attributed_inclusive_j=25.0,
            energy_kind="measured",
            energy_sources=["rapl"],
            prompt_tokens=120,
            completion_tokens=40,
            etr=0.6,
            carbon_kg=0.0033,
            tokens_per_j=6.4,
        ),
        rec(
            "tool",
            "root",
            "search",
            "tool",
            1.8,
            2.0,
            energy_j=None,
            energy_kind=None,
            error="ValueError: no results",
            energy_reason="rapl read failed",
        ),
        rec(
            "api",
            "root",
            "ChatOpenAI",
            "chat_model",
            1.9,
            2.0,
            model_name="gpt-4o-mini",
            provider="openai",
            prompt_tokens=10,
            completion_tokens=5,
            api_energy_j=12.0,
            api_energy_kind="estimated",
            api_energy_sources=["estimate:ecologits"],
        ),
    ]


@pytest.fixture
def otel() -> tuple[OTelExporter, InMemorySpanExporter, InMemoryMetricReader]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return OTelExporter(tracer_provider, meter_provider), spans, reader


def by_name(spans: InMemorySpanExporter) -> dict[str, Any]:
    return {s.name: s for s in spans.get_finished_spans()}


def check_tree(spans: InMemorySpanExporter) -> None:
    got = by_name(spans)
    assert set(got) == {
        "RunnableSequence",
        "compress_prompt",
        "chat smollm2-135m-instruct",
        "execute_tool search",
        "chat gpt-4o-mini",
    }
    root = got["RunnableSequence"]
    assert root.parent is None
    trace_ids = {s.context.trace_id for s in got.values()}
    assert len(trace_ids) == 1
    for name in ("compress_prompt", "chat smollm2-135m-instruct", "execute_tool search"):
        assert got[name].parent.span_id == root.context.span_id
    llm = got["chat smollm2-135m-instruct"]
    assert llm.start_time == int((T0 + 0.5) * 1e9)
    assert llm.end_time == int((T0 + 1.8) * 1e9)
    assert llm.kind == SpanKind.CLIENT and root.kind == SpanKind.INTERNAL


def test_sink_builds_span_tree_with_explicit_times(otel) -> None:
    exporter, spans, _ = otel
    for record in tree():
        exporter(record)
    check_tree(spans)


def test_export_orders_parents_first_whatever_the_input_order(otel) -> None:
    exporter, spans, _ = otel
    records = tree()
    random.Random(7).shuffle(records)
    assert exporter.export(records) == 5
    check_tree(spans)


def test_sink_waits_for_late_parent_and_flush_releases_orphans(otel) -> None:
    exporter, spans, _ = otel
    records = tree()
    exporter(records[2])  # the model call before its parent
    assert spans.get_finished_spans() == ()
    exporter(records[0])
    assert {s.name for s in spans.get_finished_spans()} == {
        "RunnableSequence",
        "chat smollm2-135m-instruct",
    }
    exporter(rec("orphan", "never-sent", "lonely", "chain", 0, 1, root_run_id="x"))
    assert exporter.flush() == 1
    assert by_name(spans)["lonely"].parent is None


def test_genai_and_green_chain_attributes(otel) -> None:
    exporter, spans, _ = otel
    exporter.export(tree())
    got = by_name(spans)
    llm = dict(got["chat smollm2-135m-instruct"].attributes)
    assert llm["gen_ai.operation.name"] == "chat"
    assert llm["gen_ai.request.model"] == "smollm2-135m-instruct"
    assert llm["gen_ai.provider.name"] == "local" and llm["gen_ai.system"] == "local"
    assert llm["gen_ai.usage.input_tokens"] == 120
    assert llm["gen_ai.usage.output_tokens"] == 40
    assert llm["green_chain.energy_j"] == 25.0
    assert llm["green_chain.energy_source"] == "rapl"
    assert llm["green_chain.energy_kind"] == "measured"
    assert llm["green_chain.etr"] == 0.6
    assert llm["green_chain.carbon_g"] == pytest.approx(3.3)
    root = dict(got["RunnableSequence"].attributes)
    assert root["green_chain.per"] == 3.0 and root["green_chain.score"] == 90.0
    assert "gen_ai.operation.name" not in root
    tool = got["execute_tool search"]
    assert tool.status.status_code == StatusCode.ERROR
    assert "no results" in tool.status.description
    assert tool.attributes["gen_ai.tool.name"] == "search"
    assert "green_chain.energy_j" not in tool.attributes  # None is never exported
    api = dict(got["chat gpt-4o-mini"].attributes)
    assert api["green_chain.api_energy_j"] == 12.0
    assert api["green_chain.api_energy_source"] == "estimate:ecologits"


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


def test_metrics_count_joules_and_tokens_per_model_and_step(otel) -> None:
    exporter, _, reader = otel
    exporter.export(tree())
    points = metric_points(reader)
    energy = {
        (p.attributes["green_chain.run_type"], p.attributes["green_chain.energy_kind"]): p.value
        for p in points["green_chain.energy"]
    }
    # exclusive attributed joules: 2 (root) + 3 (compress) + 25 (model) = 30 = the device energy
    assert energy[("chain", "measured")] == pytest.approx(5.0)
    assert energy[("chat_model", "measured")] == pytest.approx(25.0)
    assert energy[("chat_model", "estimated")] == pytest.approx(12.0)
    measured_total = sum(v for (_, kind), v in energy.items() if kind == "measured")
    assert measured_total == pytest.approx(30.0)
    tokens = {
        (p.attributes.get("gen_ai.request.model"), p.attributes["gen_ai.token.type"]): p.value
        for p in points["green_chain.tokens"]
    }
    assert tokens == {
        ("smollm2-135m-instruct", "input"): 120,
        ("smollm2-135m-instruct", "output"): 40,
        ("gpt-4o-mini", "input"): 10,
        ("gpt-4o-mini", "output"): 5,
    }
    (call,) = [
        p
        for p in points["green_chain.call.energy"]
        if p.attributes.get("gen_ai.request.model") == "smollm2-135m-instruct"
    ]
    assert call.count == 1 and call.sum == pytest.approx(25.0)
    durations = points["gen_ai.client.operation.duration"]
    assert sum(p.count for p in durations) == 2


def test_sink_never_raises_on_bad_record(otel) -> None:
    exporter, spans, _ = otel
    exporter(
        {
            "run_id": "x",
            "parent_run_id": None,
            "run_type": "chain",
            "start_time": "not a date",
            "energy_j": "lots",
            "energy_sources": None,
        }
    )
    assert len(spans.get_finished_spans()) == 1
