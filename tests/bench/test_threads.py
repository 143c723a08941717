"""One thread count for torch, OpenMP and numpy's BLAS, in the process and its children."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from green_chain.bench.threads import THREAD_ENV, limit_threads


@pytest.fixture()
def restore_threads(monkeypatch):
    for var in THREAD_ENV:
        monkeypatch.setenv(var, os.environ.get(var, ""))
    torch = pytest.importorskip("torch")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=None):  # restores the pools on exit
        yield
    torch.set_num_threads(before)


def test_limit_threads_sets_blas_torch_and_the_environment(restore_threads) -> None:
    import numpy as np  # noqa: F401  (its BLAS pool exists: the one that was too wide)

    info = limit_threads(1)
    assert info["torch"] == 1
    assert info["blas"], "threadpoolctl found no BLAS/OpenMP pool"
    assert all(p["num_threads"] == 1 for p in info["blas"])
    assert all(os.environ[var] == "1" for var in THREAD_ENV)
    # a child process (a --jobs worker) starts its pools from that environment
    code = "from threadpoolctl import threadpool_info; import numpy; " + (
        "print(max(p['num_threads'] for p in threadpool_info()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_limit_threads_names_a_bad_count() -> None:
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        limit_threads(0)
