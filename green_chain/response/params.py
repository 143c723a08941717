"""Which call arguments cap a chat model's answer, read from the model's fields.

Providers name the answer cap differently; the first field the (unbound) model
declares wins: ``max_tokens`` (OpenAI, Anthropic, most LangChain chat models),
``max_output_tokens`` (Google), ``max_new_tokens`` (Hugging Face; ``ChatLocal``
takes it as an alias of its ``max_tokens``),
``num_predict`` (Ollama). A model with none of them gets ``max_tokens``, the
langchain-core standard parameter.

Reasoning budgets are bound only for models that have one *and use it*:

* OpenAI-style: a ``reasoning_effort`` field that is set (not ``None``) on the
  model -> ``reasoning_effort=<effort>``.
* Anthropic-style: a ``thinking`` field set to ``{"type": "enabled", ...}`` ->
  ``thinking={"type": "enabled", "budget_tokens": N}``; the answer cap then
  becomes ``answer budget + N`` because Anthropic counts thinking tokens in
  ``max_tokens`` (and requires ``max_tokens > budget_tokens``).

A repeat stop (``stop_on_repeat=True``: end the answer at its first repeated line, a
degenerate loop) is bound only on models that declare a ``stop_on_repeat`` field
(``ChatLocal``), or on a router whose candidates all do; other providers offer no such
option, and the event records it as not bound.

Whether an answer hit its cap is read from ``response_metadata``:
``finish_reason == "length"`` (OpenAI-style, ``ChatLocal``), ``stop_reason ==
"max_tokens"`` (Anthropic) or ``done_reason == "length"`` (Ollama).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableBinding

#: Answer-cap field names, in the order they are looked for.
CAP_FIELDS: tuple[str, ...] = ("max_tokens", "max_output_tokens", "max_new_tokens", "num_predict")
#: Accepted OpenAI-style effort values.
REASONING_EFFORTS: tuple[str, ...] = ("minimal", "low", "medium", "high")


def unbound(model: Any) -> Any:
    """The model inside any ``.bind(...)`` layers."""
    while isinstance(model, RunnableBinding):
        model = model.bound
    return model


def _fields(model: Any) -> Mapping[str, Any]:
    fields = getattr(type(model), "model_fields", None)
    return fields if isinstance(fields, Mapping) else {}


def cap_parameter(model: Any) -> str:
    """Name of the call argument that caps ``model``'s answer (see module doc)."""
    fields = _fields(unbound(model))
    for name in CAP_FIELDS:
        if name in fields:
            return name
    return "max_tokens"


def uses_reasoning_effort(model: Any) -> bool:
    """True when the model has a ``reasoning_effort`` field that is set."""
    inner = unbound(model)
    return (
        "reasoning_effort" in _fields(inner)
        and getattr(inner, "reasoning_effort", None) is not None
    )


def uses_thinking(model: Any) -> bool:
    """True when the model has an Anthropic-style ``thinking`` field that is enabled."""
    inner = unbound(model)
    if "thinking" not in _fields(inner):
        return False
    thinking = getattr(inner, "thinking", None)
    return isinstance(thinking, Mapping) and thinking.get("type") == "enabled"


def supports_repeat_stop(model: Any) -> bool:
    """True when ``model`` takes ``stop_on_repeat``: a ``stop_on_repeat`` field, or a
    router (a ``models`` list) whose candidates all take it."""
    inner = unbound(model)
    if "stop_on_repeat" in _fields(inner):
        return True
    candidates = getattr(inner, "models", None)
    return (
        isinstance(candidates, (list, tuple))
        and bool(candidates)
        and all(supports_repeat_stop(m) for m in candidates)
    )


def budget_kwargs(
    model: Any,
    tokens: int | None,
    *,
    stop: list[str] | None = None,
    reasoning_effort: str | None = None,
    thinking_budget_tokens: int | None = None,
    stop_on_repeat: bool = False,
) -> dict[str, Any]:
    """Call arguments binding the answer budget (and reasoning budget, stops, repeat
    stop where the model takes one) on ``model``."""
    kwargs: dict[str, Any] = {}
    thinking = thinking_budget_tokens is not None and uses_thinking(model)
    if tokens is not None:
        extra = thinking_budget_tokens if thinking and thinking_budget_tokens else 0
        kwargs[cap_parameter(model)] = tokens + extra
    if thinking:
        kwargs["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget_tokens}
    if reasoning_effort is not None and uses_reasoning_effort(model):
        kwargs["reasoning_effort"] = reasoning_effort
    if stop:
        kwargs["stop"] = list(stop)
    if stop_on_repeat and supports_repeat_stop(model):
        kwargs["stop_on_repeat"] = True
    return kwargs


def hit_cap(message: BaseMessage) -> bool:
    """True when the answer stopped at its token cap (see module doc)."""
    meta = getattr(message, "response_metadata", None) or {}
    return (
        meta.get("finish_reason") == "length"
        or meta.get("stop_reason") == "max_tokens"
        or meta.get("done_reason") == "length"
    )


def finish_reason(message: BaseMessage) -> str | None:
    """The provider's finish/stop reason, whichever key it uses."""
    meta = getattr(message, "response_metadata", None) or {}
    for key in ("finish_reason", "stop_reason", "done_reason"):
        value = meta.get(key)
        if value is not None:
            return str(value)
    return None


def output_tokens(message: BaseMessage) -> int | None:
    """Generated tokens from ``usage_metadata`` (``None`` when not reported)."""
    usage = getattr(message, "usage_metadata", None)
    if usage and usage.get("output_tokens") is not None:
        return int(usage["output_tokens"])
    return None


__all__ = [
    "CAP_FIELDS",
    "REASONING_EFFORTS",
    "budget_kwargs",
    "cap_parameter",
    "finish_reason",
    "hit_cap",
    "output_tokens",
    "supports_repeat_stop",
    "unbound",
    "uses_reasoning_effort",
    "uses_thinking",
]
