"""A LangChain chain metered with DCGMMeter: remote GPU joules per step, chain never broken."""

from __future__ import annotations

from typing import Any

import pytest
from dcgm_testserver import PayloadServer, closed_port_url, payload
from green_chain_dcgm import DCGMMeter
from langchain_core.runnables import RunnableLambda

from green_chain.energy.monitor import EnergyMonitor


def _handler_class() -> Any:
    """The energy handler, or skip while the callbacks package does not provide it yet."""
    try:
        from green_chain.callbacks import EnergyCallbackHandler
    except ImportError as exc:
        pytest.skip(f"green_chain.callbacks.EnergyCallbackHandler not available yet: {exc}")
    return EnergyCallbackHandler


def _remote_step(server: PayloadServer) -> RunnableLambda:
    def call_remote_model(question: str) -> str:
        # the "remote vLLM call": the exporter's counters move while it runs
        server.routes["/metrics"] = payload("dcgm_node1_t1.txt")
        return question.upper()

    return RunnableLambda(call_remote_model, name="remote_llm")


def test_monitor_window_around_a_chain_step() -> None:
    with PayloadServer() as server:
        server.routes["/metrics"] = payload("dcgm_node1_t0.txt")
        monitor = EnergyMonitor([DCGMMeter(server.url("/metrics"))])
        chain = RunnableLambda(lambda q: q.strip()) | _remote_step(server)
        monitor.begin("invoke")
        assert chain.invoke("  hi ") == "HI"
        m = monitor.end("invoke")
        assert m.total_j == pytest.approx(1500.0 + 800.25)
        assert m.kind == "measured" and m.sources == ["dcgm"]


def test_chain_with_energy_handler_gets_remote_gpu_energy() -> None:
    handler_cls = _handler_class()
    with PayloadServer() as server:
        server.routes["/metrics"] = payload("dcgm_node1_t0.txt")
        monitor = EnergyMonitor([DCGMMeter(server.url("/metrics"))])
        handler = handler_cls(monitor=monitor, estimators=None)
        chain = RunnableLambda(lambda q: q.strip(), name="prep") | _remote_step(server)
        assert chain.invoke(" hi ", config={"callbacks": [handler]}) == "HI"
        records = {r["name"]: r for r in handler.records()}
        step = records["remote_llm"]
        assert step["energy_j"] == pytest.approx(2300.25)
        assert step["energy_kind"] == "measured"
        assert step["energy_sources"] == ["dcgm"]
        assert records["prep"]["energy_j"] == pytest.approx(0.0)


def test_unreachable_exporter_leaves_chain_unaffected() -> None:
    handler_cls = _handler_class()
    monitor = EnergyMonitor([DCGMMeter(closed_port_url(), timeout_s=0.5)])
    handler = handler_cls(monitor=monitor, estimators=None)
    chain = RunnableLambda(lambda q: q[::-1], name="reverse")
    assert chain.invoke("abc", config={"callbacks": [handler]}) == "cba"
    (record,) = [r for r in handler.records() if r["name"] == "reverse"]
    assert record["energy_j"] is None
    assert record["error"] is None
    assert "127.0.0.1" in (record["energy_reason"] or "")
