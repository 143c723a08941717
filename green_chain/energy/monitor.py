"""Measurement windows over one or more meter backends.

:class:`EnergyMonitor` is thread-safe: any number of overlapping or nested
windows, each under its own hashable key, may be open at once from any thread.
``begin(key)`` takes a reading, ``end(key)`` takes another and returns the
difference as a :class:`Measurement`. Meters are device-wide, so overlapping
windows see the same joules; attributing them to concurrent work is the
callback handler's job.

Every reading is checked: a backend that raises, returns a non-number, NaN,
infinity, a negative counter or one below its previous value gets the domain
marked unreadable with the reason (never a poisoned figure; a backwards jump
also starts a new continuity epoch, so windows across it are unknown). A backend whose ``read_blocks`` is true (a
driver call that can hang, e.g. NVML) is read on a worker thread and waited
for at most ``read_timeout_s`` seconds (:mod:`green_chain.energy.timeout`);
a timed-out read marks its domains unavailable with the reason. Any other
backend whose reads take longer than :data:`SLOW_READ_S` several times in a
row is moved to timed reads too (and back once it is fast again). Reads are serialised and numbered (``Reading.seq``) so
consumers can order them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from green_chain.energy.backends.base import MeterBackend
from green_chain.energy.measurement import (
    DomainEnergy,
    DomainInfo,
    DomainReading,
    Measurement,
    Reading,
    checked_reading,
)
from green_chain.energy.timeout import ReadTimeoutError, TimedCall

#: Reason of a window whose two readings lie in different counter epochs.
CONTINUITY_LOST = (
    "counter continuity lost between the window's readings (read too seldom to rule "
    "out a second counter wrap); energy unknown"
)

#: Epoch offset the monitor adds at each backwards jump (keeps backend epochs apart).
EPOCH_STEP = 1 << 32

#: Default wait for a backend read that may block (seconds).
DEFAULT_READ_TIMEOUT_S = 1.0
#: An inline read slower than this (seconds) counts as slow ...
SLOW_READ_S = 0.02
#: ... and this many slow reads in a row move a backend to timed reads;
SLOW_READS_TO_TIME = 3
#: this many fast timed reads in a row (< SLOW_READ_S / 10) move it back inline.
FAST_READS_TO_INLINE = 100

log = logging.getLogger(__name__)


def check_idle_power_w(value: Any, argument: str = "idle_power_w") -> dict[str, float]:
    """``value`` as a domain -> watts dict; a one-line error naming ``argument`` otherwise."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{argument} must be a mapping of domain -> idle watts (or an IdleBaseline), "
            f"got {type(value).__name__} {value!r}"
        )
    out: dict[str, float] = {}
    for domain, watts in value.items():
        if isinstance(watts, bool) or not isinstance(watts, int | float):
            raise TypeError(f"{argument}[{domain!r}] must be a number of watts >= 0, got {watts!r}")
        if not math.isfinite(watts) or watts < 0:
            raise ValueError(
                f"{argument}[{domain!r}] must be a finite number of watts >= 0, got {watts!r}"
            )
        out[str(domain)] = float(watts)
    return out


class WindowError(KeyError):
    """Raised for a bad window key: ending an unknown key or beginning an open one."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "window error"


def _unavailable(name: str, info: DomainInfo, reason: str) -> DomainEnergy:
    """A domain's figure that cannot be given, with its ``reason``."""
    return DomainEnergy(
        domain=name,
        source=info.source,
        kind=info.kind,
        energy_j=None,
        available=False,
        reason=reason,
    )


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
            domains[name] = _unavailable(name, info, reason)
            continue
        if a.epoch != b.epoch:
            domains[name] = _unavailable(name, info, CONTINUITY_LOST)
            continue
        delta = b.energy_j - a.energy_j
        if delta < 0:
            reason = f"counter went backwards by {-delta:.3f} J (reset or wrap not tracked)"
            domains[name] = _unavailable(name, info, reason)
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
        read_timeout_s: Longest wait in seconds for a backend whose
            ``read_blocks`` is true (default 1 s); ``None`` reads every backend
            inline with no timeout.
    """

    def __init__(
        self,
        backends: Sequence[MeterBackend] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        idle_power_w: Mapping[str, float] | None = None,
        read_timeout_s: float | None = DEFAULT_READ_TIMEOUT_S,
    ) -> None:
        if backends is None:
            from green_chain.energy.probe import detect_backends

            backends = detect_backends()
        if isinstance(backends, str | bytes) or not isinstance(backends, Sequence):
            raise TypeError(
                "backends must be a list of meter backend objects (e.g. [NVMLBackend()]) "
                f"or None to probe the machine, got {type(backends).__name__} {backends!r}"
            )
        for backend in backends:
            if not isinstance(backend, MeterBackend):
                raise TypeError(
                    "backends must hold MeterBackend objects (e.g. NVMLBackend(), "
                    f"RAPLBackend()), got {type(backend).__name__} {backend!r}"
                )
        if read_timeout_s is not None and (
            isinstance(read_timeout_s, bool)
            or not isinstance(read_timeout_s, int | float)
            or not math.isfinite(read_timeout_s)
            or read_timeout_s <= 0
        ):
            raise ValueError(
                f"read_timeout_s must be a number of seconds > 0 or None, got {read_timeout_s!r}"
            )
        self.backends: list[MeterBackend] = list(backends)
        self.clock = clock
        self.idle_power_w: dict[str, float] = check_idle_power_w(idle_power_w or {})
        self.read_timeout_s = read_timeout_s
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._seq = 0
        self._last_j: dict[str, float] = {}
        self._epoch_shift: dict[str, int] = {}
        self._high_j: dict[str, float] = {}
        self._slow_reads: dict[int, int] = {}
        self._fast_reads: dict[int, int] = {}
        self._open: dict[Hashable, Reading] = {}
        self._info: dict[str, DomainInfo] = {}
        self._by_source: dict[int, list[str]] = {}
        self._timed: dict[int, TimedCall[Mapping[str, DomainReading]]] = {}
        for backend in self.backends:
            try:
                info = dict(backend.domains())
            except Exception as exc:  # a broken backend must not break the caller
                info = {
                    f"{backend.source}:?": DomainInfo(
                        f"{backend.source}:?",
                        backend.source,
                        "measured",
                        f"domains() failed: {exc}",
                    )
                }
            self._info.update(info)
            self._by_source[id(backend)] = list(info)
            if getattr(backend, "read_blocks", False):
                self._timed[id(backend)] = TimedCall(
                    backend.read, f"green-chain-{backend.source}-read", clock=time.monotonic
                )

    @property
    def domains(self) -> dict[str, DomainInfo]:
        """Every domain the monitor reads, with its source and kind."""
        return dict(self._info)

    def read(self, timeout_s: float | None = None) -> Reading:
        """A snapshot of every backend now. Never raises for a backend failure.

        Args:
            timeout_s: Longest wait in seconds for each blocking backend
                (default :attr:`read_timeout_s`); a domain not read in time is
                unavailable in the snapshot, with the reason.
        """
        wait_s = self.read_timeout_s if timeout_s is None else timeout_s
        if wait_s is not None and not self._read_lock.acquire(True, wait_s):
            reason = f"meter read timed out after {wait_s:g} s (another read is still running)"
            failed = {n: DomainReading(energy_j=None, error=reason) for n in self._info}
            return Reading(timestamp_s=self.clock(), domains=failed, info=self._info)
        if wait_s is None:
            self._read_lock.acquire()
        try:
            backends = self.backends
            if len(backends) == 1:
                values = self._read_backend(backends[0], wait_s)
            else:
                values = {}
                for backend in backends:
                    values.update(self._read_backend(backend, wait_s))
            self._seq += 1
            return Reading(timestamp_s=self.clock(), domains=values, info=self._info, seq=self._seq)
        finally:
            self._read_lock.release()

    def _read_backend(
        self, backend: MeterBackend, timeout_s: float | None
    ) -> dict[str, DomainReading]:
        names = self._by_source.get(id(backend), ())
        timed = self._timed.get(id(backend))
        try:
            if timed is None or timeout_s is None:
                t0 = time.perf_counter()
                raw = backend.read()
                if time.perf_counter() - t0 > SLOW_READ_S:
                    self._note_slow_read(backend)
                elif self._slow_reads:
                    self._slow_reads.pop(id(backend), None)
            else:
                raw = timed(timeout_s)
                if not backend.read_blocks:
                    self._note_timed_read(backend, timed)
            if type(raw) is not dict and not isinstance(raw, Mapping):
                raise TypeError(f"read() returned {type(raw).__name__}, not a mapping")
        except ReadTimeoutError as exc:
            reason = f"{backend.source}: {exc}"
            return {n: DomainReading(energy_j=None, error=reason) for n in names}
        except Exception as exc:
            reason = f"{backend.source} read failed: {type(exc).__name__}: {exc}"
            return {n: DomainReading(energy_j=None, error=reason) for n in names}
        out: dict[str, DomainReading] = {}
        last_j, shifted = self._last_j, self._epoch_shift
        for n, v in raw.items():
            if type(v) is DomainReading and type(n) is str and n not in shifted:
                e, p, u, last = v.energy_j, v.power_w, v.update_period_s, last_j.get(n)
                if (  # the common case, checked inline (NaN fails every comparison)
                    e.__class__ is float
                    and (0.0 if last is None else last) <= e < math.inf
                    and (p is None or (p.__class__ is float and -math.inf < p < math.inf))
                    and u.__class__ is float
                    and 0.0 <= u < math.inf
                ):
                    last_j[n] = e
                    out[n] = v
                    continue
            out[str(n)] = self._forward(str(n), checked_reading(v, backend.source))
        return out

    def _note_slow_read(self, backend: MeterBackend) -> None:
        """Move a backend to timed reads after :data:`SLOW_READS_TO_TIME` slow reads in a row.

        One slow read may be the scheduler, not the meter; several in a row are the meter.
        """
        key = id(backend)
        count = self._slow_reads[key] = self._slow_reads.get(key, 0) + 1
        if count >= SLOW_READS_TO_TIME and key not in self._timed:
            log.info("%s reads take > %g s: reading it with a timeout", backend, SLOW_READ_S)
            self._timed[key] = TimedCall(backend.read, f"green-chain-{backend.source}-read")
            self._slow_reads.pop(key, None)

    def _note_timed_read(
        self, backend: MeterBackend, timed: TimedCall[Mapping[str, DomainReading]]
    ) -> None:
        """Move a backend that was timed only for being slow back to inline reads once fast."""
        key = id(backend)
        last = timed.last_duration_s
        if last is None or last > SLOW_READ_S / 10:
            self._fast_reads.pop(key, None)
            return
        count = self._fast_reads[key] = self._fast_reads.get(key, 0) + 1
        if count >= FAST_READS_TO_INLINE:
            self._timed.pop(key, None)
            self._fast_reads.pop(key, None)
            timed.close()

    def _forward(self, name: str, value: DomainReading) -> DomainReading:
        """Enforce forward-only counters (called under the read lock, readings in order).

        A value below the domain's previous one breaks the backend contract (a
        reset or a glitch): it is reported unreadable, and the domain starts a
        new continuity epoch at it, so no window across the jump gets a figure.
        A later value back at or above the pre-jump one (the glitch ended)
        starts another epoch, so the climb back is not counted as energy.
        """
        energy = value.energy_j
        if energy is None:
            return value
        shift = self._epoch_shift.get(name, 0)
        last = self._last_j.get(name)
        self._last_j[name] = energy
        if last is not None and energy < last:
            shift += EPOCH_STEP
            self._epoch_shift[name] = shift
            self._high_j.setdefault(name, last)
            return DomainReading(
                energy_j=None,
                error=f"counter went backwards from {last:.6g} J to {energy:.6g} J "
                "(reset or glitch); windows across it are unknown",
                epoch=value.epoch + shift,
            )
        high = self._high_j.get(name)
        if high is not None and energy >= high:
            del self._high_j[name]
            shift += EPOCH_STEP
            self._epoch_shift[name] = shift
        if shift:
            return replace(value, epoch=value.epoch + shift)
        return value
        shift = self._epoch_shift.get(name, 0)
        last = self._last_j.get(name)
        self._last_j[name] = energy
        if last is not None and energy < last:
            shift += EPOCH_STEP
            self._epoch_shift[name] = shift
            return DomainReading(
                energy_j=None,
                error=f"counter went backwards from {last:.6g} J to {energy:.6g} J "
                "(reset or glitch); windows across it are unknown",
                epoch=value.epoch + shift,
            )
        if shift:
            return replace(value, epoch=value.epoch + shift)
        return value

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
        for timed in self._timed.values():
            timed.close()
        for backend in self.backends:
            try:
                backend.close()
            except Exception:
                pass
