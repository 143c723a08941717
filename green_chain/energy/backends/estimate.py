"""CPU energy *estimated* from this process's CPU time, for machines with no counter.

Model (every figure it produces is labelled source ``estimate``, kind ``estimated``)::

    energy_j = cpu_time_s * active_power_per_core_w + idle_power_w * wall_time_s

``cpu_time_s`` is the process's user + system CPU time summed over all its
threads (:func:`time.process_time`, i.e. ``CLOCK_PROCESS_CPUTIME_ID``: about a
microsecond per read; or ``cpu_times()`` of a given ``psutil.Process``).
One CPU-second is one core busy for one second, so the first term is the
energy of the cores this process kept busy; the second, off by default, adds a
share of the machine's idle draw for the wall time.

Default per-core power, ``DEFAULT_ACTIVE_POWER_PER_CORE_W = 10 W``: a round
figure from vendor TDP divided by core count for common x86 parts, e.g. Intel
Xeon Gold 6248 (150 W TDP / 20 cores = 7.5 W), Intel Core i7-8700 (65 W / 6 =
10.8 W), AMD EPYC 7763 (280 W / 64 = 4.4 W). The Green Algorithms calculator
(Lannelongue et al., 2021) likewise prices CPU time by TDP per core, and
CodeCarbon falls back to the CPU's TDP when it has no RAPL counter. The figure
is coarse: real per-core draw depends on the part, the
frequency and the load, so the estimate carries a relative uncertainty of
+/-50 % (``DEFAULT_RELATIVE_UNCERTAINTY``), reported as ``uncertainty_j``.

Override with arguments or the environment: ``GREEN_CHAIN_CPU_W_PER_CORE``
(watts per busy core) and ``GREEN_CHAIN_CPU_IDLE_W`` (idle watts).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from green_chain.energy.backends.base import MeterBackend
from green_chain.energy.measurement import DomainInfo, DomainReading

#: Watts per fully busy core (TDP / cores of common x86 parts; see module docstring).
DEFAULT_ACTIVE_POWER_PER_CORE_W = 10.0
#: Relative uncertainty of the estimate (+/-50 %).
DEFAULT_RELATIVE_UNCERTAINTY = 0.5
#: Environment variable overriding the per-core power (watts).
ENV_W_PER_CORE = "GREEN_CHAIN_CPU_W_PER_CORE"
#: Environment variable overriding the idle power (watts).
ENV_IDLE_W = "GREEN_CHAIN_CPU_IDLE_W"
#: The single domain of this backend.
DOMAIN = "cpu:process"


def _env_float(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"${name} must be a number of watts >= 0, got {raw!r}") from exc
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"${name} must be a finite number of watts >= 0, got {raw!r}")
    return value


def _tick_s() -> float:
    try:
        return 1.0 / float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 0.01


class CPUTimeEstimateBackend(MeterBackend):
    """Estimated CPU energy of this process (domain ``cpu:process``).

    Args:
        active_power_per_core_w: Watts per busy core; default
            ``$GREEN_CHAIN_CPU_W_PER_CORE`` or :data:`DEFAULT_ACTIVE_POWER_PER_CORE_W`.
        idle_power_w: Watts added per wall-clock second; default
            ``$GREEN_CHAIN_CPU_IDLE_W`` or 0.
        relative_uncertainty: Fractional uncertainty reported with every figure.
        process: An object with ``cpu_times()`` returning ``user`` and
            ``system`` (a ``psutil.Process``, e.g. another process); default:
            this process via :func:`time.process_time`.
        cpu_time_s: A callable returning cumulative CPU seconds; overrides
            ``process`` (tests pass a scripted function).
        clock: Monotonic clock in seconds (tests: a FakeClock).
    """

    source = "estimate"

    def __init__(
        self,
        active_power_per_core_w: float | None = None,
        idle_power_w: float | None = None,
        *,
        relative_uncertainty: float = DEFAULT_RELATIVE_UNCERTAINTY,
        process: Any = None,
        cpu_time_s: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if active_power_per_core_w is None:
            active_power_per_core_w = _env_float(ENV_W_PER_CORE)
        if active_power_per_core_w is None:
            active_power_per_core_w = DEFAULT_ACTIVE_POWER_PER_CORE_W
        if idle_power_w is None:
            idle_power_w = _env_float(ENV_IDLE_W) or 0.0
        for argument, watts in (
            ("active_power_per_core_w", active_power_per_core_w),
            ("idle_power_w", idle_power_w),
        ):
            if not math.isfinite(watts) or watts < 0:
                raise ValueError(f"{argument} must be a finite number >= 0 W, got {watts}")
        if not math.isfinite(relative_uncertainty) or relative_uncertainty < 0:
            raise ValueError(
                f"relative_uncertainty must be a finite number >= 0, got {relative_uncertainty}"
            )
        self.active_power_per_core_w = float(active_power_per_core_w)
        self.idle_power_w = float(idle_power_w)
        self.relative_uncertainty = float(relative_uncertainty)
        self.clock = clock
        if cpu_time_s is not None:
            self._cpu_time_s, self._tick_s = cpu_time_s, 0.0
        elif process is not None:
            self._cpu_time_s, self._tick_s = _process_cpu_time(process), _tick_s()
        else:  # nanosecond-resolution CPU clock of this process, all threads
            self._cpu_time_s, self._tick_s = time.process_time, 0.0
        self._cpu0_s = self._cpu_time_s()
        self._t0_s = clock()

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        return True, "always (an estimate from process CPU time)"

    def domains(self) -> Mapping[str, DomainInfo]:
        idle = f" + {self.idle_power_w:g} W idle x wall time" if self.idle_power_w else ""
        return {
            DOMAIN: DomainInfo(
                DOMAIN,
                self.source,
                "estimated",
                f"process CPU time x {self.active_power_per_core_w:g} W/core{idle} "
                f"(+/-{self.relative_uncertainty:.0%})",
                self.relative_uncertainty,
            )
        }

    def read(self) -> Mapping[str, DomainReading]:
        try:
            cpu_s = max(0.0, self._cpu_time_s() - self._cpu0_s)
        except Exception as exc:
            return {DOMAIN: DomainReading(energy_j=None, error=f"CPU time unreadable: {exc}")}
        wall_s = max(0.0, self.clock() - self._t0_s)
        energy = cpu_s * self.active_power_per_core_w + self.idle_power_w * wall_s
        return {DOMAIN: DomainReading(energy_j=energy, update_period_s=self._tick_s)}


def _process_cpu_time(process: Any) -> Callable[[], float]:
    def cpu_time_s() -> float:
        t = process.cpu_times()
        return float(t.user + t.system)

    return cpu_time_s
