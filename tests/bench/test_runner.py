"""The runner with fake models, fake optimizers and a fake meter."""

from __future__ import annotations

import pytest

from green_chain.bench.components import Components, ComponentUnavailableError
from green_chain.bench.runner import RunOptions, run_scenario
from green_chain.bench.scenarios import GreenSettings, get_scenarios


def _run(name, components, monitor, data, **kw):
    (scenario,) = get_scenarios([name])
    opts = RunOptions(n_items=kw.pop("n_items", 3), data_root=data, progress=False, **kw)
    return run_scenario(scenario, components, monitor, opts, log=lambda _m: None)


def test_squad_baseline_vs_green_energy_and_quality(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    entry = _run("squad", fake_components, monitor, tiny_data)
    assert entry["status"] == "ok", entry.get("error")
    recs = entry["records"]
    assert [r["variant"] for r in recs] == ["baseline", "green"] * 3
    assert len(set(entry["item_ids"])) == 3
    assert not set(entry["item_ids"]) & set(entry["calibration_ids"])
    for base, green in zip(recs[::2], recs[1::2], strict=True):
        assert base["item_id"] == green["item_id"]
        assert base["model"] == "fake-large" and green["model"] == "fake-cheap"
        # scripted: 0.01 J/char (large) vs 0.004 J/char on half the context, + 0.5 J compressor
        assert base["energy_j"] > green["energy_j"] > 0
        assert green["optimizer_energy_j"] == pytest.approx(0.5)
        assert base["optimizer_energy_j"] == 0
        assert base["energy_kind"] == "estimated" and base["energy_sources"] == ["fake-estimate"]
        assert green["optimizer_events"][0]["optimizer"] == "compression:fake"
        assert green["prompt_tokens"] < base["prompt_tokens"]
        # quality: the task metric on the generated answer; the prompt probe is secondary
        assert base["quality_metric"] == "f1"
        assert {"em", "f1", "prompt_evidence_score"} <= set(base["metrics"])
        for r in (base, green):
            assert r["quality"] == r["metrics"]["f1"]
    # the fake scorer finds the gold answer in the full context: the probe always finds it
    assert all(r["metrics"]["prompt_evidence_score"] == 1.0 for r in recs[::2])


def test_item_energy_equals_scripted_joules(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    entry = _run("squad", fake_components, monitor, tiny_data, n_items=1)
    base = entry["records"][0]
    words = base["completion_tokens"]
    # baseline: large model, 0.01 J per prompt char + 0.1 J per generated token
    prompt_chars = base["energy_j"] - 0.1 * words
    assert prompt_chars / 0.01 == pytest.approx(round(prompt_chars / 0.01), abs=1e-6)
    assert base["energy_j"] > 1.0


def test_fewshot_and_dialogue_scenarios_run(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    sst = _run("sst2", fake_components, monitor, tiny_data)
    assert sst["status"] == "ok", sst.get("error")
    assert all(r["metrics"].get("accuracy") is not None for r in sst["records"])
    assert all(c.startswith("sst2-train:") for c in sst["calibration_ids"])
    dia = _run("mtbench101", fake_components, monitor, tiny_data, n_items=2)
    assert dia["status"] == "ok", dia.get("error")
    green = [r for r in dia["records"] if r["variant"] == "green"]
    base = [r for r in dia["records"] if r["variant"] == "baseline"]
    assert all(g["prompt_tokens"] < b["prompt_tokens"] for g, b in zip(green, base, strict=True))
    assert all(g["optimizer_events"][0]["optimizer"] == "history:fake" for g in green)


def test_missing_optimizer_fails_only_that_scenario(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    broken = Components(models=fake_components.models, scorer=fake_components.scorer)
    entry = _run("squad", broken, monitor, tiny_data)
    assert entry["status"] == "failed"
    assert "is not available" in entry["error"]
    ok = _run("squad", fake_components, monitor, tiny_data)
    assert ok["status"] == "ok"


def test_missing_data_file_names_it(meter_env, fake_components, tmp_path):
    _, _, monitor = meter_env
    entry = _run("hotpotqa", fake_components, monitor, tmp_path)
    assert entry["status"] == "failed"
    assert "hotpotqa_dev_distractor_sample100.json" in entry["error"]


def test_failing_model_items_are_recorded(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env

    def bad_router(*, models, calibration=()):
        raise_model = models[0].model_copy(update={"meter": None})  # add_all on None -> error
        return raise_model

    comps = Components(
        models=fake_components.models,
        compressor=fake_components.compressor,
        router=bad_router,
        scorer=fake_components.scorer,
    )
    entry = _run("squad", comps, monitor, tiny_data)
    assert entry["status"] == "failed"
    assert "every green item failed" in entry["error"]


def test_no_route_uses_large_model(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    entry = _run("squad", fake_components, monitor, tiny_data, settings=GreenSettings(route=False))
    assert {r["model"] for r in entry["records"]} == {"fake-large"}


def test_default_factories_raise_clear_error(fake_components):
    comps = Components(models=fake_components.models)
    with pytest.raises(ComponentUnavailableError, match="RoutedChatModel"):
        comps.router(models=[])


def test_validated_etr_sweep(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    entry = _run("squad", fake_components, monitor, tiny_data, etr_rates=(0.5, 0.9))
    etr = entry["validated_etr"]
    rates = [p["rate"] for p in etr["sweep"]]
    assert rates == [1.0, 0.9, 0.5]
    assert etr["sweep"][0]["token_share"] == 1.0
    shares = [p["token_share"] for p in etr["sweep"]]
    assert shares == sorted(shares, reverse=True)
    assert etr["validated_rate"] in rates


def _fit_env(fake_components, tiny_data):
    from green_chain.bench.routefit import router_items
    from green_chain.bench.scenarios import ScenarioEnv
    from green_chain.testing.embeddings import BagOfWordsEmbeddings

    fake_components.embeddings = BagOfWordsEmbeddings()
    (scenario,) = get_scenarios(["squad"])
    split = scenario.split(tiny_data, 2, 0)
    env = ScenarioEnv(fake_components, split.calibration, GreenSettings(), 0)
    items = router_items(split.calibration, 4, 0)
    assert len(items) == 4 and not {i.id for i in items} & {i.id for i in split.test}
    return scenario, env, items, split


def test_route_policy_fitted_on_calibration_without_generating(
    meter_env, fake_components, tiny_data
):
    from green_chain.bench.routefit import CHEAP_COST_RATIO, fit_route_policy

    _, _, monitor = meter_env
    scenario, env, items, split = _fit_env(fake_components, tiny_data)
    monitor.begin("fit")
    policy = fit_route_policy(
        scenario, env, items, pool=split.calibration, cost_items=0, labels="probe"
    )
    assert monitor.end("fit").total_j == 0  # prompts rendered by an echo model: no generation
    info = policy.info
    assert info["calibration_ids"] == [i.id for i in items]
    assert info["cheap_cost_ratio"] == CHEAP_COST_RATIO
    assert info["cost_ratio_source"] == "fallback"
    assert info["min_saving"] == 0.10
    # the overlap scorer finds the gold answer in the full context for both models
    assert info["cheap_mc"] == info["large_mc"] == [1.0] * 4
    assert info["labels"] == [1, 1, 1, 1]
    # cheap is as good everywhere: the cheapest threshold routes everything to cheap
    assert info["in_sample_large_share"] == 0.0
    assert 0.0 <= policy.threshold <= 1.0


def test_route_cost_ratio_is_measured_with_generation(meter_env, fake_components, tiny_data):
    from green_chain.bench.routefit import fit_route_policy

    _, _, monitor = meter_env
    scenario, env, items, split = _fit_env(fake_components, tiny_data)
    monitor.begin("fit")
    policy = fit_route_policy(
        scenario, env, items, pool=split.calibration, cost_items=2, monitor=monitor, labels="probe"
    )
    spent = monitor.end("fit").total_j
    info = policy.info
    assert info["cost_ratio_source"] == "measured"
    assert info["cost_items"] == [i.id for i in items[:2]]
    # all the fit's energy is the two chains' calls; the ratio is of those sums
    assert spent == pytest.approx(info["cost_cheap_j"] + info["cost_large_j"])
    assert info["cheap_cost_ratio"] == pytest.approx(info["cost_cheap_j"] / info["cost_large_j"])
    # scripted: cheap 0.004 J/char vs large 0.01 J/char, same 0.1 J per generated word
    assert 0.4 < info["cheap_cost_ratio"] < 1.0


def test_route_cost_ratio_counts_long_answers(meter_env, fake_components, tiny_data):
    from green_chain.bench.routefit import fit_route_policy

    _, _, monitor = meter_env
    cheap = fake_components.models["cheap"].model_copy(
        update={"answer": " ".join(["word"] * 60), "j_per_token": 5.0}
    )
    fake_components.models = {**fake_components.models, "cheap": cheap}
    scenario, env, items, split = _fit_env(fake_components, tiny_data)
    policy = fit_route_policy(
        scenario, env, items, pool=split.calibration, cost_items=2, monitor=monitor, labels="probe"
    )
    # a verbose cheap model costs more than the large one: never routed to
    assert policy.info["cheap_cost_ratio"] > 1.0
    assert policy.info["in_sample_large_share"] == 1.0


def test_route_policy_used_by_green_chain(meter_env, fake_components, tiny_data):
    from green_chain.bench.routefit import RoutePolicy

    seen = {}

    def router(*, models, calibration=(), scorer=None, threshold=0.5):
        seen.update(scorer=scorer, threshold=threshold)
        return models[0]

    fake_components.router = router
    fake_components.route_fitter = lambda scenario, env, items, pool=(): RoutePolicy(
        "fitted-scorer", 0.42, {"scorer": "fake", "calibration_ids": [i.id for i in items]}
    )
    entry = _run("squad", fake_components, meter_env[2], tiny_data, n_items=1, router_items=3)
    assert entry["status"] == "ok", entry.get("error")
    assert seen == {"scorer": "fitted-scorer", "threshold": 0.42}
    assert len(entry["router"]["calibration_ids"]) == 3
    assert not set(entry["router"]["calibration_ids"]) & set(entry["item_ids"])


def test_a_policy_that_never_routes_calls_the_large_model_directly(fake_components):
    from green_chain.bench.routefit import RoutePolicy
    from green_chain.bench.scenarios.base import ScenarioEnv

    built = []

    def router(*, models, calibration=(), scorer=None, threshold=0.5):
        built.append(threshold)
        return models[0]

    fake_components.router = router
    never = RoutePolicy("scorer", 1.0, {"routes": False}, routes=False)
    env = ScenarioEnv(fake_components, settings=GreenSettings(route=True), route_policy=never)
    assert env.answer_model(5) == env.large(5)  # the large model itself: no scorer per call
    assert built == []
    routes = RoutePolicy("scorer", 0.4, {"routes": True})
    ScenarioEnv(
        fake_components, settings=GreenSettings(route=True), route_policy=routes
    ).answer_model(5)
    assert built == [0.4]


def test_first_line_answers_for_short_qa_baseline_and_green_alike(fake_components):
    from green_chain.bench.components import cap_answer
    from green_chain.bench.scenarios.base import ScenarioEnv
    from green_chain.models import ChatLocal

    m = cap_answer(ChatLocal(model="gemma3-270m"), 7, ["\nQ:"], first_line=True)
    assert (m.max_new_tokens, m.stop, m.first_line) == (7, ["\nQ:"], True)
    assert cap_answer(ChatLocal(), 7).first_line is False
    comps = Components(
        models={"cheap": ChatLocal(model="smollm2-135m-instruct"), "large": ChatLocal()},
        router=lambda models, calibration, **_: models[0],
    )
    by_name = {s.name: s for s in get_scenarios()}
    assert by_name["squad"].first_line and by_name["hotpotqa"].first_line
    assert not by_name["qmsum"].first_line and not by_name["gsm8k"].first_line
    env = ScenarioEnv(comps, first_line=True, settings=GreenSettings(route=True))
    assert env.large(5).first_line is True
    assert env.answer_model(5).first_line is True  # the (fake) router's cheap model
    env_off = ScenarioEnv(comps, settings=GreenSettings(route=False))
    assert env_off.answer_model(5).first_line is False


def test_stable_examples_selects_once_per_task(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    queries: list[dict[str, str]] = []
    make = fake_components.selector

    def spy(**kwargs):
        sel = make(**kwargs)
        inner = sel.select_examples

        def select(inputs):
            queries.append(dict(inputs))
            return inner(inputs)

        sel.select_examples = select
        return sel

    fake_components.selector = spy
    (sst2,) = get_scenarios(["sst2"])
    # no first tier: every item reaches the selector
    per_input = _run(
        "sst2",
        fake_components,
        monitor,
        tiny_data,
        settings=GreenSettings(stable_examples=False, first_tier=False),
    )
    assert len(queries) >= 3 and all(q["text"] != sst2.instruction for q in queries)
    queries.clear()
    stable = _run(
        "sst2", fake_components, monitor, tiny_data, settings=GreenSettings(first_tier=False)
    )
    assert stable["status"] == per_input["status"] == "ok"
    assert not queries  # the default: chosen once per task, no per-input query
    prompts = {
        c["prompt"]
        for r in stable["records"]
        if r["variant"] == "green"
        for c in r.get("calls", [])
        if c.get("prompt")
    }
    assert len({p.split(sst2.input_name + ": ")[0] for p in prompts}) <= 1


def test_budgeted_examples_are_the_fixed_ones_within_the_budget(fake_components, tiny_data):
    from green_chain.bench.scenarios.base import ScenarioEnv
    from green_chain.tokens import count_tokens

    (sst2,) = get_scenarios(["sst2"])
    split = sst2.split(tiny_data, 3, 0)
    for budget in (30, 80, 10_000):
        env = ScenarioEnv(fake_components, split.calibration, GreenSettings(example_tokens=budget))
        fixed = sst2.fixed_examples(env)
        kept = sst2.budgeted_examples(env)
        assert all(ex in fixed for ex in kept)
        assert [ex for ex in fixed if ex in kept] == kept  # the baseline's order
        large = fake_components.versions.get("large")
        used = sum(count_tokens(sst2.render_example(ex), large).tokens for ex in kept)
        assert used <= budget
    assert sst2.budgeted_examples(
        ScenarioEnv(fake_components, split.calibration, GreenSettings(example_tokens=10_000))
    ) == sst2.fixed_examples(ScenarioEnv(fake_components, split.calibration))
