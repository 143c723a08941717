"""Test doubles shipped with green-chain, for its tests and yours.

* :class:`FakeClock` - a callable monotonic clock moved by ``advance(s)``.
* :class:`FakeMeterBackend` - a meter with scripted cumulative energy per domain
  (``add(domain, joules)``, ``fail(domain, reason)``, settable kind/source).
* :class:`FakeNVML` - a fake ``pynvml`` module (counters, power, errors, pre-Volta).
* :class:`FakePowercapTree` - builds a fake ``/sys/class/powercap`` RAPL tree.
* :class:`BagOfWordsEmbeddings` - deterministic hashed bag-of-words embeddings
  (:mod:`green_chain.testing.embeddings`), recording texts embedded and batch sizes.
* :class:`ScriptedChatModel` - a chat model replaying scripted replies (then a
  ``default``), recording each call's messages, kwargs, ``stop`` and bound tools, with a
  ``with_structured_output`` that parses the reply (:mod:`green_chain.testing.models`).
* :mod:`green_chain.testing.bench` - fake components and a tiny data folder for the
  benchmark library (``make_components``, ``write_tiny_data``).

Typical use::

    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.testing import FakeClock, FakeMeterBackend

    clock = FakeClock()
    meter = FakeMeterBackend(["gpu:0"])
    monitor = EnergyMonitor([meter], clock=clock)

The LangChain-based doubles (``ScriptedChatModel``, ``FakeOpenAIChatModel``,
``ai_message``, ``tool_call`` of :mod:`green_chain.testing.models`, and ``BagOfWordsEmbeddings``) load on first access.
"""

from __future__ import annotations

from typing import Any

from green_chain.testing.clock import FakeClock
from green_chain.testing.fake_nvml import FakeGPU, FakeNVML
from green_chain.testing.fake_powercap import FakePowercapTree, FakeZone
from green_chain.testing.meters import FakeMeterBackend

#: Lazily loaded names -> their module (they import langchain-core).
_LAZY = {
    "FakeOpenAIChatModel": "green_chain.testing.models",
    "ScriptedChatModel": "green_chain.testing.models",
    "ai_message": "green_chain.testing.models",
    "tool_call": "green_chain.testing.models",
    "BagOfWordsEmbeddings": "green_chain.testing.embeddings",
}

__all__ = [
    "BagOfWordsEmbeddings",
    "FakeClock",
    "FakeGPU",
    "FakeMeterBackend",
    "FakeNVML",
    "FakeOpenAIChatModel",
    "FakePowercapTree",
    "FakeZone",
    "ScriptedChatModel",
    "ai_message",
    "tool_call",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'green_chain.testing' has no attribute {name!r}")
