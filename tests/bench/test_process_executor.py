"""``bench --jobs N``: items run in local worker processes, the same items and quality."""

from __future__ import annotations

import json

import pytest

from green_chain.bench.process_executor import ProcessExecutor
from green_chain.cli import UsageError, bench, build_parser


def _run(fake_bench, tmp_path, name: str, *extra: str) -> tuple[int, dict]:
    argv = ["--data", "embedded", "--scenarios", "squad,sst2,mtbench101", "--items", "3"]
    argv += ["--ablation", "--no-etr-sweep", "--no-plots", "--no-progress"]
    rc = fake_bench([*argv, "--out", str(tmp_path / name), *extra])
    return rc, json.loads((tmp_path / name / "results.json").read_text())


def _by_item(doc: dict) -> dict:
    return {
        (name, r["item_id"], r["variant"]): r
        for name, s in doc["scenarios"].items()
        for r in s["records"]
    }


def test_jobs_2_gives_the_same_items_and_quality_as_jobs_1(fake_bench, tmp_path) -> None:
    rc1, one = _run(fake_bench, tmp_path, "one")
    rc2, two = _run(fake_bench, tmp_path, "two", "--jobs", "2")
    assert rc1 == rc2 == 0
    for name, a in one["scenarios"].items():
        b = two["scenarios"][name]
        assert a["status"] == b["status"] == "ok"
        assert a["item_ids"] == b["item_ids"] and a["calibration_ids"] == b["calibration_ids"]
        # ablation runs on the workers too: every variant of every item came back
        assert a["ablation_variants"] and a["ablation_variants"] == b["ablation_variants"]
        assert [(r["item_id"], r["variant"]) for r in a["records"]] == [
            (r["item_id"], r["variant"]) for r in b["records"]
        ]
        assert a["quality_green"] == pytest.approx(b["quality_green"])
        assert a["quality_baseline"] == pytest.approx(b["quality_baseline"])
    ra, rb = _by_item(one), _by_item(two)
    variants = {k[2] for k in ra}
    assert {"baseline", "green"} < variants and any(v.startswith("only:") for v in variants)
    for key, rec in ra.items():
        other = rb[key]
        assert (other["output"], other["quality"]) == (rec["output"], rec["quality"])
        # measured on the worker's own meter (the fake charges per prompt character)
        assert other["energy_j"] == pytest.approx(rec["energy_j"])
        assert "worker" not in rec
        assert other["worker"]["pid"] > 0 and other["worker"]["meters"][0]["kind"] == "estimated"
    assert one["options"]["jobs"] == 1 and one["options"]["workers"] is None
    info = two["options"]["workers"]
    assert info["jobs"] == 2 and info["threads_per_worker"] == 1
    assert {w["pid"] for w in info["worker_identities"]} == {
        r["worker"]["pid"] for r in rb.values()
    }
    assert two["options"]["ray"] is None


def test_timing_is_recorded_against_no_target_for_a_selection(fake_bench, tmp_path, capsys) -> None:
    _, doc = _run(fake_bench, tmp_path, "t")
    timing = doc["timing"]
    assert timing["wall_s"] > 0 and timing["target_s"] is None and timing["met"] is None
    assert "no time target" in capsys.readouterr().out


def test_time_targets() -> None:
    parse = build_parser().parse_args
    assert bench.time_target_s(parse(["bench", "--quick"])) == 300
    assert bench.time_target_s(parse(["bench", "--ablation"])) == 5400
    assert bench.time_target_s(parse(["bench"])) == 5400
    assert bench.time_target_s(parse(["bench", "--items", "5"])) is None
    quick = bench.timing(parse(["bench", "--quick", "--jobs", "2"]), 301.0)
    assert quick["target_s"] == 300 and quick["met"] is False and quick["jobs"] == 2
    assert "MISSED" in bench._timing_line(quick)
    assert bench.timing(parse(["bench", "--quick"]), 299.0)["met"] is True


def test_a_resumed_run_is_not_judged_on_its_own_wall_time() -> None:
    """Checkpointed scenarios ran in earlier invocations: a resumed standard run's short
    wall time must not read as the target met."""
    args = build_parser().parse_args(["bench", "--ablation", "--jobs", "2"])
    scenarios = {
        "squad": {"elapsed_s": 4000.0, "resumed": True},
        "mixed": {"elapsed_s": 2000.0, "resumed": None},
    }
    t = bench.timing(args, 2100.0, scenarios)
    assert t["met"] is None and t["resumed"] == ["squad"]
    assert t["scenarios_elapsed_s"] == 6000.0
    line = bench._timing_line(t)
    assert "not judged" in line and "6000 s" in line and "met" not in line.split(";")[0]
    fresh = bench.timing(args, 5000.0, {"squad": {"elapsed_s": 4000.0}})
    assert fresh["met"] is True and "resumed" not in fresh


def test_bad_jobs_fail_at_the_boundary(tmp_path) -> None:
    with pytest.raises(ValueError, match="--jobs must be >= 1"):
        ProcessExecutor(0)
    for argv, message in (
        (["--jobs", "0"], "--jobs must be >= 1"),
        (["--jobs", "2", "--ray", "local"], "--jobs 2 and --ray"),
    ):
        args = build_parser().parse_args(["bench", "--out", str(tmp_path / "x"), *argv])
        with pytest.raises(UsageError, match=message):
            bench.run(args)


def _broken_setup():
    raise RuntimeError("no models here")


def test_a_worker_that_cannot_load_its_models_is_a_clear_error() -> None:
    ex = ProcessExecutor(1, setup=_broken_setup)
    with pytest.raises(RuntimeError, match="--jobs worker processes did not start"):
        ex.start()
    ex.shutdown()  # idempotent after a failed start
    # started without waiting (the driver loads its models meanwhile): the same error, later
    ex = ProcessExecutor(1, setup=_broken_setup)
    ex.start(wait=False)
    with pytest.raises(RuntimeError, match="--jobs worker processes did not start"):
        ex.wait_started()
    ex.shutdown()


def test_the_cli_reports_workers_that_cannot_start(tmp_path, capsys) -> None:
    from green_chain.testing.bench import make_components
    from green_chain.testing.bench_workers import fake_meter_setup

    clock, meter, monitor = fake_meter_setup()
    argv = ["bench", "--data", "embedded", "--scenarios", "squad", "--items", "2", "--jobs", "2"]
    args = build_parser().parse_args([*argv, "--no-progress", "--out", str(tmp_path / "o")])
    rc = bench.run(
        args, components=make_components(clock, meter), monitor=monitor, worker_setup=_broken_setup
    )
    assert rc == 2
    assert "--jobs worker processes did not start" in capsys.readouterr().err


def _fit_bench(tmp_path, name: str, *extra: str) -> tuple[int, dict]:
    """The fake bench with the real router fitter (generated labels) on the fake models."""
    from green_chain.bench.routefit import fit_route_policy
    from green_chain.testing.bench import make_components
    from green_chain.testing.bench_workers import fake_meter_setup, fake_worker_setup
    from green_chain.testing.embeddings import BagOfWordsEmbeddings

    clock, meter, monitor = fake_meter_setup()
    comps = make_components(clock, meter)
    comps.embeddings = BagOfWordsEmbeddings()
    comps.route_fitter = fit_route_policy
    argv = ["bench", "--data", "embedded", "--scenarios", "squad", "--items", "2"]
    argv += ["--no-etr-sweep", "--no-plots", "--no-progress", "--out", str(tmp_path / name)]
    args = build_parser().parse_args([*argv, *extra])
    rc = bench.run(args, components=comps, monitor=monitor, worker_setup=fake_worker_setup)
    return rc, json.loads((tmp_path / name / "results.json").read_text())


@pytest.mark.parametrize(
    "workers", [("--jobs", "2"), ("--ray", "local", "--ray-workers", "2")], ids=["jobs", "ray"]
)
def test_with_workers_the_router_fits_calls_run_on_them(tmp_path, workers) -> None:
    if workers[0] == "--ray":
        pytest.importorskip("ray")
    rc1, one = _fit_bench(tmp_path, "one")
    rc2, two = _fit_bench(tmp_path, "two", *workers)
    assert rc1 == rc2 == 0
    a, b = one["scenarios"]["squad"], two["scenarios"]["squad"]
    ra, rb = a["router"], b["router"]
    # the same fit: the same items, answers, labels, cost (the fake charges per character)
    assert ra["calibration_ids"] == rb["calibration_ids"]
    assert ra["labels"] == rb["labels"] and ra["threshold"] == pytest.approx(rb["threshold"])
    assert ra["cheap_outputs"] == rb["cheap_outputs"]
    assert ra["large_outputs"] == rb["large_outputs"]
    assert ra["cost_ratio"] == pytest.approx(rb["cost_ratio"])
    # in the driver with --jobs 1; on the workers, both models of an item on one worker
    assert "fit_in_workers" not in ra
    fit = rb["fit_in_workers"]
    n = len(rb["calibration_ids"])
    assert fit["calls"] == 2 * n and fit["workers"]
    pool = two["options"]["workers"] or two["options"]["ray"]
    assert set(fit["workers"]) <= {w["pid"] for w in pool["worker_identities"]}
    # the one-off cost is the driver's part plus every call measured on the workers
    assert fit["energy_j"] == pytest.approx(rb["cost_cheap_j"] + rb["cost_large_j"])
    assert b["one_off"]["router_fit_j"] == pytest.approx(fit["driver_energy_j"] + fit["energy_j"])
    assert b["one_off"]["router_fit_j"] == pytest.approx(a["one_off"]["router_fit_j"], rel=0.05)
    assert a["quality_green"] == pytest.approx(b["quality_green"])
