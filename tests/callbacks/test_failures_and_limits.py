"""A failing meter or handler never breaks the chain; memory stays bounded."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from langchain_core.runnables import RunnableLambda

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.backends.base import MeterBackend, NullBackend
from green_chain.energy.measurement import DomainInfo, DomainReading
from green_chain.energy.monitor import EnergyMonitor


def test_failed_domain_gives_none_with_reason(metered):
    metered.meter.fail("gpu:0", "NVML_ERROR_GPU_IS_LOST")
    chain = RunnableLambda(lambda x: (metered.work(1.0), x + 1)[1])
    assert chain.invoke(1, config={"callbacks": [metered.handler]}) == 2
    rec = metered.handler.records()[0]
    assert rec["energy_j"] is None and rec["attributed_energy_j"] is None
    assert "NVML_ERROR_GPU_IS_LOST" in rec["energy_reason"]
    assert rec["carbon_kg"] is None and rec["status"] == "ok"


def test_failure_mid_run_marks_attribution_incomplete(metered):
    h = metered.handler

    def step(x):
        metered.meter.fail("gpu:0", "flaky")
        RunnableLambda(lambda y: y).invoke(x)  # events while the meter is down
        metered.meter.recover("gpu:0")
        metered.work(2.0)
        return x

    RunnableLambda(step).with_config(run_name="outer").invoke(1, config={"callbacks": [h]})
    outer = metered.records(name="outer")[0]
    assert outer["energy_j"] == pytest.approx(2.0)  # its own window's two readings were fine
    assert outer["domains"]["gpu:0"]["attributed_j"] is None
    assert "attribution incomplete" in outer["energy_reason"]


class _RaisingBackend(MeterBackend):
    source = "broken"

    def domains(self) -> Mapping[str, DomainInfo]:
        return {"cpu:0": DomainInfo("cpu:0", "broken", "measured")}

    def read(self) -> Mapping[str, DomainReading]:
        raise OSError("permission denied: energy_uj")


def test_backend_raising_keeps_chain_running():
    handler = EnergyCallbackHandler(EnergyMonitor([_RaisingBackend()]), estimators=None)
    assert RunnableLambda(lambda x: x * 3).invoke(2, config={"callbacks": [handler]}) == 6
    rec = handler.records()[0]
    assert rec["energy_j"] is None and "permission denied" in rec["energy_reason"]


class _ExplodingMonitor(EnergyMonitor):
    def read(self):  # type: ignore[override]
        raise RuntimeError("monitor exploded")


def test_monitor_raising_keeps_chain_running():
    handler = EnergyCallbackHandler(_ExplodingMonitor([]), estimators=None)
    assert RunnableLambda(lambda x: x + 1).invoke(1, config={"callbacks": [handler]}) == 2
    rec = handler.records()[0]
    assert rec["energy_j"] is None and "monitor exploded" in rec["energy_reason"]
    assert rec["duration_s"] is not None


def test_null_backend_reason():
    handler = EnergyCallbackHandler(EnergyMonitor([NullBackend("no meter here")]), estimators=None)
    RunnableLambda(lambda x: x).invoke(1, config={"callbacks": [handler]})
    assert handler.records()[0]["energy_reason"] == "no meter here"


def test_handler_bug_is_logged_not_raised(metered, caplog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(metered.handler, "_open_run", broken)
    assert RunnableLambda(lambda x: x + 1).invoke(1, config={"callbacks": [metered.handler]}) == 2
    assert "handler bug" in caplog.text


def test_max_runs_drops_oldest_finished_trees(metered_factory):
    m = metered_factory(max_runs=5)
    chain = RunnableLambda(lambda x: x) | RunnableLambda(lambda x: x)  # 3 runs per call
    for i in range(4):
        chain.invoke(i, config={"callbacks": [m.handler]})
    recs = m.handler.records()
    assert len(recs) == 3
    assert m.handler.dropped_runs == 9 and m.handler.dropped_roots == 3
    assert m.handler.report().dropped_runs == 9


def test_sink_receives_every_finished_record(metered_factory):
    got: list[dict] = []
    m = metered_factory(sink=got.append, max_runs=1)
    chain = RunnableLambda(lambda x: (m.work(1.0), x)[1]) | RunnableLambda(lambda x: x)
    for i in range(3):
        chain.invoke(i, config={"callbacks": [m.handler]})
    assert len(got) == 9
    roots = [r for r in got if r["parent_run_id"] is None]
    assert [r["attributed_inclusive_j"] for r in roots] == pytest.approx([1.0, 1.0, 1.0])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="max_runs"):
        EnergyCallbackHandler(EnergyMonitor([]), max_runs=0)
    with pytest.raises(TypeError, match="carbon_kg"):
        EnergyCallbackHandler(EnergyMonitor([]), carbon=42)
    with pytest.raises(ValueError, match="estimators"):
        EnergyCallbackHandler(EnergyMonitor([]), estimators="all")
