"""Energy-handler run records -> OpenTelemetry attribute dicts.

GenAI semantic-convention attributes (``gen_ai.*``) for model and tokens, plus
``green_chain.*`` attributes for energy. Units are in the names: ``_j`` joules,
``_g`` grams CO2e, ``_s`` seconds. Missing (``None``) values are left out,
since OpenTelemetry attributes cannot be null.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

MODEL_RUN_TYPES = frozenset({"llm", "chat_model"})

#: record ``run_type`` -> ``gen_ai.operation.name``.
OPERATION_NAMES: dict[str, str] = {
    "chat_model": "chat",
    "llm": "text_completion",
    "tool": "execute_tool",
}

AttributeValue = str | bool | int | float | list[str]


def record_times_ns(record: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(start, end) of a record in Unix nanoseconds, from ``start_unix_s``/``end_unix_s``
    or the ISO ``start_time``/``end_time``; ``None`` when unknown."""

    def one(unix_key: str, iso_key: str) -> int | None:
        value = record.get(unix_key)
        if isinstance(value, int | float):
            return int(value * 1e9)
        text = record.get(iso_key)
        if isinstance(text, str) and text:
            try:
                parsed = _dt.datetime.fromisoformat(text)
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=_dt.UTC)
            return int(parsed.timestamp() * 1e9)
        return None

    start = one("start_unix_s", "start_time")
    end = one("end_unix_s", "end_time")
    if start is not None and end is None and isinstance(record.get("duration_s"), int | float):
        end = start + int(float(record["duration_s"]) * 1e9)
    return start, end


def basis_energy_j(record: Mapping[str, Any]) -> float | None:
    """The energy the efficiency figures use (J): attributed inclusive, else gross."""
    for key in ("attributed_inclusive_j", "energy_j"):
        value = record.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


def span_name(record: Mapping[str, Any]) -> str:
    """``"chat gpt-4o-mini"`` for model calls (GenAI convention), else the run's name."""
    run_type = str(record.get("run_type") or "")
    operation = OPERATION_NAMES.get(run_type)
    if run_type in MODEL_RUN_TYPES and record.get("model_name"):
        return f"{operation} {record['model_name']}"
    if run_type == "tool":
        return f"execute_tool {record.get('name') or 'tool'}"
    return str(record.get("name") or run_type or "run")


def _put(out: dict[str, AttributeValue], key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool | int | float | str):
        out[key] = value
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        if value:
            out[key] = list(value)
    else:
        out[key] = str(value)


def span_attributes(record: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """All span attributes of one record."""
    out: dict[str, AttributeValue] = {}
    run_type = str(record.get("run_type") or "")
    _put(out, "gen_ai.operation.name", OPERATION_NAMES.get(run_type))
    _put(out, "gen_ai.request.model", record.get("model_name"))
    provider = record.get("provider")
    _put(out, "gen_ai.provider.name", provider)
    _put(out, "gen_ai.system", provider)
    _put(out, "gen_ai.usage.input_tokens", record.get("prompt_tokens"))
    _put(out, "gen_ai.usage.output_tokens", record.get("completion_tokens"))
    if run_type == "tool":
        _put(out, "gen_ai.tool.name", record.get("name"))
    _put(out, "green_chain.run_id", record.get("run_id"))
    _put(out, "green_chain.run_type", run_type or None)
    _put(out, "green_chain.langgraph_node", record.get("langgraph_node"))
    _put(out, "green_chain.energy_j", record.get("energy_j"))
    _put(out, "green_chain.attributed_energy_j", record.get("attributed_energy_j"))
    _put(out, "green_chain.attributed_inclusive_j", record.get("attributed_inclusive_j"))
    _put(out, "green_chain.net_energy_j", record.get("net_energy_j"))
    _put(out, "green_chain.energy_uncertainty_j", record.get("energy_uncertainty_j"))
    sources = record.get("energy_sources") or []
    _put(out, "green_chain.energy_source", ",".join(sources) if sources else None)
    _put(out, "green_chain.energy_kind", record.get("energy_kind"))
    _put(out, "green_chain.energy_reason", record.get("energy_reason"))
    _put(out, "green_chain.api_energy_j", record.get("api_energy_j"))
    api_sources = record.get("api_energy_sources") or []
    _put(out, "green_chain.api_energy_source", ",".join(api_sources) if api_sources else None)
    _put(out, "green_chain.api_energy_kind", record.get("api_energy_kind"))
    _put(out, "green_chain.tokens_per_j", record.get("tokens_per_j"))
    _put(out, "green_chain.etr", record.get("etr"))
    _put(out, "green_chain.per", record.get("per"))
    _put(out, "green_chain.score", record.get("score"))
    carbon_kg = record.get("carbon_kg")
    if isinstance(carbon_kg, int | float):
        out["green_chain.carbon_g"] = float(carbon_kg) * 1000.0
    _put(out, "green_chain.tokens_saved", record.get("tokens_saved"))
    tags = record.get("tags")
    if isinstance(tags, list) and tags:
        _put(out, "green_chain.tags", [str(t) for t in tags])
    error = record.get("error")
    if error:
        _put(out, "error.type", str(error).split(":", 1)[0][:100])
    return out


def metric_attributes(record: Mapping[str, Any]) -> dict[str, str]:
    """Low-cardinality attributes for metrics: model, step type, energy kind and source."""
    out: dict[str, str] = {"green_chain.run_type": str(record.get("run_type") or "unknown")}
    if record.get("model_name"):
        out["gen_ai.request.model"] = str(record["model_name"])
    return out
