"""ResponseBudget on a fake OpenAI-style model, an Anthropic-style one and ChatLocal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from budget_fakes import WordEmbeddings
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.events import RESPONSE_BUDGET_EVENT
from green_chain.response import (
    CONCISE_INSTRUCTION,
    NearestNeighbourBudget,
    ResponseBudget,
    cap_parameter,
    supports_repeat_stop,
)
from green_chain.testing import FakeClock, FakeMeterBackend, FakeOpenAIChatModel

TEN = "one two three four five six seven eight nine ten"


@pytest.fixture
def handler() -> EnergyCallbackHandler:
    """A handler metering a fake meter on a fake clock."""
    monitor = EnergyMonitor([FakeMeterBackend(["cpu"])], clock=FakeClock(start_s=10.0))
    return EnergyCallbackHandler(monitor, estimators=None)


def model_records(handler: EnergyCallbackHandler) -> list[dict[str, Any]]:
    return [r for r in handler.records() if r["run_type"] == "chat_model"]


def test_binds_max_tokens_and_records_the_event_with_the_call(
    handler: EnergyCallbackHandler,
) -> None:
    model = FakeOpenAIChatModel(answers=[TEN])
    budget = ResponseBudget(model, {"short": 4, "long": 20})
    out = budget.invoke("count", task="short", config={"callbacks": [handler]})
    assert out.content == "one two three four"
    assert model.calls[-1]["max_tokens"] == 4
    meta = out.response_metadata["response_budget"]
    assert meta["budget_tokens"] == 4 and meta["parameter"] == "max_tokens"
    assert meta["hit_budget"] is True and meta["finish_reason"] == "length"
    (call,) = model_records(handler)
    assert call["response_budget"]["hit_budget"] is True
    assert call["response_budget"]["completion_tokens"] == 4
    assert call["completion_tokens"] == 4
    chain = [r for r in handler.records() if r["name"] == "ResponseBudget"]
    assert chain and chain[0]["run_id"] == call["parent_run_id"]

    out = budget.invoke("count", config={"configurable": {"task": "long"}, "callbacks": [handler]})
    assert out.content == TEN
    assert out.response_metadata["response_budget"]["hit_budget"] is False
    assert model_records(handler)[-1]["response_budget"]["budget_tokens"] == 20


def test_no_budget_without_prediction_and_plain_call_without_handler() -> None:
    model = FakeOpenAIChatModel(answers=[TEN])
    out = ResponseBudget(model, {"short": 4}).invoke([HumanMessage("count")])
    assert out.content == TEN
    assert model.calls[-1]["max_tokens"] is None
    assert out.response_metadata["response_budget"]["hit_budget"] is None


def test_retry_once_with_a_larger_budget(handler: EnergyCallbackHandler) -> None:
    model = FakeOpenAIChatModel(answers=[TEN])
    budget = ResponseBudget(model, 3, retry=True, retry_factor=3.0, max_budget=8)
    out = budget.invoke("count", config={"callbacks": [handler]})
    assert [c["max_tokens"] for c in model.calls] == [3, 8]  # 9 capped at max_budget
    assert out.content == "one two three four five six seven eight"
    first, second = (r["response_budget"] for r in model_records(handler))
    assert (first["attempt"], first["hit_budget"], first["retry_budget_tokens"]) == (1, True, 8)
    assert (second["attempt"], second["budget_tokens"]) == (2, 8)
    assert second["retry_budget_tokens"] is None  # only one retry, even when cut again
    assert out.response_metadata["response_budget"]["attempt"] == 2


def test_no_retry_when_the_answer_fit() -> None:
    model = FakeOpenAIChatModel(answers=["short answer"])
    ResponseBudget(model, 5, retry=True).invoke("q")
    assert len(model.calls) == 1


def test_stop_sequences_and_concise_instruction() -> None:
    model = FakeOpenAIChatModel(answers=["yes. and then a long story"])
    out = ResponseBudget(model, 20, stop=["."], concise=True).invoke(
        [SystemMessage("You are helpful."), HumanMessage("ok?")]
    )
    assert out.content == "yes"
    call = model.calls[-1]
    assert call["stop"] == ["."]
    system = call["messages"][0]
    assert system.content == f"You are helpful.\n{CONCISE_INSTRUCTION}"
    assert out.response_metadata["response_budget"]["concise"] is True
    ResponseBudget(model, 20, concise="Be brief.").invoke("hi")
    assert model.calls[-1]["messages"][0].content == "Be brief."


def test_reasoning_effort_only_for_models_that_use_it() -> None:
    plain = FakeOpenAIChatModel(answers=[TEN])
    ResponseBudget(plain, 5, reasoning_effort="low").invoke("q")
    assert plain.calls[-1]["reasoning_effort"] is None
    reasoning = FakeOpenAIChatModel(answers=[TEN], reasoning_effort="high")
    out = ResponseBudget(reasoning, 5, reasoning_effort="low").invoke("q")
    assert reasoning.calls[-1]["reasoning_effort"] == "low"
    assert out.response_metadata["response_budget"]["bound"] == {
        "max_tokens": 5,
        "reasoning_effort": "low",
    }


class FakeAnthropic(FakeOpenAIChatModel):
    """Anthropic-style: a ``thinking`` field and ``stop_reason == "max_tokens"``."""

    thinking: dict[str, Any] | None = None
    seen: list[dict[str, Any]] = []

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kwargs: Any) -> ChatResult:
        self.seen.append(dict(kwargs))
        cap = kwargs.get("max_tokens")
        words = TEN.split()
        reason = "max_tokens" if cap is not None and cap < len(words) else "end_turn"
        msg = AIMessage(" ".join(words[:cap]), response_metadata={"stop_reason": reason})
        return ChatResult(generations=[ChatGeneration(message=msg)])


def test_anthropic_thinking_budget_only_when_enabled() -> None:
    off = FakeAnthropic(answers=[TEN], seen=[])
    out = ResponseBudget(off, 4, thinking_budget_tokens=1024).invoke("q")
    assert off.seen[-1] == {"max_tokens": 4}
    assert out.response_metadata["response_budget"]["hit_budget"] is True
    on = FakeAnthropic(answers=[TEN], thinking={"type": "enabled", "budget_tokens": 4000}, seen=[])
    ResponseBudget(on, 300, thinking_budget_tokens=1024).invoke("q")
    assert on.seen[-1] == {
        "max_tokens": 1324,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }


def test_learns_uncut_lengths_and_predicts_them() -> None:
    emb = WordEmbeddings(["classify", "explain", "review", "rome"])
    predictor = NearestNeighbourBudget(emb, k=2, quantile=1.0, min_examples=2, default=50)
    model = FakeOpenAIChatModel(answers=["positive", "rome was founded long ago by twins"])
    budget = ResponseBudget(model, predictor, learn=True)
    budget.invoke("classify review")
    budget.invoke("explain rome")
    assert len(predictor) == 2
    model_short = FakeOpenAIChatModel(answers=[TEN])
    out = ResponseBudget(model_short, predictor).invoke("classify this review")
    assert model_short.calls[-1]["max_tokens"] == 7  # neighbours 1 and 7, q=1.0
    assert out.response_metadata["response_budget"]["source"] == "knn"


def test_failing_predictor_binds_nothing() -> None:
    class Broken:
        def predict(self, messages: Any, task: Any = None) -> Any:
            raise RuntimeError("boom")

    model = FakeOpenAIChatModel(answers=[TEN])
    out = ResponseBudget(model, Broken()).invoke("q")  # type: ignore[arg-type]
    assert out.content == TEN
    assert "boom" in out.response_metadata["response_budget"]["prediction"]["error"]


def test_async_and_bind_tools(handler: EnergyCallbackHandler) -> None:
    model = FakeOpenAIChatModel(answers=[TEN])
    out = asyncio.run(ResponseBudget(model, 2, retry=True).ainvoke("q", {"callbacks": [handler]}))
    assert [c["max_tokens"] for c in model.calls] == [2, 4]
    assert [r["response_budget"]["attempt"] for r in model_records(handler)] == [1, 2]
    assert out.response_metadata["response_budget"]["attempt"] == 2

    from green_chain.testing import ScriptedChatModel

    scripted = ScriptedChatModel(responses=["done"])
    bound = ResponseBudget(scripted, 3).bind_tools([{"name": "f", "description": "d"}])
    assert isinstance(bound, ResponseBudget) and scripted.bound_tool_names == ["f"]
    assert cap_parameter(bound.model) == "max_tokens"
    assert bound.invoke("q").content == "done"


def test_event_is_dispatched_by_name(handler: EnergyCallbackHandler) -> None:
    seen: list[str] = []

    class Listener(EnergyCallbackHandler):
        def on_custom_event(self, name: str, data: Any, **kw: Any) -> None:
            seen.append(name)

    ResponseBudget(FakeOpenAIChatModel(answers=[TEN]), 3).invoke(
        "q", config={"callbacks": [Listener(estimators=None)]}
    )
    assert seen == [RESPONSE_BUDGET_EVENT]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"retry_factor": 1.0}, "retry_factor"),
        ({"max_budget": 0}, "max_budget"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"thinking_budget_tokens": 0}, "thinking_budget_tokens"),
        ({"stop": "."}, "stop"),
        ({"concise": " "}, "concise"),
        ({"stop_on_repeat": "yes"}, "stop_on_repeat"),
    ],
)
def test_bad_options_name_the_argument(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ResponseBudget(FakeOpenAIChatModel(answers=[TEN]), 5, **kwargs)


def test_bad_model_and_predictor() -> None:
    with pytest.raises(TypeError, match="model"):
        ResponseBudget("gpt", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="predictor"):
        ResponseBudget(FakeOpenAIChatModel(answers=[TEN]), 2.5)  # type: ignore[arg-type]


def test_chat_local_tiny_reports_length_at_the_cap(
    tiny_folder: Path, handler: EnergyCallbackHandler
) -> None:
    from green_chain.models import ChatLocal

    chat = ChatLocal(model=str(tiny_folder), max_new_tokens=32)
    assert cap_parameter(chat) == "max_tokens"  # the langchain-core standard field
    out = ResponseBudget(chat, 3).invoke("the cat", config={"callbacks": [handler]})
    meta = out.response_metadata
    assert out.usage_metadata is not None and out.usage_metadata["output_tokens"] <= 3
    if meta["finish_reason"] == "length":
        assert out.usage_metadata["output_tokens"] == 3
        assert meta["response_budget"]["hit_budget"] is True
    (call,) = model_records(handler)
    assert call["response_budget"]["bound"] == {"max_tokens": 3}


@pytest.mark.integration
def test_chat_local_packaged_model_hits_a_small_budget(handler: EnergyCallbackHandler) -> None:
    import torch

    torch.set_num_threads(1)
    from green_chain.models import ChatLocal

    chat = ChatLocal(model="smollm2-135m-instruct", max_new_tokens=64)
    out = ResponseBudget(chat, 4).invoke(
        "Describe the history of Rome in detail.", config={"callbacks": [handler]}
    )
    assert out.response_metadata["finish_reason"] == "length"
    assert out.usage_metadata is not None and out.usage_metadata["output_tokens"] == 4
    (call,) = model_records(handler)
    assert call["response_budget"]["hit_budget"] is True
    assert call["completion_tokens"] == 4


def test_repeat_stop_is_not_bound_on_models_without_one() -> None:
    model = FakeOpenAIChatModel(answers=[TEN])
    assert not supports_repeat_stop(model)
    out = ResponseBudget(model, 20, stop_on_repeat=True).invoke("count")
    assert "stop_on_repeat" not in model.calls[-1]
    assert out.response_metadata["response_budget"]["stop_on_repeat"] == "unsupported"
    plain = ResponseBudget(model, 20).invoke("count")
    assert plain.response_metadata["response_budget"]["stop_on_repeat"] is None


def test_repeat_stop_ends_a_looping_chat_local_answer_and_is_recorded(
    looping_folder: Path, handler: EnergyCallbackHandler
) -> None:
    from green_chain.models import ChatLocal
    from tests.conftest import LOOP_LINE

    chat = ChatLocal(model=str(looping_folder), max_tokens=64)
    assert supports_repeat_stop(chat) and supports_repeat_stop(chat.bind(temperature=0.0))
    looped = ResponseBudget(chat, 48).invoke("count")
    assert looped.usage_metadata is not None and looped.usage_metadata["output_tokens"] == 48
    budget = ResponseBudget(chat, 48, stop_on_repeat=True, retry=True)
    out = budget.invoke("count", config={"callbacks": [handler]})
    assert out.content == LOOP_LINE
    assert out.usage_metadata is not None
    assert out.usage_metadata["output_tokens"] == 2 * (len(LOOP_LINE) + 1)
    (call,) = model_records(handler)  # a repeat is no cut at the budget: no retry
    event = call["response_budget"]
    assert event["bound"] == {"max_tokens": 48, "stop_on_repeat": True}
    assert event["finish_reason"] == "repeat" and event["stop_on_repeat"] is True
    assert event["hit_budget"] is False and event["retry_budget_tokens"] is None


def test_repeat_stop_through_a_router_of_chat_local_models(looping_folder: Path) -> None:
    from green_chain.models import ChatLocal
    from green_chain.routing import HeuristicScorer, RoutedChatModel
    from tests.conftest import LOOP_LINE

    cheap = ChatLocal(model=str(looping_folder), max_tokens=64)
    large = cheap.model_copy(update={"max_tokens": 64})
    router = RoutedChatModel(models=[cheap, large], scorer=HeuristicScorer(), threshold=0.5)
    assert supports_repeat_stop(router)
    out = ResponseBudget(router, 48, stop_on_repeat=True).invoke("count")
    assert out.content == LOOP_LINE  # forwarded to whichever candidate answered
    event = out.response_metadata["response_budget"]
    assert event["bound"] == {"max_tokens": 48, "stop_on_repeat": True}
    assert event["stop_on_repeat"] is True
    mixed = RoutedChatModel(
        models=[FakeOpenAIChatModel(answers=[TEN]), large], scorer=HeuristicScorer()
    )
    assert not supports_repeat_stop(mixed)  # one candidate could not take it
