"""``green-chain data`` and ``green-chain data download`` (no network: a file:// mirror)."""

from __future__ import annotations

import pytest

from green_chain.bench import sources
from green_chain.cli import main
from green_chain.testing.data_mirror import write_mirror


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    base = tmp_path / "mirror"
    monkeypatch.setattr(sources, "DATA_FILES", write_mirror(base))
    return base.as_uri()


def test_download_then_list(mirror, tmp_path, capsys) -> None:
    to = tmp_path / "full"
    assert main(["data", "download", "sst2", "trec", "--to", str(to), "--base-url", mirror]) == 0
    out = capsys.readouterr().out
    assert "4 file(s) downloaded" in out and f"--data {to}" in out
    assert main(["data", "list", "--data", str(to)]) == 0
    listed = capsys.readouterr().out
    assert f"data folder: {to} (--data)" in listed
    rows = {tuple(line.split()[:3]) for line in listed.splitlines()}
    assert ("sst2", "classification/sst2_stsa.binary.test", "yes") in rows
    assert ("squad", "qa/squad_v1.1_dev.jsonl", "MISSING") in rows


def test_data_lists_the_embedded_sample(capsys) -> None:
    assert main(["data", "--data", "embedded"]) == 0
    out = capsys.readouterr().out
    assert "(embedded)" in out and "MISSING" not in out and "green-chain data download" in out


def test_unknown_scenario_is_named(tmp_path, capsys) -> None:
    assert main(["data", "download", "nope", "--to", str(tmp_path)]) == 2
    assert "unknown scenario(s) nope" in capsys.readouterr().err
