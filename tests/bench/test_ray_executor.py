"""``bench --ray local``: items run on Ray worker actors, the same items and quality as locally."""

from __future__ import annotations

import json

import pytest

from green_chain.bench.ray_executor import RayExecutor
from green_chain.cli import bench, build_parser
from green_chain.testing.bench_workers import fake_meter_setup, run_fake_bench

ray = pytest.importorskip("ray")


def _run(tmp_path, name: str, *extra: str) -> dict:
    argv = ["--data", "embedded", "--scenarios", "squad,sst2,mtbench101", "--items", "3"]
    argv += ["--no-etr-sweep", "--no-plots", "--no-progress"]
    assert run_fake_bench([*argv, "--out", str(tmp_path / name), *extra]) == 0
    return json.loads((tmp_path / name / "results.json").read_text())


def _by_item(doc: dict) -> dict:
    return {
        (name, r["item_id"], r["variant"]): r
        for name, s in doc["scenarios"].items()
        for r in s["records"]
    }


def test_ray_run_matches_the_local_run(tmp_path) -> None:
    local = _run(tmp_path, "local")
    remote = _run(tmp_path, "ray", "--ray", "local", "--ray-workers", "2")
    assert not ray.is_initialized()  # the local instance is shut down after the run
    for name in local["scenarios"]:
        a, b = local["scenarios"][name], remote["scenarios"][name]
        assert a["status"] == b["status"] == "ok"
        assert a["item_ids"] == b["item_ids"] and a["calibration_ids"] == b["calibration_ids"]
    la, lb = _by_item(local), _by_item(remote)
    assert la.keys() == lb.keys() and len(la) == 2 * 3 * 3
    for key, rec in la.items():
        other = lb[key]
        assert (other["output"], other["quality"]) == (rec["output"], rec["quality"])
        # measured on the worker's own meter: the fake meter charges per prompt character
        assert other["energy_j"] == pytest.approx(rec["energy_j"])
        assert "worker" not in rec
        worker = other["worker"]
        assert worker["host"] and worker["pid"] > 0
        assert worker["meters"][0]["kind"] == "estimated"
    info = remote["options"]["ray"]
    assert info["address"] == "local" and info["workers"] == 2
    assert len({r["worker"]["pid"] for r in lb.values()}) == 2  # both workers ran items
    assert local["options"]["ray"] is None
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == sorted(
        p.name for p in (tmp_path / "local").iterdir()
    )


def test_bad_ray_options_fail_at_the_boundary() -> None:
    with pytest.raises(ValueError, match="--ray-workers must be >= 1"):
        RayExecutor("local", workers=0)
    with pytest.raises(ValueError, match="--ray-cpus-per-worker must be > 0"):
        RayExecutor("local", cpus_per_worker=0)


def test_the_shipped_router_policy_leaves_the_embeddings_model_behind() -> None:
    from green_chain.bench.ray_executor import _detach_policy
    from green_chain.bench.routefit import RoutePolicy
    from green_chain.routing.embedding_scorer import EmbeddingScorer

    model = object()
    policy = RoutePolicy(EmbeddingScorer(model), 0.4, {"scorer": "embedding:logistic"})  # type: ignore[arg-type]
    shipped, needs = _detach_policy(policy)
    assert needs and shipped.scorer._embeddings is None and shipped.threshold == 0.4
    assert policy.scorer._embeddings is model  # the driver's policy is untouched
    assert _detach_policy(None) == (None, False)


@pytest.mark.integration
@pytest.mark.slow
def test_ray_with_the_packaged_models_matches_the_local_run(tmp_path) -> None:
    """Real models: one Ray worker (1 CPU) runs SST-2's quick items with the fitted router."""
    docs = {}
    for name, extra in (("local", ()), ("ray", ("--ray", "local", "--ray-workers", "1"))):
        args = build_parser().parse_args(
            [
                "bench",
                "--quick",
                "--data",
                "embedded",
                "--scenarios",
                "sst2",
                "--no-etr-sweep",
                "--no-plots",
                "--no-progress",
                "--threads",
                "1",
                "--out",
                str(tmp_path / name),
                *extra,
            ]
        )
        assert bench.run(args) == 0
        docs[name] = json.loads((tmp_path / name / "results.json").read_text())
    a, b = docs["local"]["scenarios"]["sst2"], docs["ray"]["scenarios"]["sst2"]
    assert a["status"] == b["status"] == "ok"
    assert a["item_ids"] == b["item_ids"] and a["router"]["threshold"] == b["router"]["threshold"]
    ra = {(r["item_id"], r["variant"]): r for r in a["records"]}
    rb = {(r["item_id"], r["variant"]): r for r in b["records"]}
    assert ra.keys() == rb.keys()
    for key, rec in ra.items():
        assert (rb[key]["output"], rb[key]["quality"], rb[key]["model"]) == (
            rec["output"],
            rec["quality"],
            rec["model"],
        )
        assert rb[key]["energy_j"] > 0 and rb[key]["worker"]["meters"]
        # the prompt probe, scored on the Ray actor, equals the local one
        assert rb[key]["metrics"].get("prompt_evidence_score") == rec["metrics"].get(
            "prompt_evidence_score"
        )
    assert b["scoring"]["probed_in_driver"] == a["scoring"]["probed_in_driver"] == 0


def test_missing_ray_is_a_clear_error(tmp_path, monkeypatch, capsys) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    clock, meter, monitor = fake_meter_setup()
    from green_chain.testing.bench import make_components

    args = build_parser().parse_args(
        [
            *("bench", "--data", "embedded", "--scenarios", "sst2", "--items", "1"),
            *("--ray", "local", "--out", str(tmp_path / "out"), "--no-progress"),
        ]
    )
    assert bench.run(args, components=make_components(clock, meter), monitor=monitor) == 2
    assert "pip install 'green-chain[ray]'" in capsys.readouterr().err


def _failing_setup():
    raise RuntimeError("no models here")


def test_workers_that_cannot_load_fail_clearly_and_release_ray() -> None:
    import sys

    # ship this test module's setup by value: workers cannot import the test module
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ex = RayExecutor("local", workers=1, setup=_failing_setup)
    with pytest.raises(
        RuntimeError, match=r"Ray workers did not start: RuntimeError: no models here$"
    ):
        ex.start()
    assert not ray.is_initialized()
