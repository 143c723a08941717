"""``green-chain merge``: runs of disjoint scenarios join into the run they would have been."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from green_chain.bench.merge import MergeError, merge_documents
from green_chain.cli import bench, build_parser, main
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.bench import make_components, write_tiny_data
from green_chain.testing.clock import FakeClock
from green_chain.testing.meters import FakeMeterBackend


@pytest.fixture
def shard(tmp_path):
    data = tmp_path / "data"
    write_tiny_data(data)

    def run(*argv: str, out: str) -> Path:
        # a fresh clock and meter per run, as on separate machines
        clock = FakeClock()
        meter = FakeMeterBackend(
            ["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock
        )
        monitor = EnergyMonitor([meter], clock=clock)
        args = build_parser().parse_args(
            [
                "bench",
                "--data",
                str(data),
                "--out",
                str(tmp_path / out),
                "--no-progress",
                "--no-plots",
                "--no-etr-sweep",
                *argv,
            ]
        )
        assert bench.run(args, components=make_components(clock, meter), monitor=monitor) == 0
        return tmp_path / out / "results.json"

    return run


def _load(p: Path) -> dict:
    return json.loads(p.read_text())


def test_merged_overall_is_recomputed_from_the_shards(shard, tmp_path, capsys):
    a = shard("--scenarios", "squad,sst2", "--items", "2", out="a")
    b = shard("--scenarios", "mtbench101", "--items", "2", out="b")
    rc = main(["merge", str(a), str(b), "--out", str(tmp_path / "m"), "--no-plots"])
    assert rc == 0
    doc = _load(tmp_path / "m" / "results.json")
    da, db = _load(a), _load(b)
    assert list(doc["scenarios"]) == ["squad", "sst2", "mtbench101"]
    base = sum(d["overall"]["energy_baseline_j"] for d in (da, db))
    green = sum(d["overall"]["energy_green_j"] for d in (da, db))
    o = doc["overall"]
    assert o["energy_baseline_j"] == pytest.approx(base)
    assert o["energy_saved_pct"] == pytest.approx(100 * (1 - green / base))
    # quality pools the measurable scenarios of both shards
    assert o["quality_scenarios"] == [
        n for d in (da, db) for n in d["overall"]["quality_scenarios"]
    ]
    assert o["quality_not_measurable"] == [
        n for d in (da, db) for n in d["overall"]["quality_not_measurable"]
    ]
    assert o["n_items"] == da["overall"]["n_items"] + db["overall"]["n_items"]
    assert o["energy_source"] == "estimated (fake-estimate)"
    assert "energy_saved_pct_projected" in o
    assert [m["scenarios"] for m in doc["merged_from"]] == [["squad", "sst2"], ["mtbench101"]]
    assert doc["command"][:2] == ["green-chain", "merge"]
    assert (tmp_path / "m" / "results.csv").is_file()
    assert "OVERALL" in capsys.readouterr().out


def test_merge_refuses_overlap_and_different_settings(shard, tmp_path, capsys):
    a = shard("--scenarios", "squad", "--items", "2", out="a")
    b = shard("--scenarios", "squad", "--items", "2", out="b")
    c = shard("--scenarios", "sst2", "--items", "1", out="c")
    d = shard("--scenarios", "mtbench101", "--items", "2", "--no-route", out="d")
    with pytest.raises(MergeError, match="scenario 'squad' is in run 1 and in run 2"):
        merge_documents([_load(a), _load(b)])
    mixed_n = merge_documents([_load(a), _load(c)])  # item counts may differ per scenario
    assert mixed_n["options"]["items"] is None
    assert mixed_n["options"]["items_by_scenario"] == {"squad": 2, "sst2": 1}
    assert mixed_n["overall"]["n_items"] == 3
    with pytest.raises(MergeError, match="option settings"):
        merge_documents([_load(a), _load(d)])
    with pytest.raises(MergeError, match="at least two"):
        merge_documents([_load(a)])
    sample = _load(c)
    sample["options"]["items"] = 2
    sample["options"]["data_source"] = "embedded"  # the packaged sample, not the full data
    with pytest.raises(MergeError, match="option data_source='embedded'"):
        merge_documents([_load(a), sample])
    other = _load(c)
    other["models"] = {"cheap": "x", "large": "y"}
    with pytest.raises(MergeError, match="used models"):
        merge_documents([_load(a), other])
    # --replace: the later run's entry wins, and the document says so
    docs = [_load(a), _load(c)]
    docs[1]["options"]["items"] = 2
    third = _load(b)
    third["scenarios"]["squad"]["energy_green_j"] = 1.0
    merged = merge_documents([*docs, third], replace=True)
    assert merged["scenarios"]["squad"]["energy_green_j"] == 1.0
    assert list(merged["scenarios"]) == ["squad", "sst2"]  # the replacement keeps its place
    assert merged["replaced"] == [{"scenario": "squad", "run": 1, "by_run": 3}]
    assert [m["scenarios"] for m in merged["merged_from"]] == [[], ["sst2"], ["squad"]]
    # through the CLI: a clear one-line error, exit 2
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m")]) == 2
    assert "green-chain merge: error: scenario 'squad'" in capsys.readouterr().err
