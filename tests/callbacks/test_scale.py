"""What holds at scale (issue 17): nothing lost or duplicated, energy conserved."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.runnables import RunnableLambda


def _assert_each_run_once_and_conserved(metered, expected_runs: int, total_j: float) -> None:
    recs = metered.handler.records()
    ids = [r["run_id"] for r in recs]
    assert len(ids) == expected_runs and len(set(ids)) == expected_runs
    assert all(r["status"] == "ok" for r in recs)
    assert metered.handler._open == {} and metered.handler._ledger.innermost_count == 0
    assert metered.handler.device_energy_j == pytest.approx(total_j, rel=1e-12)
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(total_j, rel=1e-12)
    roots = [r for r in recs if r["parent_run_id"] is None]
    assert sum(r["attributed_inclusive_j"] for r in roots) == pytest.approx(total_j, rel=1e-12)


async def test_a_thousand_concurrent_ainvoke_roots(metered):
    meter = metered.meter

    async def step(i: int) -> int:
        meter.add("gpu:0", 0.5)
        await asyncio.sleep(0)
        meter.add("gpu:0", 0.25)
        return i

    chain = RunnableLambda(step) | RunnableLambda(lambda x: x + 1)
    config = {"callbacks": [metered.handler]}
    out = await asyncio.gather(*(chain.ainvoke(i, config=config) for i in range(1000)))
    assert out == [i + 1 for i in range(1000)]
    _assert_each_run_once_and_conserved(metered, 3000, 750.0)


def test_a_thousand_threaded_batch_roots(metered):
    meter = metered.meter

    def step(i: int) -> int:
        meter.add("gpu:0", 1.0)
        meter.add("gpu:0", 0.5)
        return i

    chain = RunnableLambda(step) | RunnableLambda(lambda x: x * 2)
    out = chain.batch(
        list(range(1000)), config={"callbacks": [metered.handler], "max_concurrency": 16}
    )
    assert out == [2 * i for i in range(1000)]
    _assert_each_run_once_and_conserved(metered, 3000, 1500.0)
