"""Test doubles shipped with green-chain, for its tests and yours.

* :class:`FakeClock` - a callable monotonic clock moved by ``advance(s)``.
* :class:`FakeMeterBackend` - a meter with scripted cumulative energy per domain
  (``add(domain, joules)``, ``fail(domain, reason)``, settable kind/source).
* :class:`FakeNVML` - a fake ``pynvml`` module (counters, power, errors, pre-Volta).
* :class:`FakePowercapTree` - builds a fake ``/sys/class/powercap`` RAPL tree.

Typical use::

    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.testing import FakeClock, FakeMeterBackend

    clock = FakeClock()
    meter = FakeMeterBackend(["gpu:0"])
    monitor = EnergyMonitor([meter], clock=clock)

The scripted chat model helpers of :mod:`green_chain.testing.models`
(``ScriptedChatModel``, ``ai_message``, ``tool_call``) load on first access.
"""

from __future__ import annotations

from typing import Any

from green_chain.testing.clock import FakeClock
from green_chain.testing.fake_nvml import FakeGPU, FakeNVML
from green_chain.testing.fake_powercap import FakePowercapTree, FakeZone
from green_chain.testing.meters import FakeMeterBackend

_MODELS = ("FakeOpenAIChatModel", "ScriptedChatModel", "ai_message", "tool_call")

__all__ = [
    "FakeClock",
    "FakeGPU",
    "FakeMeterBackend",
    "FakeNVML",
    "FakePowercapTree",
    "FakeZone",
    *_MODELS,
]


def __getattr__(name: str) -> Any:
    if name in _MODELS:
        from green_chain.testing import models

        return getattr(models, name)
    raise AttributeError(f"module 'green_chain.testing' has no attribute {name!r}")
