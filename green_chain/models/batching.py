"""Gathering concurrent generation requests into one batched generation.

A :class:`Gatherer` owns a worker thread. Callers :meth:`~Gatherer.submit` a request
(prompt token ids and hashable decoding parameters) and get a
:class:`concurrent.futures.Future`. The worker waits for the first request, then keeps
gathering until ``expected`` requests have arrived (when known, as in ``batch()``), or
``max_batch`` have, or ``window_s`` seconds have passed since the first one; it then runs
the requests that share the first one's parameters as one batch and resolves their
futures. The worker exits after ``idle_exit_s`` without requests and is restarted on
demand, so an unused gatherer holds no thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

RunBatch = Callable[[Hashable, Sequence[Any]], Sequence[Any]]


@dataclass
class _Request:
    key: Hashable
    payload: Any
    future: Future[Any]


class Gatherer:
    """Batches concurrent requests (see module docstring).

    Args:
        run_batch: ``(key, payloads) -> results`` (one result per payload, same order).
        window_s: Longest wait after the first request of a batch, in seconds.
        max_batch: Largest batch.
        expected: Flush as soon as this many requests have arrived (``None``: window only).
        idle_exit_s: The worker thread exits after this long without requests (seconds).
    """

    def __init__(
        self,
        run_batch: RunBatch,
        *,
        window_s: float,
        max_batch: int,
        expected: int | None = None,
        idle_exit_s: float = 2.0,
    ) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.run_batch = run_batch
        self.window_s = window_s
        self.max_batch = max_batch
        self.expected = expected
        self.idle_exit_s = idle_exit_s
        self.batch_sizes: list[int] = []
        self._queue: list[_Request] = []
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None

    def submit(self, key: Hashable, payload: Any) -> Future[Any]:
        """Queue one request; the future resolves to its result (or raises its error)."""
        fut: Future[Any] = Future()
        with self._cond:
            self._queue.append(_Request(key, payload, fut))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._loop, name="green-chain-batcher", daemon=True
                )
                self._worker.start()
            self._cond.notify_all()
        return fut

    def _target(self) -> int:
        return min(self.expected or self.max_batch, self.max_batch)

    def _take(self) -> list[_Request] | None:
        with self._cond:
            idle_deadline = time.monotonic() + self.idle_exit_s
            while not self._queue:
                left = idle_deadline - time.monotonic()
                if left <= 0:
                    self._worker = None
                    return None
                self._cond.wait(left)
            deadline = time.monotonic() + self.window_s
            while len(self._queue) < self._target():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            key = self._queue[0].key
            batch = [r for r in self._queue if r.key == key][: self.max_batch]
            taken = {id(r) for r in batch}
            self._queue = [r for r in self._queue if id(r) not in taken]
            if self.expected is not None:
                self.expected = max(1, self.expected - len(batch))
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            self.batch_sizes.append(len(batch))
            try:
                results = list(self.run_batch(batch[0].key, [r.payload for r in batch]))
                if len(results) != len(batch):
                    raise RuntimeError(f"run_batch returned {len(results)} for {len(batch)}")
            except BaseException as exc:
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(exc)
                continue
            for r, res in zip(batch, results, strict=True):
                r.future.set_result(res)
