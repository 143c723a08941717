"""Worker setups for the distributed benchmark's tests (``bench --ray`` on fakes).

A Ray worker builds its own components and monitor in its own process, so it needs an
importable ``() -> (components, monitor)``: :func:`fake_worker_setup` gives the
scripted fake models of :mod:`green_chain.testing.bench` on a fake meter, the same as the
local tests' fixtures build.
"""

from __future__ import annotations

from green_chain.bench.components import Components
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.bench import make_components
from green_chain.testing.clock import FakeClock
from green_chain.testing.meters import FakeMeterBackend


def fake_meter_setup() -> tuple[FakeClock, FakeMeterBackend, EnergyMonitor]:
    """A fake clock, a fake estimated CPU meter on it, and a monitor reading that meter."""
    clock = FakeClock()
    meter = FakeMeterBackend(["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock)
    return clock, meter, EnergyMonitor([meter], clock=clock)


def fake_worker_setup() -> tuple[Components, EnergyMonitor]:
    """Fake components and a monitor on a fake meter, built in the calling process."""
    clock, meter, monitor = fake_meter_setup()
    return make_components(clock, meter), monitor
