"""RoutedChatModel: decisions, thresholds, recording, tools, structured output, async."""

from __future__ import annotations

import math

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableBinding
from langchain_core.tools import tool
from pydantic import BaseModel
from routing_fakes import FakeModel, FixedScorer, QuadCurve, Recorder

from green_chain.events import ROUTING_DECISION_EVENT
from green_chain.routing import (
    CascadeScorer,
    EmptyRequestError,
    EnergyRouter,
    RoutedChatModel,
)


def _models(n: int = 2) -> list[FakeModel]:
    return [FakeModel(model_name=name) for name in ["small", "medium", "large"][-n:]]


def test_two_models_route_by_threshold() -> None:
    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(0.7), threshold=0.7)
    out = router.invoke("What is the capital of France?")
    assert out.content == "medium answer"
    assert len(cheap.calls) == 1 and not large.calls
    routing = out.response_metadata["routing"]
    assert routing["chosen_model"] == "medium" and routing["chosen_index"] == 0
    assert routing["scores"] == [0.7] and routing["threshold"] == [0.7]

    router_high = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(0.7), threshold=0.71)
    out = router_high.invoke("What is the capital of France?")
    assert out.content == "large answer"
    assert out.response_metadata["routing"]["reason"] == "no cheaper model cleared its threshold"


@pytest.mark.parametrize(
    ("probs", "threshold", "expected"),
    [
        ([0.9, 0.95], 0.5, "small"),
        ([0.4, 0.6], 0.5, "medium"),
        ([0.4, 0.45], 0.5, "large"),
        ([0.4, 0.6], [0.3, 0.9], "small"),
        ([0.4, 0.6], [0.5, 0.9], "large"),
    ],
)
def test_three_models_cheapest_that_clears(
    probs: list[float], threshold: object, expected: str
) -> None:
    router = RoutedChatModel(models=_models(3), scorer=FixedScorer(probs), threshold=threshold)
    assert router.invoke("hi there").content == f"{expected} answer"


def test_single_probability_ladder_with_three_models() -> None:
    from green_chain.routing import HeuristicScorer

    class Constant(HeuristicScorer):
        def score(self, messages: object) -> float:  # type: ignore[override]
            return 0.25

    # ladder: p0 = 0.25, p1 = sqrt(0.25) = 0.5
    router = RoutedChatModel(models=_models(3), scorer=Constant(), threshold=0.5)
    out = router.invoke("hello")
    assert out.content == "medium answer"
    assert out.response_metadata["routing"]["scores"] == pytest.approx([0.25, 0.5])


def test_bad_construction_errors() -> None:
    with pytest.raises(ValueError, match="two or more models"):
        RoutedChatModel(models=[], scorer=FixedScorer(0.5))
    with pytest.raises(ValueError, match="two or more models"):
        RoutedChatModel(models=_models(1), scorer=FixedScorer(0.5))
    with pytest.raises(ValueError, match="one per cheaper model"):
        RoutedChatModel(models=_models(3), scorer=FixedScorer(0.5), threshold=[0.1])
    with pytest.raises(KeyError, match="unknown model names"):
        RoutedChatModel(
            models=_models(2), scorer=FixedScorer(0.5), energy_curves={"gpt-9": QuadCurve(0, 1, 0)}
        )


def test_empty_request_and_unknown_name_errors() -> None:
    router = RoutedChatModel(models=_models(2), scorer=FixedScorer(0.9))
    with pytest.raises(EmptyRequestError, match="empty request"):
        router.invoke("")
    with pytest.raises(EmptyRequestError):
        router.invoke([HumanMessage(content="   ")])
    with pytest.raises(KeyError, match="unknown model name 'nope'"):
        router.invoke("hello", route_to="nope")
    with pytest.raises(KeyError, match="unknown model name"):
        router.model_for("nope")


def test_route_to_forces_a_model_and_records_it() -> None:
    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(1.0), threshold=0.5)
    out = router.invoke("hello", route_to="large")
    assert out.content == "large answer"
    assert "selected by name" in out.response_metadata["routing"]["reason"]
    assert not cheap.calls


def test_decision_published_on_router_run_with_child_model_run() -> None:
    cheap, large = _models(2)
    router = RoutedChatModel(
        models=[cheap, large],
        scorer=FixedScorer(0.2),
        threshold=0.5,
        energy_curves={"medium": QuadCurve(0.0, 0.1, 1.0), "large": QuadCurve(0.0, 0.5, 2.0)},
    )
    rec = Recorder()
    out = router.invoke(
        [SystemMessage(content="be brief"), HumanMessage(content="why is sky")],
        config={"callbacks": [rec]},
    )
    assert out.content == "large answer"
    events = [e for e in rec.events if e[0] == ROUTING_DECISION_EVENT]
    assert len(events) == 1
    _, data, event_run = events[0]
    router_run = rec.model_starts[0]
    assert router_run[1] is None  # the router is the top run
    assert event_run == router_run[0]  # the event belongs to the router's run
    child = rec.model_starts[1]
    assert child[1] == router_run[0]  # the chosen model ran as a child run
    n = data["prompt_tokens"]
    assert n > 0
    assert data["predicted_energy_j"]["medium"] == pytest.approx(0.1 * n + 1.0)
    assert data["predicted_energy_j"]["large"] == pytest.approx(0.5 * n + 2.0)
    assert data["predicted_energy_kind"] == "projected"
    assert data["predicted_saving_j"] == pytest.approx(0.0)  # routed to the largest
    assert data["scorer"] == "fixed" and data["chosen_model"] == "large"
    assert out.response_metadata["routing"] == data


def test_scorer_failure_routes_to_largest_with_reason() -> None:
    cheap, large = _models(2)
    router = RoutedChatModel(
        models=[cheap, large], scorer=FixedScorer(0.9, error=RuntimeError("boom")), threshold=0.1
    )
    out = router.invoke("hello")
    assert out.content == "large answer"
    routing = out.response_metadata["routing"]
    assert "scorer failed" in routing["reason"] and "boom" in routing["reason"]
    assert routing["scorer_error"] == "RuntimeError: boom"


def test_works_in_a_chain_and_passes_stop_and_whole_conversation() -> None:
    cheap, large = _models(2)
    scorer = FixedScorer(0.9)
    router = RoutedChatModel(models=[cheap, large], scorer=scorer, threshold=0.5)
    prompt = ChatPromptTemplate.from_messages([("system", "sys"), ("human", "{q}")])
    out = (prompt | router.bind(stop=["\n"])).invoke({"q": "who?"})
    assert out.content == "medium answer"
    assert [m.type for m in scorer.seen[0]] == ["system", "human"]
    assert cheap.calls[0]["stop"] == ["\n"]


def test_bind_tools_binds_every_candidate() -> None:
    @tool
    def lookup(city: str) -> str:
        """Look up a city."""
        return city

    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(0.1), threshold=0.5)
    bound = router.bind_tools([lookup])
    assert isinstance(bound, RunnableBinding) and bound.bound is router
    assert cheap.bound_tools == [["lookup"]] and large.bound_tools == [["lookup"]]  # checked
    out = bound.invoke("weather?")
    assert large.calls[-1]["kwargs"]["tools"] == ["lookup"]
    assert out.response_metadata["routing"]["chosen_model"] == "large"
    assert "tools" not in router.invoke("weather?").response_metadata  # router unchanged
    assert "tools" not in large.calls[-1]["kwargs"]


def test_with_structured_output_delegates_to_candidates() -> None:
    class Answer(BaseModel):
        text: str

    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(0.8), threshold=0.5)
    structured = router.with_structured_output(Answer)
    assert isinstance(structured, EnergyRouter)
    assert structured.invoke("hello") == {"model": "medium", "schema": "Answer"}
    raw = router.with_structured_output(Answer, include_raw=True).invoke("hello")
    assert raw["raw"].response_metadata["routing"]["chosen_model"] == "medium"


def test_stream_routes_and_tags_first_chunk() -> None:
    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(0.1), threshold=0.5)
    chunks = list(router.stream("hello"))
    text = "".join(str(c.content) for c in chunks)
    assert text == "large answer"
    assert chunks[0].response_metadata["routing"]["chosen_model"] == "large"


def test_cascade_reuses_cheap_answer_when_confident() -> None:
    cheap = FakeModel(model_name="small", logprob=math.log(0.8))
    large = FakeModel(model_name="large")
    router = RoutedChatModel(models=[cheap, large], scorer=CascadeScorer(), threshold=0.7)
    rec = Recorder()
    out = router.invoke("hello", config={"callbacks": [rec]})
    assert out.content == "small answer"
    assert len(cheap.calls) == 1 and not large.calls  # not generated twice
    routing = out.response_metadata["routing"]
    assert routing["scores"][0] == pytest.approx(0.8)
    assert routing["cascade_calls"] == ["small"]
    assert len(rec.model_starts) == 2  # router + the cheap child run


def test_cascade_escalates_below_threshold_and_counts_cheap_call() -> None:
    cheap = FakeModel(model_name="small", logprob=math.log(0.5))
    large = FakeModel(model_name="large")
    router = RoutedChatModel(models=[cheap, large], scorer=CascadeScorer(), threshold=0.7)
    rec = Recorder()
    out = router.invoke("hello", config={"callbacks": [rec]})
    assert out.content == "large answer"
    assert len(cheap.calls) == 1 and len(large.calls) == 1
    router_run = rec.model_starts[0][0]
    assert [p for _, p, _ in rec.model_starts[1:]] == [router_run, router_run]
    assert "escalated" in out.response_metadata["routing"]["reason"]


def test_cascade_without_logprob_escalates_with_reason() -> None:
    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=CascadeScorer(), threshold=0.1)
    out = router.invoke("hello")
    assert out.content == "large answer"
    assert "mean_token_logprob" in out.response_metadata["routing"]["reason"]


async def test_async_paths() -> None:
    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(0.9), threshold=0.5)
    rec = Recorder()
    out = await router.ainvoke("hello", config={"callbacks": [rec]})
    assert out.content == "medium answer"
    assert [e[0] for e in rec.events] == [ROUTING_DECISION_EVENT]
    assert rec.events[0][2] == rec.model_starts[0][0]
    chunks = [c async for c in router.astream("hello")]
    assert "".join(str(c.content) for c in chunks) == "medium answer"

    casc = RoutedChatModel(
        models=[FakeModel(model_name="small", logprob=-5.0), FakeModel(model_name="big")],
        scorer=CascadeScorer(),
        threshold=0.5,
    )
    out = await casc.ainvoke("hello")
    assert out.content == "big answer"
    assert isinstance(out, AIMessage)


def test_predictions_from_fitted_energy_curves() -> None:
    from green_chain.energy.model import EnergyCurve

    tokens = [10, 50, 100, 200]
    small = EnergyCurve.fit(
        tokens, [1 + 0.01 * n for n in tokens], model_name="medium", device="cpu", kind="estimated"
    )
    big = EnergyCurve.fit(
        tokens, [2 + 0.05 * n for n in tokens], model_name="large", device="cpu", kind="estimated"
    )
    cheap, large = _models(2)
    router = RoutedChatModel(
        models=[cheap, large],
        scorer=FixedScorer(0.9),
        threshold=0.5,
        energy_curves={"medium": small, "large": big},
    )
    routing = router.invoke("one two three four").response_metadata["routing"]
    n = routing["prompt_tokens"]
    assert routing["predicted_energy_j"]["medium"] == pytest.approx(1 + 0.01 * n, rel=1e-3)
    assert routing["predicted_saving_j"] == pytest.approx((2 + 0.05 * n) - (1 + 0.01 * n), rel=1e-3)
    assert "estimated" in routing["predicted_energy_source"]
    assert routing["predicted_energy_kind"] == "projected"


def test_energy_handler_records_the_decision_on_the_router_run() -> None:
    from green_chain.callbacks import EnergyCallbackHandler
    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.testing.meters import FakeMeterBackend

    handler = EnergyCallbackHandler(EnergyMonitor([FakeMeterBackend()]))
    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(0.9), threshold=0.5)
    router.invoke("hello there", config={"callbacks": [handler]})
    records = handler.records()
    routed = [r for r in records if r.get("routing")]
    assert len(routed) == 1
    assert routed[0]["routing"]["chosen_model"] == "medium"
    child = [r for r in records if r["parent_run_id"] == routed[0]["run_id"]]
    assert len(child) == 1


@pytest.mark.parametrize("bad", [1.01, -0.1, math.nan, [0.5, 2.0]])
def test_thresholds_outside_unit_interval_are_rejected(bad: object) -> None:
    n = 3 if isinstance(bad, list) else 2
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]"):
        RoutedChatModel(models=_models(n), scorer=FixedScorer(0.5), threshold=bad)


def test_threshold_one_always_picks_the_largest() -> None:
    cheap, large = _models(2)
    router = RoutedChatModel(models=[cheap, large], scorer=FixedScorer(1.0), threshold=1.0)
    assert router.invoke("hi").content == "large answer" and not cheap.calls
