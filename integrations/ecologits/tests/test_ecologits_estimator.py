"""EcoLogitsEstimator: offline energy estimates for hosted chat-model calls."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest
from green_chain_ecologits import EcoLogitsEstimator

from green_chain.callbacks.estimators import (
    ENTRY_POINT_GROUP,
    CallEnergyEstimator,
    LLMCallInfo,
    load_entry_point_estimators,
)


def call(
    provider: str = "openai",
    model: str | None = "gpt-4o-mini",
    completion: int | None = 200,
    duration_s: float | None = 3.0,
) -> LLMCallInfo:
    return LLMCallInfo(
        provider=provider,
        model_name=model,
        prompt_tokens=900,
        completion_tokens=completion,
        duration_s=duration_s,
    )


def test_estimate_is_an_estimated_api_domain_with_range() -> None:
    estimator = EcoLogitsEstimator()
    assert isinstance(estimator, CallEnergyEstimator)
    result = estimator.estimate_range(call())
    assert result is not None
    assert 0 < result.energy_min_j < result.energy_max_j
    # a 200-token answer of a small hosted model: joules to a few hundred joules
    assert 1.0 < result.energy_j < 1000.0
    energy = estimator.estimate(call())
    assert energy is not None
    assert energy.domain == "api:openai"
    assert energy.source == "estimate:ecologits"
    assert energy.kind == "estimated"
    assert energy.energy_j == pytest.approx((result.energy_min_j + result.energy_max_j) / 2)
    assert energy.uncertainty_j == pytest.approx((result.energy_max_j - result.energy_min_j) / 2)
    assert "EcoLogits range" in (energy.reason or "")
    assert "model-arch-not-released" in result.warnings


def test_energy_grows_with_output_tokens_and_model_size() -> None:
    est = EcoLogitsEstimator()
    short = est.estimate(call(completion=50, duration_s=None))
    long = est.estimate(call(completion=500, duration_s=None))
    assert short is not None and long is not None
    assert long.energy_j > 5 * short.energy_j  # type: ignore[operator]
    small = est.estimate(call("together", "meta-llama/Meta-Llama-3.1-8B-Instruct", 300, None))
    large = est.estimate(call("together", "meta-llama/Meta-Llama-3.1-70B-Instruct", 300, None))
    assert small is not None and large is not None
    assert small.domain == "api:together"
    assert large.energy_j > small.energy_j  # type: ignore[operator]


def test_shorter_latency_caps_generation_time() -> None:
    est = EcoLogitsEstimator()
    fast = est.estimate_range(call(duration_s=0.2))
    modelled = est.estimate_range(call(duration_s=None))
    assert fast is not None and modelled is not None
    assert fast.energy_max_j < modelled.energy_max_j


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("azure", "gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("openrouter", "openai/gpt-4o-mini", ("openai", "gpt-4o-mini")),
        (
            "bedrock",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            ("anthropic", "claude-sonnet-4-5-20250929"),
        ),
        ("anthropic", "claude-sonnet-4-6-20260101", ("anthropic", "claude-sonnet-4-6")),
        ("google_vertexai", "gemini-2.5-flash", ("google_genai", "gemini-2.5-flash")),
        ("mistralai", "mistral-small-latest", ("mistralai", "mistral-small-latest")),
    ],
)
def test_provider_and_model_name_resolution(
    provider: str, model: str, expected: tuple[str, str]
) -> None:
    assert EcoLogitsEstimator().resolve_model(provider, model) == expected
    energy = EcoLogitsEstimator().estimate(call(provider, model))
    assert energy is not None and energy.domain == f"api:{provider}"


@pytest.mark.parametrize(
    "info",
    [
        call(model="no-such-model-xyz"),
        call(model=None),
        call(completion=None),
        call(provider="groq", model="llama-3.1-8b-instant"),
    ],
)
def test_no_estimate_when_it_cannot_be_made(info: LLMCallInfo) -> None:
    assert EcoLogitsEstimator().estimate(info) is None


def test_negative_tokens_are_rejected() -> None:
    with pytest.raises(ValueError, match="completion_tokens"):
        EcoLogitsEstimator().estimate(call(completion=-1))


def test_registered_as_call_estimator_entry_point() -> None:
    names = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert names.get("ecologits") == "green_chain_ecologits:EcoLogitsEstimator"
    load_entry_point_estimators.cache_clear()
    try:
        loaded = load_entry_point_estimators()
    finally:
        load_entry_point_estimators.cache_clear()
    assert any(isinstance(e, EcoLogitsEstimator) for e in loaded)


def test_import_and_estimate_make_no_network_access() -> None:
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from green_chain.callbacks.estimators import LLMCallInfo
        from green_chain_ecologits import EcoLogitsEstimator
        e = EcoLogitsEstimator().estimate(LLMCallInfo("anthropic", "claude-sonnet-4-6", 10, 120, 2.0))
        assert e is not None and e.energy_j > 0, e
        print("offline-ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "offline-ok" in done.stdout
