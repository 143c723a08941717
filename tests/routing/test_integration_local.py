"""RoutedChatModel over the packaged local models (one short call each)."""

from __future__ import annotations

import pytest

from green_chain.routing import CascadeScorer, RoutedChatModel


@pytest.mark.integration
def test_cascade_over_packaged_models_uses_real_logprobs() -> None:
    pytest.importorskip("torch")
    from green_chain.models import ChatLocal

    cheap = ChatLocal(model="smollm2-135m-instruct", max_new_tokens=4)
    large = ChatLocal(model="gemma3-270m", max_new_tokens=4)
    keep = RoutedChatModel(models=[cheap, large], scorer=CascadeScorer(), threshold=0.0)
    out = keep.invoke("The capital of France is")
    routing = out.response_metadata["routing"]
    assert routing["chosen_model"] == "smollm2-135m-instruct"
    assert 0.0 < routing["scores"][0] <= 1.0  # exp(mean token log-prob) of the real answer
    assert out.usage_metadata is not None and out.usage_metadata["output_tokens"] >= 1
    escalate = RoutedChatModel(models=[cheap, large], scorer=CascadeScorer(), threshold=1.0)
    out = escalate.invoke("The capital of France is")
    assert out.response_metadata["routing"]["chosen_model"] == "gemma3-270m"
    assert out.response_metadata["routing"]["cascade_calls"] == ["smollm2-135m-instruct"]
