"""``green-chain meters``: output on this machine and with fake hardware."""

from __future__ import annotations

import functools
import json

import pytest

from green_chain import cli
from green_chain.energy import probe
from green_chain.testing import FakeNVML, FakePowercapTree


def test_meters_on_this_machine_text(capsys):
    assert cli.main(["meters", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "GPU via NVML" in out and "CPU via RAPL" in out and "CPU estimate" in out
    assert "Idle reading over" in out and "power_w" in out
    # whatever this machine has, every meter line says available or why not
    for label in ("[nvml]", "[rapl]", "[estimate]"):
        line = next(line for line in out.splitlines() if label in line)
        assert "available" in line


def test_meters_json_with_fake_gpu_and_rapl(tmp_path, monkeypatch, capsys):
    tree = FakePowercapTree(tmp_path)
    pkg = tree.add_zone("package-0")
    tree.add_zone("dram", parent=pkg)
    fake = functools.partial(
        probe.probe_meters,
        nvml_module=FakeNVML(2),
        powercap_root=tree.root,
        powercap_read_text=tree.read_text,
    )
    monkeypatch.setattr(probe, "probe_meters", fake)
    assert cli.main(["meters", "--json", "--seconds", "0.01"]) == 0
    data = json.loads(capsys.readouterr().out)
    meters = {m["name"]: m for m in data["meters"]}
    assert meters["nvml"]["available"] and set(meters["nvml"]["domains"]) == {"gpu:0", "gpu:1"}
    assert meters["rapl"]["kind"] == "measured"
    assert set(meters["rapl"]["domains"]) == {"cpu:package-0", "dram:0"}
    assert meters["estimate"]["used"] is False
    assert set(data["idle"]["power_w"]) == {"gpu:0", "gpu:1", "cpu:package-0", "dram:0"}
    assert data["idle"]["sources"]["gpu:0"] == "nvml"


def test_meters_text_shows_unavailable_reason(tmp_path, monkeypatch, capsys):
    fake = functools.partial(
        probe.probe_meters,
        nvml_module=FakeNVML(1, init_error=FakeNVML.NVMLError_DriverNotLoaded()),
        powercap_root=tmp_path / "nowhere",
    )
    monkeypatch.setattr(probe, "probe_meters", fake)
    assert cli.main(["meters", "--seconds", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "unavailable: NVML init failed: Driver Not Loaded" in out
    assert "cpu:process" in out and "estimated" in out and "estimate" in out


def test_meters_rejects_bad_seconds(capsys):
    assert cli.main(["meters", "--seconds", "0"]) == 2
    assert "--seconds must be > 0" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--help"])
def test_meters_help(flag, capsys):
    with pytest.raises(SystemExit):
        cli.main(["meters", flag])
    assert "--seconds" in capsys.readouterr().out
