from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Sequence
from typing import Any

import pytest

from green_chain.models.batching import Gatherer


def _echo(log: list[tuple[Hashable, list[Any]]]) -> Any:
    def run(key: Hashable, payloads: Sequence[Any]) -> list[Any]:
        log.append((key, list(payloads)))
        return [(key, p) for p in payloads]

    return run


def test_expected_count_flushes_without_waiting_for_window() -> None:
    log: list[Any] = []
    g = Gatherer(_echo(log), window_s=5.0, max_batch=8, expected=3)
    t0 = time.monotonic()
    futs = [g.submit("k", i) for i in range(3)]
    assert [f.result(timeout=2) for f in futs] == [("k", 0), ("k", 1), ("k", 2)]
    assert time.monotonic() - t0 < 2.0
    assert g.batch_sizes == [3]


def test_window_gathers_concurrent_threads_and_routes_results() -> None:
    log: list[Any] = []
    g = Gatherer(_echo(log), window_s=0.2, max_batch=16)
    out: dict[int, Any] = {}

    def call(i: int) -> None:
        out[i] = g.submit("k", i).result(timeout=5)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: ("k", i) for i in range(6)}
    assert sum(g.batch_sizes) == 6 and max(g.batch_sizes) > 1


def test_max_batch_and_keys_split_batches() -> None:
    log: list[Any] = []
    g = Gatherer(_echo(log), window_s=0.05, max_batch=2, expected=5)
    futs = [g.submit("a" if i % 2 else "b", i) for i in range(5)]
    results = [f.result(timeout=5) for f in futs]
    assert results == [("b", 0), ("a", 1), ("b", 2), ("a", 3), ("b", 4)]
    assert all(len(p) <= 2 and len({k}) == 1 for k, p in log)
    assert all(all((k, x) in results for x in p) for k, p in log)


def test_errors_reach_every_caller_and_worker_survives() -> None:
    calls = {"n": 0}

    def run(key: Hashable, payloads: Sequence[Any]) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return list(payloads)

    g = Gatherer(run, window_s=0.0, max_batch=4)
    with pytest.raises(RuntimeError, match="boom"):
        g.submit("k", 1).result(timeout=5)
    assert g.submit("k", 2).result(timeout=5) == 2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Gatherer(lambda k, p: p, window_s=-1, max_batch=1)
    with pytest.raises(ValueError):
        Gatherer(lambda k, p: p, window_s=0, max_batch=0)
