"""Recipe 8: export the energy handler's records to OpenTelemetry (spans and metrics).

What it shows
    A ``prompt | ChatLocal | StrOutputParser`` chain answers two SQuAD questions with
    an :class:`~green_chain.callbacks.EnergyCallbackHandler` whose ``sink`` is a
    :class:`green_chain_otel.OTelExporter`: every finished run tree becomes OpenTelemetry
    spans (parent/child as in the LangChain run tree, real start/end times, GenAI
    semantic-convention attributes plus ``green_chain.energy_j``, ``.energy_kind``,
    ``.energy_source`` ...) and metrics (``green_chain.energy`` in J,
    ``green_chain.tokens``, ``green_chain.call.energy``). Here the SDK's in-memory span
    exporter and in-memory metric reader collect them, and the recipe prints them next
    to the handler's own report (they agree: same joules, same tokens).

Run it
    pip install -e integrations/otel   # once: green-chain-otel + opentelemetry-sdk
    .venv/bin/python cookbook/08_export_opentelemetry.py [--n 2]

Sending to a real OTLP collector instead
    ``pip install opentelemetry-exporter-otlp-proto-http``, run a collector (e.g.
    ``docker run -p 4318:4318 otel/opentelemetry-collector``, or Jaeger / Grafana
    Tempo / any OTLP endpoint), and replace the two in-memory pieces::

        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint="http://localhost:4318/v1/traces"))
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint="http://localhost:4318/v1/metrics")
        )
        meter_provider = MeterProvider(metric_readers=[reader], resource=resource)

    (or set ``OTEL_EXPORTER_OTLP_ENDPOINT`` and leave ``endpoint`` out). Call
    ``tracer_provider.shutdown()`` / ``meter_provider.shutdown()`` at exit to flush.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from green_chain_otel import OTelExporter
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from green_chain.bench.data import load_squad
from green_chain.callbacks import EnergyCallbackHandler
from green_chain.models import ChatLocal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Energy records as OpenTelemetry spans.")
    parser.add_argument("--n", type=int, default=2, help="SQuAD questions")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("cookbook-output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # OpenTelemetry SDK with in-memory exporters (see the docstring for OTLP).
    resource = Resource.create({"service.name": "green-chain-cookbook"})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)

    exporter = OTelExporter(tracer_provider=tracer_provider, meter_provider=meter_provider)
    handler = EnergyCallbackHandler(sink=exporter)  # each finished run tree is exported

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question with a short phrase copied from the passage."),
            ("human", "Passage: {context}\n\nQuestion: {question}"),
        ]
    )
    chain = prompt | ChatLocal(max_new_tokens=args.max_new_tokens) | StrOutputParser()
    items = [it for it in load_squad() if len(it.inputs["context"]) < 600][: args.n]
    for item in items:
        answer = chain.invoke(item.inputs, config={"callbacks": [handler]})
        print(f"Q: {item.inputs['question']} -> {answer.strip()!r}")
    exporter.flush()

    report = handler.report()
    print()
    print(report.summary())

    finished = spans.get_finished_spans()
    print(f"\n{len(finished)} OpenTelemetry spans:")
    parents = {s.context.span_id: s.parent.span_id if s.parent else None for s in finished}

    def depth(span_id: int) -> int:
        parent = parents.get(span_id)
        return 0 if parent is None else 1 + depth(parent)

    for span in sorted(finished, key=lambda s: s.start_time or 0):
        a: dict[str, Any] = dict(span.attributes or {})
        duration_s = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        energy = a.get("green_chain.energy_j")
        print(
            f"  {'  ' * depth(span.context.span_id)}{span.name} [{span.kind.name}] "
            f"{duration_s:.2f} s, "
            f"energy {energy if energy is None else f'{energy:.3f}'} J "
            f"({a.get('green_chain.energy_kind')}, {a.get('green_chain.energy_source')})"
            + (
                f", tokens in/out {a['gen_ai.usage.input_tokens']}/{a['gen_ai.usage.output_tokens']}"
                if "gen_ai.usage.input_tokens" in a
                else ""
            )
        )

    metrics: dict[str, float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    value: Any = getattr(point, "value", None)
                    if value is None:  # histogram point
                        value = getattr(point, "sum", 0.0)
                    metrics[metric.name] = metrics.get(metric.name, 0.0) + float(value)
    print("\nmetrics (summed over attributes):")
    for name, value in sorted(metrics.items()):
        print(f"  {name}: {value:.4g}")
    print(
        f"handler: device energy {sum(report.device_energy_j.values()):.4g} J, "
        f"model tokens {sum(r['tokens'] or 0 for r in report.by_model())}"
    )
    # model calls: spans with a GenAI operation (a model's `load` span names the model too, but
    # is no request)
    model_spans = [
        s
        for s in finished
        if (s.attributes or {}).get("gen_ai.operation.name") in ("chat", "text_completion")
    ]
    span_energy_j = 0.0
    for s in model_spans:
        span_energy_j += float((s.attributes or {}).get("green_chain.energy_j", 0.0))  # type: ignore[arg-type]
    print(
        "RESULT "
        + json.dumps(
            {
                "recipe": "08",
                "records": len(report),
                "spans": len(finished),
                "model_spans": len(model_spans),
                "span_energy_j": span_energy_j,
                "metric_energy_j": metrics.get("green_chain.energy"),
                "metric_tokens": metrics.get("green_chain.tokens"),
                "device_energy_j": sum(report.device_energy_j.values()),
                "model_tokens": sum(r["tokens"] or 0 for r in report.by_model()),
                "energy_kind": report.by_model()[0]["kind"],
            }
        )
    )
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
