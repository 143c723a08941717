"""Fixtures for the benchmark tests (fakes live in green_chain.testing.bench)."""

from __future__ import annotations

import pytest

from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.bench import make_components, write_tiny_data
from green_chain.testing.bench_workers import fake_meter_setup, fake_worker_setup
from green_chain.testing.clock import FakeClock
from green_chain.testing.meters import FakeMeterBackend


@pytest.fixture
def meter_env():
    clock = FakeClock()
    meter = FakeMeterBackend(["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock)
    monitor = EnergyMonitor([meter], clock=clock)
    return clock, meter, monitor


@pytest.fixture
def fake_components(meter_env):
    clock, meter, _ = meter_env
    return make_components(clock, meter)


@pytest.fixture
def tiny_data(tmp_path):
    root = tmp_path / "data"
    write_tiny_data(root)
    return root


@pytest.fixture
def fake_bench():
    """``run(argv) -> exit code``: ``green-chain bench <argv>`` (no ``bench`` word) on the fake
    components, meter and workers (``--jobs``/``--ray`` workers get ``fake_worker_setup``)."""
    from green_chain.cli import bench, build_parser

    def run(argv: list[str]) -> int:
        clock, meter, monitor = fake_meter_setup()
        args = build_parser().parse_args(["bench", *argv])
        return bench.run(
            args,
            components=make_components(clock, meter),
            monitor=monitor,
            worker_setup=fake_worker_setup,
        )

    return run
