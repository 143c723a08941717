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


def test_resolve_data_order(monkeypatch, tmp_path) -> None:
    from green_chain.paths import SAMPLE_DIR, resolve_data

    given, env = tmp_path / "given", tmp_path / "env"
    given.mkdir()
    env.mkdir()
    work = tmp_path / "work" / "checkout"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr("green_chain.paths._REPO_ROOT", tmp_path / "elsewhere" / "repo")
    monkeypatch.setenv("GREEN_CHAIN_DATA", str(env))
    assert resolve_data(given) == resolve_data(str(given))
    assert (resolve_data(given).root, resolve_data(given).source) == (given, "--data")
    assert (resolve_data().root, resolve_data().source) == (env, "$GREEN_CHAIN_DATA")
    assert resolve_data("embedded").root == SAMPLE_DIR and resolve_data("embedded").embedded
    monkeypatch.delenv("GREEN_CHAIN_DATA")
    assert resolve_data().source == "embedded"  # nothing found: the sample
    shared = tmp_path / "work" / "shared" / "data"
    shared.mkdir(parents=True)
    assert (resolve_data().root, resolve_data().source) == (shared, "../shared/data")


def test_resolve_data_never_falls_back_on_a_typo(monkeypatch, tmp_path) -> None:
    from green_chain.paths import resolve_data

    with pytest.raises(FileNotFoundError, match=r"--data: data folder .*missing"):
        resolve_data(tmp_path / "missing")
    monkeypatch.setenv("GREEN_CHAIN_DATA", str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match=r"\$GREEN_CHAIN_DATA: data folder .*gone"):
        resolve_data()
