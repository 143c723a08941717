"""Every tuned choice of the benchmark is made on calibration items, never on test items.

Each scenario of the standard split (``STANDARD_ITEMS`` test items, seed 0) runs through
the runner on the embedded sample with fake models: the router fit and its cost items,
the validated-ETR sweep, the answer caps, the few-shot pools and the ``tuned`` record
are checked against the run's test ids; the frozen choices' items (the committed
output of ``green_chain.experiments.tuning``) likewise, and the code's constants are
checked to be the values that output chose.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from green_chain.bench.components import DEFAULT_COMPRESSOR
from green_chain.bench.items import Item
from green_chain.bench.routefit import MIN_SAVING, fit_route_policy
from green_chain.bench.runner import STANDARD_ITEMS, RunOptions, run_scenario
from green_chain.bench.sample_build import SAMPLE_DIR
from green_chain.bench.scenarios import GreenSettings, ScenarioEnv, get_scenarios
from green_chain.bench.tuning import (
    COMPRESSION_FILE,
    FITTED,
    FROZEN_COMPRESSION,
    FROZEN_ROUTER,
    NOT_FROZEN_RATES,
    PENDING,
    PENDING_COMPRESSION,
    ROUTER_FILE,
    TUNING_SEED,
    tuned_choices,
)
from green_chain.experiments.tuning import check_disjoint, choose_backend, choose_min_saving
from green_chain.routing import ExampleClassifier
from green_chain.testing.embeddings import BagOfWordsEmbeddings

REPO = Path(__file__).resolve().parents[2]
NAMES = [s.name for s in get_scenarios()]


class _Capture:
    """An executor that runs no test item: it keeps the env the runner built."""

    def __init__(self) -> None:
        self.env: ScenarioEnv | None = None

    def run(self, scenario: Any, env: ScenarioEnv, items: Any, **_: Any) -> list[Any]:
        self.env = env
        return []


@pytest.fixture(scope="module")
def standard_runs() -> dict[str, tuple[dict[str, Any], Any, ScenarioEnv]]:
    """Every scenario's entry, scenario and env for the standard split (no test item run)."""
    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.testing.bench import make_components
    from green_chain.testing.clock import FakeClock
    from green_chain.testing.meters import FakeMeterBackend

    clock = FakeClock()
    meter = FakeMeterBackend(["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock)
    monitor = EnergyMonitor([meter], clock=clock)
    comps = make_components(clock, meter)
    comps.embeddings = BagOfWordsEmbeddings()
    comps.route_fitter = fit_route_policy
    # the first tier is fitted in the driver (a metered one-off): a k-NN one here, since
    # cross-validating the logistic head on 1 200-2 000 bag-of-words items takes minutes
    comps.first_tier = lambda **kw: ExampleClassifier(comps.embeddings, head="knn").fit(
        kw["texts"], kw["labels"]
    )
    out = {}
    for scenario in get_scenarios():
        capture = _Capture()
        options = RunOptions(
            n_items=STANDARD_ITEMS,
            seed=TUNING_SEED,
            data_root=SAMPLE_DIR,
            etr_rates=(0.5, 0.33),
            progress=False,
            executor=capture,
        )
        with warnings.catch_warnings():  # tiny fake labels: "every training label is 1"
            warnings.simplefilter("ignore")
            entry = run_scenario(scenario, comps, monitor, options, log=lambda _: None)
        assert entry["status"] == "ok", (scenario.name, entry.get("error"))
        assert capture.env is not None
        out[scenario.name] = (entry, scenario, capture.env)
    return out


def _sides(entry: dict[str, Any]) -> tuple[set[str], set[str]]:
    test, cal = set(entry["item_ids"]), set(entry["calibration_ids"])
    assert test and not test & cal
    return test, cal


@pytest.mark.parametrize("name", NAMES)
def test_router_fit_and_cost_items_are_calibration_items(standard_runs, name) -> None:
    entry, _, _ = standard_runs[name]
    test, cal = _sides(entry)
    router = entry["router"]
    assert router["calibration_ids"] and set(router["calibration_ids"]) <= cal
    assert router["cost_ratio_source"] == "measured" and router["cost_items"]
    assert set(router["cost_items"]) <= cal
    assert not (set(router["calibration_ids"]) | set(router["cost_items"])) & test


@pytest.mark.parametrize("name", NAMES)
def test_tuned_record_names_calibration_items_only(standard_runs, name) -> None:
    entry, scenario, _ = standard_runs[name]
    test, cal = _sides(entry)
    tuned = entry["tuned"]
    members = getattr(scenario, "members", {}) or {name: scenario}
    unfrozen = any(n in NOT_FROZEN_RATES and m.compressible for n, m in members.items())
    assert tuned["clean"] is (not PENDING and not unfrozen)
    assert tuned["min_saving"] == {"value": MIN_SAVING, "source": FROZEN_ROUTER}
    known = (FROZEN_COMPRESSION, FROZEN_ROUTER, FITTED, "fixed", PENDING_COMPRESSION)
    for choice, rec in tuned.items():
        if choice == "clean":
            continue
        assert rec["source"] in known, (choice, rec)
        if rec["source"] == PENDING_COMPRESSION:
            assert choice == "compression_rate" and unfrozen
        ids = set(rec.get("item_ids", []))
        assert ids <= cal and not ids & test, choice
    if scenario.compressible:
        assert tuned["compressor"] == {"value": DEFAULT_COMPRESSOR, "source": FROZEN_COMPRESSION}
        assert tuned["compression_rate"] == {
            "value": scenario.default_rate,
            "source": PENDING_COMPRESSION if unfrozen else FROZEN_COMPRESSION,
        }


@pytest.mark.parametrize("name", [s.name for s in get_scenarios() if s.compressible])
def test_etr_sweep_items_are_calibration_items(standard_runs, name) -> None:
    entry, _, _ = standard_runs[name]
    test, cal = _sides(entry)
    etr = entry["validated_etr"]
    assert etr["items_from"] == "calibration" and etr["item_ids"]
    assert set(etr["item_ids"]) <= cal and not set(etr["item_ids"]) & test


@pytest.mark.parametrize("name", [n for n in NAMES if n != "mixed"])
def test_answer_caps_and_few_shot_pools_come_from_calibration(standard_runs, name) -> None:
    entry, scenario, env = standard_runs[name]
    test, cal = _sides(entry)
    assert {it.id for it in env.calibration} == cal
    cap = entry["tuned"]["answer_cap"]
    if name == "gsm8k":  # fitted on the calibration solutions
        assert cap["source"] == FITTED and cap["value"] == entry["answer_cap"]
    else:
        assert cap == {"value": scenario.max_new_tokens, "source": "fixed"}
    if hasattr(scenario, "examples"):  # classification: selector pool and fixed examples
        pool = scenario.examples(env)
        texts = {it.inputs["text"] for it in env.calibration}
        assert pool and all(ex["text"] in texts for ex in pool)
    ids = entry["tuned"].get("few_shot_examples", {}).get("item_ids", [])
    if hasattr(scenario, "fixed_examples") or hasattr(scenario, "example_items"):
        assert ids and set(ids) <= cal and not set(ids) & test


def _with_calibration(env: ScenarioEnv, items: list[Item]) -> ScenarioEnv:
    from dataclasses import replace

    return replace(env, calibration=list(items))


def _test_items(scenario: Any, entry: dict[str, Any]) -> list[Item]:
    split = scenario.split(SAMPLE_DIR, STANDARD_ITEMS, TUNING_SEED)
    return [it for it in split.test if it.id in set(entry["item_ids"])]


def test_gsm8k_cap_is_a_function_of_calibration_only(standard_runs) -> None:
    entry, scenario, env = standard_runs["gsm8k"]
    # test items given as calibration change the cap: it reads env.calibration, nothing else
    tests = _test_items(scenario, entry)
    caps = {scenario.answer_cap(_with_calibration(env, tests[i : i + 4])) for i in (0, 4, 8)}
    assert scenario.answer_cap(env) == entry["answer_cap"]
    assert len(caps | {entry["answer_cap"]}) > 1


def test_mixed_members_use_their_own_calibration(standard_runs) -> None:
    entry, mixed, env = standard_runs["mixed"]
    test, cal = _sides(entry)
    for name, _member in mixed.members.items():
        menv = mixed._member_env(env, name)
        member_cal = {f"mixed/{it.id}" for it in menv.calibration}
        assert member_cal <= cal
        own_entry, _, _ = standard_runs[name]
        # the frozen choices were tuned on the member's calibration items (seed 0)
        assert not {f"mixed/{i}" for i in own_entry["calibration_ids"]} & test


def _frozen(path: str) -> dict[str, Any]:
    file = REPO / path
    if PENDING and not file.exists():  # written by green_chain.experiments.tuning
        pytest.skip(f"{path} not committed yet")
    assert file.exists(), f"PENDING is False but {path} is not committed"
    return json.loads(file.read_text())


@pytest.mark.parametrize("path", [COMPRESSION_FILE, ROUTER_FILE])
def test_tuning_experiment_used_calibration_items_only(path) -> None:
    result = _frozen(path)
    assert result["seed"] == TUNING_SEED
    splits = {
        s.name: s.split(SAMPLE_DIR, None, TUNING_SEED) for s in get_scenarios() if s.name != "mixed"
    }
    # the sample holds every scenario's whole calibration set (seed 0); the tuning's set is a
    # prefix of today's (the first tier's larger fit appends calibration items after it)
    for name, ids in result["calibration_ids"].items():
        assert ids == [it.id for it in splits[name].calibration][: len(ids)], name
    counts = check_disjoint(result, splits)
    assert counts and not any(counts.values())
    assert result["test_items_used"] == counts


def test_code_holds_the_frozen_choices() -> None:
    """The constants the benchmark runs with are the committed tuning output's choices:
    this fails as soon as either side changes without the other."""
    compression = _frozen(COMPRESSION_FILE)["chosen"]
    assert _frozen(ROUTER_FILE)["chosen"]["min_saving"] == MIN_SAVING
    assert compression["compressor"] == DEFAULT_COMPRESSOR
    by_name = {s.name: s for s in get_scenarios()}
    rates = compression["compression_rates"]
    # every compressible scenario's rate is frozen, except those the file lacks (named)
    assert set(rates) == {n for n, s in by_name.items() if s.compressible} - set(NOT_FROZEN_RATES)
    assert not set(rates) & set(NOT_FROZEN_RATES)
    for name, rate in rates.items():
        assert by_name[name].default_rate == rate, name


def test_check_disjoint_refuses_a_test_item() -> None:
    split = get_scenarios(["squad"])[0].split(SAMPLE_DIR, None, TUNING_SEED)
    result = {"router": {"scenarios": {"squad": {"item_ids": [split.test[0].id]}}}}
    with pytest.raises(RuntimeError, match="squad"):
        check_disjoint(result, {"squad": split})


def test_choose_backend_takes_the_cheapest_within_tolerance() -> None:
    rows = {
        "slow": {"retention": 1.0, "seconds_per_item": 0.7},
        "fast": {"retention": 0.96, "seconds_per_item": 0.01},
        "worse": {"retention": 0.80, "seconds_per_item": 0.001},
    }
    assert choose_backend(rows, 0.05)[0] == "fast"
    assert choose_backend(rows, 0.01)[0] == "slow"


def test_choose_min_saving_is_the_smallest_value_keeping_quality() -> None:
    def fold(saving: float, routed: list[float]) -> dict[str, Any]:
        return {
            "in_sample_saving": saving,
            "routes": True,
            "routed_quality": routed,
            "large_quality": [1.0] * len(routed),
        }

    # the low-saving policy loses half its items out of fold; the high-saving one none
    folds = [fold(0.04, [1, 0, 1, 0]), fold(0.25, [1, 1, 1, 1]), fold(0.12, [1, 1, 1, 1])]
    value, curve = choose_min_saving(folds, (0.0, 0.05, 0.1, 0.2), 0.95)
    assert value == 0.05
    assert [c["folds_routing"] for c in curve] == [3, 2, 2, 1]
    assert choose_min_saving([fold(0.3, [0, 0])], (0.0, 0.1), 0.95)[0] == 0.1


def test_pending_matches_the_committed_files() -> None:
    committed = all((REPO / f).exists() for f in (COMPRESSION_FILE, ROUTER_FILE))
    assert PENDING is not committed


def test_a_rate_flag_or_another_seed_is_recorded_as_such(standard_runs, monkeypatch) -> None:
    import green_chain.bench.tuning as tuning

    monkeypatch.setattr(tuning, "PENDING", False)
    entry, scenario, env = standard_runs["squad"]
    assert tuned_choices(scenario, env, entry["router"], [], seed=TUNING_SEED)["clean"] is True
    from dataclasses import replace

    flagged = replace(env, settings=GreenSettings(compression_rate=0.4))
    rec = tuned_choices(scenario, flagged, entry["router"], [], seed=TUNING_SEED)
    assert rec["compression_rate"] == {"value": 0.4, "source": "setting"}
    assert tuned_choices(scenario, env, entry["router"], [], seed=TUNING_SEED + 1)["clean"] is False
    split = scenario.split(SAMPLE_DIR, STANDARD_ITEMS, TUNING_SEED)
    leaked = [next(it for it in split.calibration if it.id in entry["router"]["calibration_ids"])]
    assert tuned_choices(scenario, env, entry["router"], leaked, seed=TUNING_SEED)["clean"] is False


def test_results_json_carries_the_tuned_block(standard_runs) -> None:
    from green_chain.bench.document import build_document

    entry, _, _ = standard_runs["gsm8k"]
    doc = build_document(
        [entry], options={}, components_versions={}, meters=[], git={"commit": None}
    )
    tuned = doc["scenarios"]["gsm8k"]["tuned"]
    assert tuned == entry["tuned"]
    assert set(tuned) >= {"min_saving", "compressor", "compression_rate", "answer_cap", "clean"}
    # frozen choices name their file instead of repeating its item ids
    assert "item_ids" not in tuned["compression_rate"]
    assert len(json.dumps(tuned)) < 2000


def test_merge_decides_again_over_all_scenarios_and_refuses_mixed_runs() -> None:
    from green_chain.experiments.tuning import merge_results

    split = get_scenarios(["sst2"])[0].split(SAMPLE_DIR, None, TUNING_SEED)
    cal = [it.id for it in split.calibration]

    def run(name: str, saving: float, routed: list[float], seed: int = 0) -> dict[str, Any]:
        fold = {
            "in_sample_saving": saving,
            "routes": True,
            "routed_quality": routed,
            "large_quality": [1.0] * len(routed),
        }
        return {
            "seed": seed,
            "command": f"run {name}",
            "calibration_ids": {"sst2": cal} if name == "a" else {},
            "router": {"grid": [0.0, 0.1, 0.2], "scenarios": {name: {"item_ids": cal[:2]}}},
        } | {"_fold": fold}

    a, b = run("a", 0.05, [1, 0, 0, 1]), run("b", 0.25, [1, 1, 1, 1])
    for r, name in ((a, "a"), (b, "b")):
        r["router"]["scenarios"][name]["folds"] = [r.pop("_fold")]
    a["router"]["scenarios"]["sst2"] = a["router"]["scenarios"].pop("a")
    b["calibration_ids"] = {"sst2": cal}
    b["router"]["scenarios"] = {"trec": b["router"]["scenarios"]["b"]}
    b["calibration_ids"]["trec"] = [
        it.id for it in get_scenarios(["trec"])[0].split(SAMPLE_DIR, None, 0).calibration
    ]
    b["router"]["scenarios"]["trec"]["item_ids"] = b["calibration_ids"]["trec"][:2]
    merged = merge_results([a, b], SAMPLE_DIR)
    # alone, run a's fold needs 0.1 to keep quality; with b's clean fold pooled, too
    assert merged["chosen"]["min_saving"] == 0.1
    assert merged["merged_from"] == ["run a", "run b"]
    with pytest.raises(ValueError, match="two runs"):
        merge_results([a, a], SAMPLE_DIR)
    with pytest.raises(ValueError, match="seeds"):
        merge_results([a, {**b, "seed": 1}], SAMPLE_DIR)


def test_cached_prefix_compression_must_save_its_share_of_the_task() -> None:
    from green_chain.experiments.tuning import cached_prefix_saving

    sweep = [{"rate": 1.0, "prompt_tokens": 1000.0}, {"rate": 0.5, "prompt_tokens": 550.0}]
    # prefix 900 of the 1000 prompt tokens: 100 new per request; 450 saved once
    one = cached_prefix_saving(sweep, 0.5, 900, requests=1, min_saving=0.05)
    assert one["prefill_saving_share"] == 450 / 1000 and one["used"]
    many = cached_prefix_saving(sweep, 0.5, 900, requests=100, min_saving=0.05)
    assert many["new_tokens_per_request"] == 100
    assert many["prefill_saving_share"] == 450 / (900 + 100 * 100) and not many["used"]
    with pytest.raises(ValueError, match="requests"):
        cached_prefix_saving(sweep, 0.5, 900, requests=0)


def test_decide_compression_turns_off_a_cached_prefix_that_saves_too_little() -> None:
    from green_chain.experiments.tuning import decide_compression

    def entry(prompt: list[float], quality: list[float]) -> dict[str, Any]:
        pts = [
            {"rate": r, "quality": q, "prompt_tokens": t}
            for r, q, t in zip((1.0, 0.5), quality, prompt, strict=True)
        ]
        row = {"sweep": pts, "validated_rate": 0.5, "render_seconds_per_item": 0.01}
        return {"item_ids": ["x"], "backends": {"lexical": row}}

    per = {"qa": entry([1000, 520], [1.0, 1.0]), "arith": entry([1000, 550], [1.0, 1.0])}
    per["arith"]["cached_prefix_tokens"] = 900
    out = decide_compression(per, ["lexical"], [0.5])
    # the uncached context keeps its validated rate; the cached prefix saves 450 tokens
    # once over a standard run's 100 requests of 100 new tokens each: under 5 %, off
    assert out["rates_chosen"] == {"qa": 0.5, "arith": 1.0}
    assert not out["cached_prefix"]["arith"]["used"] and "qa" not in out["cached_prefix"]


def test_a_scenario_swept_with_some_backends_only_does_not_vote() -> None:
    from green_chain.experiments.tuning import decide_compression

    def row(quality: float, secs: float) -> dict[str, Any]:
        pts = [
            {"rate": 1.0, "quality": 1.0, "prompt_tokens": 100.0},
            {"rate": 0.5, "quality": quality, "prompt_tokens": 50.0},
        ]
        return {
            "sweep": pts,
            "validated_rate": 0.5 if quality >= 0.95 else 1.0,
            "render_seconds_per_item": secs,
        }

    per = {
        "a": {"item_ids": ["x"], "backends": {"fast": row(1.0, 0.01), "slow": row(1.0, 1.0)}},
        # swept with the slow backend only, where the fast one would look bad: no vote
        "b": {"item_ids": ["y"], "backends": {"slow": row(1.0, 0.0)}},
        "c": {"item_ids": ["z"], "backends": {"fast": row(0.5, 0.01)}},
    }
    out = decide_compression(per, ["fast", "slow"], [0.5])
    assert out["backend"] == "fast" and out["backend_voters"] == ["a"]
    assert out["rates_chosen"] == {"a": 0.5, "c": 1.0} and out["not_swept"] == ["b"]


def test_a_generated_sweep_replaces_the_probes_rate_where_it_ran() -> None:
    from green_chain.experiments.tuning import apply_generated_rates

    compression = {
        "rates_chosen": {"nq": 0.33, "squad": 0.25, "gsm8k": 1.0, "qmsum": 0.75},
        "cached_prefix": {"gsm8k": {"used": False}},
    }
    generated = {
        "nq": {"validated_rate": 0.75},
        "squad": {"validated_rate": None},  # nothing validated: the probe's rate stays
        "gsm8k": {"validated_rate": 0.25},  # a cached prefix: its rule stands
    }
    apply_generated_rates(compression, generated)
    assert compression["rates_chosen"] == {"nq": 0.75, "squad": 0.25, "gsm8k": 1.0, "qmsum": 0.75}
    assert compression["rates_generated"] == {"nq": {"probe_rate": 0.33, "generated_rate": 0.75}}
    assert "generated-answer" in compression["rates_rule"]


def test_the_committed_generated_sweep_is_the_frozen_source_of_its_rates() -> None:
    compression = _frozen(COMPRESSION_FILE)
    generated = compression["generated"]["scenarios"]
    assert set(generated) == {"squad", "nq", "hotpotqa"}
    for name, sweep in generated.items():
        assert compression["chosen"]["compression_rates"][name] == sweep["validated_rate"]
        assert sweep["items_from"] == "calibration"
