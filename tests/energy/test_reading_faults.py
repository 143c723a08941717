"""Bad meter values, hung reads and bad monitor arguments (issue 17 items 3, 4, 7)."""

from __future__ import annotations

import math
import threading
import time

import pytest

from green_chain.energy.backends.estimate import CPUTimeEstimateBackend
from green_chain.energy.measurement import DomainReading, checked_reading
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.clock import FakeClock
from green_chain.testing.meters import FakeMeterBackend


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "n/a", [1.0], -1.0])
def test_garbage_and_non_finite_readings_mark_the_domain_unreadable(bad):
    meter = FakeMeterBackend(["gpu:0", "cpu:0"])
    monitor = EnergyMonitor([meter], clock=FakeClock())
    start = monitor.read()
    meter.add_all(2.0)
    meter.set_raw("gpu:0", bad)
    middle = monitor.read()
    assert middle.domains["gpu:0"].energy_j is None
    assert "invalid energy reading" in (middle.domains["gpu:0"].error or "")
    assert middle.domains["cpu:0"].energy_j == 2.0
    window = monitor.between(start, middle)
    assert window.domains["gpu:0"].available is False
    assert window.total_j == 2.0  # the good domain is untouched, nothing is NaN
    meter.recover("gpu:0")
    meter.add_all(1.0)
    assert monitor.between(start, monitor.read()).total_j == 6.0


def test_checked_reading_keeps_good_values_and_drops_non_finite_power():
    good = DomainReading(energy_j=1.5, power_w=3.0, update_period_s=0.1)
    assert checked_reading(good, "x") is good
    fixed = checked_reading(DomainReading(energy_j=1.5, power_w=math.nan), "x")
    assert fixed.energy_j == 1.5 and fixed.power_w is None
    assert checked_reading(3.0, "x").energy_j is None
    assert checked_reading(DomainReading(energy_j=True), "x").energy_j is None  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["nan", "inf", "-3"])
def test_cpu_power_from_the_environment_must_be_finite(monkeypatch, value):
    monkeypatch.setenv("GREEN_CHAIN_CPU_W_PER_CORE", value)
    with pytest.raises(ValueError, match=r"GREEN_CHAIN_CPU_W_PER_CORE.*finite"):
        CPUTimeEstimateBackend()


def test_cpu_power_argument_must_be_finite():
    with pytest.raises(ValueError, match="active_power_per_core_w"):
        CPUTimeEstimateBackend(math.nan)


def test_hung_read_times_out_with_reason_then_fails_fast_then_recovers():
    meter = FakeMeterBackend(["gpu:0"], blocking=True)
    fast = FakeMeterBackend(["cpu:0"])
    monitor = EnergyMonitor([meter, fast], read_timeout_s=0.05)
    start = monitor.read()
    meter.hang()
    t0 = time.perf_counter()
    hung = monitor.read()
    assert time.perf_counter() - t0 < 1.0
    assert hung.domains["gpu:0"].energy_j is None
    assert "timed out after 0.05 s" in (hung.domains["gpu:0"].error or "")
    assert hung.domains["cpu:0"].energy_j == 0.0  # other backends still read
    time.sleep(0.06)
    again = monitor.read()
    # fails at once instead of queueing behind the hung read
    assert "still running" in (again.domains["gpu:0"].error or "")
    window = monitor.between(start, again)
    assert window.domains["gpu:0"].available is False
    assert "timed out" in (window.domains["gpu:0"].reason or "")
    meter.release()  # the hung read took long: one more read re-measures the meter's speed
    meter.add("gpu:0", 4.0)
    for _ in range(50):
        time.sleep(0.01)
        window = monitor.between(start, monitor.read())
        if "gpu:0" in window.energy_j:
            break
    assert window.energy_j["gpu:0"] == 4.0
    monitor.close()


def test_readings_are_numbered_in_order_across_threads():
    monitor = EnergyMonitor([FakeMeterBackend(["gpu:0"])])
    seqs: list[int] = []

    def work() -> None:
        for _ in range(200):
            seqs.append(monitor.read().seq)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == list(range(1, 801))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backends": "nvml"}, "backends must be a list of meter backend objects"),
        ({"backends": ["nvml"]}, "backends must hold MeterBackend objects"),
        ({"idle_power_w": {"gpu:0": -5.0}}, r"idle_power_w\['gpu:0'\] must be a finite"),
        ({"idle_power_w": {"gpu:0": math.nan}}, r"idle_power_w\['gpu:0'\] must be a finite"),
        ({"idle_power_w": {"gpu:0": "x"}}, r"idle_power_w\['gpu:0'\] must be a number"),
        ({"idle_power_w": 3.0}, "idle_power_w must be a mapping"),
        ({"read_timeout_s": 0}, "read_timeout_s must be"),
    ],
)
def test_bad_monitor_arguments_are_named(kwargs, match):
    kwargs.setdefault("backends", [FakeMeterBackend()])
    with pytest.raises((TypeError, ValueError), match=match) as info:
        EnergyMonitor(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("watts", [math.nan, math.inf, -1.0])
def test_idle_baseline_power_must_be_finite_and_non_negative(watts):
    from green_chain.energy.idle import IdleBaseline

    with pytest.raises(ValueError, match="idle power of gpu:0 must be a finite number"):
        IdleBaseline({"gpu:0": watts})


def test_a_backwards_glitch_is_flagged_and_its_recovery_not_counted():
    meter = FakeMeterBackend(["gpu:0"])
    monitor = EnergyMonitor([meter], clock=FakeClock())
    meter.add("gpu:0", 10.0)
    before = monitor.read()
    meter.set_raw("gpu:0", 2.0)  # one low value, then the true counter again
    glitch = monitor.read()
    assert "went backwards" in (glitch.domains["gpu:0"].error or "")
    low_again = monitor.read()  # 2.0 again: not backwards, but in the glitch's epoch
    meter.recover("gpu:0")
    back = monitor.read()
    assert monitor.between(low_again, back).energy_j == {}  # 8 J of climb back: not energy
    assert monitor.between(before, back).energy_j == {}  # across the glitch: unknown
    meter.add("gpu:0", 1.5)
    assert monitor.between(back, monitor.read()).energy_j == {"gpu:0": 1.5}


def test_only_a_meter_slow_several_times_in_a_row_is_moved_to_timed_reads():
    from green_chain.energy.monitor import FAST_READS_TO_INLINE, SLOW_READS_TO_TIME

    meter = FakeMeterBackend(["gpu:0"], delay_s=0.03)
    monitor = EnergyMonitor([meter])
    for _ in range(SLOW_READS_TO_TIME - 1):
        monitor.read()
    assert monitor._timed == {}  # a slow read or two may be the scheduler
    monitor.read()
    assert list(monitor._timed) == [id(meter)]
    meter.delay_s = 0.0
    for _ in range(FAST_READS_TO_INLINE + 2):
        assert monitor.read().domains["gpu:0"].energy_j == 0.0
    assert monitor._timed == {}  # fast again: back to inline reads
