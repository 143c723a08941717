"""The energy handler picks the EcoLogits estimator up through its entry point."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.meters import FakeMeterBackend


class FakeHostedChat(GenericFakeChatModel):
    """A fake chat model that presents itself to LangChain as OpenAI's gpt-4o-mini."""

    def _get_ls_params(self, stop: Any = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai"
        params["ls_model_name"] = "gpt-4o-mini"
        return params


def test_handler_auto_estimators_use_ecologits_for_hosted_calls() -> None:
    try:
        from green_chain.callbacks import EnergyCallbackHandler
    except ImportError as exc:
        pytest.skip(f"green_chain.callbacks.EnergyCallbackHandler not available yet: {exc}")
    from green_chain.callbacks.estimators import load_entry_point_estimators

    load_entry_point_estimators.cache_clear()
    message = AIMessage(
        content="A short hosted answer.",
        usage_metadata={"input_tokens": 40, "output_tokens": 150, "total_tokens": 190},
        response_metadata={"model_name": "gpt-4o-mini"},
    )
    model = FakeHostedChat(messages=iter([message]))
    handler = EnergyCallbackHandler(
        monitor=EnergyMonitor([FakeMeterBackend(["cpu:fake"])]), estimators="auto"
    )
    model.invoke("hello", config={"callbacks": [handler]})
    records = [r for r in handler.records() if r["run_type"] == "chat_model"]
    assert len(records) == 1
    record = records[0]
    assert record["api_energy_sources"] == ["estimate:ecologits"]
    assert record["api_energy_kind"] == "estimated"
    assert record["api_energy_j"] is not None and record["api_energy_j"] > 0
    assert "api:openai" in record["api_domains"]
