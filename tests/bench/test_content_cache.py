"""Baseline records cached by content: a rerun in the same folder takes them, marked cached."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from green_chain.bench import document
from green_chain.bench.content_cache import BaselineCache
from green_chain.bench.items import Item
from green_chain.bench.records import ItemRecord
from green_chain.bench.scenarios import GreenSettings, get_scenarios
from green_chain.bench.scenarios.base import ScenarioEnv
from green_chain.cli import bench, build_parser
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.bench import MeteredFakeChat, make_components, write_tiny_data
from green_chain.testing.clock import FakeClock
from green_chain.testing.meters import FakeMeterBackend


class CountingChat(MeteredFakeChat):
    """The fake large model, counting its calls."""

    calls: ClassVar[list[int]] = [0]

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any):
        CountingChat.calls[0] += 1
        return super()._generate(messages, stop, run_manager, **kw)


@pytest.fixture
def run_bench(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_tiny_data(data)
    state = {"commit": "c0ffee", "dirty": False}
    monkeypatch.setattr(document, "git_state", lambda path=None: dict(state))

    def run(*argv: str) -> tuple[int, dict]:
        clock = FakeClock()
        meter = FakeMeterBackend(
            ["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock
        )
        comps = make_components(clock, meter)
        comps.models["large"] = CountingChat(
            name_="fake-large", j_per_char=0.01, meter=meter, clock=clock
        )
        CountingChat.calls = [0]
        args = build_parser().parse_args(
            ["bench", "--data", str(data), "--no-progress", "--no-plots", "--no-etr-sweep", *argv]
        )
        rc = bench.run(args, components=comps, monitor=EnergyMonitor([meter], clock=clock))
        out = args.resume or args.out
        return rc, json.loads((tmp_path / out / "results.json").read_text())

    run.state = state  # type: ignore[attr-defined]
    return run


def test_a_resumed_run_takes_the_cached_baselines(run_bench, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = ("--scenarios", "squad,sst2", "--items", "2")
    rc, first = run_bench(*argv, "--out", str(out))
    assert rc == 0 and first["options"]["baseline_cache"]["stored"] == 4
    assert CountingChat.calls[0] == 4  # the baseline calls (green routes to the cheap model)
    assert not any(r.get("cached") for s in first["scenarios"].values() for r in s["records"])
    # killed while the scenarios ran: no checkpoint left, the cache is
    for p in (out / "checkpoints").iterdir():
        p.unlink()
    rc, again = run_bench(*argv, "--resume", str(out))
    assert rc == 0 and CountingChat.calls[0] == 0  # no baseline call ran again
    assert again["options"]["baseline_cache"]["hits"] == 4
    assert "2 baseline record(s) from the content cache" in capsys.readouterr().err
    for name, s in again["scenarios"].items():
        a = {(r["item_id"], r["variant"]): r for r in first["scenarios"][name]["records"]}
        assert s["item_ids"] == first["scenarios"][name]["item_ids"]
        assert [(r["item_id"], r["variant"]) for r in s["records"]] == list(a)  # same order
        for r in s["records"]:
            assert r.get("cached", False) is (r["variant"] == "baseline")
            ref = a[(r["item_id"], r["variant"])]
            assert (r["output"], r["quality"], r["energy_j"]) == (
                ref["output"],
                ref["quality"],
                pytest.approx(ref["energy_j"]),
            )
        assert s["baseline_cache_hits"] == 2
        assert s["energy_saved_pct"] == pytest.approx(first["scenarios"][name]["energy_saved_pct"])


def test_an_ablation_rerun_reuses_the_baselines_but_runs_the_rest(run_bench, tmp_path) -> None:
    out = tmp_path / "run"
    run_bench("--scenarios", "squad", "--items", "2", "--out", str(out))
    rc, doc = run_bench("--scenarios", "squad", "--items", "2", "--ablation", "--resume", str(out))
    assert rc == 0
    squad = doc["scenarios"]["squad"]
    assert not squad.get("resumed")  # another fingerprint: the scenario ran again
    cached = [r for r in squad["records"] if r.get("cached")]
    assert len(cached) == 2 and {r["variant"] for r in cached} == {"baseline"}
    assert {r["variant"] for r in squad["records"]} > {"baseline", "green"}


def test_no_cache_for_a_dirty_tree_or_when_asked(run_bench, tmp_path, capsys) -> None:
    run_bench.state["dirty"] = True  # type: ignore[attr-defined]
    rc, doc = run_bench("--scenarios", "squad", "--items", "2", "--out", str(tmp_path / "d"))
    assert rc == 0 and doc["options"]["baseline_cache"] is None
    assert "baseline cache off" in capsys.readouterr().err
    assert not (tmp_path / "d" / "cache").exists()
    run_bench.state["dirty"] = False  # type: ignore[attr-defined]
    _, doc = run_bench(
        "--scenarios", "squad", "--items", "2", "--no-baseline-cache", "--out", str(tmp_path / "n")
    )
    assert doc["options"]["baseline_cache"] is None


def _env(**kw: Any) -> ScenarioEnv:
    return ScenarioEnv(make_components(None, None), [Item("c1", {"q": "x"}, "y")], **kw)


def test_the_key_covers_the_content(tmp_path) -> None:
    (squad,) = get_scenarios(["squad"])
    cache = BaselineCache(tmp_path, {"commit": "a"})
    item = Item("i1", {"question": "q"}, "gold")
    key = cache.key(squad, _env(), item)
    assert key == BaselineCache(tmp_path, {"commit": "a"}).key(squad, _env(), item)
    others = [
        BaselineCache(tmp_path, {"commit": "b"}).key(squad, _env(), item),
        cache.key(squad, _env(seed=1), item),
        cache.key(squad, _env(settings=GreenSettings(route=False)), item),
        cache.key(squad, _env(stop=("\n",)), item),
        cache.key(squad, _env(), Item("i1", {"question": "other"}, "gold")),
        cache.key(get_scenarios(["sst2"])[0], _env(), item),
    ]
    assert key not in others and len(set(others)) == len(others)


def test_only_clean_scored_baselines_are_stored(tmp_path) -> None:
    cache = BaselineCache(tmp_path, {})
    key = "0" * 64
    cache.put(key, ItemRecord("i", "baseline", error="boom", quality=0.0))
    cache.put(key, ItemRecord("i", "green", quality=1.0))
    assert cache.get(key) is None and cache.stored == 0
    with pytest.raises(ValueError, match="quality is None"):
        cache.put(key, ItemRecord("i", "baseline"))
    cache.put(key, ItemRecord("i", "baseline", energy_j=2.0, quality=1.0, output="x"))
    hit = cache.get(key)
    assert hit is not None and hit.cached and hit.energy_j == 2.0 and hit.to_dict()["cached"]
    with pytest.raises(ValueError, match="sha256"):
        cache.get("../x")


def test_worker_processes_skip_the_cached_baselines(tmp_path, monkeypatch) -> None:
    from green_chain.testing.bench_workers import run_fake_bench

    monkeypatch.setattr(document, "git_state", lambda path=None: {"commit": "c", "dirty": False})
    out = tmp_path / "run"
    argv = ["bench", "--data", "embedded", "--scenarios", "sst2", "--items", "3", "--jobs", "2"]
    argv += ["--no-progress", "--no-plots", "--no-etr-sweep"]
    docs = []
    for extra in (["--out", str(out)], ["--resume", str(out)]):
        for p in (out / "checkpoints").glob("*.json"):
            p.unlink()
        assert run_fake_bench([*argv[1:], *extra]) == 0
        docs.append(json.loads((out / "results.json").read_text()))
    first, again = (d["scenarios"]["sst2"]["records"] for d in docs)
    assert [(r["item_id"], r["variant"]) for r in first] == [
        (r["item_id"], r["variant"]) for r in again
    ]
    for a, b in zip(first, again, strict=True):
        assert b.get("cached", False) is (b["variant"] == "baseline")
        assert (a["output"], a["quality"], a["worker"]["pid"] > 0) == (
            b["output"],
            b["quality"],
            True,
        )
    assert docs[1]["options"]["baseline_cache"]["hits"] == 3
