"""A fake ``pynvml`` module: scriptable GPUs, energy counters, power, errors.

Pass it where green-chain accepts an NVML module::

    nvml = FakeNVML(gpus=2)
    nvml.add_energy(0, 5.0)                 # GPU 0 used 5 J
    backend = NVMLBackend(pynvml_module=nvml)

Only the functions green-chain calls are provided. Errors mirror pynvml: every
error is an instance of ``FakeNVML.NVMLError`` carrying an integer ``value``,
with subclasses such as ``NVMLError_NotSupported`` and ``NVMLError_GpuIsLost``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Base fake NVML error; ``value`` is the NVML error code."""

    value: int = NVML_ERROR_UNKNOWN

    def __init__(self, value: int | None = None) -> None:
        if value is not None:
            self.value = value
        super().__init__(self.value)

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")


class NVMLError_Uninitialized(NVMLError):
    value = NVML_ERROR_UNINITIALIZED


class NVMLError_InvalidArgument(NVMLError):
    value = NVML_ERROR_INVALID_ARGUMENT


class NVMLError_NotSupported(NVMLError):
    value = NVML_ERROR_NOT_SUPPORTED


class NVMLError_NoPermission(NVMLError):
    value = NVML_ERROR_NO_PERMISSION


class NVMLError_DriverNotLoaded(NVMLError):
    value = NVML_ERROR_DRIVER_NOT_LOADED


class NVMLError_LibraryNotFound(NVMLError):
    value = NVML_ERROR_LIBRARY_NOT_FOUND


class NVMLError_GpuIsLost(NVMLError):
    value = NVML_ERROR_GPU_IS_LOST


class NVMLError_Unknown(NVMLError):
    value = NVML_ERROR_UNKNOWN


_NVMLErrorBase = NVMLError


@dataclass
class FakeGPU:
    """One scripted GPU.

    Attributes:
        name: Device name returned by ``nvmlDeviceGetName``.
        uuid: ``GPU-...`` UUID returned by ``nvmlDeviceGetUUID``.
        energy_mj: Total energy counter in millijoules.
        power_mw: Current power in milliwatts.
        pre_volta: When True ``nvmlDeviceGetTotalEnergyConsumption`` raises NotSupported.
    """

    name: str = "Fake GPU"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    energy_mj: int = 0
    power_mw: int = 0
    pre_volta: bool = False


@dataclass
class _Failure:
    function: str
    at_call: int
    error: NVMLError
    index: int | None
    sticky: bool
    fired: bool = field(default=False)


class FakeNVML:
    """A module-like stand-in for ``pynvml``.

    Args:
        gpus: Number of GPUs, or a list of :class:`FakeGPU`.
        pre_volta: For an integer ``gpus``, make every GPU pre-Volta (no energy counter).
        init_error: Error raised by ``nvmlInit`` (e.g. ``NVMLError_DriverNotLoaded()``).

    Scripting: :meth:`add_energy` / :meth:`set_energy`, :meth:`set_power`,
    :meth:`fail_at` (raise an error at the N-th call of a function). ``calls``
    counts calls per function name.
    """

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_Unknown = NVMLError_Unknown
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST

    def __init__(
        self,
        gpus: int | list[FakeGPU] = 1,
        *,
        pre_volta: bool = False,
        init_error: _NVMLErrorBase | None = None,
    ) -> None:
        if isinstance(gpus, int):
            self.gpus = [
                FakeGPU(
                    name=f"Fake GPU {i}",
                    uuid=f"GPU-{i:08x}-aaaa-bbbb-cccc-{i:012x}",
                    pre_volta=pre_volta,
                )
                for i in range(gpus)
            ]
        else:
            self.gpus = list(gpus)
        self.init_error = init_error
        self.initialized = 0
        self.calls: dict[str, int] = {}
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()

    # ----- scripting -------------------------------------------------------------
    def add_energy(self, index: int, joules: float) -> None:
        """Add ``joules`` to GPU ``index``'s millijoule counter."""
        with self._lock:
            self.gpus[index].energy_mj += round(joules * 1000)

    def set_energy(self, index: int, joules: float) -> None:
        """Set GPU ``index``'s counter to ``joules`` (may go backwards: a driver reload)."""
        with self._lock:
            self.gpus[index].energy_mj = round(joules * 1000)

    def set_power(self, index: int, watts: float) -> None:
        """Set GPU ``index``'s instantaneous power in watts."""
        with self._lock:
            self.gpus[index].power_mw = round(watts * 1000)

    def fail_at(
        self,
        function: str,
        at_call: int = 1,
        error: _NVMLErrorBase | None = None,
        *,
        index: int | None = None,
        sticky: bool = True,
    ) -> None:
        """Raise ``error`` (default GpuIsLost) from ``function`` from its ``at_call``-th call on.

        ``at_call`` counts calls made after this method is called (1 = the next
        one), for GPU ``index`` only when given. ``sticky=False`` fails only once.
        """
        with self._lock:
            done = self.calls.get(self._key(function, index), 0)
            self._failures.append(
                _Failure(function, done + at_call, error or NVMLError_GpuIsLost(), index, sticky)
            )

    # ----- pynvml API ------------------------------------------------------------
    @staticmethod
    def _key(function: str, index: int | None) -> str:
        return function if index is None else f"{function}[{index}]"

    def _enter(self, function: str, index: int | None = None) -> None:
        with self._lock:
            self.calls[function] = self.calls.get(function, 0) + 1
            if index is not None:
                k = self._key(function, index)
                self.calls[k] = self.calls.get(k, 0) + 1
            for f in self._failures:
                if f.function != function or (f.index is not None and f.index != index):
                    continue
                n = self.calls[self._key(function, f.index)]
                if n >= f.at_call and (f.sticky or not f.fired):
                    f.fired = True
                    raise f.error

    def _gpu(self, handle: Any) -> tuple[int, FakeGPU]:
        if self.initialized <= 0:
            raise NVMLError_Uninitialized()
        if not isinstance(handle, int) or not 0 <= handle < len(self.gpus):
            raise NVMLError_InvalidArgument()
        return handle, self.gpus[handle]

    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        if self.init_error is not None:
            raise self.init_error
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        if self.initialized <= 0:
            raise NVMLError_Uninitialized()
        self.initialized -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        if self.initialized <= 0:
            raise NVMLError_Uninitialized()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._enter("nvmlDeviceGetHandleByIndex", index)
        self._gpu(index)
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        i, gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetName", i)
        return gpu.name

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        i, gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetUUID", i)
        return gpu.uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        i, gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetTotalEnergyConsumption", i)
        if gpu.pre_volta:
            raise NVMLError_NotSupported()
        with self._lock:
            return gpu.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        i, gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetPowerUsage", i)
        with self._lock:
            return gpu.power_mw

    def __repr__(self) -> str:
        return f"FakeNVML(gpus={len(self.gpus)})"
