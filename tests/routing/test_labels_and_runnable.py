"""label_requests() and the plain EnergyRouter runnable."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda
from routing_fakes import FixedScorer, Recorder

from green_chain.events import ROUTING_DECISION_EVENT
from green_chain.routing import EnergyRouter, label_requests, labels_from_quality


def test_labels_from_quality_tolerance() -> None:
    assert labels_from_quality([0.5, 0.8, 1.0], [1.0, 0.85, 0.9], 0.1) == [0, 1, 1]
    with pytest.raises(ValueError):
        labels_from_quality([1], [1, 2])
    with pytest.raises(ValueError):
        labels_from_quality([1], [1], -0.1)


def test_label_requests_runs_both_models() -> None:
    cheap = RunnableLambda(lambda q: q.upper() if "easy" in q else "?")
    large = RunnableLambda(lambda q: q.upper())
    refs = ["EASY ONE", "HARD ONE"]
    out = label_requests(
        ["easy one", "hard one"],
        cheap,
        large,
        lambda req, o, ref: float(o == ref),
        0.0,
        references=refs,
    )
    assert out.labels == [1, 0]
    assert out.cheap_quality == [1.0, 0.0] and out.large_quality == [1.0, 1.0]
    assert out.cheap_outputs == ["EASY ONE", "?"]
    with pytest.raises(ValueError, match="at least one"):
        label_requests([], cheap, large, lambda r, o, g: 0.0)


def test_energy_router_routes_any_runnables_and_records() -> None:
    routes = [
        RunnableLambda(lambda x: f"a:{x['q']}", name="a"),
        RunnableLambda(lambda x: f"b:{x['q']}", name="b"),
    ]
    router = EnergyRouter(routes, FixedScorer(0.3), 0.5)
    rec = Recorder()
    assert router.invoke({"q": "hi"}, config={"callbacks": [rec]}) == "b:hi"
    router_run = next(r for r in rec.chain_starts if r[2] == "EnergyRouter")
    assert rec.events[0][0] == ROUTING_DECISION_EVENT
    assert rec.events[0][2] == router_run[0]
    assert rec.events[0][1]["chosen_model"] == "b"
    child = next(r for r in rec.chain_starts if r[2] == "b")
    assert child[1] == router_run[0]
    forced = router.invoke({"q": "hi"}, config={"configurable": {"route_to": "a"}})
    assert forced == "a:hi"
    with pytest.raises(KeyError, match="unknown model name"):
        router.invoke({"q": "hi"}, config={"configurable": {"route_to": "zzz"}})
    with pytest.raises(ValueError, match="two or more"):
        EnergyRouter(routes[:1], FixedScorer(0.3))


async def test_energy_router_async() -> None:
    routes = [
        RunnableLambda(lambda x: "cheap", name="a"),
        RunnableLambda(lambda x: "big", name="b"),
    ]
    router = EnergyRouter(routes, FixedScorer(0.9), 0.5)
    assert await router.ainvoke("hello") == "cheap"
    assert await EnergyRouter(routes, FixedScorer(0.1), 0.5).ainvoke("hello") == "big"
