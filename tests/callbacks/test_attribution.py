"""Concurrency attribution: equal split among innermost open runs, conserved."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda


def _start(h, name, parent=None):
    run_id = uuid4()
    h.on_chain_start({}, {}, run_id=run_id, parent_run_id=parent, name=name)
    return run_id


def _end(h, run_id):
    h.on_chain_end({}, run_id=run_id)


def test_hand_computed_split(metered):
    h, add = metered.handler, metered.work
    root = _start(h, "root")
    a = _start(h, "a", root)  # device at 0 J
    add(10.0)
    b = _start(h, "b", root)  # a alone: 10 J
    add(6.0)
    _end(h, b)  # a and b share 6 J: 3 each
    add(4.0)
    _end(h, a)  # a alone: 4 J
    add(5.0)
    _end(h, root)  # root alone: 5 J
    recs = {r["name"]: r for r in h.records()}
    assert recs["a"]["attributed_energy_j"] == pytest.approx(17.0)
    assert recs["b"]["attributed_energy_j"] == pytest.approx(3.0)
    assert recs["root"]["attributed_energy_j"] == pytest.approx(5.0)
    assert recs["root"]["attributed_inclusive_j"] == pytest.approx(25.0)
    assert recs["root"]["energy_j"] == pytest.approx(25.0)
    # measured windows overlap: a saw 20 J, b saw 6 J
    assert recs["a"]["energy_j"] == pytest.approx(20.0)
    assert recs["b"]["energy_j"] == pytest.approx(6.0)
    # exclusive (unsplit) energy: intervals in which the run was innermost
    assert recs["a"]["exclusive_energy_j"] == pytest.approx(20.0)
    assert recs["b"]["exclusive_energy_j"] == pytest.approx(6.0)
    assert recs["root"]["exclusive_energy_j"] == pytest.approx(5.0)
    assert recs["a"]["domains"]["gpu:0"]["attributed_j"] == pytest.approx(17.0)
    assert h.device_energy_j == pytest.approx(25.0)


def test_overlapping_roots_split_and_energy_outside_windows_is_ignored(metered):
    h, add = metered.handler, metered.work
    add(100.0)  # before any run: belongs to nobody
    r1 = _start(h, "r1")
    add(2.0)
    r2 = _start(h, "r2")
    add(8.0)
    _end(h, r1)
    add(1.0)
    _end(h, r2)
    add(50.0)  # after every run
    recs = {r["name"]: r for r in h.records()}
    assert recs["r1"]["attributed_energy_j"] == pytest.approx(6.0)
    assert recs["r2"]["attributed_energy_j"] == pytest.approx(5.0)
    assert recs["r1"]["energy_j"] == pytest.approx(10.0)
    assert h.device_energy_j == pytest.approx(11.0)


async def test_two_hundred_concurrent_children_conserve_the_root_energy(metered):
    meter = metered.meter

    async def child(i: int) -> int:
        meter.add("gpu:0", 0.01 * (i + 1))
        await asyncio.sleep(0)
        meter.add("gpu:0", 0.5)
        await asyncio.sleep(0)
        return i

    async def fan_out(n: int, config: RunnableConfig) -> list[int]:
        meter.add("gpu:0", 3.0)  # the root works alone before the fan-out
        out = (
            await RunnableLambda(child)
            .with_config(run_name="child")
            .abatch(list(range(n)), config=config)
        )
        meter.add("gpu:0", 2.0)
        return out

    before = RunnableLambda(lambda x: (meter.add("gpu:0", 7.0), x)[1]).with_config(run_name="prep")
    root = (before | RunnableLambda(fan_out).with_config(run_name="fan")).with_config(
        run_name="root"
    )
    out = await root.ainvoke(200, config={"callbacks": [metered.handler]})
    assert out == list(range(200))
    recs = metered.handler.records()
    children = [r for r in recs if r["name"] == "child"]
    assert len(children) == 200
    fan = next(r for r in recs if r["name"] == "fan")
    assert {c["parent_run_id"] for c in children} == {fan["run_id"]}
    root_rec = next(r for r in recs if r["parent_run_id"] is None)
    expected = 7.0 + 3.0 + 2.0 + sum(0.01 * (i + 1) + 0.5 for i in range(200))
    assert root_rec["energy_j"] == pytest.approx(expected, rel=1e-12)
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(expected, rel=1e-12)
    assert root_rec["attributed_inclusive_j"] == pytest.approx(expected, rel=1e-12)
    # the children overlapped: their windows double count, their shares do not
    assert sum(c["energy_j"] for c in children) > expected
    # a run that overlapped nothing: attributed == measured
    prep = next(r for r in recs if r["name"] == "prep")
    assert prep["attributed_energy_j"] == pytest.approx(prep["energy_j"]) == pytest.approx(7.0)


def test_threads_conserve_energy(metered):
    meter = metered.meter

    def child(i: int) -> int:
        meter.add("gpu:0", 1.0)
        time.sleep(0.001)
        meter.add("gpu:0", 0.25)
        return i

    def fan_out(n: int, config: RunnableConfig) -> int:
        RunnableLambda(child).batch(list(range(n)), config={**config, "max_concurrency": 8})
        return n

    chain = RunnableLambda(fan_out).with_config(run_name="fan")
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(lambda _i: chain.invoke(40, config={"callbacks": [metered.handler]}), range(4))
        )
    recs = metered.handler.records()
    assert len(recs) == 4 * 41
    total = 4 * 40 * 1.25
    assert metered.handler.device_energy_j == pytest.approx(total)
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(total, rel=1e-9)
    roots = [r for r in recs if r["parent_run_id"] is None]
    assert sum(r["attributed_inclusive_j"] for r in roots) == pytest.approx(total, rel=1e-9)
    assert threading.active_count() >= 1


def test_per_event_work_does_not_grow_with_history(metered, monkeypatch):
    """Bookkeeping is O(open runs): thousands of finished runs don't add work to new ones.

    Counted, not timed: the ledger operations per run are the same before and after
    3000 finished runs, and nothing stays open.
    """
    from green_chain.callbacks.attribution import AttributionLedger

    calls = {"n": 0}
    for name in ("advance", "open", "close"):
        original = getattr(AttributionLedger, name)

        def counted(self, *args, _original=original, **kwargs):
            calls["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(AttributionLedger, name, counted)
    chain = RunnableLambda(lambda x: x)

    def ops_per_run(n: int) -> float:
        before = calls["n"]
        for _ in range(n):
            chain.invoke(1, config={"callbacks": [metered.handler]})
        return (calls["n"] - before) / n

    early = ops_per_run(20)
    for _ in range(3000):
        chain.invoke(1, config={"callbacks": [metered.handler]})
    late = ops_per_run(20)
    assert early > 0 and late == early
    assert metered.handler._open == {}
    assert metered.handler._ledger.innermost_count == 0
