"""RAPL counters read often enough to rule out a second wrap, or flagged (issue 17 item 5)."""

from __future__ import annotations

from green_chain.energy.backends.rapl import SAMPLES_PER_WRAP
from green_chain.energy.monitor import CONTINUITY_LOST, EnergyMonitor
from green_chain.testing.clock import FakeClock
from green_chain.testing.fake_powercap import FakePowercapTree

RANGE_UJ = 10_000_000  # the counter wraps every 10 J
MAX_POWER_UW = 100_000_000  # 100 W: one wrap takes at least 0.1 s


def _setup(tmp_path):
    clock = FakeClock()
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0", max_energy_range_uj=RANGE_UJ, max_power_uw=MAX_POWER_UW)
    backend = tree.backend(clock=clock)
    return clock, pkg, backend, EnergyMonitor([backend], clock=clock)


def test_sampling_interval_follows_the_range_and_max_power(tmp_path):
    _, _, backend, _ = _setup(tmp_path)
    assert backend.sample_interval_s == 0.1 / SAMPLES_PER_WRAP


def test_two_wraps_between_reads_are_flagged_not_under_counted(tmp_path):
    clock, pkg, _backend, monitor = _setup(tmp_path)
    start = monitor.read()
    pkg.add_energy_j(24.0)  # two wraps: the raw counter only shows 4 J more
    clock.advance(0.3)  # longer than one wrap at maximum power
    end = monitor.read()
    window = monitor.between(start, end)
    assert window.total_j is None
    assert window.domains["cpu:package-0"].reason == CONTINUITY_LOST
    pkg.add_energy_j(3.0)  # later windows are fine again
    clock.advance(0.05)
    assert abs(monitor.between(end, monitor.read()).total_j - 3.0) < 1e-9


def test_reads_at_the_sampling_interval_count_every_wrap(tmp_path):
    clock, pkg, backend, monitor = _setup(tmp_path)
    start = monitor.read()
    for _ in range(12):  # 24 J in 0.3 s at 80 W, sampled every interval
        pkg.add_energy_j(2.0)
        clock.advance(backend.sample_interval_s)
        backend.read()
    window = monitor.between(start, monitor.read())
    assert abs(window.total_j - 24.0) < 1e-6


def test_background_sampler_runs_and_stops(tmp_path):
    tree = FakePowercapTree(tmp_path)
    tree.add_zone("package-0", max_energy_range_uj=RANGE_UJ, max_power_uw=MAX_POWER_UW)
    backend = tree.backend(start_sampler=True)
    assert backend._thread is not None and backend._thread.is_alive()
    backend.close()
    assert not backend._thread.is_alive()
