"""The router fit labelled by the models' generated answers (fake models, fake meter)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from green_chain.bench.item_run import score_records
from green_chain.bench.items import Item
from green_chain.bench.routefit import (
    RoutePolicy,
    crossfit_scores,
    fit_route_policy,
    router_items,
    run_both_models,
)
from green_chain.bench.runner import RunOptions, run_scenario
from green_chain.bench.scenarios import GreenSettings, ScenarioEnv, get_scenarios
from green_chain.bench.scenarios.mixed import MixedStream
from green_chain.testing.bench import MeteredFakeChat


class KeyedFakeChat(MeteredFakeChat):
    """Replies by the last message: the reply of the first key found in it, else ``answer``.

    With ``guided_choice`` (as ``ChatLocal``'s constrained choice) the reply is one of the
    labels: the keyed reply where it is one, else the first label.
    """

    replies: dict[str, str] = {}
    guided_choice: list[str] | None = None
    fail_on: list[str] = []

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        last = messages[-1].text
        if any(k in last for k in self.fail_on):
            raise RuntimeError("scripted failure")
        reply = next((r for k, r in self.replies.items() if k in last), self.answer)
        if self.guided_choice:
            reply = reply if reply in self.guided_choice else self.guided_choice[0]
        scripted = MeteredFakeChat(
            name_=self.name_,
            answer=reply,
            j_per_char=self.j_per_char,
            j_per_token=self.j_per_token,
            max_new_tokens=self.max_new_tokens,
            meter=self.meter,
            clock=self.clock,
        )
        return scripted._generate(messages, stop, run_manager, **kwargs)


def _keyed(components: Any, role: str, **update: Any) -> KeyedFakeChat:
    base = components.models[role]
    return KeyedFakeChat(
        name_=base.name_,
        j_per_char=base.j_per_char,
        j_per_token=base.j_per_token,
        meter=base.meter,
        clock=base.clock,
        **update,
    )


def _squad(components: Any, data: Any) -> tuple[Any, ScenarioEnv, list[Item]]:
    (squad,) = get_scenarios(["squad"])
    split = squad.split(data, 2, 0)
    env = ScenarioEnv(
        components, split.calibration, GreenSettings(), 0, stop=squad.stop, first_line=True
    )
    items = router_items(split.calibration, 6, 0)
    assert len(items) == 6 and not {i.id for i in items} & {i.id for i in split.test}
    return squad, env, items


def _key(item: Item) -> str:
    """What makes a tiny SQuAD item's prompt unique: its context's closing note."""
    return item.inputs["context"][item.inputs["context"].rindex("Note") :]


def _fit(*args: Any, **kw: Any) -> RoutePolicy:
    with warnings.catch_warnings():  # tiny fake sets: "every training label is 1"
        warnings.simplefilter("ignore")
        return fit_route_policy(*args, **kw)


def test_labels_come_from_the_generated_answers_scored_like_test_items(
    meter_env, fake_components, tiny_data
):
    _, _, monitor = meter_env
    squad, env, items = _squad(fake_components, tiny_data)
    right, wrong, both_wrong = items[:2], items[2:4], items[4:]
    large = {_key(it): it.reference for it in [*right, *wrong]}
    cheap = {_key(it): it.reference for it in right}
    cheap |= {_key(it): "no idea" for it in [*wrong, *both_wrong]}
    large |= {_key(it): "no idea" for it in both_wrong}
    fake_components.models = {
        "cheap": _keyed(fake_components, "cheap", replies=cheap),
        "large": _keyed(fake_components, "large", replies=large),
    }
    policy = _fit(squad, env, items, monitor=monitor)
    info = policy.info
    assert info["route_labels"] == "generated"
    assert info["quality_source"] == "generated:f1"
    assert info["large_quality"] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert info["cheap_quality"] == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    # cheap >= large; a tie at 0 (neither model answers) is labelled 1
    assert info["labels"] == [1, 1, 0, 0, 1, 1]
    assert info["cheap_outputs"][:2] == [it.reference for it in right]
    assert info["fit_errors"] == {"cheap": {}, "large": {}}
    # the scores are exactly the runner's: score_records on the same outputs
    recs = run_both_models(squad, env, items, monitor)
    score_records(squad, {it.id: it for it in items}, items, recs["cheap"], env.components, 0)
    assert [r.quality for r in recs["cheap"]] == info["cheap_quality"]


def test_cost_ratio_is_measured_over_every_fit_item(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    squad, env, items = _squad(fake_components, tiny_data)
    monitor.begin("fit")
    policy = _fit(squad, env, items, monitor=monitor, cost_items=1)  # probe-only knob
    spent = monitor.end("fit").total_j
    info = policy.info
    assert info["cost_ratio_source"] == "measured"
    assert info["cost_items"] == [it.id for it in items]
    # every joule of the fit is the two models' metered calls on the fit items
    assert spent == pytest.approx(info["cost_cheap_j"] + info["cost_large_j"])
    assert info["cheap_cost_ratio"] == pytest.approx(info["cost_cheap_j"] / info["cost_large_j"])
    assert 0.4 < info["cheap_cost_ratio"] < 1.0  # scripted 0.004 vs 0.01 J per prompt char
    assert info["cost_cheap_s"] > 0 and info["cost_large_s"] > 0
    assert info["fit_s"] >= 0
    assert info["crossfit_folds"] == 4 and len(info["fit_scores"]) == len(items)


def test_a_failed_call_scores_zero_and_stays_out_of_the_cost(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    squad, env, items = _squad(fake_components, tiny_data)
    fake_components.models = {
        **fake_components.models,
        "cheap": _keyed(fake_components, "cheap", fail_on=[_key(items[0])]),
    }
    info = _fit(squad, env, items, monitor=monitor).info
    assert list(info["fit_errors"]["cheap"]) == [items[0].id]
    assert info["cheap_quality"][0] == 0.0
    assert info["cost_items"] == [it.id for it in items[1:]]
    fake_components.models = {
        **fake_components.models,
        "large": _keyed(fake_components, "large", fail_on=["Note"]),
    }
    with pytest.raises(RuntimeError, match="large model failed on every router-fit item"):
        _fit(squad, env, items, monitor=monitor)


def test_a_reused_cost_ratio_decides_whatever_this_run_measures(
    meter_env, fake_components, tiny_data
):
    _, _, monitor = meter_env
    squad, env, items = _squad(fake_components, tiny_data)
    quiet = _fit(squad, env, items, monitor=monitor, cost_ratio=0.5)
    # the same items on a "loaded" machine: every cheap token costs 40x more
    loaded = fake_components.models["cheap"].model_copy(update={"j_per_token": 4.0})
    fake_components.models = {**fake_components.models, "cheap": loaded}
    busy = _fit(squad, env, items, monitor=monitor, cost_ratio=0.5)
    for policy in (quiet, busy):
        assert policy.info["cost_ratio_source"] == "reused"
        assert policy.info["cheap_cost_ratio"] == 0.5
        assert policy.info["cost_items"] == []  # the ratio came from the earlier run
    assert busy.info["measured_cost"]["cost_ratio"] > quiet.info["measured_cost"]["cost_ratio"]
    assert (busy.threshold, busy.routes) == (quiet.threshold, quiet.routes)
    with pytest.raises(ValueError, match="cost_ratio"):
        _fit(squad, env, items, cost_ratio=0.0)


def test_cheap_answers_worse_route_to_large_where_the_probe_says_cheap(
    meter_env, fake_components, tiny_data
):
    _, _, monitor = meter_env
    squad, env, items = _squad(fake_components, tiny_data)
    large = {_key(it): it.reference for it in items}
    fake_components.models = {
        "cheap": _keyed(fake_components, "cheap", answer="the answer is not in the text"),
        "large": _keyed(fake_components, "large", replies=large),
    }
    generated = _fit(squad, env, items, monitor=monitor)
    assert generated.info["labels"] == [0] * len(items)
    assert generated.info["in_sample_large_share"] == 1.0
    assert generated.routes is False  # the green chain calls the large model directly
    # the prompt probe finds the gold answer in the context under both models: cheap
    probe = _fit(squad, env, items, monitor=monitor, labels="probe", cost_items=0)
    assert probe.info["route_labels"] == "probe"
    assert probe.info["quality_source"] == "probe:mc_correct"
    assert probe.info["labels"] == [1] * len(items)
    assert probe.info["in_sample_large_share"] == 0.0
    with pytest.raises(ValueError, match="labels must be one of"):
        _fit(squad, env, items, labels="outputs")


def test_classification_scores_the_label_its_constrained_choice_generated(
    meter_env, fake_components, tiny_data
):
    _, _, monitor = meter_env
    (sst2,) = get_scenarios(["sst2"])
    split = sst2.split(tiny_data, 2, 0)
    env = ScenarioEnv(fake_components, split.calibration, GreenSettings(), 0)
    items = router_items(split.calibration, 6, 0)
    gold = {it.inputs["text"]: it.reference for it in items}
    # unconstrained, both would write free text; constrained, they answer a label
    free = "Review: this one I would call positive and negative"
    fake_components.models = {
        "cheap": _keyed(fake_components, "cheap", answer=free),  # first label always
        "large": _keyed(fake_components, "large", answer=free, replies=gold),
    }
    info = _fit(sst2, env, items, monitor=monitor).info
    labels = sorted({it.reference for it in split.calibration})
    assert set(info["large_outputs"]) <= set(labels) and set(info["cheap_outputs"]) <= set(labels)
    assert info["large_outputs"] == [it.reference for it in items]
    assert info["large_quality"] == [1.0] * len(items)
    assert info["cheap_quality"] == [float(it.reference == labels[0]) for it in items]
    assert info["labels"] == [int(q == 1.0) for q in info["cheap_quality"]]
    assert info["quality_source"] == "generated:accuracy"


def test_the_mixed_scenario_fits_one_policy_on_mixed_items(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    squad, sst2 = get_scenarios(["squad", "sst2"])
    mixed = MixedStream([squad, sst2])
    split = mixed.split(tiny_data, 2, 0)
    env = ScenarioEnv(fake_components, split.calibration, GreenSettings(), 0)
    items = router_items(split.calibration, 40, 0)
    members = {it.inputs["scenario"] for it in items}
    assert members == {"squad", "sst2"}
    large = {
        it.inputs["inputs"]["text"] if it.inputs["scenario"] == "sst2" else _key_mixed(it): (
            it.reference
        )
        for it in items
    }
    fake_components.models = {  # cheap: squad's default answer, sst2's first label
        "cheap": _keyed(fake_components, "cheap"),
        "large": _keyed(fake_components, "large", replies=large),
    }
    policy = _fit(mixed, env, items, monitor=monitor)
    info = policy.info
    assert info["quality_source"] == "generated:task"
    assert info["calibration_ids"] == [it.id for it in items]
    assert info["cost_items"] == info["calibration_ids"]
    assert info["large_quality"] == [1.0] * len(items)
    for it, out, q in zip(items, info["cheap_outputs"], info["cheap_quality"], strict=True):
        member = mixed.member_of(it)
        unwrapped = Item(it.id, it.inputs["inputs"], it.reference, it.references, it.choices)
        assert q == member.score_generation(unwrapped, out)[member.generation_metric]
    assert 0 < sum(info["labels"]) < len(items)  # sst2's first label right, squad's wrong


def _key_mixed(item: Item) -> str:
    ctx = item.inputs["inputs"]["context"]
    return ctx[ctx.rindex("Note") :]


def test_runner_passes_the_route_labels_and_records_them(meter_env, fake_components, tiny_data):
    _, _, monitor = meter_env
    fake_components.route_fitter = fit_route_policy
    (squad,) = get_scenarios(["squad"])
    for labels, source in ((None, "generated:f1"), ("probe", "probe:mc_correct")):
        opts = RunOptions(
            n_items=1, data_root=tiny_data, progress=False, router_items=3, route_labels=labels
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entry = run_scenario(squad, fake_components, monitor, opts, log=lambda _m: None)
        assert entry["status"] == "ok", entry.get("error")
        router = entry["router"]
        assert router["route_labels"] == (labels or "generated")
        assert router["quality_source"] == source
        assert entry["one_off"]["router_fit_j"] > 0


def test_crossfit_scores_never_score_an_item_with_a_scorer_trained_on_it() -> None:
    from langchain_core.messages import HumanMessage

    from green_chain.routing import EmbeddingScorer
    from green_chain.testing.embeddings import BagOfWordsEmbeddings

    texts = [f"alpha request {i}" for i in range(4)] + [f"beta request {i}" for i in range(4)]
    texts.append("gamma unique words here")
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 1]
    requests = [[HumanMessage(t)] for t in texts]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scorer = EmbeddingScorer(BagOfWordsEmbeddings()).fit(requests, labels)
        in_sample = scorer.score_batch(requests)
        oof = crossfit_scores(scorer, requests, labels, 4)
    assert len(oof) == len(texts)
    # what generalises survives: held-out alphas still score above held-out betas
    assert min(oof[:4]) > max(oof[4:8])
    # what does not is lost: "gamma" is like nothing else, so held out it gets no credit
    # for its own label (the in-sample scorer had learned it)
    assert oof[8] < in_sample[8]
    assert scorer.score_batch(requests) == in_sample  # the final scorer is left as it was
