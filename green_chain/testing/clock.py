"""A fake monotonic clock for deterministic tests."""

from __future__ import annotations

import threading


class FakeClock:
    """A callable clock (seconds) that only moves when told to.

    Use it wherever green-chain takes a ``clock`` argument
    (``EnergyMonitor(clock=...)``, ``CPUTimeEstimateBackend(clock=...)``,
    :class:`~green_chain.testing.meters.FakeMeterBackend`)::

        clock = FakeClock(start_s=100.0)
        clock()            # 100.0
        clock.advance(0.5)
        clock()            # 100.5

    It is thread-safe, and :meth:`sleep` advances it instead of sleeping, so it
    can be passed as the ``sleep`` argument of
    :meth:`green_chain.energy.idle.IdleBaseline.measure`.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now_s

    @property
    def now_s(self) -> float:
        """Current time in seconds."""
        return self()

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go backwards (advance({seconds}))")
        with self._lock:
            self._now_s += float(seconds)
            return self._now_s

    def sleep(self, seconds: float) -> None:
        """Drop-in for :func:`time.sleep`: advances the clock, returns at once."""
        self.advance(seconds)

    def __repr__(self) -> str:
        return f"FakeClock(now_s={self._now_s})"
