"""NVIDIA GPU energy through NVML (``nvidia-ml-py``, imported as ``pynvml``).

* Volta and newer: ``nvmlDeviceGetTotalEnergyConsumption``, a millijoule
  counter since the driver loaded. It updates about every 100 ms, so a window
  shorter than that may see zero or one whole update: every reading carries
  ``update_period_s=0.1`` and the instantaneous ``power_w``, from which the
  monitor reports ``uncertainty_j = power_w * 0.1``.
* Older GPUs (the call raises ``NVMLError_NotSupported``): a background thread
  samples ``nvmlDeviceGetPowerUsage`` (mW) every ``sample_interval_s`` and
  integrates it (trapezoids). Readings are flagged ``approximate`` and carry
  the sample interval as their update period.

``CUDA_VISIBLE_DEVICES`` is respected (integer indices and ``GPU-<uuid>``
prefixes, as CUDA parses it: the list stops at the first invalid entry);
domains are named ``gpu:<visible index>``, i.e. the index PyTorch uses.

An NVML error while reading marks that domain unavailable for that reading,
with the reason; it never raises into the caller.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from green_chain.energy.backends.base import MeterBackend, MeterUnavailableError
from green_chain.energy.measurement import DomainInfo, DomainReading

log = logging.getLogger(__name__)

#: Update period of NVML's energy counter in seconds (about 100 ms on current drivers).
NVML_COUNTER_PERIOD_S = 0.1


def parse_visible_devices(value: str | None, n_devices: int, uuids: list[str]) -> list[int]:
    """NVML indices visible under ``CUDA_VISIBLE_DEVICES=value``, in CUDA order.

    ``None`` (unset) means every device. Entries are integer indices or
    (prefixes of) ``GPU-<uuid>`` strings; as in CUDA, parsing stops at the first
    entry that is invalid, out of range, unknown or repeated. ``MIG-`` entries
    are not supported and stop the list too.
    """
    if value is None:
        return list(range(n_devices))
    out: list[int] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            break
        index: int | None = None
        if entry.lstrip("+-").isdigit():
            i = int(entry)
            index = i if 0 <= i < n_devices else None
        elif entry.startswith("GPU-"):
            matches = [i for i, u in enumerate(uuids) if u.startswith(entry)]
            index = matches[0] if len(matches) == 1 else None
        if index is None or index in out:
            log.warning("CUDA_VISIBLE_DEVICES entry %r not usable; later entries ignored", entry)
            break
        out.append(index)
    return out


@dataclass
class _GPU:
    domain: str
    nvml_index: int
    handle: Any
    name: str
    mode: str  # "counter" or "sampling"
    offset_j: float = 0.0  # for counter resets (driver reload)
    last_raw_j: float | None = None
    # sampling state
    energy_j: float = 0.0
    last_power_w: float | None = None
    last_t_s: float | None = None
    error: str | None = None


class NVMLBackend(MeterBackend):
    """GPU energy per visible device.

    Args:
        pynvml_module: The NVML module (default: ``import pynvml``); tests pass
            :class:`~green_chain.testing.fake_nvml.FakeNVML`.
        sample_interval_s: Power sampling interval for pre-Volta GPUs (seconds).
        visible_devices: ``CUDA_VISIBLE_DEVICES``-style string; default: the
            environment variable (unset = all GPUs).
        clock: Monotonic clock for the power integration (tests: a FakeClock).
        start_sampler: Start the background sampler for pre-Volta GPUs; tests
            set False and call :meth:`sample_now` themselves.
        read_power: Also read instantaneous power with each counter reading
            (used for ``uncertainty_j``).

    Raises:
        MeterUnavailableError: pynvml missing, NVML init failing, or no visible GPU.
    """

    source = "nvml"
    read_blocks = True

    def __init__(
        self,
        pynvml_module: Any = None,
        *,
        sample_interval_s: float = 0.1,
        visible_devices: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        start_sampler: bool = True,
        read_power: bool = True,
    ) -> None:
        if sample_interval_s <= 0:
            raise ValueError(f"sample_interval_s must be > 0, got {sample_interval_s}")
        if pynvml_module is None:
            try:
                import pynvml

                pynvml_module = pynvml
            except ImportError as exc:
                raise MeterUnavailableError(
                    "pynvml not importable (pip install nvidia-ml-py)"
                ) from exc
        self.nvml = pynvml_module
        self.sample_interval_s = sample_interval_s
        self.clock = clock
        self.read_power = read_power
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        try:
            self.nvml.nvmlInit()
        except Exception as exc:
            raise MeterUnavailableError(f"NVML init failed: {exc}") from exc
        try:
            self._gpus = self._discover(
                os.environ.get("CUDA_VISIBLE_DEVICES")
                if visible_devices is None
                else visible_devices
            )
        except Exception:
            self._shutdown()
            raise
        if any(g.mode == "sampling" for g in self._gpus.values()):
            self.sample_now()
            if start_sampler:
                self._thread = threading.Thread(
                    target=self._sample_loop, name="green-chain-nvml-sampler", daemon=True
                )
                self._thread.start()

    def _discover(self, visible: str | None) -> dict[str, _GPU]:
        nvml = self.nvml
        try:
            count = int(nvml.nvmlDeviceGetCount())
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            uuids = [_text(nvml.nvmlDeviceGetUUID(h)) for h in handles]
        except nvml.NVMLError as exc:
            raise MeterUnavailableError(f"NVML could not list GPUs: {exc}") from exc
        if count == 0:
            raise MeterUnavailableError("NVML found no NVIDIA GPU")
        indices = parse_visible_devices(visible, count, uuids)
        if not indices:
            raise MeterUnavailableError(
                f"no GPU visible (CUDA_VISIBLE_DEVICES={visible!r}, {count} GPU(s) present)"
            )
        gpus: dict[str, _GPU] = {}
        for visible_index, i in enumerate(indices):
            handle = handles[i]
            try:
                name = _text(nvml.nvmlDeviceGetName(handle))
            except nvml.NVMLError:
                name = "NVIDIA GPU"
            domain = f"gpu:{visible_index}"
            try:
                raw = nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
                gpus[domain] = _GPU(domain, i, handle, name, "counter", last_raw_j=raw)
            except nvml.NVMLError as exc:
                if not self._not_supported(exc):
                    raise MeterUnavailableError(
                        f"NVML energy counter of GPU {i} failed: {exc}"
                    ) from exc
                gpus[domain] = _GPU(domain, i, handle, name, "sampling")
        return gpus

    def _not_supported(self, exc: BaseException) -> bool:
        cls = getattr(self.nvml, "NVMLError_NotSupported", None)
        if cls is not None and isinstance(exc, cls):
            return True
        code = getattr(self.nvml, "NVML_ERROR_NOT_SUPPORTED", 3)
        return getattr(exc, "value", None) == code

    @property
    def approximate(self) -> bool:
        """True when any GPU is measured by power sampling (pre-Volta)."""
        return any(g.mode == "sampling" for g in self._gpus.values())

    def domains(self) -> Mapping[str, DomainInfo]:
        out = {}
        for g in self._gpus.values():
            how = (
                "energy counter"
                if g.mode == "counter"
                else f"power sampled every {self.sample_interval_s * 1000:.0f} ms (approximate)"
            )
            out[g.domain] = DomainInfo(
                g.domain, self.source, "measured", f"{g.name} (NVML index {g.nvml_index}, {how})"
            )
        return out

    # ----- reading ---------------------------------------------------------------
    def read(self) -> Mapping[str, DomainReading]:
        out: dict[str, DomainReading] = {}
        for g in self._gpus.values():
            out[g.domain] = self._read_counter(g) if g.mode == "counter" else self._read_sampled(g)
        return out

    def _read_counter(self, g: _GPU) -> DomainReading:
        nvml = self.nvml
        try:
            raw = nvml.nvmlDeviceGetTotalEnergyConsumption(g.handle) / 1000.0
        except Exception as exc:
            return DomainReading(energy_j=None, error=f"NVML error on {g.domain}: {exc}")
        power: float | None = None
        if self.read_power:
            try:
                power = nvml.nvmlDeviceGetPowerUsage(g.handle) / 1000.0
            except Exception:
                power = None
        with self._lock:
            if g.last_raw_j is not None and raw < g.last_raw_j:  # counter reset
                g.offset_j += g.last_raw_j
            g.last_raw_j = raw
            energy = g.offset_j + raw
        return DomainReading(energy_j=energy, power_w=power, update_period_s=NVML_COUNTER_PERIOD_S)

    def _read_sampled(self, g: _GPU) -> DomainReading:
        with self._lock:
            if g.error is not None:
                return DomainReading(energy_j=None, error=g.error)
            return DomainReading(
                energy_j=g.energy_j,
                power_w=g.last_power_w,
                update_period_s=self.sample_interval_s,
                approximate=True,
            )

    def sample_now(self) -> None:
        """Take one power sample of every pre-Volta GPU and integrate it.

        Called by the background thread every ``sample_interval_s``; tests call
        it directly. A failed sample marks the domain unavailable until a later
        sample succeeds; the gap is then bridged with the new power.
        """
        for g in self._gpus.values():
            if g.mode != "sampling":
                continue
            try:
                power = self.nvml.nvmlDeviceGetPowerUsage(g.handle) / 1000.0
            except Exception as exc:
                with self._lock:
                    g.error = f"NVML error on {g.domain}: {exc}"
                continue
            now = self.clock()
            with self._lock:
                if g.last_t_s is not None and g.last_power_w is not None:
                    prev = g.last_power_w if g.error is None else power
                    g.energy_j += (prev + power) / 2.0 * max(0.0, now - g.last_t_s)
                g.last_power_w, g.last_t_s, g.error = power, now, None

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.sample_interval_s):
            try:
                self.sample_now()
            except Exception:  # never let the thread die silently mid-run
                log.exception("NVML power sampler failed")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.sample_interval_s + 1.0)
        self._shutdown()

    def _shutdown(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        try:
            backend = cls(start_sampler=False)
        except MeterUnavailableError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        backend.close()
        return True, "available"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
