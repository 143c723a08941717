"""Remote GPU energy from NVIDIA dcgm-exporter (or a Prometheus that scrapes it).

dcgm-exporter publishes ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION``: a per-GPU
counter of the energy used since the driver loaded, in **millijoules**, with the
labels ``gpu`` (index), ``UUID`` and ``Hostname``. :class:`DCGMMeter` reads it
over HTTP and reports one domain ``remote-gpu:<host>:<gpu>`` per GPU, source
``dcgm``, kind ``measured``.

The exporter refreshes its samples only every collection interval
(``--collect-interval``, 30 000 ms by default), and a Prometheus adds its own
``scrape_interval``: the counter seen by green-chain moves in steps of that
period. Each reading carries it as ``update_period_s`` so that the monitor puts
``power_w * update_period_s`` of uncertainty on every window: short steps get an
honest, wide error bar (lower the exporter's interval for finer windows).

A failing endpoint never raises from :meth:`DCGMMeter.read`: every domain is
returned with ``energy_j=None`` and the reason, so the window is reported as
unavailable and the chain runs on.
"""

from __future__ import annotations

import math
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from green_chain.energy.backends.base import MeterBackend
from green_chain.energy.measurement import DomainInfo, DomainReading
from green_chain_dcgm.http import EndpointError, http_get_json, http_get_text, url_host
from green_chain_dcgm.promtext import PromTextError, iter_samples

DCGM_ENERGY_METRIC = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
DCGM_POWER_METRIC = "DCGM_FI_DEV_POWER_USAGE"
#: dcgm-exporter's default collection interval (``--collect-interval 30000`` ms), in seconds.
DEFAULT_UPDATE_PERIOD_S = 30.0
#: DCGM reports "no value" with int64 sentinels at and above 0x7ffffffffffffff0.
_DCGM_BLANK_MIN = float(0x7FFFFFFFFFFFFFF0)

Mode = Literal["exporter", "prometheus"]


@dataclass(frozen=True)
class GPUSample:
    """One GPU's energy counter as read from the endpoint.

    Attributes:
        hostname: The ``Hostname`` label ('' when absent).
        gpu: The ``gpu`` index label.
        uuid: The ``UUID`` label ('' when absent).
        energy_mj: Counter value in millijoules (may be a DCGM blank sentinel or NaN).
        model_name: The ``modelName`` label ('' when absent).
    """

    hostname: str
    gpu: str
    uuid: str
    energy_mj: float
    model_name: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.hostname, self.gpu)

    def matches(self, hostname: str | None, gpu: str | None) -> bool:
        if hostname is not None and self.hostname != hostname:
            return False
        return gpu is None or gpu in (self.gpu, self.uuid)


@dataclass(frozen=True)
class _Selector:
    """Which samples feed one domain; ``None`` fields match anything."""

    hostname: str | None
    gpu: str | None
    aggregate: bool = False


def _sample_from_labels(labels: Mapping[str, str], value: float) -> GPUSample:
    hostname = labels.get("Hostname", "")
    if not hostname and "instance" in labels:
        hostname = labels["instance"].rsplit(":", 1)[0]
    return GPUSample(
        hostname=hostname,
        gpu=labels.get("gpu", labels.get("minor_number", "")),
        uuid=labels.get("UUID", labels.get("uuid", "")),
        energy_mj=value,
        model_name=labels.get("modelName", ""),
    )


class DCGMMeter(MeterBackend):
    """A meter backend for the GPUs behind a dcgm-exporter or a Prometheus.

    Use it wherever a local meter goes, alone or next to them::

        monitor = EnergyMonitor([DCGMMeter("http://gpu-node-1:9400/metrics")])

    Args:
        endpoint: ``mode="exporter"``: the exporter's URL (``http://host:9400/metrics``;
            a bare ``http://host:9400`` gets ``/metrics``). ``mode="prometheus"``:
            the Prometheus base URL (``http://prometheus:9090``).
        gpus: Only these GPUs, by index (``0``, ``"1"``) or UUID; ``None`` = all.
        timeout_s: HTTP timeout of one read, in seconds.
        mode: ``"exporter"`` (Prometheus text) or ``"prometheus"`` (HTTP query API).
        query: PromQL instant query for ``mode="prometheus"`` (default the bare
            metric name; filter hosts with e.g. ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{Hostname="a"}``).
        update_period_s: How often the counter seen here changes, in seconds:
            the exporter's collection interval (and, through Prometheus, the
            larger of that and its ``scrape_interval``). Bounds the uncertainty
            of every window. Default 30 s (dcgm-exporter's default).
        host: Host name used in domain names; default the ``Hostname`` label, else
            the endpoint's host.
        retry_after_s: After a failed read, further reads within this many
            seconds return the same error without a network call, so a dead
            endpoint does not slow every step of a chain by ``timeout_s``.
        clock: Monotonic clock in seconds (for the retry back-off; injectable).

    GPUs are discovered with one read at construction. When that fails and
    ``gpus`` is not given, a single domain ``remote-gpu:<host>:all`` sums every
    GPU the endpoint reports once it is reachable.
    """

    source = "dcgm"

    def __init__(
        self,
        endpoint: str,
        *,
        gpus: Sequence[int | str] | None = None,
        timeout_s: float = 2.0,
        mode: Mode = "exporter",
        query: str | None = None,
        update_period_s: float = DEFAULT_UPDATE_PERIOD_S,
        host: str | None = None,
        retry_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("exporter", "prometheus"):
            raise ValueError(f"mode must be 'exporter' or 'prometheus', not {mode!r}")
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        if update_period_s < 0:
            raise ValueError(f"update_period_s must be >= 0 seconds, got {update_period_s}")
        if query is not None and mode != "prometheus":
            raise ValueError("query= is only used with mode='prometheus'")
        self.mode: Mode = mode
        self.url = self._resolve_url(endpoint, mode)
        self.query = query or DCGM_ENERGY_METRIC
        self.timeout_s = float(timeout_s)
        self.update_period_s = float(update_period_s)
        self.retry_after_s = float(retry_after_s)
        self.clock = clock
        self._gpus = None if gpus is None else [str(g) for g in gpus]
        self._host = host
        self._lock = threading.Lock()
        self._last_raw_mj: dict[tuple[str, str], float] = {}
        self._offset_mj: dict[tuple[str, str], float] = {}
        self._failed_at_s: float | None = None
        self.last_error: str | None = None
        self._selectors: dict[str, _Selector] = {}
        self._info: dict[str, DomainInfo] = {}
        self._discover()

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        return False, "needs an endpoint: DCGMMeter(endpoint='http://<gpu-host>:9400/metrics')"

    @staticmethod
    def _resolve_url(endpoint: str, mode: Mode) -> str:
        parsed = urllib.parse.urlparse(endpoint)
        path = parsed.path.rstrip("/")
        if mode == "exporter":
            return endpoint if path else endpoint.rstrip("/") + "/metrics"
        if path.endswith("/api/v1/query"):
            return endpoint
        return endpoint.rstrip("/") + "/api/v1/query"

    # -- discovery -------------------------------------------------------------
    def _describe(self, what: str) -> str:
        via = "dcgm-exporter" if self.mode == "exporter" else "Prometheus"
        return f"{what} via {via} {self.url} (counter updates every {self.update_period_s:g} s)"

    def _add_domain(self, name: str, selector: _Selector, what: str) -> None:
        self._selectors[name] = selector
        self._info[name] = DomainInfo(name, self.source, "measured", self._describe(what))

    def _discover(self) -> None:
        fallback_host = self._host or url_host(self.url)
        try:
            samples = self._wanted(self._fetch()[0])
        except (EndpointError, PromTextError) as exc:
            self.last_error = str(exc)
            self._failed_at_s = self.clock()
            samples = None
        if samples:
            hosts = {s.hostname for s in samples}
            for s in sorted(samples, key=lambda s: (s.hostname, _index_key(s.gpu))):
                shown = self._host if (self._host and len(hosts) == 1) else s.hostname
                name = f"remote-gpu:{shown or fallback_host}:{s.gpu}"
                what = " ".join(p for p in (s.model_name, s.uuid) if p) or f"GPU {s.gpu}"
                self._add_domain(name, _Selector(s.hostname, s.gpu), what)
        elif self._gpus:
            for gpu in self._gpus:
                name = f"remote-gpu:{fallback_host}:{gpu}"
                self._add_domain(name, _Selector(None, gpu), f"GPU {gpu} (not seen yet)")
        else:
            name = f"remote-gpu:{fallback_host}:all"
            self._add_domain(name, _Selector(None, None, aggregate=True), "all GPUs (not seen yet)")

    def _wanted(self, samples: Iterable[GPUSample]) -> list[GPUSample]:
        if self._gpus is None:
            return list(samples)
        return [s for s in samples if any(s.matches(None, g) for g in self._gpus)]

    # -- fetching --------------------------------------------------------------
    def _fetch(self) -> tuple[list[GPUSample], dict[tuple[str, str], float]]:
        """Energy samples and power per GPU key (W). Raises EndpointError/PromTextError."""
        if self.mode == "exporter":
            text = http_get_text(self.url, timeout_s=self.timeout_s)
            energy: list[GPUSample] = []
            power: dict[tuple[str, str], float] = {}
            for sample in iter_samples(text):
                if sample.name == DCGM_ENERGY_METRIC:
                    energy.append(_sample_from_labels(sample.labels, sample.value))
                elif sample.name == DCGM_POWER_METRIC:
                    gpu = _sample_from_labels(sample.labels, sample.value)
                    power[gpu.key] = sample.value
            if not energy:
                raise EndpointError(
                    f"{self.url} serves no {DCGM_ENERGY_METRIC} samples "
                    "(is this a dcgm-exporter with the energy field enabled?)"
                )
            return energy, power
        return self._fetch_prometheus(), {}

    def _fetch_prometheus(self) -> list[GPUSample]:
        body = http_get_json(self.url, timeout_s=self.timeout_s, params={"query": self.query})
        if not isinstance(body, dict) or body.get("status") != "success":
            reason = body.get("error", body) if isinstance(body, dict) else body
            raise EndpointError(f"Prometheus query {self.query!r} failed: {reason}")
        data = body.get("data") or {}
        if data.get("resultType") != "vector":
            raise EndpointError(
                f"Prometheus query {self.query!r} returned {data.get('resultType')!r}, "
                "expected an instant vector"
            )
        out: list[GPUSample] = []
        for item in data.get("result") or []:
            try:
                value = float(item["value"][1])
                labels = {str(k): str(v) for k, v in item.get("metric", {}).items()}
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise EndpointError(f"Prometheus result item {item!r} is malformed") from exc
            out.append(_sample_from_labels(labels, value))
        if not out:
            raise EndpointError(f"Prometheus query {self.query!r} returned no series")
        return out

    # -- MeterBackend ----------------------------------------------------------
    def domains(self) -> Mapping[str, DomainInfo]:
        return dict(self._info)

    def read(self) -> Mapping[str, DomainReading]:
        """Cumulative energy per GPU domain in joules; never raises."""
        with self._lock:
            now_s = self.clock()
            if (
                self._failed_at_s is not None
                and self.last_error is not None
                and now_s - self._failed_at_s < self.retry_after_s
            ):
                return self._all_failed(self.last_error)
            try:
                samples, power = self._fetch()
            except (EndpointError, PromTextError) as exc:
                self.last_error = str(exc)
                self._failed_at_s = now_s
                return self._all_failed(self.last_error)
            except Exception as exc:  # never break the caller's chain
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._failed_at_s = now_s
                return self._all_failed(self.last_error)
            self._failed_at_s = None
            self.last_error = None
            wanted = self._wanted(samples)
            return {
                name: self._domain_reading(sel, wanted, power)
                for name, sel in self._selectors.items()
            }

    def _all_failed(self, reason: str) -> dict[str, DomainReading]:
        return {
            name: DomainReading(energy_j=None, update_period_s=self.update_period_s, error=reason)
            for name in self._selectors
        }

    def _cumulative_mj(self, sample: GPUSample) -> tuple[float, bool]:
        """Counter value plus the offsets of earlier resets; True when a reset was seen now."""
        key = sample.key
        last = self._last_raw_mj.get(key)
        reset = last is not None and sample.energy_mj < last
        if reset and last is not None:
            # the counter restarted from zero (exporter, driver or GPU reset): keep counting
            self._offset_mj[key] = self._offset_mj.get(key, 0.0) + last
        self._last_raw_mj[key] = sample.energy_mj
        return sample.energy_mj + self._offset_mj.get(key, 0.0), reset

    def _domain_reading(
        self,
        selector: _Selector,
        samples: list[GPUSample],
        power: Mapping[tuple[str, str], float],
    ) -> DomainReading:
        matched = [s for s in samples if s.matches(selector.hostname, selector.gpu)]
        period = self.update_period_s
        if not matched:
            return DomainReading(
                energy_j=None,
                update_period_s=period,
                error=f"GPU {selector.gpu} is missing from {self.url}",
            )
        if len(matched) > 1 and not selector.aggregate:
            hosts = sorted({s.hostname for s in matched})
            return DomainReading(
                energy_j=None,
                update_period_s=period,
                error=f"GPU {selector.gpu} is ambiguous across hosts {hosts}: filter with query=",
            )
        blank = [s for s in matched if math.isnan(s.energy_mj) or s.energy_mj >= _DCGM_BLANK_MIN]
        if blank:
            return DomainReading(
                energy_j=None,
                update_period_s=period,
                error=f"DCGM has no energy value for GPU {blank[0].gpu} "
                "(field blank: not supported on this GPU or not yet sampled)",
            )
        total_mj = 0.0
        any_reset = False
        for sample in matched:
            value_mj, reset = self._cumulative_mj(sample)
            total_mj += value_mj
            any_reset = any_reset or reset
        powers = [power[s.key] for s in matched if s.key in power]
        power_w = sum(powers) if len(powers) == len(matched) else None
        return DomainReading(
            energy_j=total_mj / 1000.0,
            power_w=power_w,
            update_period_s=period,
            approximate=any_reset,
            error=None,
        )


def _index_key(gpu: str) -> tuple[int, str]:
    return (int(gpu), "") if gpu.isdigit() else (1 << 30, gpu)
