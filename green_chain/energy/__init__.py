"""Energy meters: backends, probe, measurement windows, idle baseline, carbon, energy curves.

Light on import: only the measurement types and the monitor load eagerly; the
rest load on first attribute access (``green_chain.energy.EnergyCurve``...).
"""

from __future__ import annotations

import importlib
from typing import Any

from green_chain.energy.measurement import (
    DomainEnergy,
    DomainInfo,
    DomainReading,
    Measurement,
    Reading,
)
from green_chain.energy.monitor import EnergyMonitor, WindowError, energy_between

_LAZY = {
    "MeterBackend": "green_chain.energy.backends.base",
    "NullBackend": "green_chain.energy.backends.base",
    "MeterUnavailableError": "green_chain.energy.backends.base",
    "NVMLBackend": "green_chain.energy.backends.nvml",
    "RAPLBackend": "green_chain.energy.backends.rapl",
    "CPUTimeEstimateBackend": "green_chain.energy.backends.estimate",
    "detect_backends": "green_chain.energy.probe",
    "describe_meters": "green_chain.energy.probe",
    "MeterStatus": "green_chain.energy.probe",
    "IdleBaseline": "green_chain.energy.idle",
    "CarbonIntensity": "green_chain.energy.carbon",
    "EnergyCurve": "green_chain.energy.model",
}

__all__ = [
    "DomainEnergy",
    "DomainInfo",
    "DomainReading",
    "EnergyMonitor",
    "Measurement",
    "Reading",
    "WindowError",
    "energy_between",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'green_chain.energy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
