"""A scripted meter backend for tests of anything that measures energy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from green_chain.energy.backends.base import MeterBackend
from green_chain.energy.measurement import DomainInfo, DomainReading, EnergyKind


class FakeMeterBackend(MeterBackend):
    """A meter whose cumulative energy per domain is set by the test.

    Example::

        clock = FakeClock()
        meter = FakeMeterBackend(["gpu:0"], kind="measured", source="nvml")
        monitor = EnergyMonitor([meter], clock=clock)
        monitor.begin("step")
        meter.add("gpu:0", 2.5)        # 2.5 J happen during the window
        clock.advance(0.1)
        assert monitor.end("step").total_j == 2.5

    With ``power_w`` and a ``clock``, every domain also accrues
    ``power_w * elapsed_s`` joules as the clock moves (on top of :meth:`add`),
    so a test can script energy by time instead of by hand.

    Args:
        domains: Domain names (default ``["cpu:fake"]``).
        kind: Kind of every domain (``measured``, ``estimated``, ``projected``).
        source: Source label of every domain (default ``fake``).
        power_w: Constant power per domain in watts (a number for all, or a
            mapping); used only together with ``clock``.
        clock: A clock (e.g. :class:`~green_chain.testing.clock.FakeClock`) for ``power_w``.
        update_period_s: Reported counter update period (for uncertainty tests).
        relative_uncertainty: Reported relative uncertainty of every domain.
        blocking: Declare reads as possibly hanging (``read_blocks``), so the
            monitor reads this meter on a worker thread with its timeout.
        delay_s: Real seconds every read sleeps (a slow meter).

    Faults for robustness tests: :meth:`fail` (an unreadable domain),
    :meth:`set_raw` (a garbage, NaN or backwards value), :meth:`raise_on_read`
    (``read()`` raises), :meth:`hang` / :meth:`release` (a read that never
    returns until released).
    """

    def __init__(
        self,
        domains: Iterable[str] = ("cpu:fake",),
        *,
        kind: EnergyKind = "measured",
        source: str = "fake",
        power_w: float | Mapping[str, float] | None = None,
        clock: Callable[[], float] | None = None,
        update_period_s: float = 0.0,
        relative_uncertainty: float | None = None,
        blocking: bool = False,
        delay_s: float = 0.0,
    ) -> None:
        self.source = source
        self.read_blocks = blocking
        self.delay_s = delay_s
        self._raw: dict[str, Any] = {}
        self._read_error: BaseException | None = None
        self._released = threading.Event()
        self._released.set()
        self.kind: EnergyKind = kind
        self.update_period_s = update_period_s
        self.relative_uncertainty = relative_uncertainty
        names = list(domains)
        if not names:
            raise ValueError("FakeMeterBackend needs at least one domain name")
        self._energy_j: dict[str, float] = dict.fromkeys(names, 0.0)
        self._errors: dict[str, str] = {}
        if isinstance(power_w, Mapping):
            self._power_w = {n: float(power_w.get(n, 0.0)) for n in names}
        else:
            self._power_w = dict.fromkeys(names, float(power_w or 0.0))
        self._clock = clock
        self._t0_s = clock() if clock is not None else 0.0
        self._lock = threading.Lock()
        self.read_count = 0
        self.closed = False

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        return True, "fake meter"

    def domains(self) -> Mapping[str, DomainInfo]:
        return {
            n: DomainInfo(
                n, self.source, self.kind, "scripted fake meter", self.relative_uncertainty
            )
            for n in self._energy_j
        }

    def add(self, domain: str, joules: float) -> None:
        """Add ``joules`` (>= 0) to the cumulative energy of ``domain``."""
        if domain not in self._energy_j:
            raise KeyError(f"unknown fake domain {domain!r}; known: {sorted(self._energy_j)}")
        if joules < 0:
            raise ValueError("cumulative energy never goes down; add a non-negative amount")
        with self._lock:
            self._energy_j[domain] += joules

    def add_all(self, joules: float) -> None:
        """Add ``joules`` to every domain."""
        for name in list(self._energy_j):
            self.add(name, joules)

    def set_power(self, domain: str, power_w: float) -> None:
        """Set the constant power of ``domain`` (watts) accrued with the clock."""
        if self._clock is None:
            raise ValueError("set_power needs a clock: FakeMeterBackend(..., clock=FakeClock())")
        with self._lock:
            # bank what accrued at the old power before changing it
            elapsed = self._clock() - self._t0_s
            for name, p in self._power_w.items():
                self._energy_j[name] += p * elapsed
            self._t0_s += elapsed
            self._power_w[domain] = float(power_w)

    def fail(self, domain: str, reason: str = "scripted failure") -> None:
        """Make ``domain`` unreadable (``energy_j=None`` with ``reason``) until :meth:`recover`."""
        with self._lock:
            self._errors[domain] = reason

    def recover(self, domain: str) -> None:
        """Make ``domain`` readable again (undoes :meth:`fail` and :meth:`set_raw`)."""
        with self._lock:
            self._errors.pop(domain, None)
            self._raw.pop(domain, None)

    def set_raw(self, domain: str, value: Any) -> None:
        """Report ``value`` as the cumulative energy of ``domain`` until :meth:`recover`.

        For fault tests: ``float("nan")``, ``"n/a"``, or a value below the true counter.
        """
        if domain not in self._energy_j:
            raise KeyError(f"unknown fake domain {domain!r}; known: {sorted(self._energy_j)}")
        with self._lock:
            self._raw[domain] = value

    def raise_on_read(self, error: BaseException | None) -> None:
        """Make ``read()`` raise ``error`` (``None``: read normally again)."""
        self._read_error = error

    def hang(self) -> None:
        """Make every read block until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        """Let blocked and later reads return."""
        self._released.set()

    def read(self) -> Mapping[str, DomainReading]:
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        if not self._released.is_set():
            self._released.wait()
        if self._read_error is not None:
            raise self._read_error
        with self._lock:
            self.read_count += 1
            elapsed = (self._clock() - self._t0_s) if self._clock is not None else 0.0
            out: dict[str, DomainReading] = {}
            for name, energy in self._energy_j.items():
                if name in self._errors:
                    out[name] = DomainReading(energy_j=None, error=self._errors[name])
                    continue
                if name in self._raw:
                    out[name] = DomainReading(energy_j=self._raw[name])
                    continue
                power = self._power_w[name]
                out[name] = DomainReading(
                    energy_j=energy + power * elapsed,
                    power_w=power if self._clock is not None else None,
                    update_period_s=self.update_period_s,
                )
            return out

    def close(self) -> None:
        self.closed = True
