"""The shipped test doubles behave as documented."""

from __future__ import annotations

import pytest

from green_chain.testing import FakeClock, FakeMeterBackend, FakeNVML, FakePowercapTree


def test_fake_clock():
    clock = FakeClock(10.0)
    assert clock() == 10.0
    assert clock.advance(0.5) == 10.5
    clock.sleep(1.5)
    assert clock.now_s == 12.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_fake_meter_backend():
    meter = FakeMeterBackend(["gpu:0", "cpu:0"], kind="estimated", source="est")
    assert {d.kind for d in meter.domains().values()} == {"estimated"}
    meter.add("gpu:0", 2.0)
    meter.add_all(1.0)
    r = meter.read()
    assert (r["gpu:0"].energy_j, r["cpu:0"].energy_j) == (3.0, 1.0)
    meter.fail("cpu:0", "why")
    assert meter.read()["cpu:0"].error == "why"
    meter.recover("cpu:0")
    assert meter.read()["cpu:0"].energy_j == 1.0
    with pytest.raises(KeyError, match="unknown fake domain"):
        meter.add("x", 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        meter.add("gpu:0", -1.0)
    with pytest.raises(ValueError, match="at least one domain"):
        FakeMeterBackend([])


def test_fake_meter_power_change_banks_energy():
    clock = FakeClock()
    meter = FakeMeterBackend(["gpu:0"], power_w=10.0, clock=clock)
    clock.advance(1.0)
    meter.set_power("gpu:0", 20.0)
    clock.advance(1.0)
    assert meter.read()["gpu:0"].energy_j == pytest.approx(30.0)
    with pytest.raises(ValueError, match="needs a clock"):
        FakeMeterBackend().set_power("cpu:fake", 1.0)


def test_fake_nvml_api_and_failures():
    nvml = FakeNVML(2)
    with pytest.raises(FakeNVML.NVMLError_Uninitialized):
        nvml.nvmlDeviceGetCount()
    nvml.nvmlInit()
    h = nvml.nvmlDeviceGetHandleByIndex(1)
    nvml.add_energy(1, 1.5)
    nvml.set_power(1, 42.0)
    assert nvml.nvmlDeviceGetTotalEnergyConsumption(h) == 1500
    assert nvml.nvmlDeviceGetPowerUsage(h) == 42000
    nvml.fail_at("nvmlDeviceGetPowerUsage", 2, index=1)
    nvml.nvmlDeviceGetPowerUsage(h)
    with pytest.raises(FakeNVML.NVMLError) as info:
        nvml.nvmlDeviceGetPowerUsage(h)
    assert info.value.value == FakeNVML.NVML_ERROR_GPU_IS_LOST and str(info.value) == "GPU is lost"
    nvml.nvmlDeviceGetPowerUsage(nvml.nvmlDeviceGetHandleByIndex(0))  # other GPU unaffected
    pre = FakeNVML(1, pre_volta=True)
    pre.nvmlInit()
    with pytest.raises(FakeNVML.NVMLError_NotSupported):
        pre.nvmlDeviceGetTotalEnergyConsumption(0)


def test_fake_powercap_tree_layout(tmp_path):
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0", max_energy_range_uj=100)
    dram = tree.add_zone("dram", parent=pkg)
    assert pkg.path.name == "intel-rapl:0" and dram.path.name == "intel-rapl:0:0"
    assert (tree.root / "intel-rapl:0:0" / "name").read_text() == "dram\n"
    pkg.add_energy_uj(150)
    assert pkg.energy_uj == 50
    with pytest.raises(ValueError, match="outside"):
        pkg.set_energy_uj(101)
    pkg.deny()
    with pytest.raises(PermissionError):
        tree.read_text(pkg.energy_file)
    pkg.allow()
    assert tree.read_text(pkg.energy_file).strip() == "50"
