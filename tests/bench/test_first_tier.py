"""The benchmark's first tier: the chosen head and its calibration items (fakes, fast)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from green_chain.bench.items import Split
from green_chain.bench.runner import RunOptions, run_scenario
from green_chain.bench.scenarios import get_scenarios
from green_chain.bench.scenarios.base import GreenSettings, ScenarioEnv
from green_chain.bench.scenarios.fewshot import SST2, FewShotClassification
from green_chain.paths import SAMPLE_DIR
from green_chain.routing import ExampleClassifier


def _env(components, data, settings: GreenSettings) -> tuple[SST2, ScenarioEnv, Split]:
    scenario = SST2()
    split = scenario.split(data, 3, 0)
    return scenario, ScenarioEnv(components, split.calibration, settings, 0), split


def test_bench_settings_choose_the_logistic_head(fake_components, tiny_data) -> None:
    assert FewShotClassification.tier_calibration_size >= FewShotClassification.calibration_size
    assert GreenSettings().tier_head is None  # each scenario's own choice
    heads = {
        s.name: getattr(s, "tier_head", None) for s in get_scenarios(["sst2", "agnews", "trec"])
    }
    assert heads == {"sst2": "logistic", "agnews": "logistic", "trec": "logistic"}
    assert SST2().describe()["tier_head"] == "logistic"
    scenario, env, _ = _env(fake_components, tiny_data, GreenSettings())
    tier = scenario.first_tier(env)
    assert isinstance(tier, ExampleClassifier) and tier.head == "logistic"
    assert tier.calibration is not None and tier.calibration.head == "logistic"
    assert tier.calibration.l2 is not None  # cross-validated on its training part
    assert scenario.first_tier(env) is tier  # the green chain and its ablation share one fit
    knn = scenario.first_tier(
        ScenarioEnv(fake_components, env.calibration, GreenSettings(tier_head="knn", tier_k=3), 0)
    )
    assert isinstance(knn, ExampleClassifier) and knn.head == "knn" and knn.k == 3
    fixed = scenario.first_tier(
        ScenarioEnv(fake_components, env.calibration, GreenSettings(tier_l2=0.5), 0)
    )
    assert isinstance(fixed, ExampleClassifier) and fixed.calibration is not None
    assert fixed.calibration.l2 == 0.5


def test_factory_gets_the_head(fake_components, tiny_data) -> None:
    seen: dict[str, object] = {}

    def factory(**kwargs: object) -> object:
        seen.update(kwargs)
        return ExampleClassifier(fake_components.embeddings, head="knn").fit(
            kwargs["texts"], kwargs["labels"]
        )

    fake_components.first_tier = factory
    scenario, env, _ = _env(fake_components, tiny_data, GreenSettings(tier_l2=0.1))
    scenario.first_tier(env)
    assert seen["head"] == "logistic" and seen["l2"] == 0.1 and seen["k"] == 10


def test_run_with_the_logistic_tier(meter_env, fake_components, tiny_data) -> None:
    _, _, monitor = meter_env
    (scenario,) = get_scenarios(["sst2"])
    settings = GreenSettings(tier_head="logistic", tier_l2=0.05)
    assert {"tier_head": "logistic", "tier_l2": 0.05}.items() <= settings.to_dict().items()
    opts = RunOptions(n_items=3, data_root=tiny_data, progress=False, settings=settings)
    entry = run_scenario(scenario, fake_components, monitor, opts, log=lambda _m: None)
    assert entry["status"] == "ok", entry.get("error")
    assert entry["tier_head"] == "logistic" and entry["tier_calibration_size"] == 1200
    from green_chain.bench.document import _ENTRY_KEYS  # copied into results.json

    assert {"tier_head", "tier_calibration_size"} <= set(_ENTRY_KEYS)
    for rec in (r for r in entry["records"] if r["variant"] == "green"):
        (decision,) = [d for d in rec["routing"] if d.get("first_tier")]
        assert decision["first_tier"] == "ExampleClassifier"
        assert decision["first_tier_threshold"] is not None
        assert bool(rec["calls"]) != decision["first_tier_answered"]  # answered: no LLM call


@pytest.mark.parametrize("name", ["sst2", "mixed"])
def test_the_fit_is_a_metered_one_off_cost(meter_env, fake_components, tiny_data, name) -> None:
    _, meter, monitor = meter_env
    fits = []

    def factory(**kwargs: object) -> object:  # a fit that costs 2 J on the meter
        fits.append(kwargs)
        meter.add_all(2.0)
        return ExampleClassifier(fake_components.embeddings, head="knn").fit(
            kwargs["texts"], kwargs["labels"]
        )

    fake_components.first_tier = factory
    (scenario,) = get_scenarios([name])
    data = tiny_data if name == "sst2" else SAMPLE_DIR  # the mixed stream needs every task
    opts = RunOptions(n_items=4, data_root=data, progress=False, ablation=True)
    entry = run_scenario(scenario, fake_components, monitor, opts, log=lambda _m: None)
    assert entry["status"] == "ok", entry.get("error")
    # fitted once per task (the mixed stream: per classification member), in the driver;
    # the chains and the ablation reuse the fit
    tasks = 1 if name == "sst2" else 3
    assert len(fits) == tasks
    one_off = entry["one_off"]
    assert one_off["first_tier_fit_j"] == 2.0 * tasks
    assert one_off["total_j"] >= one_off["first_tier_fit_j"] + (one_off["router_fit_j"] or 0)
    if name == "sst2":  # short prompts: every item costs under the fit's 2 J
        green = [r for r in entry["records"] if r["variant"] == "green"]
        assert all((r["energy_j"] or 0) < 2.0 for r in green)  # not charged to an item


def test_no_first_tier_no_fit_cost(meter_env, fake_components, tiny_data) -> None:
    _, _, monitor = meter_env
    for name, settings in (("sst2", GreenSettings(first_tier=False)), ("squad", GreenSettings())):
        (scenario,) = get_scenarios([name])
        assert scenario.fit_first_tier(ScenarioEnv(fake_components, [], settings, 0)) is (
            name == "sst2" and settings.first_tier
        )
        opts = RunOptions(n_items=2, data_root=tiny_data, progress=False, settings=settings)
        entry = run_scenario(scenario, fake_components, monitor, opts, log=lambda _m: None)
        assert entry["status"] == "ok", entry.get("error")
        assert entry["one_off"]["first_tier_fit_j"] is None


class _Small(SST2):
    calibration_size = 10
    tier_calibration_size: ClassVar[int] = 20
    pool_size: ClassVar[int] = 4


def test_tier_calibration_items_extend_the_calibration_items(tiny_data) -> None:
    base = SST2().split(tiny_data, None, 0)  # 30 train items, all calibration at 400
    plain = type("Plain", (_Small,), {"tier_calibration_size": 10})().split(tiny_data, None, 0)
    extended = _Small().split(tiny_data, None, 0)
    assert len(plain.calibration) == 10 and len(extended.calibration) == 20
    # the first calibration_size items (few-shot pool, fixed examples) are unchanged
    assert [it.id for it in extended.calibration[:10]] == [it.id for it in plain.calibration]
    assert len({it.id for it in extended.calibration}) == 20
    assert all(it.id.startswith("sst2-train:") for it in extended.calibration)
    assert not {it.id for it in extended.calibration} & {it.id for it in extended.test}
    assert [it.id for it in extended.test] == [it.id for it in base.test]
    labels = [it.reference for it in extended.calibration]
    assert labels.count("positive") == labels.count("negative") == 10  # label-balanced


def test_the_tier_pays_for_its_own_embeddings() -> None:
    from green_chain.bench.components import uncached
    from green_chain.models import LocalEmbeddings  # not loaded: the encoder is lazy
    from green_chain.testing.embeddings import BagOfWordsEmbeddings

    shared = LocalEmbeddings()
    own = uncached(shared)
    assert own.cache_size == 0 and shared.cache_size > 0 and own.model == shared.model
    fake = BagOfWordsEmbeddings()
    assert uncached(fake) is fake and uncached(None) is None


@pytest.mark.parametrize(
    ("name", "members"), [("sst2", {"sst2"}), ("mixed", {"sst2", "agnews", "trec"})]
)
def test_workers_reuse_the_drivers_metered_fit(
    meter_env, fake_components, tiny_data, name: str, members: set[str]
) -> None:
    """``--jobs``/Ray workers get the driver's fitted tiers with the scenario spec (its
    embeddings model left behind, theirs attached) and fit none of their own."""
    import pickle

    from green_chain.bench.ray_executor import BenchWorker, scenario_spec
    from green_chain.testing.bench import make_components

    clock, meter, monitor = meter_env
    (scenario,) = get_scenarios([name])
    split = scenario.split(tiny_data if name == "sst2" else SAMPLE_DIR, 2, 0)
    env = ScenarioEnv(fake_components, split.calibration, GreenSettings(), 0)
    assert scenario_spec(scenario, env, ablation=False, warm_up=False)["first_tiers"] == {}
    assert scenario.fit_first_tier(env)
    spec = pickle.loads(pickle.dumps(scenario_spec(scenario, env, ablation=True, warm_up=False)))
    assert set(spec["first_tiers"]) == members
    for tier, needs in spec["first_tiers"].values():
        assert isinstance(tier, ExampleClassifier) and needs and tier._embeddings is None

    worker_components = make_components(clock, meter)
    fits: list[object] = []

    def refit(**kwargs: object) -> object:
        fits.append(kwargs)
        raise AssertionError("a worker refitted the first tier")

    worker_components.first_tier = refit
    worker = BenchWorker(lambda: (worker_components, monitor), None, None)
    worker.ensure(f"{name}:1", spec)
    for item in split.test:
        records = worker.run(f"{name}:1", item)
        assert {r.variant for r in records} >= {"baseline", "green"}
        assert not any(r.error for r in records)
    assert fits == []
    for tier, _ in spec["first_tiers"].values():
        assert tier._embeddings is not None  # the worker's own embeddings model


def test_quick_fits_the_first_tier_on_the_first_calibration_items(
    meter_env, fake_components, tiny_data
) -> None:
    from dataclasses import replace

    from green_chain.bench.scenarios.base import GreenSettings, ScenarioEnv

    (scenario,) = get_scenarios(["sst2"])
    split = scenario.split(tiny_data, 4, 0)
    seen: list[int] = []

    def factory(**kwargs: object) -> object:
        seen.append(len(kwargs["texts"]))  # type: ignore[arg-type]
        return ExampleClassifier(fake_components.embeddings, head="knn").fit(
            kwargs["texts"], kwargs["labels"]
        )

    fake_components.first_tier = factory
    env = ScenarioEnv(fake_components, split.calibration, GreenSettings(), 0)
    n = len(split.calibration)
    assert n > 12
    sample = replace(env, settings=GreenSettings(tier_examples=12))
    assert scenario.tier_items(sample) == list(split.calibration[:12])
    assert scenario.tier_items(env) == list(split.calibration)  # default: every item
    scenario.first_tier(sample)
    scenario.first_tier(env)
    assert seen == [12, n]  # two settings, two fits (the key holds tier_examples)
    for bad in (0, 5, 2.5, True):
        with pytest.raises(ValueError, match="tier_examples must be an int >= 10"):
            GreenSettings(tier_examples=bad)  # type: ignore[arg-type]


def test_the_quick_run_sets_the_sample_size() -> None:
    from green_chain.bench.scenarios.base import QUICK_TIER_EXAMPLES
    from green_chain.cli import build_parser
    from green_chain.cli.bench import run_options, validate

    for argv, expected in ((["--quick"], QUICK_TIER_EXAMPLES), ([], None)):
        args = build_parser().parse_args(["bench", "--data", "embedded", *argv])
        assert run_options(args, validate(args)).settings.tier_examples == expected
