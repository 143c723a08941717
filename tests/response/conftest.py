"""Fixtures for the response-budget tests: a handler metering a fake meter."""

from __future__ import annotations

import pytest

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing import FakeClock, FakeMeterBackend


@pytest.fixture
def handler() -> EnergyCallbackHandler:
    monitor = EnergyMonitor([FakeMeterBackend(["cpu"])], clock=FakeClock(start_s=10.0))
    return EnergyCallbackHandler(monitor, estimators=None)
