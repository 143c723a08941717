"""The embedded sample: it loads without any data folder, selects like the full data, fits."""

from __future__ import annotations

import json

import pytest

from green_chain.bench import sample_build, sources
from green_chain.bench.scenarios import get_scenarios
from green_chain.bench.scenarios.mixed import MixedStream
from green_chain.cli import bench, build_parser
from green_chain.paths import SAMPLE_DIR, data_dir

FULL = data_dir()  # the full data ($GREEN_CHAIN_DATA or ../shared/data), when present


def test_sample_fits_the_size_limit() -> None:
    assert 0 < sample_build.sample_bytes(SAMPLE_DIR) <= 3 * 1024 * 1024


@pytest.mark.parametrize(
    "scenario", [s for s in get_scenarios() if not isinstance(s, MixedStream)], ids=str
)
def test_every_scenario_has_20_test_items_and_its_calibration(scenario) -> None:
    split = scenario.split(SAMPLE_DIR, None, 0)
    assert len(split.test) >= 20
    # a few-shot scenario's first tier fits on more calibration items (after the others)
    expected_cal = max(scenario.calibration_size, getattr(scenario, "tier_calibration_size", 0))
    assert len(split.calibration) == expected_cal
    quick = scenario.split(SAMPLE_DIR, scenario.quick_items, 0)
    assert [it.id for it in quick.test] == [it.id for it in split.test[: scenario.quick_items]]


def test_mixed_runs_on_the_sample() -> None:
    mixed = get_scenarios(["mixed"])[0]
    split = mixed.split(SAMPLE_DIR, mixed.quick_items, 0)
    assert len(split.test) == mixed.quick_items
    assert {it.inputs["scenario"] for it in split.calibration} == set(mixed.members)


def test_sources_name_every_file_with_repository_commit_and_license() -> None:
    text = (SAMPLE_DIR / "SOURCES.md").read_text(encoding="utf-8")
    shipped = sorted(str(p.relative_to(SAMPLE_DIR)) for p in SAMPLE_DIR.rglob("*") if p.is_file())
    assert "SOURCES.md" in shipped
    for rel in shipped:
        if rel == "SOURCES.md":
            continue
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {rel} |")]
        f = next(f for f in sources.DATA_FILES if f.path == rel)
        assert f.repo in row and f.commit in row and f.license in row


def test_quick_bench_runs_on_the_sample_without_a_data_folder(
    tmp_path, monkeypatch, fake_components, meter_env
) -> None:
    # no --data, no $GREEN_CHAIN_DATA, no ../shared/data beside the cwd or the package
    monkeypatch.delenv("GREEN_CHAIN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("green_chain.paths._REPO_ROOT", tmp_path / "nowhere" / "repo")
    _, _, monitor = meter_env
    out = tmp_path / "out"
    args = build_parser().parse_args(
        ["bench", "--quick", "--scenarios", "squad,sgd,gsm8k", "--out", str(out), "--no-progress"]
    )
    assert bench.run(args, components=fake_components, monitor=monitor) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["data_source"] == {"source": "embedded", "root": str(SAMPLE_DIR), "embedded": True}
    assert doc["options"]["data_source"] == "embedded"
    assert all(s["status"] == "ok" for s in doc["scenarios"].values())
    assert "data: embedded" in (out / "table.txt").read_text()


@pytest.mark.integration
@pytest.mark.skipif(not FULL.is_dir(), reason="needs the full data in ../shared/data")
@pytest.mark.parametrize("name", ["squad", "qmsum", "sst2", "agnews", "bfcl", "mtbench101", "sgd"])
def test_sample_selects_the_full_datas_items(name) -> None:
    (scenario,) = get_scenarios([name])
    assert sample_build.check_scenario(scenario, FULL, SAMPLE_DIR) == []


@pytest.mark.integration
@pytest.mark.skipif(not FULL.is_dir(), reason="needs the full data in ../shared/data")
def test_the_build_reproduces_the_shipped_sample(tmp_path) -> None:
    out = tmp_path / "sample"
    sample_build.build(FULL, out, log=lambda _: None)
    made = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    shipped = {
        str(p.relative_to(SAMPLE_DIR)): p.read_bytes() for p in SAMPLE_DIR.rglob("*") if p.is_file()
    }
    assert made.keys() == shipped.keys()
    assert [k for k in made if made[k] != shipped[k]] == []
