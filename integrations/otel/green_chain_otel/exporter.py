"""Export energy-handler run records to OpenTelemetry traces and metrics.

Each record becomes one span with its real start and end times, parented as in
the LangChain run tree. Metrics (all with attributes ``gen_ai.request.model``
where known and ``green_chain.run_type``):

``green_chain.energy`` (counter, J)
    Attributed *exclusive* energy of every run (``attributed_energy_j``): these
    sum to the device energy without double counting nested runs. Extra
    attributes ``green_chain.energy_kind`` and ``green_chain.energy_source``.
    Estimated hosted-API energy (``api_energy_j``) is added with its own kind and
    source (``estimated``, ``estimate:ecologits``), never mixed unlabelled.
``green_chain.tokens`` (counter, {token})
    Prompt and completion tokens of model calls, ``gen_ai.token.type`` =
    ``input`` / ``output``.
``green_chain.call.energy`` (histogram, J)
    Energy per model call (attributed inclusive, else gross).
``gen_ai.client.operation.duration`` (histogram, s)
    Duration of model calls (GenAI semantic convention).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the dependency
    raise ImportError(
        "green_chain_otel needs OpenTelemetry: "
        'pip install "green-chain-otel" (or pip install opentelemetry-sdk)'
    ) from exc

from green_chain_otel.attributes import (
    MODEL_RUN_TYPES,
    basis_energy_j,
    metric_attributes,
    record_times_ns,
    span_attributes,
    span_name,
)

logger = logging.getLogger(__name__)

INSTRUMENTATION_NAME = "green_chain"
_MAX_KNOWN_SPANS = 10_000


class OTelExporter:
    """Turn energy-handler records (plain dicts) into OpenTelemetry spans and metrics.

    Use it as the handler's sink, or export records afterwards::

        exporter = OTelExporter()                       # global providers
        handler = EnergyCallbackHandler(sink=exporter)  # one span per finished run
        # or: exporter.export(handler.records())

    Args:
        tracer_provider: Tracer provider; ``None`` = the global one
            (``opentelemetry.trace.get_tracer_provider()``).
        meter_provider: Meter provider; ``None`` = the global one.

    Records whose parent has not been exported yet wait until it is (the
    handler sends a finished tree parents-first); :meth:`flush` exports any
    still waiting as roots.
    """

    def __init__(
        self, tracer_provider: Any | None = None, meter_provider: Any | None = None
    ) -> None:
        from green_chain_otel import __version__

        self._tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider=meter_provider)
        self._energy = meter.create_counter(
            "green_chain.energy", unit="J", description="Energy attributed to LangChain steps"
        )
        self._tokens = meter.create_counter(
            "green_chain.tokens", unit="{token}", description="Tokens of model calls"
        )
        self._call_energy = meter.create_histogram(
            "green_chain.call.energy", unit="J", description="Energy per model call"
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration"
        )
        self._lock = threading.Lock()
        self._spans: OrderedDict[str, Any] = OrderedDict()
        self._waiting: dict[str, list[Mapping[str, Any]]] = {}

    # -- public API --------------------------------------------------------------
    def __call__(self, record: Mapping[str, Any]) -> None:
        """Sink entry point: export one finished record (never raises)."""
        try:
            with self._lock:
                self._export_one(record)
        except Exception:
            logger.warning("OpenTelemetry export of a green-chain record failed", exc_info=True)

    def export(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Export many records (any order; parents are emitted first). Returns the span count."""
        batch = [r for r in records if isinstance(r, Mapping)]
        ids = {str(r.get("run_id")) for r in batch}
        children: dict[str | None, list[Mapping[str, Any]]] = {}
        for r in batch:
            parent = r.get("parent_run_id")
            key = str(parent) if parent is not None and str(parent) in ids else None
            children.setdefault(key, []).append(r)
        ordered: list[Mapping[str, Any]] = []
        queue = list(children.get(None, []))
        while queue:
            current = queue.pop(0)
            ordered.append(current)
            queue.extend(children.get(str(current.get("run_id")), []))
        with self._lock:
            for record in ordered:
                self._export_one(record)
        return len(ordered)

    def flush(self) -> int:
        """Export records still waiting for a parent as roots. Returns how many."""
        with self._lock:
            waiting = [r for group in self._waiting.values() for r in group]
            self._waiting.clear()
            for record in waiting:
                self._export_one(record, force_root=True)
        return len(waiting)

    # -- internals -----------------------------------------------------------------
    def _export_one(self, record: Mapping[str, Any], *, force_root: bool = False) -> None:
        run_id = str(record.get("run_id"))
        parent_id = record.get("parent_run_id")
        context = None
        is_root = parent_id is None or str(record.get("root_run_id")) == run_id
        if not is_root and not force_root:
            parent_span = self._spans.get(str(parent_id))
            if parent_span is None:
                self._waiting.setdefault(str(parent_id), []).append(record)
                return
            context = trace.set_span_in_context(parent_span)
        span = self._emit_span(record, context)
        self._spans[run_id] = span
        while len(self._spans) > _MAX_KNOWN_SPANS:
            self._spans.popitem(last=False)
        self._record_metrics(record)
        for child in self._waiting.pop(run_id, []):
            self._export_one(child)

    def _emit_span(self, record: Mapping[str, Any], context: Any) -> Any:
        start_ns, end_ns = record_times_ns(record)
        run_type = str(record.get("run_type") or "")
        kind = SpanKind.CLIENT if run_type in MODEL_RUN_TYPES else SpanKind.INTERNAL
        span = self._tracer.start_span(
            span_name(record),
            context=context,
            kind=kind,
            attributes=span_attributes(record),
            start_time=start_ns,
        )
        error = record.get("error")
        if error:
            span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
        span.end(end_time=end_ns)
        return span

    def _record_metrics(self, record: Mapping[str, Any]) -> None:
        attrs = metric_attributes(record)
        sources = record.get("energy_sources") or []
        exclusive = record.get("attributed_energy_j")
        if isinstance(exclusive, int | float) and exclusive >= 0:
            self._energy.add(
                float(exclusive),
                {
                    **attrs,
                    "green_chain.energy_kind": str(record.get("energy_kind") or "unknown"),
                    "green_chain.energy_source": ",".join(sources) or "unknown",
                },
            )
        api_j = record.get("api_energy_j")
        if isinstance(api_j, int | float) and api_j >= 0:
            self._energy.add(
                float(api_j),
                {
                    **attrs,
                    "green_chain.energy_kind": str(record.get("api_energy_kind") or "estimated"),
                    "green_chain.energy_source": ",".join(record.get("api_energy_sources") or [])
                    or "unknown",
                },
            )
        if str(record.get("run_type")) not in MODEL_RUN_TYPES:
            return
        for key, token_type in (("prompt_tokens", "input"), ("completion_tokens", "output")):
            value = record.get(key)
            if isinstance(value, int) and value >= 0:
                self._tokens.add(value, {**attrs, "gen_ai.token.type": token_type})
        energy = basis_energy_j(record)
        if energy is not None and energy >= 0:
            self._call_energy.record(energy, attrs)
        duration = record.get("duration_s")
        if isinstance(duration, int | float) and duration >= 0:
            self._duration.record(float(duration), attrs)
