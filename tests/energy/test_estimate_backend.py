"""CPU-time estimate under a fake clock and fake CPU times."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from green_chain.energy.backends.estimate import (
    DEFAULT_ACTIVE_POWER_PER_CORE_W,
    CPUTimeEstimateBackend,
)
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing import FakeClock


class CPU:
    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def test_cpu_time_times_power_plus_idle():
    clock, cpu = FakeClock(), CPU()
    backend = CPUTimeEstimateBackend(8.0, 2.0, cpu_time_s=cpu, clock=clock)
    monitor = EnergyMonitor([backend], clock=clock)
    monitor.begin("w")
    cpu.s += 1.5  # e.g. two threads busy for 0.75 s each
    clock.advance(3.0)
    m = monitor.end("w")
    d = m.domains["cpu:process"]
    assert d.energy_j == pytest.approx(1.5 * 8.0 + 2.0 * 3.0)
    assert d.source == "estimate" and d.kind == "estimated"
    assert d.uncertainty_j == pytest.approx(0.5 * d.energy_j)
    assert m.kind == "estimated" and m.sources == ["estimate"]


def test_defaults_and_env(monkeypatch):
    monkeypatch.delenv("GREEN_CHAIN_CPU_W_PER_CORE", raising=False)
    monkeypatch.delenv("GREEN_CHAIN_CPU_IDLE_W", raising=False)
    b = CPUTimeEstimateBackend()
    assert b.active_power_per_core_w == DEFAULT_ACTIVE_POWER_PER_CORE_W
    assert b.idle_power_w == 0.0
    monkeypatch.setenv("GREEN_CHAIN_CPU_W_PER_CORE", "4.5")
    monkeypatch.setenv("GREEN_CHAIN_CPU_IDLE_W", "1")
    b = CPUTimeEstimateBackend()
    assert (b.active_power_per_core_w, b.idle_power_w) == (4.5, 1.0)
    monkeypatch.setenv("GREEN_CHAIN_CPU_W_PER_CORE", "lots")
    with pytest.raises(ValueError, match="GREEN_CHAIN_CPU_W_PER_CORE"):
        CPUTimeEstimateBackend()


def test_negative_power_rejected():
    with pytest.raises(ValueError, match=">= 0 W"):
        CPUTimeEstimateBackend(-1.0)


def test_process_object_cpu_times():
    proc = SimpleNamespace(times=[SimpleNamespace(user=1.0, system=0.5)])
    proc.cpu_times = lambda: proc.times[-1]
    backend = CPUTimeEstimateBackend(10.0, process=proc, clock=FakeClock())
    proc.times.append(SimpleNamespace(user=2.0, system=1.0))
    assert backend.read()["cpu:process"].energy_j == pytest.approx(15.0)


def test_real_process_time_counts_busy_work():
    backend = CPUTimeEstimateBackend(10.0)
    before = backend.read()["cpu:process"].energy_j
    x = 0
    for i in range(300_000):
        x += i * i
    after = backend.read()["cpu:process"].energy_j
    assert after > before


def test_broken_cpu_time_reports_reason():
    state = {"ok": True}

    def cpu_time_s() -> float:
        if not state["ok"]:
            raise OSError("process gone")
        return 1.0

    backend = CPUTimeEstimateBackend(cpu_time_s=cpu_time_s)
    state["ok"] = False
    r = backend.read()["cpu:process"]
    assert r.energy_j is None and "CPU time unreadable: process gone" in (r.error or "")
