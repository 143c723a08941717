"""Measurement windows over one or more meter backends.

:class:`EnergyMonitor` is thread-safe: any number of overlapping or nested
windows, each under its own hashable key, may be open at once from any thread.
``begin(key)`` takes a reading, ``end(key)`` takes another and returns the
difference as a :class:`Measurement`. Meters are device-wide, so overlapping
windows see the same joules; attributing them to concurrent work is the
callback handler's job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence

from green_chain.energy.backends.base import MeterBackend
from green_chain.energy.measurement import (
    DomainEnergy,
    DomainInfo,
    DomainReading,
    Measurement,
    Reading,
)


class WindowError(KeyError):
    """Raised for a bad window key: ending an unknown key or beginning an open one."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "window error"


def energy_between(
    start: Reading,
    end: Reading,
    idle_power_w: Mapping[str, float] | None = None,
) -> Measurement:
    """The energy of every domain between two readings.

    A domain unreadable at either end is reported with ``available=False`` and
    the reason. For a window shorter than a counter's update period the delta
    may be zero or one whole update: ``uncertainty_j`` is then
    ``power_w * update_period_s`` (power from the end reading, or the window's
    average power when the backend gives none). A domain whose
    :class:`DomainInfo` has a ``relative_uncertainty`` (an estimate) adds
    ``relative_uncertainty * energy_j`` to it.
    """
    duration_s = max(0.0, end.timestamp_s - start.timestamp_s)
    domains: dict[str, DomainEnergy] = {}
    for name, info in end.info.items():
        a = start.domains.get(name)
        b = end.domains.get(name)
        if a is None or b is None or a.energy_j is None or b.energy_j is None:
            reason = (
                (b.error if b is not None else None)
                or (a.error if a is not None else None)
                or "domain missing from one of the window's readings"
            )
            domains[name] = DomainEnergy(
                domain=name,
                source=info.source,
                kind=info.kind,
                energy_j=None,
                available=False,
                reason=reason,
            )
            continue
        delta = b.energy_j - a.energy_j
        if delta < 0:
            domains[name] = DomainEnergy(
                domain=name,
                source=info.source,
                kind=info.kind,
                energy_j=None,
                available=False,
                reason=f"counter went backwards by {-delta:.3f} J (reset or wrap not tracked)",
            )
            continue
        uncertainty: float | None = None
        period = max(a.update_period_s, b.update_period_s)
        if period > 0:
            power = (
                b.power_w
                if b.power_w is not None
                else (delta / duration_s if duration_s > 0 else None)
            )
            if power is not None:
                uncertainty = power * period
        if info.relative_uncertainty is not None:
            uncertainty = (uncertainty or 0.0) + info.relative_uncertainty * delta
        domains[name] = DomainEnergy(
            domain=name,
            source=info.source,
            kind=info.kind,
            energy_j=delta,
            uncertainty_j=uncertainty,
            approximate=a.approximate or b.approximate,
        )
    return Measurement(
        start_s=start.timestamp_s,
        end_s=end.timestamp_s,
        domains=domains,
        idle_power_w=dict(idle_power_w or {}),
    )


class EnergyMonitor:
    """Open and close measurement windows over a set of backends.

    Args:
        backends: Meter backends to read; ``None`` probes the machine
            (:func:`green_chain.energy.probe.detect_backends`).
        clock: Monotonic clock in seconds (injectable for tests).
        idle_power_w: Idle power per domain in watts, for net energy
            (see :class:`~green_chain.energy.idle.IdleBaseline`).
    """

    def __init__(
        self,
        backends: Sequence[MeterBackend] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        idle_power_w: Mapping[str, float] | None = None,
    ) -> None:
        if backends is None:
            from green_chain.energy.probe import detect_backends

            backends = detect_backends()
        self.backends: list[MeterBackend] = list(backends)
        self.clock = clock
        self.idle_power_w: dict[str, float] = dict(idle_power_w or {})
        self._lock = threading.Lock()
        self._open: dict[Hashable, Reading] = {}
        self._info: dict[str, DomainInfo] = {}
        for backend in self.backends:
            try:
                self._info.update(backend.domains())
            except Exception as exc:  # a broken backend must not break the caller
                self._info[f"{backend.source}:?"] = DomainInfo(
                    f"{backend.source}:?", backend.source, "measured", f"domains() failed: {exc}"
                )

    @property
    def domains(self) -> dict[str, DomainInfo]:
        """Every domain the monitor reads, with its source and kind."""
        return dict(self._info)

    def read(self) -> Reading:
        """A snapshot of every backend now. Never raises for a backend failure."""
        values: dict[str, DomainReading] = {}
        for backend in self.backends:
            try:
                values.update(backend.read())
            except Exception as exc:
                reason = f"{backend.source} read failed: {type(exc).__name__}: {exc}"
                for name, info in self._info.items():
                    if info.source == backend.source:
                        values[name] = DomainReading(energy_j=None, error=reason)
        return Reading(timestamp_s=self.clock(), domains=values, info=self._info)

    def begin(self, key: Hashable) -> Reading:
        """Open a window under ``key``. Raises :class:`WindowError` if it is already open."""
        reading = self.read()
        with self._lock:
            if key in self._open:
                raise WindowError(f"window {key!r} is already open; end or cancel it first")
            self._open[key] = reading
        return reading

    def end(self, key: Hashable) -> Measurement:
        """Close the window ``key`` and return its measurement.

        Raises :class:`WindowError` if no window is open under ``key``.
        """
        reading = self.read()
        with self._lock:
            start = self._open.pop(key, None)
        if start is None:
            raise WindowError(f"no open window {key!r}: begin() it first (or it was already ended)")
        return energy_between(start, reading, self.idle_power_w)

    def cancel(self, key: Hashable) -> None:
        """Drop the window ``key`` without measuring. Raises :class:`WindowError` if unknown."""
        with self._lock:
            if self._open.pop(key, None) is None:
                raise WindowError(f"no open window {key!r} to cancel")

    def is_open(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._open

    @property
    def open_keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._open)

    def between(self, start: Reading, end: Reading) -> Measurement:
        """The measurement between two readings taken with :meth:`read`."""
        return energy_between(start, end, self.idle_power_w)

    def close(self) -> None:
        for backend in self.backends:
            try:
                backend.close()
            except Exception:
                pass
