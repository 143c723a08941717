"""Energy estimates for hosted-API model calls (no local meter can see them).

A :class:`CallEnergyEstimator` turns one call's provider, model and token counts
into a :class:`~green_chain.energy.measurement.DomainEnergy` (normally of kind
``estimated``). The energy handler applies its estimators to chat-model/LLM runs
whose ``ls_provider`` metadata names a hosted API (:data:`HOSTED_PROVIDERS`), and
stores each result as a domain ``api:<provider>`` in the record's
``api_domains``, summed into ``api_energy_j`` with its own kind and source.
These figures are never added to the locally measured ``energy_j``.

Estimators are found with ``estimators="auto"`` through the entry-point group
:data:`ENTRY_POINT_GROUP` (``green_chain.call_estimators``). An entry point may
name an estimator instance, a class (constructed with no arguments) or a
no-argument factory. The ecologits integration registers one.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from green_chain.energy.measurement import DomainEnergy

logger = logging.getLogger(__name__)

#: Entry-point group searched by ``estimators="auto"``.
ENTRY_POINT_GROUP = "green_chain.call_estimators"

#: ``ls_provider`` values treated as hosted APIs (energy spent off this machine).
HOSTED_PROVIDERS: frozenset[str] = frozenset(
    {
        "openai",
        "azure",
        "azure_openai",
        "anthropic",
        "mistralai",
        "google_genai",
        "google_vertexai",
        "google_anthropic_vertex",
        "vertexai",
        "cohere",
        "groq",
        "fireworks",
        "together",
        "bedrock",
        "amazon_bedrock",
        "bedrock_converse",
        "deepseek",
        "xai",
        "perplexity",
        "ai21",
        "nvidia",
        "openrouter",
    }
)


@dataclass(frozen=True)
class LLMCallInfo:
    """What an estimator gets to know about one hosted model call.

    Attributes:
        provider: ``ls_provider`` of the call (``openai``, ``anthropic``, ...).
        model_name: Model name, when known.
        prompt_tokens: Input tokens, when known.
        completion_tokens: Output tokens, when known.
        duration_s: Wall time of the call in seconds (latency), when known.
    """

    provider: str
    model_name: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    duration_s: float | None


@runtime_checkable
class CallEnergyEstimator(Protocol):
    """Estimates the energy of one hosted model call, or returns ``None`` if it cannot."""

    def estimate(self, call: LLMCallInfo) -> DomainEnergy | None: ...


def is_hosted_provider(provider: str | None) -> bool:
    """True when ``provider`` (an ``ls_provider`` value) is a hosted API."""
    return bool(provider) and provider.lower() in HOSTED_PROVIDERS  # type: ignore[union-attr]


def _as_estimator(obj: Any) -> CallEnergyEstimator | None:
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "estimate")):
        obj = obj()
    return obj if hasattr(obj, "estimate") and callable(obj.estimate) else None


@functools.lru_cache(maxsize=1)
def load_entry_point_estimators() -> tuple[CallEnergyEstimator, ...]:
    """Estimators registered under :data:`ENTRY_POINT_GROUP` (loaded once per process).

    A broken entry point is logged and skipped, never raised.
    """
    from importlib.metadata import entry_points

    found: list[CallEnergyEstimator] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            estimator = _as_estimator(ep.load())
        except Exception:
            logger.warning("could not load call-energy estimator %r", ep.name, exc_info=True)
            continue
        if estimator is None:
            logger.warning("entry point %r is not a CallEnergyEstimator (no .estimate)", ep.name)
            continue
        found.append(estimator)
    return tuple(found)


def resolve_estimators(spec: Any) -> tuple[CallEnergyEstimator, ...]:
    """``"auto"`` -> entry points; ``None`` -> none; a sequence -> validated estimators."""
    if spec is None:
        return ()
    if isinstance(spec, str):
        if spec != "auto":
            raise ValueError(
                f'estimators must be "auto", None or a list of estimators, got {spec!r}'
            )
        return load_entry_point_estimators()
    out: list[CallEnergyEstimator] = []
    for item in spec:
        if not (hasattr(item, "estimate") and callable(item.estimate)):
            raise TypeError(
                f"estimators must have an .estimate(call) method, got {type(item).__name__}"
            )
        out.append(item)
    return tuple(out)
