"""A run as evidence: failures exit non-zero, tuning on calibration items only, commits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from green_chain.bench.merge import MergeError, merge_documents
from green_chain.bench.routefit import fit_route_policy
from green_chain.cli import bench, build_parser
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.bench import MeteredFakeChat, make_components, write_tiny_data
from green_chain.testing.clock import FakeClock
from green_chain.testing.embeddings import BagOfWordsEmbeddings
from green_chain.testing.meters import FakeMeterBackend

QUIET = ("--no-progress", "--no-plots")


class FlakyChat(MeteredFakeChat):
    """The fake model, raising on the call numbers in ``fail_calls`` (1-based)."""

    fail_calls: ClassVar[set[int]] = set()
    calls: ClassVar[list[int]] = [0]

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any):
        FlakyChat.calls[0] += 1
        if FlakyChat.calls[0] in FlakyChat.fail_calls:
            raise RuntimeError(f"scripted failure on call {FlakyChat.calls[0]}")
        return super()._generate(messages, stop, run_manager, **kw)


def _fails_once(factory: Any) -> Any:
    """A compressor factory whose compressors share one failure: the first call raises."""
    from langchain_core.runnables import RunnableLambda

    calls = [0]

    def make(**kwargs: Any) -> Any:
        inner = factory(**kwargs)

        def compress(inputs: Any, config: Any) -> Any:
            calls[0] += 1
            if calls[0] == 1:
                raise RuntimeError("scripted setup failure")
            return inner.invoke(inputs, config)

        return RunnableLambda(compress)

    return make


@pytest.fixture
def run_bench(tmp_path):
    data = tmp_path / "data"
    write_tiny_data(data)

    def run(
        *argv: str,
        out: str = "out",
        flaky: set[int] | None = None,
        fit: bool = False,
        broken_setup: bool = False,
    ):
        clock = FakeClock()
        meter = FakeMeterBackend(
            ["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock
        )
        monitor = EnergyMonitor([meter], clock=clock)
        comps = make_components(clock, meter)
        if flaky is not None:
            FlakyChat.fail_calls, FlakyChat.calls = set(flaky), [0]
            comps.models["cheap"] = FlakyChat(
                name_="fake-cheap", j_per_char=0.004, meter=meter, clock=clock
            )
        if broken_setup:  # the first compression (the warm-up's) fails
            comps.compressor = _fails_once(comps.compressor)
        if fit:
            comps.embeddings = BagOfWordsEmbeddings()
            comps.route_fitter = fit_route_policy
        args = build_parser().parse_args(
            ["bench", "--data", str(data), "--out", str(tmp_path / out), *QUIET, *argv]
        )
        rc = bench.run(args, components=comps, monitor=monitor)
        return rc, json.loads((tmp_path / out / "results.json").read_text()), tmp_path / out

    return run


def test_a_failing_item_makes_the_run_exit_non_zero(run_bench, capsys):
    # the warm-up's compression fails (recorded, not swallowed; the warm-up never calls the
    # model); the cheap model's call 2 is the second item's green answer
    rc, doc, _ = run_bench(
        "--scenarios", "squad", "--items", "3", "--no-etr-sweep", flaky={2}, broken_setup=True
    )
    assert rc == 1
    squad = doc["scenarios"]["squad"]
    assert squad["status"] == "ok" and squad["failed_items"] == 1 and squad["failed_green"] == 1
    assert doc["overall"]["failed_items"] == 1
    assert "scripted setup failure" in squad["warm_up"]["errors"][0]["error"]
    failed = [r for r in squad["records"] if r["error"]]
    assert len(failed) == 1 and failed[0]["quality"] == 0.0
    # the failed pair is left out of the energy figures
    clean = [r for r in squad["records"] if r["item_id"] != failed[0]["item_id"]]
    assert squad["energy_green_j"] == pytest.approx(
        sum(r["energy_j"] for r in clean if r["variant"] == "green")
    )
    err = capsys.readouterr()
    assert "FAILED ITEMS: 1" in err.err and "warm-up of squad failed" in err.err


def test_every_tuned_choice_uses_calibration_items_only(run_bench):
    rc, doc, _ = run_bench("--scenarios", "squad", "--items", "2", "--etr-items", "2", fit=True)
    assert rc == 0
    s = doc["scenarios"]["squad"]
    test, cal = set(s["item_ids"]), set(s["calibration_ids"])
    assert not test & cal
    tuned = {
        "router fit": s["router"]["calibration_ids"],
        "cost ratio": s["router"]["cost_items"],
        "etr sweep": s["validated_etr"]["item_ids"],
        "warm-up": s["warm_up"]["item_ids"],
    }
    for what, ids in tuned.items():
        assert ids, what
        assert set(ids) <= cal and not set(ids) & test, what
    assert s["router"]["cost_ratio_source"] == "measured"
    one_off = s["one_off"]
    assert one_off["router_fit_j"] > 0 and one_off["total_j"] >= one_off["router_fit_j"]
    if one_off["saved_j_per_request"] and one_off["saved_j_per_request"] > 0:
        assert one_off["break_even_requests"] * one_off["saved_j_per_request"] >= one_off["total_j"]


def test_route_costs_are_reused_from_an_earlier_run(run_bench):
    _, first, out = run_bench("--scenarios", "squad", "--items", "2", "--no-etr-sweep", fit=True)
    ratio = first["scenarios"]["squad"]["router"]["cheap_cost_ratio"]
    rc, second, _ = run_bench(
        "--scenarios",
        "squad",
        "--items",
        "2",
        "--no-etr-sweep",
        "--route-costs",
        str(out / "results.json"),
        out="again",
        fit=True,
    )
    assert rc == 0
    router = second["scenarios"]["squad"]["router"]
    assert router["cost_ratio_source"] == "reused" and router["cheap_cost_ratio"] == ratio
    assert router["cost_items"] == []  # nothing measured again
    assert second["options"]["route_costs"] == str(out / "results.json")


def test_results_record_the_commit_and_merge_refuses_mixed_commits(run_bench):
    _, a, _ = run_bench("--scenarios", "squad", "--items", "1", "--no-etr-sweep", out="a")
    _, b, _ = run_bench("--scenarios", "sst2", "--items", "1", "--no-etr-sweep", out="b")
    git = a["environment"]["git"]
    assert set(git) == {"commit", "dirty"}
    assert git["commit"] is None or len(git["commit"]) == 40
    assert merge_documents([a, b])["overall"]["scenarios_ok"] == 2
    b["environment"]["git"] = {**git, "dirty": True}
    assert merge_documents([a, b])["environment"]["git"]["dirty"] is True
    b["environment"]["git"] = {"commit": "0" * 40, "dirty": False}
    with pytest.raises(MergeError, match="ran commit '0000"):
        merge_documents([a, b])


def test_git_state_outside_a_checkout(tmp_path: Path):
    from green_chain.bench.document import git_state

    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def test_ablation_runs_each_optimizer_alone_on_the_same_items(run_bench):
    rc, doc, _ = run_bench("--scenarios", "squad", "--items", "2", "--no-etr-sweep", "--ablation")
    assert rc == 0
    s = doc["scenarios"]["squad"]
    assert s["ablation_variants"] == ["only:compress", "only:route"]
    by_variant: dict[str, list[str]] = {}
    for r in s["records"]:
        by_variant.setdefault(r["variant"], []).append(r["item_id"])
    assert by_variant["only:compress"] == by_variant["baseline"] == s["item_ids"]
    # compression alone keeps the large model; routing alone keeps the whole context
    only = {v: [r for r in s["records"] if r["variant"] == v] for v in by_variant}
    assert all(r["model"] == "fake-large" for r in only["only:compress"])
    assert all(not r["optimizer_events"] for r in only["only:route"])
    for opt in ("compress", "route"):
        a = s["ablation"][opt]
        assert set(a) >= {
            "energy_saved_pct",
            "energy_saved_ci95",
            "quality_delta_pts",
            "quality_delta_ci95",
            "quality_retained_pct",
            "quality_retained_ci95",
        }
        assert 0 < a["energy_saved_pct"] < 100
    assert all(r["optimizer_events"] for r in only["only:compress"])
    assert set(doc["overall"]["ablation"]) == {"compress", "route"}
    assert doc["options"]["ablation"] is True


def test_the_standard_run_takes_100_test_items_per_scenario():
    from green_chain.bench.runner import STANDARD_ITEMS, RunOptions
    from green_chain.bench.scenarios import get_scenarios

    (squad,) = get_scenarios(["squad"])
    assert STANDARD_ITEMS == 100
    assert RunOptions().items_for(squad) == 100
    assert RunOptions(quick=True).items_for(squad) == squad.quick_items
    assert RunOptions(n_items=7).items_for(squad) == 7


def test_resume_after_a_killed_run_gives_the_same_items_and_figures(run_bench, capsys):
    argv = ("--scenarios", "squad,sst2", "--items", "2", "--no-etr-sweep")
    rc, full, out = run_bench(*argv, out="run")
    assert rc == 0
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"squad.json", "sst2.json"}
    # killed while sst2 ran: squad's checkpoint is there, sst2's and the results are not
    (out / "checkpoints" / "sst2.json").unlink()
    (out / "results.json").unlink()
    rc, resumed, _ = run_bench(*argv, "--resume", str(out), out="run")
    assert rc == 0
    assert resumed["scenarios"]["squad"].get("resumed") is True
    assert not resumed["scenarios"]["sst2"].get("resumed")
    assert "squad: resumed from its checkpoint" in capsys.readouterr().err
    for name in ("squad", "sst2"):
        a, b = full["scenarios"][name], resumed["scenarios"][name]
        assert a["item_ids"] == b["item_ids"]
        for key in ("energy_baseline_j", "energy_green_j", "energy_saved_ci95", "quality_green"):
            assert a[key] == pytest.approx(b[key])
    assert resumed["overall"]["energy_saved_pct"] == pytest.approx(
        full["overall"]["energy_saved_pct"]
    )
    # a checkpoint of other settings is never taken
    _, other, _ = run_bench(*argv, "--no-route", "--resume", str(out), out="run")
    assert not any(s.get("resumed") for s in other["scenarios"].values())


def test_resume_argument_errors(tmp_path, capsys):
    from green_chain.cli import main

    assert main(["bench", "--resume", str(tmp_path / "none")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["bench", "--resume", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "drop --out" in capsys.readouterr().err
