"""Idle baseline (net never negative) and carbon arithmetic."""

from __future__ import annotations

import pytest

from green_chain.energy.carbon import DEFAULT_INTENSITY_G_PER_KWH, CarbonIntensity
from green_chain.energy.idle import IdleBaseline
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing import FakeClock, FakeMeterBackend


def test_idle_measure_apply_and_net():
    clock = FakeClock()
    meter = FakeMeterBackend(["gpu:0", "cpu:0"], power_w={"gpu:0": 30.0, "cpu:0": 5.0}, clock=clock)
    monitor = EnergyMonitor([meter], clock=clock)
    idle = IdleBaseline.measure(monitor, duration_s=4.0, sleep=clock.sleep)
    assert idle.power_w == pytest.approx({"gpu:0": 30.0, "cpu:0": 5.0})
    assert idle.duration_s == pytest.approx(4.0)
    assert idle.apply(monitor) is monitor
    monitor.begin("w")
    clock.advance(2.0)
    meter.add("gpu:0", 40.0)  # 60 J idle-level + 40 J of work
    m = monitor.end("w")
    assert m.energy_j == pytest.approx({"gpu:0": 100.0, "cpu:0": 10.0})
    assert m.net_energy_j() == pytest.approx({"gpu:0": 40.0, "cpu:0": 0.0})
    assert m.net_total_j == pytest.approx(40.0)


def test_net_never_negative():
    clock = FakeClock()
    meter = FakeMeterBackend(["gpu:0"])
    monitor = EnergyMonitor([meter], clock=clock, idle_power_w={"gpu:0": 100.0})
    monitor.begin("w")
    meter.add("gpu:0", 1.0)  # far below idle for 1 s
    clock.advance(1.0)
    m = monitor.end("w")
    assert m.net_energy_j() == {"gpu:0": 0.0}
    assert m.total_j == 1.0


def test_idle_round_trip_and_validation():
    idle = IdleBaseline({"gpu:0": 12.5}, 5.0, {"gpu:0": "nvml"}, {"gpu:0": "measured"})
    assert IdleBaseline.from_dict(idle.to_dict()) == idle
    with pytest.raises(ValueError, match=">= 0 W"):
        IdleBaseline({"gpu:0": -1.0})
    with pytest.raises(ValueError, match="power_w"):
        IdleBaseline.from_dict({})
    with pytest.raises(ValueError, match="duration_s"):
        IdleBaseline.measure(EnergyMonitor([FakeMeterBackend()]), duration_s=0)


def test_idle_records_unavailable_domains():
    clock = FakeClock()
    meter = FakeMeterBackend(["gpu:0", "cpu:0"])
    meter.fail("gpu:0", "lost")
    idle = IdleBaseline.measure(EnergyMonitor([meter], clock=clock), 1.0, sleep=clock.sleep)
    assert idle.unavailable == {"gpu:0": "lost"} and idle.power_w == {"cpu:0": 0.0}


def test_carbon_arithmetic():
    c = CarbonIntensity(intensity_g_per_kwh=400.0, pue=1.5)
    assert c.carbon_kg(3.6e6) == pytest.approx(0.6)  # 1 kWh * 1.5 * 400 g
    assert c.carbon_g(3600.0) == pytest.approx(0.6)  # 1 Wh
    assert c.carbon_kg(0.0) == 0.0
    default = CarbonIntensity()
    assert default.intensity_g_per_kwh == DEFAULT_INTENSITY_G_PER_KWH
    assert "Ember" in default.source
    assert default.carbon_kg(3.6e6) == pytest.approx(DEFAULT_INTENSITY_G_PER_KWH / 1000)
    assert CarbonIntensity.from_dict(c.to_dict()) == c


def test_carbon_of_measurement():
    clock = FakeClock()
    meter = FakeMeterBackend(["gpu:0"])
    monitor = EnergyMonitor([meter], clock=clock, idle_power_w={"gpu:0": 1.0})
    monitor.begin("w")
    meter.add("gpu:0", 7200.0)
    clock.advance(3600.0)
    m = monitor.end("w")
    c = CarbonIntensity(500.0)
    assert c.measurement_carbon_kg(m) == pytest.approx(1e-3)
    assert c.measurement_carbon_kg(m, net=True) == pytest.approx(0.5e-3)


@pytest.mark.parametrize(
    "kwargs", [{"intensity_g_per_kwh": -1.0}, {"pue": 0.9}, {"intensity_g_per_kwh": float("nan")}]
)
def test_carbon_validation(kwargs):
    with pytest.raises(ValueError):
        CarbonIntensity(**kwargs)


def test_carbon_rejects_negative_energy():
    with pytest.raises(ValueError, match="energy_j"):
        CarbonIntensity().carbon_kg(-1.0)
