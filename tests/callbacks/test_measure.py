"""handler.measure(): code outside LangChain in the same run tree."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda


def test_context_manager_as_root(metered):
    with metered.handler.measure("pdf-parse", tags=["io"]) as block:
        metered.work(4.0, 2.0)
        assert block.run_id is not None
    rec = metered.handler.records()[0]
    assert rec["name"] == "pdf-parse" and rec["run_type"] == "measure"
    assert rec["parent_run_id"] is None and rec["tags"] == ["io"]
    assert rec["energy_j"] == pytest.approx(4.0) and rec["duration_s"] == pytest.approx(2.0)


def test_block_wrapping_a_chain_owns_the_chain(metered):
    chain = RunnableLambda(lambda x: (metered.work(3.0), x)[1]).with_config(run_name="step")
    with metered.handler.measure("pipeline"):
        metered.work(1.0)
        chain.invoke(1)  # no callbacks passed: the block attaches the handler
    recs = {r["name"]: r for r in metered.handler.records()}
    assert recs["step"]["parent_run_id"] == recs["pipeline"]["run_id"]
    assert recs["pipeline"]["attributed_inclusive_j"] == pytest.approx(4.0)
    assert recs["step"]["attributed_energy_j"] == pytest.approx(3.0)


def test_inside_a_langchain_run_becomes_a_child(metered):
    def step(x: int, config: RunnableConfig) -> int:
        with metered.handler.measure("inner-block"):
            metered.work(2.0)
        return x

    RunnableLambda(step).with_config(run_name="outer").invoke(
        1, config={"callbacks": [metered.handler]}
    )
    recs = {r["name"]: r for r in metered.handler.records()}
    assert recs["inner-block"]["parent_run_id"] == recs["outer"]["run_id"]
    assert recs["outer"]["attributed_inclusive_j"] == pytest.approx(2.0)


def test_decorator_sync_and_errors(metered):
    @metered.handler.measure("preprocess")
    def preprocess(text: str) -> str:
        metered.work(1.5)
        if not text:
            raise ValueError("empty")
        return text.upper()

    assert preprocess("a") == "A"
    with pytest.raises(ValueError):
        preprocess("")
    ok, bad = metered.handler.records()
    assert ok["status"] == "ok" and ok["energy_j"] == pytest.approx(1.5)
    assert bad["status"] == "error" and "empty" in bad["error"]


async def test_decorator_and_context_manager_async(metered):
    @metered.handler.measure("fetch")
    async def fetch(x: int) -> int:
        metered.work(1.0)
        return x

    assert await fetch(3) == 3
    async with metered.handler.measure("block"):
        metered.work(2.0)
        await RunnableLambda(lambda x: x).with_config(run_name="child").ainvoke(1)
    recs = {r["name"]: r for r in metered.handler.records()}
    assert recs["fetch"]["energy_j"] == pytest.approx(1.0)
    assert recs["child"]["parent_run_id"] == recs["block"]["run_id"]
    assert recs["block"]["energy_j"] == pytest.approx(2.0)
    assert metered.handler.report().by_step_type()[-1]["group"] == "measure"


def test_measure_needs_a_name(metered):
    with pytest.raises(ValueError, match="non-empty name"):
        metered.handler.measure("")
