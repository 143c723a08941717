from __future__ import annotations

import pytest

from green_chain.paths import cache_dir, data_dir, data_file


def test_env_overrides(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GREEN_CHAIN_DATA", str(tmp_path))
    monkeypatch.setenv("GREEN_CHAIN_CACHE", str(tmp_path / "c"))
    assert data_dir() == tmp_path
    assert cache_dir() == tmp_path / "c"
    assert data_dir(tmp_path / "x") == tmp_path / "x"


def test_missing_file_names_it_and_its_content(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GREEN_CHAIN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"qa/none\.jsonl.*SQuAD records"):
        data_file("qa/none.jsonl", what="SQuAD records")
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "ok.jsonl").write_text("{}")
    assert data_file("qa/ok.jsonl", what="x").name == "ok.jsonl"
