"""Ablation variants that make the baseline's calls are found without generating and not re-run."""

from __future__ import annotations

import json

from langchain_core.messages import HumanMessage

from green_chain.bench.components import cap_answer
from green_chain.bench.same_calls import TraceChat, same_as_baseline
from green_chain.testing.bench_workers import run_fake_bench

ARGV = ["--data", "embedded", "--items", "3", "--ablation", "--no-etr-sweep", "--no-plots"]


def _bench(tmp_path, name: str, *extra: str) -> dict:
    out = tmp_path / name
    assert run_fake_bench([*ARGV, "--no-progress", "--out", str(out), *extra]) == 0
    return json.loads((out / "results.json").read_text())


def test_trace_chat_logs_what_each_call_was_configured_with() -> None:
    log: list = []
    base = TraceChat(model="large:m", log=log)
    capped = cap_answer(base, 32, stop=["\n\n"], guided_choice=["yes", "no"])
    assert capped.invoke([HumanMessage("Is it?")]).content == "yes"  # the first choice
    base.bind(max_tokens=7).invoke("hi")
    assert [entry[2] for entry in log] == [32, 7]  # max_tokens: field, then bound
    assert log[0][3] == ("\n\n",) and log[0][5] == ("yes", "no")
    assert log[1][1] == (("human", "hi"),)


def test_a_variant_with_the_baselines_calls_takes_its_records(tmp_path) -> None:
    doc = _bench(tmp_path, "run", "--scenarios", "mtbench101")
    s = doc["scenarios"]["mtbench101"]
    # the budget equals the cap here: nothing to cut, no larger retry possible
    assert list(s["ablation_same_as_baseline"]) == ["only:response_budget"]
    assert s["ablation"]["response_budget"]["same_as_baseline"] is True
    assert s["ablation"]["response_budget"]["energy_saved_pct"] == 0.0
    assert s["ablation"]["response_budget"]["quality_delta_pts"] == 0.0
    # the fake router answers with the cheap model: other calls, so it runs
    assert "same_as_baseline" not in s["ablation"]["route"]
    by = {(r["item_id"], r["variant"]): r for r in s["records"]}
    for item_id in s["item_ids"]:
        base, copy = by[(item_id, "baseline")], by[(item_id, "only:response_budget")]
        assert copy["same_as"] == "baseline" and "same_as" not in base
        assert (copy["energy_j"], copy["output"], copy["quality"]) == (
            base["energy_j"],
            base["output"],
            base["quality"],
        )
        assert "same_as" not in by[(item_id, "only:route")]
    assert "not re-run" in (tmp_path / "run" / "table.txt").read_text()


def test_rerun_same_runs_every_variant(tmp_path) -> None:
    doc = _bench(tmp_path, "rerun", "--scenarios", "mtbench101", "--rerun-same")
    s = doc["scenarios"]["mtbench101"]
    assert "ablation_same_as_baseline" not in s
    assert doc["options"]["rerun_same"] is True
    variants = {r["variant"] for r in s["records"] if not r.get("same_as")}
    assert "only:response_budget" in variants
    assert not any(r.get("same_as") for r in s["records"])


def test_only_idle_capable_optimizers_are_traced_and_failures_run() -> None:
    from green_chain.bench.items import Item
    from green_chain.bench.scenarios.base import ScenarioEnv
    from green_chain.testing.bench_workers import fake_worker_setup

    class Broken:
        name = "broken"

        def baseline(self, env):
            raise RuntimeError("cannot build")

        green = baseline

    env = ScenarioEnv(fake_worker_setup()[0])
    item = Item(id="x", inputs={"question": "q"}, reference="r")
    assert same_as_baseline(Broken(), env, ["only:route"], [item]) == {}  # cannot tell: runs
    assert same_as_baseline(Broken(), env, ["only:compress", "only:history"], [item]) == {}
