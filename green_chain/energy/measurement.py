"""Readings and measurements: the data every meter produces.

Units are in the names: ``energy_j`` is joules, ``power_w`` watts, ``duration_s``
seconds. Every energy figure carries its ``source`` (which meter produced it:
``nvml``, ``rapl``, ``estimate``, ...) and its ``kind``:

* ``measured``  - read from a hardware energy counter (NVML, RAPL, DCGM);
* ``estimated`` - computed from a model of something measured (CPU time times a
  per-core power, a hosted API's published impact model);
* ``projected`` - priced by a fitted or published curve, not observed at all.

Kinds are never summed silently: :attr:`Measurement.total_j` adds only the
available domains, and :attr:`Measurement.kind` says ``mixed`` when they differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EnergyKind = Literal["measured", "estimated", "projected"]
ENERGY_KINDS: tuple[str, ...] = ("measured", "estimated", "projected")


@dataclass(frozen=True)
class DomainInfo:
    """Static description of one energy domain of a meter backend.

    Attributes:
        domain: Domain name, e.g. ``gpu:0``, ``cpu:package-0``, ``dram:0``, ``cpu:process``.
        source: Meter that produces it (``nvml``, ``rapl``, ``estimate``, ...).
        kind: ``measured``, ``estimated`` or ``projected``.
        description: One human line (device name, file, model of the estimate).
        relative_uncertainty: Relative (fractional) uncertainty of every energy
            figure of this domain, e.g. ``0.5`` for a +/-50 % estimate; ``None``
            when only the counter's update period bounds it.
    """

    domain: str
    source: str
    kind: EnergyKind
    description: str = ""
    relative_uncertainty: float | None = None


@dataclass(frozen=True)
class DomainReading:
    """Cumulative energy of one domain at one instant.

    Attributes:
        energy_j: Cumulative energy in joules since an arbitrary origin (the
            backend's counter origin); only differences are meaningful. ``None``
            when the domain could not be read, with ``error`` saying why.
        power_w: Instantaneous power in watts when the backend knows it, else ``None``.
        update_period_s: How often the underlying counter updates, in seconds
            (NVML: about 0.1 s); used for the uncertainty of short windows.
        approximate: True when ``energy_j`` was integrated from power samples
            rather than read from an energy counter.
        error: Why the domain could not be read, or ``None``.
        epoch: Continuity epoch of the counter: two readings of a domain are
            comparable only when their epochs are equal. A backend starts a new
            epoch when it may have lost count (e.g. RAPL read too seldom to
            rule out a second wrap), so windows spanning the gap are unknown.
    """

    energy_j: float | None
    power_w: float | None = None
    update_period_s: float = 0.0
    approximate: bool = False
    error: str | None = None
    epoch: int = 0


@dataclass(frozen=True)
class Reading:
    """A snapshot of all domains of one or more backends.

    Attributes:
        timestamp_s: Monotonic clock time (seconds) when the snapshot was taken.
        domains: Per-domain cumulative readings.
        info: Per-domain static description (source and kind).
        seq: Order of the snapshot among those of its monitor (1, 2, ...;
            0 = unordered): readings taken in parallel may reach a consumer out
            of order, and ``seq`` tells which one is newer.
    """

    timestamp_s: float
    domains: Mapping[str, DomainReading]
    info: Mapping[str, DomainInfo]
    seq: int = 0


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def checked_reading(value: Any, source: str) -> DomainReading:
    """``value`` if it is a usable :class:`DomainReading`, else one with ``energy_j=None``.

    A meter that returns a non-number, NaN, infinity or a negative cumulative
    energy gets the domain marked unreadable with the reason, exactly like a
    failed read, so one bad value never poisons later figures. A non-finite
    ``power_w`` is dropped (``None``).
    """
    if type(value) is DomainReading and value.energy_j.__class__ is float:
        e, p, u = value.energy_j, value.power_w, value.update_period_s
        if (  # the common case, checked cheaply (NaN fails every comparison)
            0.0 <= e < math.inf
            and (p is None or (p.__class__ is float and -math.inf < p < math.inf))
            and u.__class__ is float
            and 0.0 <= u < math.inf
        ):
            return value
    if not isinstance(value, DomainReading):
        return DomainReading(
            energy_j=None, error=f"{source} returned {type(value).__name__}, not a DomainReading"
        )
    energy = value.energy_j
    if energy is None:
        return value
    if not _finite(energy) or energy < 0:
        return DomainReading(
            energy_j=None,
            error=f"{source} returned an invalid energy reading {energy!r} "
            "(needs a finite number of joules >= 0)",
        )
    power = value.power_w
    period = value.update_period_s
    if (power is not None and not _finite(power)) or not _finite(period) or period < 0:
        return DomainReading(
            energy_j=float(energy),
            power_w=power if power is None or _finite(power) else None,
            update_period_s=period if _finite(period) and period >= 0 else 0.0,
            approximate=value.approximate,
            error=value.error,
            epoch=value.epoch,
        )
    return value


@dataclass(frozen=True)
class DomainEnergy:
    """Energy of one domain over one window.

    Attributes:
        domain: Domain name (``gpu:0``, ``cpu:package-0``, ...).
        source: Meter that produced the figure.
        kind: ``measured``, ``estimated`` or ``projected``.
        energy_j: Gross energy in joules over the window, or ``None`` when unavailable.
        uncertainty_j: Absolute uncertainty in joules where known (e.g. counter
            update period times power for windows shorter than the update
            period), else ``None``.
        approximate: True when integrated from power samples or approximated from
            instantaneous power instead of an energy counter delta.
        available: False when the domain could not be read for this window.
        reason: Why the figure is unavailable (or approximate), else ``None``.
    """

    domain: str
    source: str
    kind: EnergyKind
    energy_j: float | None
    uncertainty_j: float | None = None
    approximate: bool = False
    available: bool = True
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "source": self.source,
            "kind": self.kind,
            "energy_j": self.energy_j,
            "uncertainty_j": self.uncertainty_j,
            "approximate": self.approximate,
            "available": self.available,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Measurement:
    """Energy over one window ``[start_s, end_s]`` (monotonic seconds).

    Attributes:
        start_s: Window start, monotonic clock seconds.
        end_s: Window end, monotonic clock seconds.
        domains: Per-domain energy over the window.
        idle_power_w: Idle power per domain in watts, when an idle baseline was
            set; used by :meth:`net_energy_j`.
    """

    start_s: float
    end_s: float
    domains: Mapping[str, DomainEnergy] = field(default_factory=dict)
    idle_power_w: Mapping[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Window length in seconds."""
        return max(0.0, self.end_s - self.start_s)

    @property
    def energy_j(self) -> dict[str, float]:
        """Gross energy in joules per available domain."""
        return {
            name: d.energy_j
            for name, d in self.domains.items()
            if d.available and d.energy_j is not None
        }

    @property
    def available(self) -> bool:
        """True when at least one domain has a figure."""
        return bool(self.energy_j)

    @property
    def total_j(self) -> float | None:
        """Sum of gross energy over available domains in joules, or ``None`` if none."""
        values = self.energy_j
        return sum(values.values()) if values else None

    @property
    def uncertainty_j(self) -> float | None:
        """Sum of known per-domain uncertainties in joules (a conservative bound)."""
        values = [d.uncertainty_j for d in self.domains.values() if d.uncertainty_j is not None]
        return sum(values) if values else None

    @property
    def sources(self) -> list[str]:
        """Sorted distinct sources of the available domains."""
        return sorted({d.source for d in self.domains.values() if d.available})

    @property
    def kind(self) -> str | None:
        """``measured``/``estimated``/``projected`` when all available domains agree,
        ``mixed`` when they differ, ``None`` when nothing is available."""
        kinds = {d.kind for d in self.domains.values() if d.available}
        if not kinds:
            return None
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def unavailable_reasons(self) -> dict[str, str]:
        """Domain -> reason, for domains with no figure in this window."""
        return {n: (d.reason or "unavailable") for n, d in self.domains.items() if not d.available}

    def net_energy_j(self) -> dict[str, float]:
        """Energy net of idle per available domain in joules.

        ``net = max(0, gross - idle_power_w * duration_s)``: the energy above what
        the domain would have drawn idling for the same time. Never below zero.
        Domains with no idle baseline are returned gross.
        """
        out: dict[str, float] = {}
        for name, gross in self.energy_j.items():
            idle = self.idle_power_w.get(name)
            out[name] = gross if idle is None else max(0.0, gross - idle * self.duration_s)
        return out

    @property
    def net_total_j(self) -> float | None:
        """Sum of :meth:`net_energy_j` in joules, or ``None`` when nothing is available."""
        values = self.net_energy_j()
        return sum(values.values()) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "duration_s": self.duration_s,
            "total_j": self.total_j,
            "net_total_j": self.net_total_j if self.idle_power_w else None,
            "uncertainty_j": self.uncertainty_j,
            "kind": self.kind,
            "sources": self.sources,
            "domains": {n: d.to_dict() for n, d in self.domains.items()},
        }
