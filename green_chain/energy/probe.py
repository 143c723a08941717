"""Find the energy meters this machine has.

Order: NVML (GPUs), RAPL (CPU packages and DRAM), then the CPU-time estimate
when no CPU counter was found (RAPL and the estimate both cover the CPU, so
using both would count it twice). When nothing works a
:class:`~green_chain.energy.backends.base.NullBackend` is returned, so a
monitor can always be built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from green_chain.energy.backends.base import MeterBackend, NullBackend
from green_chain.energy.backends.rapl import DEFAULT_POWERCAP_ROOT
from green_chain.energy.measurement import DomainInfo

log = logging.getLogger(__name__)


@dataclass
class MeterStatus:
    """What the probe found for one meter.

    Attributes:
        name: Source label (``nvml``, ``rapl``, ``estimate``).
        label: Human label (``GPU via NVML``...).
        available: Whether it can be read here.
        used: Whether :func:`detect_backends` uses it (the estimate is not used
            when RAPL measures the CPU).
        reason: Why it is unavailable or unused, or what it is.
        domains: Domain name -> description (source, kind).
    """

    name: str
    label: str
    available: bool
    used: bool
    reason: str
    domains: dict[str, DomainInfo] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        """``measured``/``estimated`` of its domains (``mixed`` if they differ), else None."""
        kinds = {d.kind for d in self.domains.values()}
        if not kinds:
            return None
        return kinds.pop() if len(kinds) == 1 else "mixed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "available": self.available,
            "used": self.used,
            "reason": self.reason,
            "kind": self.kind,
            "domains": {
                n: {"source": d.source, "kind": d.kind, "description": d.description}
                for n, d in self.domains.items()
            },
        }


def probe_meters(
    *,
    include_estimate: bool = True,
    nvml_module: Any = None,
    powercap_root: str | Path = DEFAULT_POWERCAP_ROOT,
    powercap_read_text: Callable[[Path], str] | None = None,
) -> tuple[list[MeterStatus], list[MeterBackend]]:
    """Try every meter: their statuses, and the live backends to use (caller closes them)."""
    from green_chain.energy.backends.estimate import CPUTimeEstimateBackend
    from green_chain.energy.backends.nvml import NVMLBackend
    from green_chain.energy.backends.rapl import RAPLBackend

    statuses: list[MeterStatus] = []
    backends: list[MeterBackend] = []

    def attempt(name: str, label: str, make: Callable[[], MeterBackend]) -> MeterBackend | None:
        try:
            backend = make()
            domains = dict(backend.domains())
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            log.debug("meter %s unavailable: %s", name, reason)
            statuses.append(MeterStatus(name, label, False, False, reason))
            return None
        statuses.append(MeterStatus(name, label, True, True, "available", domains))
        backends.append(backend)
        return backend

    attempt("nvml", "GPU via NVML", lambda: NVMLBackend(nvml_module))
    rapl = attempt(
        "rapl",
        "CPU via RAPL",
        lambda: RAPLBackend(powercap_root, read_text=powercap_read_text),
    )
    if rapl is not None:
        statuses.append(
            MeterStatus("estimate", "CPU estimate", True, False, "not used: RAPL measures the CPU")
        )
    elif include_estimate:
        attempt("estimate", "CPU estimate", CPUTimeEstimateBackend)
    else:
        statuses.append(
            MeterStatus("estimate", "CPU estimate", True, False, "not used: include_estimate=False")
        )
    return statuses, backends


def detect_backends(
    *,
    include_estimate: bool = True,
    nvml_module: Any = None,
    powercap_root: str | Path = DEFAULT_POWERCAP_ROOT,
    powercap_read_text: Callable[[Path], str] | None = None,
) -> list[MeterBackend]:
    """The backends to measure with on this machine (never empty).

    Args:
        include_estimate: Use the CPU-time estimate when there is no CPU counter.
        nvml_module: NVML module to use (tests: a FakeNVML); default ``pynvml``.
        powercap_root: Powercap folder for RAPL (tests: a FakePowercapTree root).
        powercap_read_text: File reader for RAPL (tests: ``FakePowercapTree.read_text``).
    """
    statuses, backends = probe_meters(
        include_estimate=include_estimate,
        nvml_module=nvml_module,
        powercap_root=powercap_root,
        powercap_read_text=powercap_read_text,
    )
    if not backends:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in statuses)
        return [NullBackend(f"no energy meter available ({reasons})")]
    return backends


def describe_meters(
    *,
    include_estimate: bool = True,
    nvml_module: Any = None,
    powercap_root: str | Path = DEFAULT_POWERCAP_ROOT,
    powercap_read_text: Callable[[Path], str] | None = None,
) -> list[MeterStatus]:
    """What each meter is on this machine: available or not (with the reason), domains, kind."""
    statuses, backends = probe_meters(
        include_estimate=include_estimate,
        nvml_module=nvml_module,
        powercap_root=powercap_root,
        powercap_read_text=powercap_read_text,
    )
    for backend in backends:
        try:
            backend.close()
        except Exception:
            pass
    return statuses
