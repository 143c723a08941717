"""get_energy_callback (one hook, nesting) and copy safety."""

from __future__ import annotations

import copy

from langchain_core.runnables import RunnableLambda, ensure_config
from langchain_core.tracers import context as tracer_context

from green_chain.callbacks import active_energy_handlers, get_energy_callback
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.meters import FakeMeterBackend


def _monitor() -> EnergyMonitor:
    return EnergyMonitor([FakeMeterBackend(["gpu:0"])])


def test_context_manager_records_runs_without_passing_callbacks():
    chain = RunnableLambda(lambda x: x + 1)
    with get_energy_callback(monitor=_monitor(), estimators=None) as handler:
        assert chain.invoke(1) == 2
    chain.invoke(5)  # outside the block: not recorded
    assert len(handler.records()) == 1
    assert active_energy_handlers() == ()


async def test_context_manager_async():
    chain = RunnableLambda(lambda x: x + 1)
    with get_energy_callback(monitor=_monitor(), estimators=None) as handler:
        assert await chain.ainvoke(1) == 2
    assert len(handler.records()) == 1


def test_nested_blocks_record_in_both_handlers():
    chain = RunnableLambda(lambda x: x)
    with get_energy_callback(monitor=_monitor(), estimators=None) as outer:
        chain.invoke(1)
        with get_energy_callback(monitor=_monitor(), estimators=None) as inner:
            chain.invoke(2)
            assert active_energy_handlers() == (outer, inner)
        chain.invoke(3)
        assert active_energy_handlers() == (outer,)
    assert len(outer.records()) == 3
    assert len(inner.records()) == 1


def test_no_configure_hook_leak():
    before = len(tracer_context._configure_hooks)
    for _ in range(50):
        with get_energy_callback(monitor=_monitor(), estimators=None):
            RunnableLambda(lambda x: x).invoke(1)
    assert len(tracer_context._configure_hooks) == before


def test_explicit_and_context_handler_are_not_duplicated():
    with get_energy_callback(monitor=_monitor(), estimators=None) as handler:
        RunnableLambda(lambda x: x).invoke(1, config={"callbacks": [handler]})
    assert len(handler.records()) == 1


def test_handler_copies_share_records(metered):
    h = metered.handler
    assert copy.copy(h) is h and copy.deepcopy(h) is h
    config = ensure_config({"callbacks": [h]})
    deep = copy.deepcopy(config)
    RunnableLambda(lambda x: x).invoke(1, config=deep)
    RunnableLambda(lambda x: x).invoke(1, config=copy.copy(config))
    assert len(h.records()) == 2


async def test_async_with_block():
    chain = RunnableLambda(lambda x: x + 1)
    async with get_energy_callback(monitor=_monitor(), estimators=None) as handler:
        assert await chain.ainvoke(1) == 2
        assert active_energy_handlers() == (handler,)
    assert active_energy_handlers() == ()
    assert len(handler.records()) == 1
