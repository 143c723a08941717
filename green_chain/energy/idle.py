"""Idle power baseline: what each domain draws when nothing runs.

Net energy of a window is defined as::

    net_j = max(0, gross_j - idle_power_w * duration_s)

i.e. the energy above what the domain would have drawn idling for the same
time, never below zero (see
:meth:`green_chain.energy.measurement.Measurement.net_energy_j`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from green_chain.energy.monitor import EnergyMonitor


@dataclass(frozen=True)
class IdleBaseline:
    """Idle power per domain.

    Attributes:
        power_w: Domain -> idle power in watts.
        duration_s: Length of the idle measurement in seconds.
        sources: Domain -> meter source of the figure.
        kinds: Domain -> ``measured``/``estimated``.
        unavailable: Domain -> reason, for domains that could not be read.
    """

    power_w: Mapping[str, float]
    duration_s: float = 0.0
    sources: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, p in self.power_w.items():
            if not isinstance(p, int | float) or not math.isfinite(p) or p < 0:
                raise ValueError(f"idle power of {name} must be a finite number >= 0 W, got {p!r}")

    @classmethod
    def measure(
        cls,
        monitor: EnergyMonitor,
        duration_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> IdleBaseline:
        """Read every domain of ``monitor`` over ``duration_s`` seconds of idling.

        Keep the machine quiet meanwhile: whatever runs is counted as idle.
        ``sleep`` is injectable (tests pass ``FakeClock.sleep``).
        """
        if duration_s <= 0:
            raise ValueError(f"idle duration_s must be > 0, got {duration_s}")
        start = monitor.read()
        sleep(duration_s)
        end = monitor.read()
        m = monitor.between(start, end)
        elapsed = m.duration_s if m.duration_s > 0 else duration_s
        power, sources, kinds, missing = {}, {}, {}, {}
        for name, d in m.domains.items():
            if d.available and d.energy_j is not None:
                power[name] = d.energy_j / elapsed
                sources[name] = d.source
                kinds[name] = d.kind
            else:
                missing[name] = d.reason or "unavailable"
        return cls(power, elapsed, sources, kinds, missing)

    @property
    def total_power_w(self) -> float:
        """Sum of idle power over domains, watts."""
        return sum(self.power_w.values())

    def apply(self, monitor: EnergyMonitor) -> EnergyMonitor:
        """Set ``monitor.idle_power_w`` so its measurements report net energy; returns it."""
        monitor.idle_power_w = dict(self.power_w)
        return monitor

    def to_dict(self) -> dict[str, Any]:
        return {
            "power_w": dict(self.power_w),
            "duration_s": self.duration_s,
            "sources": dict(self.sources),
            "kinds": dict(self.kinds),
            "unavailable": dict(self.unavailable),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdleBaseline:
        if "power_w" not in data:
            raise ValueError("an idle baseline needs a 'power_w' mapping of domain -> watts")
        return cls(
            power_w={str(k): float(v) for k, v in data["power_w"].items()},
            duration_s=float(data.get("duration_s", 0.0)),
            sources=dict(data.get("sources", {})),
            kinds=dict(data.get("kinds", {})),
            unavailable=dict(data.get("unavailable", {})),
        )
