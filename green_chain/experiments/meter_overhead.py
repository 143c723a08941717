"""Cost of one meter window (``begin`` + ``end``) per backend.

Run: ``python -m green_chain.experiments.meter_overhead [--pairs N] [--json]``

For every backend this machine has (from the probe) plus the test doubles
(FakeMeterBackend, NVML over FakeNVML, RAPL over a FakePowercapTree, the null
backend), it times ``N`` begin+end pairs on an :class:`EnergyMonitor` and
prints the median cost in microseconds and as a share of a 10 ms model step.
Target: below 1 % of a 10 ms step (100 us) for every backend.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from green_chain.energy.backends.base import MeterBackend, NullBackend
from green_chain.energy.monitor import EnergyMonitor

STEP_S = 0.010
TARGET_RATIO = 0.01


def time_pairs(backend: MeterBackend, pairs: int, warmup: int = 50) -> list[float]:
    """Seconds per begin+end pair, one value per pair."""
    monitor = EnergyMonitor([backend])
    out: list[float] = []
    perf = time.perf_counter
    for i in range(warmup + pairs):
        t0 = perf()
        monitor.begin(i)
        monitor.end(i)
        dt = perf() - t0
        if i >= warmup:
            out.append(dt)
    return out


def _candidates(tmp: str) -> list[tuple[str, Callable[[], MeterBackend]]]:
    from green_chain.energy.backends.nvml import NVMLBackend
    from green_chain.energy.backends.rapl import RAPLBackend
    from green_chain.energy.probe import detect_backends
    from green_chain.testing import FakeMeterBackend, FakeNVML, FakePowercapTree

    cands: list[tuple[str, Callable[[], MeterBackend]]] = []
    for b in detect_backends():
        if not isinstance(b, NullBackend):
            cands.append((f"{b.source} (this machine)", lambda b=b: b))  # type: ignore[misc]
    tree = FakePowercapTree(tmp)
    pkg = tree.add_zone("package-0")
    tree.add_zone("dram", parent=pkg)
    cands += [
        ("fake meter", lambda: FakeMeterBackend(["gpu:0", "cpu:0"])),
        ("nvml over FakeNVML (2 GPUs)", lambda: NVMLBackend(FakeNVML(2))),
        # real files on disk, read like sysfs (kept-open descriptors)
        ("rapl over FakePowercapTree", lambda: RAPLBackend(tree.root)),
        ("null", NullBackend),
    ]
    return cands


def run_benchmark(pairs: int = 2000) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in _candidates(tmp):
            backend = make()
            try:
                times = time_pairs(backend, pairs)
            finally:
                backend.close()
            median_s = statistics.median(times)
            rows.append(
                {
                    "backend": name,
                    "pairs": pairs,
                    "median_us": median_s * 1e6,
                    "p90_us": statistics.quantiles(times, n=10)[-1] * 1e6,
                    "ratio_of_10ms_step": median_s / STEP_S,
                    "under_target": median_s / STEP_S < TARGET_RATIO,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="begin+end pairs per backend")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = run_benchmark(args.pairs)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'backend':<32} {'median_us':>10} {'p90_us':>9} {'% of 10ms':>10}  target<1%")
    for r in rows:
        print(
            f"{r['backend']:<32} {r['median_us']:>10.1f} {r['p90_us']:>9.1f} "
            f"{r['ratio_of_10ms_step'] * 100:>9.3f}%  {'ok' if r['under_target'] else 'OVER'}"
        )
    return 0 if all(r["under_target"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
