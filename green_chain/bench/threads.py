"""One thread count for every native pool of a benchmark process: torch, OpenMP and BLAS.

``torch.set_num_threads`` sets torch's pool only. numpy's BLAS (OpenBLAS here) sizes its
own pool from the environment *when numpy is first imported*, to every core by default,
and the benchmark's driver has imported numpy long before it chooses a thread count. Its
numpy work then ran on two BLAS threads next to the workers' torch threads: on a shared
2-core box the first tier's softmax-regression fit (26 dense eigenvalue solves and the
gradient steps) took 46 s of CPU with OpenBLAS's default pool against 18 s with one
thread, and that CPU is the one-off cost the estimate meter reports (process CPU time x
W per core). :func:`limit_threads` sets the running process's BLAS pool through
``threadpoolctl`` (when installed; a dependency of ``sentence-transformers``' stack) and
the environment of the processes it starts.
"""

from __future__ import annotations

import os
from typing import Any

#: Environment variables native pools read at start (subprocesses inherit them).
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(threads: int) -> dict[str, Any]:
    """Run torch, OpenMP and BLAS with ``threads`` threads here and in child processes.

    Returns what was set: ``torch`` (its thread count, or ``None`` without torch) and
    ``blas`` (``[{library, num_threads}]`` of the pools ``threadpoolctl`` limited, or
    ``None`` without it).

    Raises:
        ValueError: ``threads`` < 1.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    for var in THREAD_ENV:
        os.environ[var] = str(threads)
    info: dict[str, Any] = {"torch": None, "blas": None}
    try:
        import torch

        torch.set_num_threads(threads)
        info["torch"] = int(torch.get_num_threads())
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return info
    threadpool_limits(limits=threads)
    info["blas"] = [
        {"library": p.get("internal_api"), "num_threads": p.get("num_threads")}
        for p in threadpool_info()
    ]
    return info


__all__ = ["THREAD_ENV", "limit_threads"]
