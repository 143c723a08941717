"""RAPL backend over a fake powercap tree: deltas, wrap-around, permissions, subzones."""

from __future__ import annotations

import warnings

import pytest

from green_chain.energy.backends.base import MeterUnavailableError
from green_chain.energy.backends.rapl import RAPLBackend, RAPLPermissionWarning, wrap_delta_uj
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing import FakeClock, FakePowercapTree


def test_domains_and_counter_deltas(tmp_path):
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0", energy_uj=5_000_000)
    dram = tree.add_zone("dram", parent=pkg, energy_uj=100)
    tree.add_zone("core", parent=pkg)
    backend = tree.backend()
    assert set(backend.domains()) == {"cpu:package-0", "dram:0"}  # core overlaps the package
    assert all(d.kind == "measured" and d.source == "rapl" for d in backend.domains().values())
    clock = FakeClock()
    monitor = EnergyMonitor([backend], clock=clock)
    monitor.begin("w")
    pkg.add_energy_j(3.25)
    dram.add_energy_j(0.5)
    clock.advance(1.0)
    m = monitor.end("w")
    assert m.energy_j == pytest.approx({"cpu:package-0": 3.25, "dram:0": 0.5})
    assert m.kind == "measured" and m.sources == ["rapl"]


def test_overlapping_subzones_on_request(tmp_path):
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0")
    tree.add_zone("core", parent=pkg)
    tree.add_zone("uncore", parent=pkg)
    pkg1 = tree.add_zone("package-1")
    tree.add_zone("dram", parent=pkg1)
    backend = tree.backend(include_overlapping=True)
    assert set(backend.domains()) == {
        "cpu:package-0",
        "cpu:core-0",
        "cpu:uncore-0",
        "cpu:package-1",
        "dram:1",
    }


def test_amd_zones(tmp_path):
    tree = FakePowercapTree(tmp_path)
    tree.add_zone("package-0", vendor="amd")
    assert list(tree.backend().domains()) == ["cpu:package-0"]


def test_wrap_around_is_accumulated(tmp_path):
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0", energy_uj=900, max_energy_range_uj=1000)
    backend = tree.backend()
    first = backend.read()["cpu:package-0"].energy_j
    pkg.add_energy_uj(300)  # 900 -> 200: wrapped
    second = backend.read()["cpu:package-0"].energy_j
    pkg.add_energy_uj(999)  # 200 -> 199: wrapped again, nearly a full range
    third = backend.read()["cpu:package-0"].energy_j
    assert second - first == pytest.approx(300e-6)
    assert third - second == pytest.approx(999e-6)
    assert first <= second <= third


def test_wrap_delta_formula():
    assert wrap_delta_uj(10, 15, 100) == 5
    assert wrap_delta_uj(90, 5, 100) == 15
    assert wrap_delta_uj(7, 7, 100) == 0


def test_permission_denied_warns_once_and_is_unavailable(tmp_path):
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0")
    pkg.deny()
    with (
        pytest.warns(RAPLPermissionWarning) as record,
        pytest.raises(MeterUnavailableError, match="permission denied"),
    ):
        tree.backend()
    assert len(record) == 1
    msg = str(record[0].message)
    assert str(pkg.energy_file) in msg and "chmod o+r" in msg and "root" in msg
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second attempt must not warn again
        with pytest.raises(MeterUnavailableError):
            tree.backend()


def test_read_error_mid_run_marks_domain_unavailable(tmp_path):
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0")
    backend = tree.backend()
    monitor = EnergyMonitor([backend], clock=FakeClock())
    monitor.begin("w")
    pkg.energy_file.unlink()
    m = monitor.end("w")
    assert not m.available
    assert "energy_uj" in m.unavailable_reasons["cpu:package-0"]


def test_no_zones_or_no_folder(tmp_path):
    with pytest.raises(MeterUnavailableError, match="no powercap folder"):
        RAPLBackend(tmp_path / "absent")
    FakePowercapTree(tmp_path)
    with pytest.raises(MeterUnavailableError, match="no readable"):
        RAPLBackend(tmp_path / "powercap")


def test_real_files_read_through_kept_descriptors(tmp_path):
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0")
    backend = RAPLBackend(tree.root)  # default reader: pread on open descriptors
    a = backend.read()["cpu:package-0"].energy_j
    pkg.add_energy_j(2.0)
    b = backend.read()["cpu:package-0"].energy_j
    backend.close()
    assert b - a == pytest.approx(2.0)
