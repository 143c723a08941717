"""The abstract meter backend: one small class per device family.

A backend reports *cumulative* energy per domain; the monitor turns two readings
into a :class:`~green_chain.energy.measurement.Measurement`. Backends must handle
their own counter wrap-around so that successive ``read()`` values never go
backwards, and must never raise from ``read()`` for a per-domain failure: they
return a :class:`DomainReading` with ``energy_j=None`` and ``error`` set instead.
The monitor still guards every call: an exception, a hang (for a backend with
``read_blocks = True``) or a non-finite value marks the domains unreadable.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

from green_chain.energy.measurement import DomainInfo, DomainReading


class MeterUnavailableError(RuntimeError):
    """Raised by a backend constructor when its hardware or library is absent."""


class MeterBackend(abc.ABC):
    """One source of energy readings (NVML, RAPL, an estimate, a remote exporter).

    Subclasses set :attr:`source` and implement :meth:`domains` and :meth:`read`.
    """

    #: Short source label used in every record (``nvml``, ``rapl``, ``estimate``).
    source: str = "unknown"
    #: True when ``read()`` calls a driver that can hang (NVML): the monitor then
    #: reads it on a worker thread with a timeout (see :mod:`green_chain.energy.timeout`).
    read_blocks: bool = False

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        """Probe whether this backend can run here: ``(ok, reason)``.

        The default tries to construct the backend and reports why it failed.
        """
        try:
            backend = cls()
        except Exception as exc:  # probing must never raise
            return False, f"{type(exc).__name__}: {exc}"
        backend.close()
        return True, "available"

    @abc.abstractmethod
    def domains(self) -> Mapping[str, DomainInfo]:
        """Static description of each domain this backend reports."""

    @abc.abstractmethod
    def read(self) -> Mapping[str, DomainReading]:
        """Cumulative energy per domain now (joules, arbitrary origin)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (background samplers, library handles)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(domains={list(self.domains())})"


class NullBackend(MeterBackend):
    """A backend with no domains: used when nothing can be measured.

    Measurements taken with it are empty and report ``available=False``.
    """

    source = "none"

    def __init__(self, reason: str = "no energy meter available") -> None:
        self.reason = reason

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        return True, "always"

    def domains(self) -> Mapping[str, DomainInfo]:
        return {}

    def read(self) -> Mapping[str, DomainReading]:
        return {}
