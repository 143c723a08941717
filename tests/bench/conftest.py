"""Fixtures for the benchmark tests (fakes live in green_chain.testing.bench)."""

from __future__ import annotations

import pytest

from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.bench import make_components, write_tiny_data
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
