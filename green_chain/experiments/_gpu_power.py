"""The GPU's energy counter and power samples, for :mod:`gpu_calibration` (standard library only at import).

* :class:`EnergyCounter`: NVML's total-energy counter of one GPU (mJ), and its power (W).
* :func:`wall_clock_nvml`: a :class:`FakeNVML` whose counter grows at a constant
  simulated power (the ``--tiny`` CPU path).
* :class:`PowerSampler` and :func:`integrate_power`: power samples from NVML and
  ``nvidia-smi`` integrated over a window (the cross-check).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any


class EnergyCounter:
    """NVML's total-energy counter (mJ since the driver loaded) of one GPU."""

    def __init__(self, nvml: Any, index: int) -> None:
        self.nvml = nvml
        self.index = index
        self.handle = nvml.nvmlDeviceGetHandleByIndex(index)

    def read_mj(self) -> int:
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def power_w(self) -> float:
        return float(self.nvml.nvmlDeviceGetPowerUsage(self.handle)) / 1000.0

    def describe(self) -> dict[str, Any]:
        def call(name: str, *args: Any) -> Any:
            fn = getattr(self.nvml, name, None)
            if fn is None:
                return None
            try:
                value = fn(*args)
            except Exception:
                return None
            return value.decode() if isinstance(value, bytes) else value

        memory = call("nvmlDeviceGetMemoryInfo", self.handle)
        limit_mw = call("nvmlDeviceGetPowerManagementLimit", self.handle)
        return {
            "name": call("nvmlDeviceGetName", self.handle),
            "uuid": call("nvmlDeviceGetUUID", self.handle),
            "nvml_index": self.index,
            "driver": call("nvmlSystemGetDriverVersion"),
            "memory_total_gb": None if memory is None else round(memory.total / 1e9, 1),
            "power_limit_w": None if limit_mw is None else limit_mw / 1000.0,
        }


def wall_clock_nvml(power_w: float) -> Any:
    """A FakeNVML (one GPU) whose counter grows at ``power_w`` watts of wall-clock time."""
    from green_chain.testing.fake_nvml import FakeGPU, FakeNVML

    class WallClockNVML(FakeNVML):
        def __init__(self) -> None:
            super().__init__([FakeGPU(name=f"FakeNVML (simulated {power_w:g} W)")])
            self._last = time.perf_counter()
            self.set_power(0, power_w)

        def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
            now = time.perf_counter()
            self.add_energy(0, power_w * (now - self._last))
            self._last = now
            return super().nvmlDeviceGetTotalEnergyConsumption(handle)

    nvml = WallClockNVML()
    nvml.nvmlInit()
    return nvml


class PowerSampler:
    """Power samples ``(seconds since the run started, watts)`` taken in the background.

    Always polls ``nvmlDeviceGetPowerUsage`` every ``interval_ms``; when ``nvidia-smi``
    is on ``PATH`` it also runs ``nvidia-smi --query-gpu=timestamp,<field> -lms N``
    (``power.draw.instant`` where the driver has it, else ``power.draw``), whose own
    timestamps place each sample (so pipe buffering does not shift them).
    """

    def __init__(self, counter: EnergyCounter, interval_ms: int, origin_s: float) -> None:
        self.counter = counter
        self.interval_ms = interval_ms
        self.origin_s = origin_s
        self.nvml_samples: list[tuple[float, float]] = []
        self.smi_samples: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []
        self.field = self._smi_field() if shutil.which("nvidia-smi") else None
        self.smi_command = (
            None
            if self.field is None
            else [
                *(["stdbuf", "-oL"] if shutil.which("stdbuf") else []),
                "nvidia-smi",
                f"--query-gpu=timestamp,{self.field}",
                "--format=csv,noheader,nounits",
                "-lms",
                str(interval_ms),
                "-i",
                str(counter.index),
            ]
        )

    def _smi_field(self) -> str | None:
        for name in ("power.draw.instant", "power.draw"):
            try:
                out = subprocess.run(
                    ["nvidia-smi", f"--query-gpu={name}", "--format=csv,noheader,nounits",
                     "-i", str(self.counter.index)],
                    capture_output=True, text=True, timeout=20,
                )  # fmt: skip
                float(out.stdout.strip().splitlines()[0])
            except Exception:
                continue
            if out.returncode == 0:
                return name
        return None

    def start(self) -> None:
        # nvidia-smi prints local wall-clock timestamps: map them onto perf_counter
        self._wall_minus_perf = time.time() - time.perf_counter()
        self._threads = [threading.Thread(target=self._poll_nvml, daemon=True)]
        if self.smi_command:
            self._proc = subprocess.Popen(
                self.smi_command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            self._threads.append(threading.Thread(target=self._read_smi, daemon=True))
        for t in self._threads:
            t.start()

    def _read_smi(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                stamp, watts = (p.strip() for p in line.split(",")[:2])
                wall = _dt.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
                t = wall - self._wall_minus_perf - self.origin_s
                self.smi_samples.append((t, float(watts)))
            except Exception as exc:
                self.errors.append(f"nvidia-smi line {line.strip()!r}: {exc}")

    def _poll_nvml(self) -> None:
        while not self._stop.is_set():
            try:
                t = time.perf_counter() - self.origin_s
                self.nvml_samples.append((t, self.counter.power_w()))
            except Exception as exc:
                self.errors.append(f"NVML power: {exc}")
            self._stop.wait(self.interval_ms / 1000.0)

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.send_signal(signal.SIGINT)  # lets nvidia-smi flush its output
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        for t in self._threads:
            t.join(timeout=5)


def integrate_power(samples: Sequence[tuple[float, float]], t0: float, t1: float) -> float | None:
    """Joules of power samples ``(t, W)`` over ``[t0, t1]`` (trapezoids, edges interpolated).

    ``None`` when the samples do not cover both ends of the window.
    """
    pts = sorted(samples)
    if len(pts) < 2 or pts[0][0] > t0 or pts[-1][0] < t1 or t1 <= t0:
        return None

    def at(t: float) -> float:
        for (ta, pa), (tb, pb) in itertools.pairwise(pts):
            if ta <= t <= tb:
                return pa if tb == ta else pa + (pb - pa) * (t - ta) / (tb - ta)
        return pts[-1][1]

    inner = [(t, p) for t, p in pts if t0 < t < t1]
    seq = [(t0, at(t0)), *inner, (t1, at(t1))]
    return sum((tb - ta) * (pa + pb) / 2.0 for (ta, pa), (tb, pb) in itertools.pairwise(seq))
