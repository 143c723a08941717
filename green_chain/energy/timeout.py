"""Meter reads with a timeout: a hung driver call never hangs the caller.

A Python thread blocked in a C call (an NVML query on a GPU that fell off the
bus, a stuck sysfs read) cannot be interrupted, so a read that may block runs
on one daemon worker thread per backend and the caller waits for it at most
``timeout_s`` seconds. While a read has been running longer than the timeout,
further calls fail at once ("still hung") instead of queueing behind it; the
first read that returns clears the state. A call that timed out before the
worker reached it is skipped, so abandoned reads never pile up. When the last
read took longer than a caller's timeout, that caller fails at once too (the
meter is too slow for it), while a read in the background keeps measuring the
meter's speed, so a meter that becomes fast again is waited for again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from queue import SimpleQueue
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadTimeoutError(TimeoutError):
    """A meter read did not answer within its timeout (or an earlier one is still hung)."""


class _Job(Generic[T]):
    __slots__ = ("abandoned", "done", "error", "value")

    def __init__(self) -> None:
        self.abandoned = False
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


class TimedCall(Generic[T]):
    """Run ``fn`` on a worker thread; :meth:`__call__` waits at most ``timeout_s``.

    Calls are served one at a time in arrival order, so the values of a
    counter read through one :class:`TimedCall` stay in order.

    Args:
        fn: The blocking callable (e.g. a backend's ``read``).
        name: Thread name, for debuggers and logs.
        clock: Monotonic clock in seconds (for the "still hung" age).
    """

    def __init__(
        self,
        fn: Callable[[], T],
        name: str = "green-chain-meter-read",
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fn = fn
        self._name = name
        self._clock = clock
        self._jobs: SimpleQueue[_Job[T] | None] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.busy_since_s: float | None = None
        #: How long the last finished read took (seconds), or ``None`` before the first.
        self.last_duration_s: float | None = None

    def __call__(self, timeout_s: float) -> T:
        """The value of ``fn()``, or :class:`ReadTimeoutError` after ``timeout_s`` seconds.

        Raises whatever ``fn`` raised.
        """
        busy = self.busy_since_s
        if busy is not None:
            age = self._clock() - busy
            if age > timeout_s:
                raise ReadTimeoutError(
                    f"meter read timed out: the last one is still running after {age:.3g} s "
                    f"(timeout {timeout_s:g} s)"
                )
        self._ensure_worker()
        last = self.last_duration_s
        if last is not None and last > timeout_s:
            if self.busy_since_s is None:
                self._jobs.put(_Job())  # re-measure in the background; nobody waits for it
            raise ReadTimeoutError(
                f"meter read timed out: the last one took {last:.3g} s (timeout {timeout_s:g} s)"
            )
        job: _Job[T] = _Job()
        self._jobs.put(job)
        if not job.done.wait(timeout_s):
            job.abandoned = True  # the worker skips it if it has not started it yet
            raise ReadTimeoutError(f"meter read timed out after {timeout_s:g} s")
        if job.error is not None:
            raise job.error
        return job.value  # type: ignore[return-value]

    def _ensure_worker(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job.abandoned:
                continue
            start = self.busy_since_s = self._clock()
            try:
                job.value = self._fn()
            except BaseException as exc:  # handed to the waiting caller
                job.error = exc
            finally:
                self.last_duration_s = self._clock() - start
                self.busy_since_s = None
                job.done.set()

    def close(self) -> None:
        """Stop the worker after the reads already queued (a hung one is left behind)."""
        if self._thread is not None:
            self._jobs.put(None)
