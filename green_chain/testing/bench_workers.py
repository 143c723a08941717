"""Worker setups for the distributed benchmark's tests (``bench --ray`` on fakes).

A Ray worker builds its own components and monitor in its own process, so it needs an
importable ``() -> (components, monitor)``: :func:`fake_worker_setup` gives the
scripted fake models of :mod:`green_chain.testing.bench` on a fake meter, the same as the
local tests' fixtures build.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def run_fake_bench(argv: Sequence[str]) -> int:
    """Run ``green-chain bench <argv>`` on the fake components, meter and workers; its exit code.

    ``argv`` omits the ``bench`` word; ``--jobs``/``--ray`` workers get
    :func:`fake_worker_setup`.
    """
    from green_chain.cli import bench, build_parser

    clock, meter, monitor = fake_meter_setup()
    args = build_parser().parse_args(["bench", *argv])
    return bench.run(
        args,
        components=make_components(clock, meter),
        monitor=monitor,
        worker_setup=fake_worker_setup,
    )
