"""Hosted-API estimates: a separate `api:<provider>` domain, never summed with local energy."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from green_chain.callbacks import HOSTED_PROVIDERS, LLMCallInfo
from green_chain.callbacks import estimators as est
from green_chain.energy.measurement import DomainEnergy
from green_chain.testing.models import ScriptedChatModel, ai_message


class PerTokenEstimator:
    def __init__(self) -> None:
        self.calls: list[LLMCallInfo] = []

    def estimate(self, call: LLMCallInfo) -> DomainEnergy | None:
        self.calls.append(call)
        tokens = (call.prompt_tokens or 0) + (call.completion_tokens or 0)
        return DomainEnergy(
            "api", "estimate:per-token", "estimated", 0.5 * tokens, uncertainty_j=0.25 * tokens
        )


def _call(metered, provider: str) -> dict:
    model = ScriptedChatModel(
        responses=[ai_message("hi", input_tokens=10, output_tokens=4)],
        provider=provider,
        model_name="gpt-test",
        on_call=lambda _m: metered.work(1.0, 0.3),
    )
    model.invoke("hello", config={"callbacks": [metered.handler]})
    return metered.records(run_type="chat_model")[0]


def test_hosted_call_gets_api_domain(metered_factory):
    estimator = PerTokenEstimator()
    m = metered_factory(estimators=[estimator])
    rec = _call(m, "openai")
    assert estimator.calls == [LLMCallInfo("openai", "gpt-test", 10, 4, pytest.approx(0.3))]
    assert rec["api_energy_j"] == pytest.approx(7.0)
    assert rec["api_energy_kind"] == "estimated"
    assert rec["api_energy_sources"] == ["estimate:per-token"]
    assert rec["api_domains"]["api:openai"]["uncertainty_j"] == pytest.approx(3.5)
    assert rec["energy_j"] == pytest.approx(1.0)  # local figure untouched
    assert "api:openai" not in rec["domains"]
    assert "openai" in HOSTED_PROVIDERS


def test_local_provider_is_not_estimated(metered_factory):
    estimator = PerTokenEstimator()
    m = metered_factory(estimators=[estimator])
    rec = _call(m, "scripted")
    assert estimator.calls == [] and rec["api_energy_j"] is None


def test_failing_estimator_is_logged(metered_factory, caplog):
    class Broken:
        def estimate(self, call):
            raise RuntimeError("no such model")

    m = metered_factory(estimators=[Broken()])
    rec = _call(m, "anthropic")
    assert rec["api_energy_j"] is None and "no such model" in caplog.text


def test_auto_loads_entry_points(monkeypatch):
    ep = EntryPoint("fake", "tests_estimator_module:PerToken", est.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        "importlib.metadata.entry_points",
        lambda group: [ep] if group == est.ENTRY_POINT_GROUP else [],
    )
    monkeypatch.setattr(EntryPoint, "load", lambda self: PerTokenEstimator)
    est.load_entry_point_estimators.cache_clear()
    try:
        found = est.resolve_estimators("auto")
    finally:
        est.load_entry_point_estimators.cache_clear()
    assert len(found) == 1 and isinstance(found[0], PerTokenEstimator)


def test_bad_estimator_is_named():
    with pytest.raises(TypeError, match="estimate"):
        est.resolve_estimators([object()])
