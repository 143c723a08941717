"""Fixtures for the energy-handler tests: a scripted meter on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.clock import FakeClock
from green_chain.testing.meters import FakeMeterBackend


@dataclass
class Metered:
    handler: EnergyCallbackHandler
    meter: FakeMeterBackend
    clock: FakeClock
    monitor: EnergyMonitor

    def work(self, joules: float, seconds: float = 0.1) -> None:
        """Simulate a step doing work: the device spends ``joules`` over ``seconds``."""
        self.meter.add("gpu:0", joules)
        self.clock.advance(seconds)

    def records(self, name: str | None = None, run_type: str | None = None) -> list[dict]:
        """The handler's records, optionally filtered by name and/or run type."""
        return [
            r
            for r in self.handler.records()
            if (name is None or r["name"] == name)
            and (run_type is None or r["run_type"] == run_type)
        ]


def make_metered(**handler_kwargs: object) -> Metered:
    clock = FakeClock(start_s=1000.0)
    meter = FakeMeterBackend(["gpu:0"], kind="measured", source="fake-nvml")
    monitor = EnergyMonitor([meter], clock=clock)
    handler_kwargs.setdefault("estimators", None)
    handler = EnergyCallbackHandler(monitor, **handler_kwargs)  # type: ignore[arg-type]
    return Metered(handler, meter, clock, monitor)


@pytest.fixture
def metered() -> Metered:
    return make_metered()


@pytest.fixture
def metered_factory():
    """Build a fresh :class:`Metered` with handler keyword arguments."""
    return make_metered
