"""Energy of hosted chat-model calls, estimated with EcoLogits.

EcoLogits (https://ecologits.ai) models a provider's GPU server from the
model's (active and total) parameter count, the number of generated tokens and
the request latency, and multiplies by the provider's data-centre PUE. Its model
repository (parameter counts, ranges for unpublished architectures) ships inside
the ``ecologits`` package: no network access is needed.

The figure is a range (min-max) because parameter counts and PUE are often
ranges; :class:`EcoLogitsEstimator` reports the midpoint as ``energy_j`` and
half the range as ``uncertainty_j``, kind ``estimated``, source
``estimate:ecologits``.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from green_chain.callbacks.estimators import LLMCallInfo
from green_chain.energy.measurement import DomainEnergy

try:
    from ecologits.model_repository import models as _ecologits_models
    from ecologits.tracers.utils import llm_impacts as _llm_impacts
except ImportError as exc:  # pragma: no cover - exercised only without the dependency
    raise ImportError(
        "green_chain_ecologits needs the 'ecologits' package: "
        'pip install "green-chain-ecologits" (or pip install ecologits)'
    ) from exc

logger = logging.getLogger(__name__)

SOURCE = "estimate:ecologits"
_J_PER_KWH = 3.6e6

#: LangChain ``ls_provider`` values -> EcoLogits provider names.
PROVIDER_ALIASES: dict[str, str] = {
    "openai": "openai",
    "azure": "openai",
    "azure_openai": "openai",
    "anthropic": "anthropic",
    "google_anthropic_vertex": "anthropic",
    "mistralai": "mistralai",
    "mistral": "mistralai",
    "cohere": "cohere",
    "google_genai": "google_genai",
    "google_vertexai": "google_genai",
    "vertexai": "google_genai",
    "google": "google_genai",
    "gemini": "google_genai",
    "huggingface": "huggingface_hub",
    "huggingface_hub": "huggingface_hub",
    "meta": "huggingface_hub",
}
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_BEDROCK_SUFFIX = re.compile(r"-v\d+(:\d+)?$")


@dataclass(frozen=True)
class EcoLogitsEstimate:
    """One call's EcoLogits estimate.

    Attributes:
        provider: Provider of the call as given (``ls_provider``).
        ecologits_provider: Provider of the EcoLogits model entry used.
        ecologits_model: Model name of the EcoLogits entry used.
        energy_min_j: Lower bound of the request energy in joules (PUE included).
        energy_max_j: Upper bound in joules.
        gwp_min_kg / gwp_max_kg: Global-warming potential range in kg CO2e
            (usage + embodied, EcoLogits' electricity mix of the provider's zone).
        warnings: EcoLogits warning codes (e.g. ``model-arch-not-released``).
    """

    provider: str
    ecologits_provider: str
    ecologits_model: str
    energy_min_j: float
    energy_max_j: float
    gwp_min_kg: float | None = None
    gwp_max_kg: float | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def energy_j(self) -> float:
        """Midpoint of the range in joules."""
        return (self.energy_min_j + self.energy_max_j) / 2.0

    @property
    def uncertainty_j(self) -> float:
        """Half the range in joules."""
        return (self.energy_max_j - self.energy_min_j) / 2.0

    def to_domain_energy(self) -> DomainEnergy:
        """As a ``api:<provider>`` :class:`DomainEnergy` (kind ``estimated``)."""
        note = f"EcoLogits range {self.energy_min_j:.4g}-{self.energy_max_j:.4g} J"
        note += f" for {self.ecologits_provider}/{self.ecologits_model}"
        if self.warnings:
            note += f" ({', '.join(self.warnings)})"
        return DomainEnergy(
            domain=f"api:{self.provider}",
            source=SOURCE,
            kind="estimated",
            energy_j=self.energy_j,
            uncertainty_j=self.uncertainty_j,
            reason=note,
        )


def _bounds(value: Any) -> tuple[float, float]:
    """(min, max) of an EcoLogits ``float | RangeValue``."""
    if hasattr(value, "min") and hasattr(value, "max"):
        return float(value.min), float(value.max)
    return float(value), float(value)


def _candidate_names(model_name: str) -> list[str]:
    """Spellings to look up: as given, without a vendor prefix, a Bedrock or date suffix."""
    names = [model_name]
    for sep in ("/", "."):
        if sep in model_name and not model_name[0].isdigit():
            head, tail = model_name.split(sep, 1)
            if head.replace("-", "").isalpha() and tail:
                names.append(tail)
    for name in list(names):
        for pattern in (_BEDROCK_SUFFIX, _DATE_SUFFIX):
            stripped = pattern.sub("", name)
            if stripped != name:
                names.append(stripped)
                names.append(_DATE_SUFFIX.sub("", stripped))
    return list(dict.fromkeys(names))


class EcoLogitsEstimator:
    """A :class:`~green_chain.callbacks.estimators.CallEnergyEstimator` backed by EcoLogits.

    Registered under the entry-point group ``green_chain.call_estimators``, so
    ``EnergyCallbackHandler(estimators="auto")`` (the default) uses it for every
    hosted-API model call once this package is installed.

    Args:
        electricity_mix_zone: ISO 3166-1 alpha-3 zone for the GWP figures
            (default: the provider's data-centre zone in EcoLogits). Energy does
            not depend on it.
    """

    def __init__(self, *, electricity_mix_zone: str | None = None) -> None:
        self.electricity_mix_zone = electricity_mix_zone

    def resolve_model(self, provider: str, model_name: str) -> tuple[str, str] | None:
        """The EcoLogits ``(provider, model)`` entry for a call, or ``None`` if unknown.

        Tries the provider's alias (``azure`` -> ``openai``), then the model name
        without a vendor prefix (``openai/gpt-4o``, ``anthropic.claude-...``) or a
        Bedrock/date suffix, then a unique case-insensitive name match across all
        EcoLogits providers (for hosts of open models such as Together or Groq).
        """
        prov = provider.lower()
        names = _candidate_names(model_name)
        providers: list[str] = []
        if prov in PROVIDER_ALIASES:
            providers.append(PROVIDER_ALIASES[prov])
        for sep in ("/", "."):
            head = model_name.split(sep, 1)[0].lower() if sep in model_name else ""
            if head in PROVIDER_ALIASES:
                providers.append(PROVIDER_ALIASES[head])
        for eco_provider in dict.fromkeys(providers):
            for name in names:
                if _ecologits_models.find_model(provider=eco_provider, model_name=name):
                    return eco_provider, name
        lowered = {n.lower() for n in names}
        matches = {
            (m.provider.value, m.name)
            for m in _ecologits_models.list_models()
            if m.name.lower() in lowered
        }
        if len(matches) == 1:
            return matches.pop()
        return None

    def estimate_range(self, call: LLMCallInfo) -> EcoLogitsEstimate | None:
        """The full estimate (range, GWP, warnings) or ``None`` when it cannot be made.

        ``None`` when the model is unknown to EcoLogits, or the call has no
        model name or no completion-token count (EcoLogits models generation).
        An unknown latency lets EcoLogits use its modelled generation time.
        """
        if not call.model_name or call.completion_tokens is None:
            return None
        if call.completion_tokens < 0:
            raise ValueError(f"completion_tokens must be >= 0, got {call.completion_tokens}")
        resolved = self.resolve_model(call.provider or "", call.model_name)
        if resolved is None:
            logger.debug(
                "EcoLogits has no model %r for provider %r", call.model_name, call.provider
            )
            return None
        eco_provider, eco_model = resolved
        latency_s = call.duration_s if call.duration_s and call.duration_s > 0 else math.inf
        impacts = _llm_impacts(
            provider=eco_provider,
            model_name=eco_model,
            output_token_count=int(call.completion_tokens),
            request_latency=float(latency_s),
            electricity_mix_zone=self.electricity_mix_zone,
        )
        if impacts.energy is None:
            errors = [str(e) for e in impacts.errors or []]
            logger.debug("EcoLogits could not estimate %s/%s: %s", eco_provider, eco_model, errors)
            return None
        e_min_kwh, e_max_kwh = _bounds(impacts.energy.value)
        gwp = _bounds(impacts.gwp.value) if impacts.gwp is not None else (None, None)
        return EcoLogitsEstimate(
            provider=call.provider,
            ecologits_provider=eco_provider,
            ecologits_model=eco_model,
            energy_min_j=e_min_kwh * _J_PER_KWH,
            energy_max_j=e_max_kwh * _J_PER_KWH,
            gwp_min_kg=gwp[0],
            gwp_max_kg=gwp[1],
            warnings=tuple(w.code for w in impacts.warnings or []),
        )

    def estimate(self, call: LLMCallInfo) -> DomainEnergy | None:
        """Energy of one hosted call as an ``api:<provider>`` domain, or ``None``."""
        result = self.estimate_range(call)
        return None if result is None else result.to_domain_energy()

    def __repr__(self) -> str:
        return f"EcoLogitsEstimator(electricity_mix_zone={self.electricity_mix_zone!r})"
