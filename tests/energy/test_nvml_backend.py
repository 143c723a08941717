"""NVML backend over FakeNVML: counters, pre-Volta sampling, errors, CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import pytest

from green_chain.energy.backends.base import MeterUnavailableError
from green_chain.energy.backends.nvml import NVMLBackend, parse_visible_devices
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing import FakeClock, FakeGPU, FakeNVML


def test_counter_deltas_power_and_uncertainty():
    nvml = FakeNVML(2)
    backend = NVMLBackend(nvml, visible_devices=None)
    clock = FakeClock()
    monitor = EnergyMonitor([backend], clock=clock)
    nvml.set_power(0, 250.0)
    monitor.begin("w")
    nvml.add_energy(0, 12.5)
    nvml.add_energy(1, 3.0)
    clock.advance(0.05)
    m = monitor.end("w")
    assert m.energy_j == pytest.approx({"gpu:0": 12.5, "gpu:1": 3.0})
    assert m.domains["gpu:0"].uncertainty_j == pytest.approx(250.0 * 0.1)
    assert m.domains["gpu:0"].approximate is False
    assert m.kind == "measured" and m.sources == ["nvml"]
    backend.close()
    assert nvml.initialized == 0


def test_counter_reset_keeps_readings_forward():
    nvml = FakeNVML(1)
    backend = NVMLBackend(nvml, visible_devices=None)
    nvml.set_energy(0, 100.0)
    a = backend.read()["gpu:0"].energy_j
    nvml.set_energy(0, 1.0)  # driver reload: counter restarted
    b = backend.read()["gpu:0"].energy_j
    assert a is not None and b is not None and b >= a


def test_pre_volta_sampling_integrates_power():
    nvml = FakeNVML(1, pre_volta=True)
    clock = FakeClock()
    backend = NVMLBackend(
        nvml, sample_interval_s=0.1, clock=clock, start_sampler=False, visible_devices=None
    )
    assert backend.approximate
    monitor = EnergyMonitor([backend], clock=clock)
    nvml.set_power(0, 100.0)
    backend.sample_now()  # t=0, 100 W
    monitor.begin("w")
    for _ in range(10):  # 1 s at 100 W
        clock.advance(0.1)
        backend.sample_now()
    nvml.set_power(0, 200.0)
    clock.advance(0.1)
    backend.sample_now()  # trapezoid 100->200 W over 0.1 s = 15 J
    m = monitor.end("w")
    d = m.domains["gpu:0"]
    assert d.energy_j == pytest.approx(100.0 + 15.0)
    assert d.approximate is True
    assert d.uncertainty_j == pytest.approx(200.0 * 0.1)


def test_pre_volta_background_thread_samples():
    nvml = FakeNVML(1, pre_volta=True)
    nvml.set_power(0, 50.0)
    backend = NVMLBackend(nvml, sample_interval_s=0.01, visible_devices=None)
    try:
        import time

        time.sleep(0.2)
        energy = backend.read()["gpu:0"].energy_j
    finally:
        backend.close()
    assert energy is not None and energy > 0
    assert nvml.calls["nvmlDeviceGetPowerUsage"] >= 5


def test_error_mid_window_marks_domain_unavailable_without_raising():
    nvml = FakeNVML(2)
    backend = NVMLBackend(nvml, visible_devices=None)
    monitor = EnergyMonitor([backend], clock=FakeClock())
    monitor.begin("w")
    nvml.add_energy(1, 4.0)
    nvml.fail_at("nvmlDeviceGetTotalEnergyConsumption", 1, index=0)
    m = monitor.end("w")  # must not raise
    assert m.domains["gpu:0"].available is False
    assert "GPU is lost" in (m.domains["gpu:0"].reason or "")
    assert m.energy_j == pytest.approx({"gpu:1": 4.0})


def test_sampling_error_marks_unavailable_then_recovers():
    nvml = FakeNVML(1, pre_volta=True)
    clock = FakeClock()
    backend = NVMLBackend(nvml, clock=clock, start_sampler=False, visible_devices=None)
    nvml.set_power(0, 10.0)
    nvml.fail_at("nvmlDeviceGetPowerUsage", 1, sticky=False)
    clock.advance(0.1)
    backend.sample_now()
    r = backend.read()["gpu:0"]
    assert r.energy_j is None and "NVML error" in (r.error or "")
    clock.advance(0.1)
    backend.sample_now()
    assert backend.read()["gpu:0"].energy_j == pytest.approx(10.0 * 0.2)


def test_init_failure_and_no_gpu_are_unavailable():
    with pytest.raises(MeterUnavailableError, match="NVML init failed"):
        NVMLBackend(FakeNVML(1, init_error=FakeNVML.NVMLError_DriverNotLoaded()))
    with pytest.raises(MeterUnavailableError, match="no NVIDIA GPU"):
        NVMLBackend(FakeNVML(0), visible_devices=None)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (None, [0, 1, 2, 3]),
        ("", []),
        ("2", [2]),
        ("3,1", [3, 1]),
        ("1,7,2", [1]),  # invalid index stops the list, as in CUDA
        ("0,0", [0]),
        ("GPU-00000002", [2]),
        ("GPU-00000003-aaaa-bbbb-cccc-000000000003,0", [3, 0]),
        ("GPU-ffff,1", []),
        ("abc", []),
    ],
)
def test_parse_visible_devices(env, expected):
    nvml = FakeNVML(4)
    uuids = [g.uuid for g in nvml.gpus]
    assert parse_visible_devices(env, 4, uuids) == expected


def test_cuda_visible_devices_maps_domains(monkeypatch):
    nvml = FakeNVML([FakeGPU(name=f"G{i}", uuid=f"GPU-{i}abc") for i in range(3)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-2abc,0")
    backend = NVMLBackend(nvml)
    doms = backend.domains()
    assert list(doms) == ["gpu:0", "gpu:1"]
    assert "G2" in doms["gpu:0"].description and "NVML index 2" in doms["gpu:0"].description
    nvml.add_energy(2, 7.0)
    before = backend.read()
    nvml.add_energy(2, 1.0)
    after = backend.read()
    assert after["gpu:0"].energy_j - before["gpu:0"].energy_j == pytest.approx(1.0)
    assert after["gpu:1"].energy_j == before["gpu:1"].energy_j
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(MeterUnavailableError, match="no GPU visible"):
        NVMLBackend(nvml)


@pytest.mark.gpu
def test_real_nvml_counter_moves():
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except Exception as exc:
        pytest.skip(f"no NVIDIA GPU / NVML on this machine: {exc}")
    if count == 0:
        pytest.skip("NVML present but no GPU")
    import time

    backend = NVMLBackend()
    monitor = EnergyMonitor([backend])
    try:
        monitor.begin("idle")
        time.sleep(0.5)
        m = monitor.end("idle")
    finally:
        monitor.close()
    assert m.available and m.total_j is not None and m.total_j > 0
    assert m.sources == ["nvml"] and m.kind == "measured"
