"""Model names and token counts of one model call, from LangChain callback payloads.

Token source order (``token_method`` in the record):

1. ``usage_metadata`` of the returned ``AIMessage`` (or the provider's
   ``llm_output["token_usage"]``): what the provider counted;
2. a tokenizer registered for the model name in :mod:`green_chain.tokens`
   (``tokenizer:<model>``), or tiktoken for OpenAI names (``tiktoken:<enc>``);
3. :func:`langchain_core.messages.utils.count_tokens_approximately`
   (``approximate``), flagged ``tokens_approximate=True``.

When the tokens are counted here, the completion includes the generated text
and every tool call's name and JSON arguments (what the model produced).

A provider count that is not a whole number >= 0 (``"n/a"``, ``None``, NaN) is
ignored, as if the provider had reported nothing: the next source counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from green_chain.tokens import count_message_tokens, count_tokens

_MODEL_KEYS = ("model", "model_name", "model_id", "deployment_name")


@dataclass(frozen=True)
class TokenUsage:
    """Prompt and completion tokens of one model call and how they were counted."""

    prompt_tokens: int
    completion_tokens: int
    method: str
    #: Prompt tokens read from the provider's prefix cache (``None``: not reported).
    cached_prompt_tokens: int | None = None

    @property
    def approximate(self) -> bool:
        return self.method == "approximate"


def model_name_at_start(
    serialized: Mapping[str, Any] | None,
    invocation_params: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
) -> str | None:
    """The model name from invocation params, metadata ``ls_model_name`` or serialized kwargs."""
    for source in (invocation_params, (serialized or {}).get("kwargs")):
        if isinstance(source, Mapping):
            for key in _MODEL_KEYS:
                value = source.get(key)
                if isinstance(value, str) and value:
                    return value
    if metadata:
        value = metadata.get("ls_model_name")
        if isinstance(value, str) and value:
            return value
    return None


def _generations(response: Any) -> list[Any]:
    gens = getattr(response, "generations", None) or []
    return [g for batch in gens for g in batch]


def model_name_at_end(response: Any) -> str | None:
    """The model name the provider reported (``llm_output`` or ``response_metadata``)."""
    llm_output = getattr(response, "llm_output", None) or {}
    for key in ("model_name", "model"):
        value = llm_output.get(key) if isinstance(llm_output, Mapping) else None
        if isinstance(value, str) and value:
            return value
    for gen in _generations(response):
        message = getattr(gen, "message", None)
        meta = getattr(message, "response_metadata", None) or {}
        for key in ("model_name", "model"):
            value = meta.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def count_or_none(value: Any) -> int | None:
    """``value`` as a token count (a whole number >= 0), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _pair(prompt: Any, completion: Any) -> tuple[int, int] | None:
    p, c = count_or_none(prompt), count_or_none(completion)
    if p is None or c is None:
        return None
    return p, c


def _cache_read(details: Any, key: str) -> int | None:
    if isinstance(details, Mapping):
        return count_or_none(details.get(key))
    return None


def _provider_usage(response: Any) -> tuple[int, int, int | None] | None:
    prompt = completion = 0
    cached: int | None = None
    found = False
    for gen in _generations(response):
        usage = getattr(getattr(gen, "message", None), "usage_metadata", None)
        if usage and isinstance(usage, Mapping):
            pair = _pair(usage.get("input_tokens", 0), usage.get("output_tokens", 0))
            if pair is None:
                return None  # one unusable count: count every generation ourselves
            found = True
            prompt += pair[0]
            completion += pair[1]
            read = _cache_read(usage.get("input_token_details"), "cache_read")
            if read is not None:
                cached = (cached or 0) + read
    if found:
        return prompt, completion, cached
    llm_output = getattr(response, "llm_output", None) or {}
    if isinstance(llm_output, Mapping):
        usage = llm_output.get("token_usage") or llm_output.get("usage")
        if isinstance(usage, Mapping):
            p = usage.get("prompt_tokens", usage.get("input_tokens"))
            c = usage.get("completion_tokens", usage.get("output_tokens"))
            if p is not None or c is not None:
                pair = _pair(p if p is not None else 0, c if c is not None else 0)
                if pair is None:
                    return None
                read = _cache_read(usage.get("prompt_tokens_details"), "cached_tokens")
                return pair[0], pair[1], read
    return None


def _completion_text(generation: Any) -> str:
    """The generated text plus, for a tool-calling message, each call's name and arguments."""
    text = getattr(generation, "text", "") or ""
    calls = getattr(getattr(generation, "message", None), "tool_calls", None) or []
    parts = [text] if text else []
    for call in calls:
        if isinstance(call, Mapping):
            args = call.get("args")
            parts.append(f"{call.get('name', '')}({json.dumps(args, default=str)})")
    return "\n".join(parts)


def token_usage(
    response: Any,
    *,
    messages: Sequence[Sequence[Any]] | None,
    prompts: Sequence[str] | None,
    model_name: str | None,
) -> TokenUsage:
    """Tokens of one model call (see the module docstring for the order)."""
    provider = _provider_usage(response)
    if provider is not None:
        return TokenUsage(provider[0], provider[1], "usage_metadata", provider[2])
    if messages is not None:
        flat = [m for batch in messages for m in batch]
        prompt = count_message_tokens(flat, model_name)
    else:
        prompt = count_tokens("\n".join(prompts or []), model_name)
    texts = [_completion_text(g) for g in _generations(response)]
    completion = count_tokens("\n".join(texts), model_name) if any(texts) else None
    completion_tokens = completion.tokens if completion is not None else 0
    method = prompt.method
    if completion is not None and completion.approximate:
        method = "approximate"
    return TokenUsage(prompt.tokens, completion_tokens, method)
