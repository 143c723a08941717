"""Ablation variants that repeat the baseline's or the green chain's computation are found
without generating and not re-run."""

from __future__ import annotations

import json

from langchain_core.messages import HumanMessage

from green_chain.bench.components import cap_answer
from green_chain.bench.same_calls import TraceChat, same_as_baseline, same_calls

ARGV = ["--data", "embedded", "--items", "3", "--ablation", "--no-etr-sweep", "--no-plots"]


def _bench(fake_bench, tmp_path, name: str, *extra: str) -> dict:
    out = tmp_path / name
    assert fake_bench([*ARGV, "--no-progress", "--out", str(out), *extra]) == 0
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


def test_a_variant_with_the_baselines_calls_takes_its_records(fake_bench, tmp_path) -> None:
    doc = _bench(fake_bench, tmp_path, "run", "--scenarios", "mtbench101")
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


def test_rerun_same_runs_every_variant(fake_bench, tmp_path) -> None:
    doc = _bench(fake_bench, tmp_path, "rerun", "--scenarios", "mtbench101", "--rerun-same")
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


def test_a_variant_doing_the_green_chains_work_takes_its_records(fake_bench, tmp_path) -> None:
    # GSM8K without the router: compression is off at its frozen rate 1.0, so the green chain
    # is the response budget alone, and only:response_budget would repeat it call for call
    doc = _bench(fake_bench, tmp_path, "green", "--scenarios", "gsm8k", "--no-route")
    s = doc["scenarios"]["gsm8k"]
    assert list(s["ablation_same_as_green"]) == ["only:response_budget"]
    assert (
        "the green chain's records stand for it"
        in s["ablation_same_as_green"]["only:response_budget"]
    )
    assert list(s["ablation_same_as_baseline"]) == ["only:compress"]
    row = s["ablation"]["response_budget"]
    assert row["same_as_green"] is True and "same_as_baseline" not in row
    assert row["energy_saved_pct"] == s["energy_saved_pct"]
    assert row["quality_delta_pts"] == s["quality_delta_pts"]
    by = {(r["item_id"], r["variant"]): r for r in s["records"]}
    for item_id in s["item_ids"]:
        green, copy = by[(item_id, "green")], by[(item_id, "only:response_budget")]
        assert copy["same_as"] == "green" and "same_as" not in green
        assert (copy["energy_j"], copy["output"], copy["quality"]) == (
            green["energy_j"],
            green["output"],
            green["quality"],
        )
    assert (
        "the green chain's calls and work: not re-run"
        in (tmp_path / "green" / "table.txt").read_text()
    )


def test_rerun_same_runs_the_green_chains_twin(fake_bench, tmp_path) -> None:
    doc = _bench(fake_bench, tmp_path, "g2", "--scenarios", "gsm8k", "--no-route", "--rerun-same")
    s = doc["scenarios"]["gsm8k"]
    assert "ablation_same_as_green" not in s
    assert not any(r.get("same_as") for r in s["records"])


def _stub_scenario():
    """A scenario whose green chain may mark the question (``history``, untagged: no
    optimizer work) and run a tagged optimizer step that strips the mark (``compress``);
    the baseline and every chain ask the large model."""
    from langchain_core.runnables import RunnableLambda

    from green_chain.bench.tags import OPTIMIZER_TAG

    class Stub:
        name = "stub"
        optimizers = ("compress", "history")

        def baseline(self, env):
            return RunnableLambda(lambda x: x["question"]) | env.components.models["large"]

        def green(self, env):
            chain = RunnableLambda(lambda x: x["question"])
            if env.settings.history:
                chain = chain | RunnableLambda(lambda q: q + "#")
            if env.settings.compress:
                strip = RunnableLambda(lambda q: q.rstrip("#"), name="compress")
                chain = chain | strip.with_config(tags=[OPTIMIZER_TAG])
            return chain | env.components.models["large"]

    return Stub()


def test_the_green_twin_needs_the_same_optimizer_work_not_only_the_same_calls() -> None:
    from dataclasses import replace

    from green_chain.bench.items import Item
    from green_chain.bench.scenarios.base import ScenarioEnv
    from green_chain.testing.bench_workers import fake_worker_setup

    env = ScenarioEnv(fake_worker_setup()[0])
    items = [Item(id=f"x{i}", inputs={"question": f"q{i}"}, reference="r") for i in range(3)]
    both = ["only:compress", "only:history"]
    # green and only:compress make the same calls, but green's compressor reads "q#":
    # the same work on other inputs is not the same computation; only:history asks "q#"
    assert same_calls(_stub_scenario(), env, both, items) == {}
    # history off: green is only:compress, calls and work
    no_history = replace(env, settings=replace(env.settings, history=False))
    assert same_calls(_stub_scenario(), no_history, ["only:compress"], items) == {
        "only:compress": "green"
    }
    # a variant that runs an optimizer is never the baseline's, even with the same calls
    assert same_as_baseline(_stub_scenario(), no_history, ["only:compress"], items) == {}
    # compress off: only:history's calls ("q#") are green's, and neither does any work
    no_compress = replace(env, settings=replace(env.settings, compress=False))
    assert same_calls(_stub_scenario(), no_compress, ["only:history"], items) == {
        "only:history": "green"
    }
