"""The availability probe with fake NVML and powercap trees."""

from __future__ import annotations

import pytest

from green_chain.energy.backends.base import NullBackend
from green_chain.energy.backends.estimate import CPUTimeEstimateBackend
from green_chain.energy.backends.nvml import NVMLBackend
from green_chain.energy.backends.rapl import RAPLBackend, RAPLPermissionWarning
from green_chain.energy.probe import describe_meters, detect_backends
from green_chain.testing import FakeNVML, FakePowercapTree


def _types(backends):
    return [type(b) for b in backends]


def test_gpu_and_rapl_no_estimate(tmp_path):
    tree = FakePowercapTree(tmp_path)
    tree.add_zone("package-0")
    backends = detect_backends(
        nvml_module=FakeNVML(1), powercap_root=tree.root, powercap_read_text=tree.read_text
    )
    assert _types(backends) == [NVMLBackend, RAPLBackend]


def test_no_counters_falls_back_to_estimate(tmp_path):
    nvml = FakeNVML(1, init_error=FakeNVML.NVMLError_LibraryNotFound())
    backends = detect_backends(nvml_module=nvml, powercap_root=tmp_path / "none")
    assert _types(backends) == [CPUTimeEstimateBackend]
    statuses = describe_meters(nvml_module=nvml, powercap_root=tmp_path / "none")
    by_name = {s.name: s for s in statuses}
    assert not by_name["nvml"].available and "Library Not Found" in by_name["nvml"].reason
    assert not by_name["rapl"].available and "no powercap folder" in by_name["rapl"].reason
    assert by_name["estimate"].used and by_name["estimate"].kind == "estimated"


def test_permission_denied_moves_on_to_next_backend(tmp_path):
    tree = FakePowercapTree(tmp_path)
    tree.add_zone("package-0").deny()
    with pytest.warns(RAPLPermissionWarning):
        backends = detect_backends(
            nvml_module=FakeNVML(0), powercap_root=tree.root, powercap_read_text=tree.read_text
        )
    assert _types(backends) == [CPUTimeEstimateBackend]


def test_nothing_gives_null_backend_with_reasons(tmp_path):
    backends = detect_backends(
        include_estimate=False, nvml_module=FakeNVML(0), powercap_root=tmp_path / "none"
    )
    assert len(backends) == 1 and isinstance(backends[0], NullBackend)
    assert "no NVIDIA GPU" in backends[0].reason and "rapl" in backends[0].reason


def test_estimate_listed_but_unused_with_rapl(tmp_path):
    tree = FakePowercapTree(tmp_path)
    tree.add_zone("package-0")
    statuses = describe_meters(
        nvml_module=FakeNVML(0), powercap_root=tree.root, powercap_read_text=tree.read_text
    )
    est = next(s for s in statuses if s.name == "estimate")
    assert est.available and not est.used and "RAPL" in est.reason
    rapl = next(s for s in statuses if s.name == "rapl")
    assert rapl.to_dict()["domains"]["cpu:package-0"]["kind"] == "measured"
