"""RoutedChatModel as a LangChain chat model: standard params, tracing params, media input."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from pydantic import ValidationError
from routing_fakes import FakeModel, FixedScorer, Recorder

from green_chain.events import ROUTING_DECISION_EVENT
from green_chain.routing import RoutedChatModel
from green_chain.routing.chat_model import MEDIA_ONLY_REASON

IMAGE = {"type": "image", "base64": "iVBORw0KGgo=", "mime_type": "image/png"}


def _router(**kwargs: Any) -> tuple[RoutedChatModel, FakeModel, FakeModel]:
    cheap, large = FakeModel(model_name="small"), FakeModel(model_name="large")
    router = RoutedChatModel(
        models=[cheap, large], scorer=FixedScorer(0.9), threshold=0.5, **kwargs
    )
    return router, cheap, large


def test_standard_constructor_params_reach_the_candidates() -> None:
    router, cheap, _ = _router(temperature=0.0, max_tokens=7, stop=["\n\n"], timeout=30)
    router.invoke("hello")
    call = cheap.calls[-1]
    assert call["kwargs"]["temperature"] == 0.0 and call["kwargs"]["max_tokens"] == 7
    assert call["kwargs"]["timeout"] == 30 and call["stop"] == ["\n\n"]
    router.invoke("hello", max_tokens=3, stop=["x"])  # per call wins
    assert cheap.calls[-1]["kwargs"]["max_tokens"] == 3 and cheap.calls[-1]["stop"] == ["x"]
    plain, cheap2, _ = _router()
    plain.invoke("hello")
    assert cheap2.calls[-1]["kwargs"] == {} and cheap2.calls[-1]["stop"] is None
    with pytest.raises(ValidationError, match="frobnicate"):
        _router(frobnicate=1)


def test_max_retries_retries_a_failing_candidate() -> None:
    class Flaky(FakeModel):
        failures: int = 1

        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("transient")
            return super()._generate(*args, **kwargs)

    flaky = Flaky(model_name="small")
    large = FakeModel(model_name="large")
    router = RoutedChatModel(
        models=[flaky, large], scorer=FixedScorer(0.9), threshold=0.5, max_retries=1
    )
    assert router.invoke("hi").content == "small answer"
    no_retry = RoutedChatModel(models=[Flaky(model_name="small"), large], scorer=FixedScorer(0.9))
    with pytest.raises(RuntimeError, match="transient"):
        no_retry.invoke("hi")


def test_ls_params_name_the_model_and_a_provider() -> None:
    router, _, _ = _router(max_tokens=5)
    ls = router._get_ls_params()
    assert ls["ls_model_name"] == "routed(small, large)"
    assert ls["ls_provider"] == "fakemodel" and ls["ls_model_type"] == "chat"  # shared one
    assert ls["ls_max_tokens"] == 5

    class OtherFake(FakeModel):
        pass

    mixed = RoutedChatModel(
        models=[FakeModel(model_name="a"), OtherFake(model_name="b")], scorer=FixedScorer(0.9)
    )
    assert mixed._get_ls_params()["ls_provider"] == "green_chain"
    assert router._get_ls_params(model="large")["ls_model_name"] == "large"
    assert router._get_ls_params(route_to="small")["ls_model_name"] == "small"


def test_per_call_model_forces_the_candidate() -> None:
    router, cheap, large = _router()
    out = router.invoke("hello", model="large")
    assert out.content == "large answer" and not cheap.calls
    assert "model" not in large.calls[-1]["kwargs"]


def test_image_only_message_goes_to_the_largest_with_a_reason() -> None:
    router, cheap, large = _router()
    rec = Recorder()
    out = router.invoke([HumanMessage(content=[IMAGE])], config={"callbacks": [rec]})
    routing = out.response_metadata["routing"]
    assert routing["chosen_model"] == "large" and routing["reason"] == MEDIA_ONLY_REASON
    assert len(large.calls) == 1 and not cheap.calls
    assert [d["reason"] for n, d, _ in rec.events if n == ROUTING_DECISION_EVENT] == [
        MEDIA_ONLY_REASON
    ]
    streamed = list(router.stream([HumanMessage(content=[IMAGE])]))
    assert streamed[0].response_metadata["routing"]["reason"] == MEDIA_ONLY_REASON


async def test_image_only_message_async() -> None:
    router, _, large = _router()
    out = await router.ainvoke([HumanMessage(content=[IMAGE])])
    assert out.response_metadata["routing"]["chosen_model"] == "large"
    assert len(large.calls) == 1


def test_structured_output_under_a_cascade_without_include_raw() -> None:
    import math

    from pydantic import BaseModel

    from green_chain.routing import CascadeScorer

    class Answer(BaseModel):
        text: str

    cheap = FakeModel(model_name="small", logprob=math.log(0.9))
    large = FakeModel(model_name="large")
    router = RoutedChatModel(models=[cheap, large], scorer=CascadeScorer(), threshold=0.5)
    # the cascade reads the cheap answer's raw message; the caller still gets only `parsed`
    assert router.with_structured_output(Answer).invoke("hi") == {
        "model": "small",
        "schema": "Answer",
    }
    raw = router.with_structured_output(Answer, include_raw=True).invoke("hi")
    assert raw["parsed"]["model"] == "small" and raw["parsing_error"] is None
