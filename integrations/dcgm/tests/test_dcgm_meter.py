"""DCGMMeter against a loopback HTTP server serving recorded dcgm-exporter payloads."""

from __future__ import annotations

import socket

import pytest
from dcgm_testserver import PayloadServer, closed_port_url, payload
from green_chain_dcgm import DCGMMeter

from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.clock import FakeClock

GPU0 = "remote-gpu:gpu-node-1:0"
GPU1 = "remote-gpu:gpu-node-1:1"


@pytest.fixture
def exporter():
    with PayloadServer() as server:
        server.routes["/metrics"] = payload("dcgm_node1_t0.txt")
        yield server


def test_discovers_one_measured_domain_per_gpu(exporter: PayloadServer) -> None:
    meter = DCGMMeter(exporter.url("/metrics"))
    info = meter.domains()
    assert list(info) == [GPU0, GPU1]
    assert {i.source for i in info.values()} == {"dcgm"}
    assert {i.kind for i in info.values()} == {"measured"}
    assert "NVIDIA A100-SXM4-80GB" in info[GPU0].description
    assert "30 s" in info[GPU0].description


def test_bare_endpoint_gets_metrics_path(exporter: PayloadServer) -> None:
    meter = DCGMMeter(exporter.url(""))
    assert meter.url.endswith("/metrics")
    assert meter.read()[GPU0].energy_j == pytest.approx(123456.789)


def test_reads_counter_in_joules_with_power_and_period(exporter: PayloadServer) -> None:
    meter = DCGMMeter(exporter.url("/metrics"), update_period_s=10.0)
    reading = meter.read()
    assert reading[GPU0].energy_j == pytest.approx(123456.789)
    assert reading[GPU1].energy_j == pytest.approx(98765.432)
    assert reading[GPU1].power_w == pytest.approx(247.893)
    assert reading[GPU0].update_period_s == 10.0
    assert reading[GPU0].error is None


def test_window_energy_and_uncertainty_through_the_monitor(exporter: PayloadServer) -> None:
    clock = FakeClock(100.0)
    monitor = EnergyMonitor([DCGMMeter(exporter.url("/metrics"))], clock=clock)
    monitor.begin("step")
    exporter.routes["/metrics"] = payload("dcgm_node1_t1.txt")
    clock.advance(31.0)
    m = monitor.end("step")
    assert m.energy_j == pytest.approx({GPU0: 1500.0, GPU1: 800.25})
    assert m.kind == "measured"
    assert m.sources == ["dcgm"]
    # power at the end reading (W) times the 30 s update period
    assert m.domains[GPU0].uncertainty_j == pytest.approx(63.02 * 30.0)
    assert m.domains[GPU1].uncertainty_j == pytest.approx(251.4 * 30.0)


def test_counter_reset_is_tracked_with_an_offset(exporter: PayloadServer) -> None:
    meter = DCGMMeter(exporter.url("/metrics"))
    monitor = EnergyMonitor([meter])
    exporter.routes["/metrics"] = payload("dcgm_node1_t1.txt")
    first = monitor.read()
    exporter.routes["/metrics"] = payload("dcgm_node1_reset.txt")  # GPU 1 restarted at 0
    second = monitor.read()
    m = monitor.between(first, second)
    assert m.domains[GPU0].energy_j == pytest.approx(300.0)
    assert m.domains[GPU0].approximate is False
    # only what was counted since the reset is known: 120.5 J, flagged approximate
    assert m.domains[GPU1].available
    assert m.domains[GPU1].energy_j == pytest.approx(120.5)
    assert m.domains[GPU1].approximate is True
    # later windows keep counting from the offset, never backwards
    exporter.routes["/metrics"] = payload("dcgm_node1_reset.txt").replace(
        "} 120500\n", "} 130500\n"
    )
    third = monitor.read()
    assert monitor.between(second, third).domains[GPU1].energy_j == pytest.approx(10.0)


def test_gpu_filter_by_index_and_uuid(exporter: PayloadServer) -> None:
    assert list(DCGMMeter(exporter.url("/metrics"), gpus=[1]).domains()) == [GPU1]
    by_uuid = DCGMMeter(exporter.url("/metrics"), gpus=["GPU-5f3c2a71-9d0e-4b8a-a6c2-3e1f7b9d2c40"])
    assert list(by_uuid.domains()) == [GPU0]
    assert list(by_uuid.read()) == [GPU0]


def test_blank_dcgm_value_is_an_error_for_that_gpu_only(exporter: PayloadServer) -> None:
    exporter.routes["/metrics"] = payload("dcgm_node1_blank.txt")
    reading = DCGMMeter(exporter.url("/metrics")).read()
    assert reading[GPU0].energy_j is None
    assert "blank" in (reading[GPU0].error or "")
    assert reading[GPU1].energy_j == pytest.approx(98765.432)


def test_unreachable_endpoint_gives_unavailable_energy_never_raises() -> None:
    url = closed_port_url()
    meter = DCGMMeter(url, timeout_s=0.5)
    assert list(meter.domains()) == ["remote-gpu:127.0.0.1:all"]
    assert meter.last_error is not None and url in meter.last_error
    monitor = EnergyMonitor([meter])
    monitor.begin("step")
    m = monitor.end("step")
    assert not m.available
    assert m.total_j is None
    reason = m.unavailable_reasons["remote-gpu:127.0.0.1:all"]
    assert "refused" in reason.lower() or "failed" in reason.lower()


def test_unreachable_endpoint_with_known_gpus_names_them() -> None:
    meter = DCGMMeter(closed_port_url(), gpus=[0, 1], timeout_s=0.5, host="gpu-node-9")
    assert list(meter.domains()) == ["remote-gpu:gpu-node-9:0", "remote-gpu:gpu-node-9:1"]
    assert all(r.energy_j is None for r in meter.read().values())


def test_aggregate_domain_sums_gpus_once_endpoint_comes_up() -> None:
    with PayloadServer() as server:
        clock = FakeClock()
        meter = DCGMMeter(server.url("/metrics"), clock=clock, retry_after_s=5.0)
        assert list(meter.domains()) == ["remote-gpu:127.0.0.1:all"]  # 404 at start-up
        server.routes["/metrics"] = payload("dcgm_node1_t0.txt")
        clock.advance(6.0)
        first = meter.read()["remote-gpu:127.0.0.1:all"]
        server.routes["/metrics"] = payload("dcgm_node1_t1.txt")
        second = meter.read()["remote-gpu:127.0.0.1:all"]
        assert first.energy_j == pytest.approx(123456.789 + 98765.432)
        assert second.energy_j is not None and first.energy_j is not None
        assert second.energy_j - first.energy_j == pytest.approx(2300.25)
        assert second.power_w == pytest.approx(63.02 + 251.4)


def test_failure_backs_off_without_hammering_the_endpoint(exporter: PayloadServer) -> None:
    clock = FakeClock()
    meter = DCGMMeter(exporter.url("/metrics"), clock=clock, retry_after_s=5.0)
    del exporter.routes["/metrics"]
    before = len(exporter.requests)
    assert "HTTP 404" in (meter.read()[GPU0].error or "")
    meter.read()
    meter.read()
    assert len(exporter.requests) == before + 1  # two reads served from the back-off
    exporter.routes["/metrics"] = payload("dcgm_node1_t1.txt")
    clock.advance(5.5)
    assert meter.read()[GPU0].energy_j == pytest.approx(124956.789)
    assert meter.last_error is None


def test_endpoint_dying_mid_window_makes_window_unavailable(exporter: PayloadServer) -> None:
    monitor = EnergyMonitor([DCGMMeter(exporter.url("/metrics"))])
    monitor.begin("step")
    exporter.routes["/metrics"] = "garbage{ line\n"
    m = monitor.end("step")
    assert not m.available
    assert "line 1" in m.unavailable_reasons[GPU0]


def test_silent_endpoint_times_out_within_bound() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the TCP handshake, never answers
        port = listener.getsockname()[1]
        meter = DCGMMeter(f"http://127.0.0.1:{port}/metrics", timeout_s=0.3)
        assert "timed out" in (meter.last_error or "").lower()


def test_payload_without_energy_field_is_reported() -> None:
    with PayloadServer() as server:
        server.routes["/metrics"] = (
            '# TYPE DCGM_FI_DEV_GPU_TEMP gauge\nDCGM_FI_DEV_GPU_TEMP{gpu="0"} 40\n'
        )
        meter = DCGMMeter(server.url("/metrics"))
        assert "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" in (meter.last_error or "")


def test_prometheus_query_api_mode() -> None:
    with PayloadServer() as prom:
        prom.routes["/api/v1/query"] = payload("prometheus_query_t0.json")
        query = 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{job="dcgm-exporter"}'
        meter = DCGMMeter(prom.url(""), mode="prometheus", query=query, update_period_s=60.0)
        assert list(meter.domains()) == ["remote-gpu:gpu-node-1:0", "remote-gpu:gpu-node-2:0"]
        assert prom.requests[-1] == ("/api/v1/query", {"query": [query]})
        first = meter.read()
        prom.routes["/api/v1/query"] = payload("prometheus_query_t1.json")
        second = meter.read()
        assert second["remote-gpu:gpu-node-1:0"].energy_j - first[
            "remote-gpu:gpu-node-1:0"
        ].energy_j == pytest.approx(2400.0)  # type: ignore[operator]
        assert second["remote-gpu:gpu-node-2:0"].energy_j - first[
            "remote-gpu:gpu-node-2:0"
        ].energy_j == pytest.approx(10.0)  # type: ignore[operator]
        assert second["remote-gpu:gpu-node-1:0"].update_period_s == 60.0


def test_prometheus_error_response_is_a_reading_error() -> None:
    with PayloadServer() as prom:
        prom.routes["/api/v1/query"] = payload("prometheus_query_t0.json")
        meter = DCGMMeter(prom.url(""), mode="prometheus", retry_after_s=0.0)
        prom.routes["/api/v1/query"] = (
            '{"status":"error","errorType":"bad_data","error":"1:5: parse error"}'
        )
        reading = meter.read()
        assert all("parse error" in (r.error or "") for r in reading.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "gpu-node:9400"}, "http"),
        ({"endpoint": "http://x", "mode": "grpc"}, "mode"),
        ({"endpoint": "http://x", "timeout_s": 0}, "timeout_s"),
        ({"endpoint": "http://x", "update_period_s": -1}, "update_period_s"),
        ({"endpoint": "http://x", "query": "up"}, "query"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DCGMMeter(**kwargs)


def test_is_available_explains_the_endpoint_is_needed() -> None:
    ok, reason = DCGMMeter.is_available()
    assert not ok and "endpoint" in reason
