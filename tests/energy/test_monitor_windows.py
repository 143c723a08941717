"""Monitor windows: nested and overlapping from 8 threads, bad keys, failures."""

from __future__ import annotations

import threading

import pytest

from green_chain.energy.backends.base import MeterBackend, NullBackend
from green_chain.energy.monitor import EnergyMonitor, WindowError
from green_chain.testing import FakeClock, FakeMeterBackend


def test_nested_and_overlapping_windows_from_8_threads():
    """Each thread owns its own domain; it adds k joules between begin and end of
    window k (nested inside its outer window). Other threads' additions go to
    other domains, so every window's energy on its own domain is exact."""
    n_threads, n_windows = 8, 50
    domains = [f"cpu:t{i}" for i in range(n_threads)]
    meter = FakeMeterBackend(domains)
    monitor = EnergyMonitor([meter])
    results: dict[tuple[int, int], float] = {}
    outer: dict[int, float] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        try:
            barrier.wait()
            monitor.begin(("outer", t))
            for k in range(n_windows):
                monitor.begin((t, k))
                meter.add(domains[t], k + 1)
                m = monitor.end((t, k))
                results[(t, k)] = m.energy_j[domains[t]]
            outer[t] = monitor.end(("outer", t)).energy_j[domains[t]]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(results) == n_threads * n_windows  # no lost window
    for (_t, k), energy in results.items():
        assert energy == pytest.approx(k + 1)  # no mixed-up window
    expected_outer = sum(range(1, n_windows + 1))
    assert outer == {t: pytest.approx(expected_outer) for t in range(n_threads)}
    assert monitor.open_keys == []


def test_overlapping_windows_share_device_energy():
    meter, clock = FakeMeterBackend(["gpu:0"]), FakeClock()
    monitor = EnergyMonitor([meter], clock=clock)
    monitor.begin("a")
    meter.add("gpu:0", 1.0)
    monitor.begin("b")
    meter.add("gpu:0", 2.0)
    a = monitor.end("a")
    meter.add("gpu:0", 4.0)
    b = monitor.end("b")
    assert (a.total_j, b.total_j) == (3.0, 6.0)


def test_bad_keys_give_clear_errors():
    monitor = EnergyMonitor([FakeMeterBackend()])
    with pytest.raises(WindowError, match="no open window 'x': begin"):
        monitor.end("x")
    monitor.begin("x")
    with pytest.raises(WindowError, match="already open"):
        monitor.begin("x")
    monitor.cancel("x")
    with pytest.raises(WindowError, match="no open window 'x' to cancel"):
        monitor.cancel("x")
    with pytest.raises(WindowError, match="no open window"):
        monitor.end("x")
    assert isinstance(WindowError("m"), KeyError) and str(WindowError("m")) == "m"


def test_failing_backend_never_raises_into_caller():
    class Broken(MeterBackend):
        source = "broken"

        def domains(self):
            return FakeMeterBackend(["x:0"], source="broken").domains()

        def read(self):
            raise RuntimeError("device vanished")

    monitor = EnergyMonitor([Broken(), FakeMeterBackend(["cpu:0"])])
    monitor.begin("w")
    m = monitor.end("w")
    assert m.domains["x:0"].available is False
    assert "device vanished" in m.unavailable_reasons["x:0"]
    assert m.energy_j == {"cpu:0": 0.0}


def test_scripted_domain_failure_and_null_backend():
    meter = FakeMeterBackend(["gpu:0", "cpu:0"])
    monitor = EnergyMonitor([meter])
    monitor.begin("w")
    meter.fail("gpu:0", "GPU fell off the bus")
    m = monitor.end("w")
    assert m.unavailable_reasons == {"gpu:0": "GPU fell off the bus"}
    null = EnergyMonitor([NullBackend()])
    null.begin(1)
    m = null.end(1)
    assert m.total_j is None and m.kind is None and not m.available


def test_power_over_fake_clock():
    clock = FakeClock()
    meter = FakeMeterBackend(["gpu:0"], power_w=50.0, clock=clock, update_period_s=0.1)
    monitor = EnergyMonitor([meter], clock=clock)
    monitor.begin("w")
    clock.advance(2.0)
    m = monitor.end("w")
    assert m.total_j == pytest.approx(100.0)
    assert m.uncertainty_j == pytest.approx(50.0 * 0.1)
    assert m.duration_s == pytest.approx(2.0)
