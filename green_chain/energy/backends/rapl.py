"""CPU and DRAM energy from Linux powercap RAPL counters.

Reads ``/sys/class/powercap/intel-rapl:*`` and ``amd-rapl:*`` zones. Each zone
has ``energy_uj`` (a microjoule counter that wraps at ``max_energy_range_uj``)
and ``name`` (``package-0``, ``core``, ``uncore``, ``dram``, ``psys``).

Domains:

* ``cpu:package-<p>`` - a whole CPU package (includes its cores and uncore);
* ``dram:<p>``        - the memory attached to package ``p`` (not part of the package);
* ``cpu:core-<p>``, ``cpu:uncore-<p>``, ``psys:<p>`` - only with
  ``include_overlapping=True``: they are *contained in* (or, for psys, contain)
  the package figure, so summing them with it would count joules twice.

Wrap-around: the backend keeps the last raw value of every zone and adds
``raw - last`` (plus ``max_energy_range_uj`` when the counter wrapped), so
cumulative readings always go forward. One wrap between two reads is handled;
two are indistinguishable from one. So the backend reads every zone at least
every ``wrap_s / 4`` seconds on a background thread, where ``wrap_s`` is the
shortest time one wrap can take (``max_energy_range_uj`` divided by the zone's
maximum power: its ``constraint_*_max_power_uw`` or ``max_power_uw`` file, else
``max_power_w``, default :data:`DEFAULT_MAX_POWER_W`). When a read still comes
more than ``wrap_s`` after the previous one (a suspended process, a stalled
sampler), a second wrap cannot be ruled out: the zone starts a new continuity
epoch and every window across the gap is reported unavailable with the reason,
instead of silently under-counting.

Permissions: since Linux 5.10 ``energy_uj`` is readable by root only. Then the
backend warns once, naming the file and the fix, and is unavailable.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from green_chain.energy.backends.base import MeterBackend, MeterUnavailableError
from green_chain.energy.measurement import DomainInfo, DomainReading

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"
_ZONE_RE = re.compile(r"^(intel|amd)-rapl:(\d+)((?::\d+)*)$")
_OVERLAPPING = ("core", "uncore", "psys")
_warned: set[str] = set()
_warn_lock = threading.Lock()
log = logging.getLogger(__name__)

#: Assumed maximum power of a zone (watts) when sysfs does not give one: above the
#: peak draw of current server packages, so the sampling interval stays safe.
DEFAULT_MAX_POWER_W = 1000.0
#: Reads per shortest wrap time (sampling margin).
SAMPLES_PER_WRAP = 4
#: Shortest background sampling interval (seconds).
MIN_SAMPLE_INTERVAL_S = 0.01


class RAPLPermissionWarning(RuntimeWarning):
    """RAPL counters exist but cannot be read by this user."""


def permission_fix(path: str | Path) -> str:
    """The one-line fix for an unreadable RAPL counter file."""
    return (
        f"run as root, or grant read access with `sudo chmod o+r {path}` "
        "(resets at reboot; a udev rule makes it permanent)"
    )


def _warn_once(path: Path) -> None:
    key = str(path)
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(
        f"RAPL energy counter {path} is not readable (permission denied): CPU energy "
        f"will not be measured by RAPL. Fix: {permission_fix(path)}.",
        RAPLPermissionWarning,
        stacklevel=3,
    )


@dataclass
class _Zone:
    domain: str
    path: Path
    max_range_uj: int
    last_raw_uj: int
    wrap_s: float
    last_read_s: float
    total_uj: int = 0
    epoch: int = 0


def _max_power_w(read_text: Callable[[Path], str], zone_dir: Path) -> float | None:
    """The zone's maximum power in watts from sysfs, if it states one."""
    candidates = [zone_dir / "max_power_uw"]
    candidates += [zone_dir / f"constraint_{i}_max_power_uw" for i in range(3)]
    best: float | None = None
    for path in candidates:
        try:
            value = int(read_text(path)) / 1e6
        except (OSError, ValueError):
            continue
        if value > 0:
            best = value if best is None else max(best, value)
    return best


def _domain_name(zone_name: str, package: int, is_subzone: bool) -> str:
    if zone_name.startswith("package"):
        return f"cpu:{zone_name}"
    if zone_name == "dram":
        return f"dram:{package}"
    if zone_name == "psys":
        return f"psys:{package}"
    return f"cpu:{zone_name}-{package}"


class RAPLBackend(MeterBackend):
    """Cumulative energy of RAPL zones, wrap-around handled.

    Args:
        root: The powercap folder (tests pass a
            :class:`~green_chain.testing.fake_powercap.FakePowercapTree` root).
        include_overlapping: Also report ``core``/``uncore``/``psys`` zones (they
            overlap the package; see the module docstring).
        read_text: File reader (injectable for tests); default ``Path.read_text``.
        max_power_w: Maximum power of a zone in watts, for zones whose sysfs
            folder states none (default :data:`DEFAULT_MAX_POWER_W`).
        clock: Monotonic clock in seconds (tests: a FakeClock).
        start_sampler: Read on a background thread every ``wrap_s / 4``
            seconds (tests set False and call :meth:`read` themselves).

    Raises:
        MeterUnavailableError: no RAPL zone, or a counter is not readable (after
            one :class:`RAPLPermissionWarning` naming the file and the fix).
    """

    source = "rapl"

    def __init__(
        self,
        root: str | Path = DEFAULT_POWERCAP_ROOT,
        *,
        include_overlapping: bool = False,
        read_text: Callable[[Path], str] | None = None,
        max_power_w: float = DEFAULT_MAX_POWER_W,
        clock: Callable[[], float] = time.monotonic,
        start_sampler: bool = True,
    ) -> None:
        if (
            isinstance(max_power_w, bool)
            or not isinstance(max_power_w, int | float)
            or not (0 < max_power_w < float("inf"))
        ):
            raise ValueError(
                f"max_power_w must be a finite number of watts > 0, got {max_power_w!r}"
            )
        self.root = Path(root)
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._files = _OpenFiles()
        self._read_text: Callable[[Path], str] = read_text or self._files.read
        self._lock = threading.Lock()
        self._zones: dict[str, _Zone] = {}
        if not self.root.is_dir():
            raise MeterUnavailableError(
                f"no powercap folder at {self.root} (not Linux, or no RAPL)"
            )
        seen: set[str] = set()
        for entry in sorted(self.root.iterdir()):
            match = _ZONE_RE.match(entry.name)
            if match is None or entry.name in seen:
                continue
            seen.add(entry.name)
            package, sub = int(match.group(2)), match.group(3)
            try:
                name = self._read_text(entry / "name").strip()
            except OSError:
                continue
            if name in _OVERLAPPING and not include_overlapping:
                continue
            domain = _domain_name(name, package, bool(sub))
            if domain in self._zones:  # e.g. the same zone from two vendors' drivers
                continue
            energy_file = entry / "energy_uj"
            try:
                raw = int(self._read_text(energy_file))
                max_range = int(self._read_text(entry / "max_energy_range_uj"))
            except PermissionError as exc:
                _warn_once(energy_file)
                raise MeterUnavailableError(
                    f"permission denied reading {energy_file}: {permission_fix(energy_file)}"
                ) from exc
            except (OSError, ValueError):
                continue
            power_w = _max_power_w(self._read_text, entry) or float(max_power_w)
            wrap_s = max_range / 1e6 / power_w
            self._zones[domain] = _Zone(domain, energy_file, max_range, raw, wrap_s, clock())
        if not self._zones:
            self._files.close()
            raise MeterUnavailableError(f"no readable intel-rapl/amd-rapl zone under {self.root}")
        #: Seconds between background reads: a quarter of the shortest wrap time
        #: (at least :data:`MIN_SAMPLE_INTERVAL_S`; real ranges wrap in minutes).
        self.sample_interval_s = max(
            MIN_SAMPLE_INTERVAL_S, min(z.wrap_s for z in self._zones.values()) / SAMPLES_PER_WRAP
        )
        if start_sampler:
            self._thread = threading.Thread(
                target=self._sample_loop, name="green-chain-rapl-sampler", daemon=True
            )
            self._thread.start()

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.sample_interval_s):
            try:
                self.read()
            except Exception:  # keep sampling; read() reports per-zone failures itself
                log.exception("RAPL sampler failed")

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        try:
            cls(start_sampler=False).close()
        except MeterUnavailableError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, "available"

    def domains(self) -> Mapping[str, DomainInfo]:
        return {
            z.domain: DomainInfo(z.domain, self.source, "measured", f"RAPL {z.path}")
            for z in self._zones.values()
        }

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._files.close()

    def read(self) -> Mapping[str, DomainReading]:
        out: dict[str, DomainReading] = {}
        with self._lock:  # accumulation must be serialised so readings go forward
            for zone in self._zones.values():
                try:
                    raw = int(self._read_text(zone.path))
                except (OSError, ValueError) as exc:
                    out[zone.domain] = DomainReading(
                        energy_j=None, error=f"reading {zone.path} failed: {exc}"
                    )
                    continue
                now_s = self.clock()
                if now_s - zone.last_read_s > zone.wrap_s:
                    zone.epoch += 1  # a second wrap cannot be ruled out: restart continuity
                zone.total_uj += wrap_delta_uj(zone.last_raw_uj, raw, zone.max_range_uj)
                zone.last_raw_uj = raw
                zone.last_read_s = now_s
                out[zone.domain] = DomainReading(energy_j=zone.total_uj / 1e6, epoch=zone.epoch)
        return out


class _OpenFiles:
    """Reads small sysfs files through descriptors kept open (``pread`` at offset 0).

    Re-opening ``energy_uj`` for every reading costs tens of microseconds;
    ``pread`` on a kept descriptor re-generates a sysfs attribute for a few.
    """

    def __init__(self) -> None:
        self._fds: dict[Path, int] = {}
        self._lock = threading.Lock()

    def read(self, path: Path) -> str:
        with self._lock:
            fd = self._fds.get(path)
            if fd is None:
                fd = os.open(path, os.O_RDONLY)
                self._fds[path] = fd
            return os.pread(fd, 64, 0).decode()

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._fds.clear()


def wrap_delta_uj(last_uj: int, now_uj: int, max_range_uj: int) -> int:
    """Counter increase from ``last_uj`` to ``now_uj`` for a counter wrapping at ``max_range_uj``.

    A smaller ``now_uj`` means the counter wrapped once: the increase is
    ``now_uj + max_range_uj - last_uj``.
    """
    delta = now_uj - last_uj
    if delta < 0:
        delta += max_range_uj
    return delta
