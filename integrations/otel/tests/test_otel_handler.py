"""End to end: EnergyCallbackHandler(sink=OTelExporter) on a real LangChain chain."""

from __future__ import annotations

from green_chain_otel import OTelExporter
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.meters import FakeMeterBackend


def test_handler_sink_exports_the_run_tree() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    exporter = OTelExporter(tracer_provider, MeterProvider(metric_readers=[reader]))

    meter = FakeMeterBackend(["cpu:fake"], source="rapl")
    handler = EnergyCallbackHandler(monitor=EnergyMonitor([meter]), sink=exporter, estimators=None)
    answer = AIMessage(
        content="Paris.",
        usage_metadata={"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
        response_metadata={"model_name": "fake-chat"},
    )

    class BurningChat(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            meter.add("cpu:fake", 4.0)  # the model call uses 4 J
            return super()._generate(*args, **kwargs)

    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | BurningChat(
        messages=iter([answer])
    )
    chain.invoke({"q": "Capital of France?"}, config={"callbacks": [handler]})

    records = {r["run_id"]: r for r in handler.records()}
    finished = spans.get_finished_spans()
    assert len(finished) == len(records) >= 3
    by_run = {s.attributes["green_chain.run_id"]: s for s in finished}
    assert set(by_run) == set(records)
    for run_id, record in records.items():
        span = by_run[run_id]
        parent = record["parent_run_id"]
        if parent is None:
            assert span.parent is None
        else:
            assert span.parent.span_id == by_run[parent].context.span_id
        if record["energy_j"] is not None:
            assert span.attributes["green_chain.energy_j"] == record["energy_j"]
    (model_span,) = [
        s for s in finished if s.attributes.get("green_chain.run_type") == "chat_model"
    ]
    assert model_span.attributes["green_chain.energy_j"] == 4.0
    assert model_span.attributes["green_chain.energy_source"] == "rapl"
    assert model_span.attributes["gen_ai.usage.output_tokens"] == 3
    total = sum(
        p.value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "green_chain.energy"
        for p in m.data.data_points
    )
    assert total == 4.0
