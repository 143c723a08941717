"""The benchmark's response-budget and first-tier optimizers (fakes, fast)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from green_chain.bench import response_fit
from green_chain.bench.first_tier import FELL_THROUGH, FirstTierGate
from green_chain.bench.runner import RunOptions, run_scenario
from green_chain.bench.scenarios import get_scenarios
from green_chain.bench.scenarios.base import OPTIMIZERS, GreenSettings
from green_chain.routing.tier import TierAnswer


def _run(name, components, monitor, data, **kw):
    (scenario,) = get_scenarios([name])
    opts = RunOptions(n_items=kw.pop("n_items", 3), data_root=data, progress=False, **kw)
    return run_scenario(scenario, components, monitor, opts, log=lambda _m: None)


def test_settings_have_an_ablation_variant_per_new_optimizer() -> None:
    assert {"response_budget", "first_tier"} <= set(OPTIMIZERS)
    alone = GreenSettings().only("response_budget")
    assert alone.response_budget and not any(
        getattr(alone, o) for o in OPTIMIZERS if o != "response_budget"
    )
    assert GreenSettings().only("first_tier").first_tier
    by_name = {s.name: s for s in get_scenarios()}
    for name in ("sst2", "agnews", "trec"):
        assert "first_tier" in by_name[name].optimizers
        assert "response_budget" not in by_name[name].optimizers
    for name in ("mtbench101", "sgd", "qmsum", "gsm8k", "bfcl"):
        assert "response_budget" in by_name[name].optimizers
    mixed = by_name["mixed"]
    assert {"first_tier", "response_budget"} <= set(mixed.optimizers)
    assert not any(by_name[n].response_retry for n in ("gsm8k", "qmsum"))  # measured: no retry


def test_fit_response_budget_is_a_capped_quantile_with_margin() -> None:
    refs = ["one two three", "a b", "x y z w v u"]  # approximate tokens: short
    budget = response_fit.fit_response_budget(
        refs, token_model=None, cap=100, quantile=1.0, margin=1.0
    )
    longest = max(response_fit.count_tokens(r, None).tokens for r in refs)
    assert budget == longest
    assert response_fit.fit_response_budget(refs, token_model=None, cap=2) == 2
    assert response_fit.fit_response_budget([], token_model=None, cap=7) == 7
    with pytest.raises(ValueError, match="margin"):
        response_fit.fit_response_budget(refs, token_model=None, cap=9, margin=0.5)


def test_budget_fitted_on_calibration_only_and_recorded_with_the_call(
    meter_env, fake_components, tiny_data, monkeypatch
) -> None:
    _, _, monitor = meter_env
    seen: list[str] = []
    fit = response_fit.fit_response_budget

    def spy(references, **kw):
        seen.extend(references)
        return fit(references, **kw)

    monkeypatch.setattr(response_fit, "fit_response_budget", spy)
    (scenario,) = get_scenarios(["mtbench101"])
    entry = _run("mtbench101", fake_components, monitor, tiny_data)
    assert entry["status"] == "ok", entry.get("error")
    split = scenario.split(tiny_data, 3, 0)
    cal_refs = {it.reference for it in split.calibration}
    test_refs = {it.reference for it in split.test}
    assert seen and set(seen) <= cal_refs
    assert not set(seen) & test_refs  # a test item's reference never enters the budget
    expected = fit(
        [it.reference for it in split.calibration],
        token_model="fake-large",
        cap=scenario.max_new_tokens,
    )
    for rec in entry["records"]:
        budgets = [
            r["response_budget"] for r in rec["handler_records"] or [] if r.get("response_budget")
        ]
        if rec["variant"] == "green":
            assert budgets and all(b["budget_tokens"] == expected for b in budgets)
            assert expected <= scenario.max_new_tokens
            # the green chain asks for the repeat stop; these fake models have none to bind
            assert all(b["stop_on_repeat"] == "unsupported" for b in budgets)
        else:
            assert budgets == []  # the baseline keeps its cap, unbudgeted


def test_response_budget_off_leaves_the_answer_model_unwrapped(
    meter_env, fake_components, tiny_data
) -> None:
    _, _, monitor = meter_env
    entry = _run(
        "mtbench101",
        fake_components,
        monitor,
        tiny_data,
        settings=GreenSettings(response_budget=False),
    )
    assert entry["status"] == "ok", entry.get("error")
    for rec in entry["records"]:
        assert not any(r.get("response_budget") for r in rec["handler_records"] or [])


def test_first_tier_answers_confident_items_with_no_llm(
    meter_env, fake_components, tiny_data
) -> None:
    _, _, monitor = meter_env
    entry = _run("sst2", fake_components, monitor, tiny_data)
    assert entry["status"] == "ok", entry.get("error")
    green = [r for r in entry["records"] if r["variant"] == "green"]
    answered = [r for r in green if any(d.get("first_tier_answered") for d in r["routing"])]
    assert answered  # the tiny set is separable: the tier is confident
    for rec in answered:
        assert rec["calls"] == []  # no model call
        (decision,) = [d for d in rec["routing"] if d.get("first_tier")]
        assert decision["chosen_model"] == "ExampleClassifier"
        assert rec["output"] == decision["first_tier_label"]
        assert 0.0 <= decision["first_tier_confidence"] <= 1.0


def test_first_tier_that_declines_falls_through_to_the_llm(
    meter_env, fake_components, tiny_data
) -> None:
    _, _, monitor = meter_env

    def unsure(**_: Any):
        return RunnableLambda(
            lambda text: TierAnswer(None, 0.5, 0.9, "positive", "confidence 0.5 < 0.9")
        )

    fake_components.first_tier = unsure
    entry = _run("sst2", fake_components, monitor, tiny_data)
    assert entry["status"] == "ok", entry.get("error")
    for rec in (r for r in entry["records"] if r["variant"] == "green"):
        assert rec["calls"]  # the LLM answered
        (decision,) = [d for d in rec["routing"] if d.get("first_tier")]
        assert decision["first_tier_answered"] is False
        assert decision["chosen_model"] == FELL_THROUGH


def test_first_tier_off_calls_no_tier(meter_env, fake_components, tiny_data) -> None:
    _, _, monitor = meter_env
    entry = _run(
        "sst2", fake_components, monitor, tiny_data, settings=GreenSettings(first_tier=False)
    )
    assert entry["status"] == "ok", entry.get("error")
    assert not any(d.get("first_tier") for r in entry["records"] for d in r["routing"])


def test_failing_tier_declines_and_bad_input_is_named() -> None:
    def boom(text: str) -> TierAnswer:
        raise RuntimeError("no embeddings")

    gate = FirstTierGate(RunnableLambda(boom), RunnableLambda(lambda x: "llm:" + x["text"]), "text")
    assert gate.invoke({"text": "hi"}) == "llm:hi"
    with pytest.raises(ValueError, match="'text'"):
        gate.invoke({"question": "hi"})
