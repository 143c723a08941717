"""The prompt probe scored where the item ran (``InPlaceProbe``), on tiny real local models:
the same figures as the driver's probe, and no change to what the metered calls do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from green_chain.bench.components import Components
from green_chain.bench.item_run import (
    PROBED_VARIANTS,
    InPlaceProbe,
    probe_candidates,
    score_records,
)
from green_chain.bench.metrics import packaged_scorer
from green_chain.bench.records import ItemRecord
from green_chain.bench.runner import RunOptions, build_chains, run_items, run_scenario
from green_chain.bench.scenarios import GreenSettings, get_scenarios
from green_chain.bench.scenarios.base import ScenarioEnv
from green_chain.models import ChatLocal
from green_chain.models.prefix_cache import shared_prefix_cache
from green_chain.testing.bench import make_components


@pytest.fixture
def local_components(meter_env: Any, tiny_base_folder: Path) -> Components:
    """The fake optimizers with tiny real local models (a base model: its prompt is the
    plain text the driver's probe reads, so both probes must agree)."""
    pytest.importorskip("torch")
    clock, meter, _ = meter_env
    comps = make_components(clock, meter)
    path = str(tiny_base_folder)
    comps.models = {
        role: ChatLocal(model=path, prefix_cache=True, base_prompt="completion")
        for role in ("cheap", "large")
    }
    comps.scorer = packaged_scorer(normalize=False)
    comps.scorer_normalized = packaged_scorer(normalize=True)
    return comps


def _setup(name: str, comps: Components, monitor: Any, data: Path, n: int = 2) -> Any:
    (scenario,) = get_scenarios([name])
    split = scenario.split(data, n, 0)
    env = ScenarioEnv(
        comps,
        split.calibration,
        GreenSettings(),
        0,
        stop=scenario.stop,
        first_line=scenario.first_line,
        monitor=monitor,
    )
    return scenario, split, env, [*split.test, *split.calibration]


def _clear_caches(comps: Components, variants: list[str]) -> None:
    lm = comps.models["large"].loaded.model  # type: ignore[attr-defined]
    for v in variants:
        shared_prefix_cache(lm, salt=v).clear()


@pytest.mark.parametrize("name", ["squad", "sst2"])
def test_in_place_probe_agrees_with_the_driver_probe(
    name: str, meter_env: Any, local_components: Components, tiny_data: Path
) -> None:
    """SQuAD's prompt is one message, which the base model reads as the plain text the
    driver's probe scores: the figures agree. SST-2's few-shot prompt is a conversation:
    the model reads it as its ``User:``/``Assistant:`` transcript, the driver's probe as
    ``human:``/``ai:`` lines, so only the records without a prompt are compared there."""
    _, _, monitor = meter_env
    scenario, split, env, pool = _setup(name, local_components, monitor, tiny_data)
    chains = build_chains(scenario, env, ablation=False)
    cands = probe_candidates(scenario, split.test, pool, 0)
    assert set(cands) == {it.id for it in split.test}
    records = run_items(
        name, chains, split.test, monitor, probe=InPlaceProbe(local_components, cands)
    )
    # every record with an answering model call (SST-2's green first tier answers without)
    asked = [r for r in records if r.prompt is not None]
    assert asked and all((r.prompt_probe is not None) == (r in asked) for r in records)
    driver = [replace(r, prompt_probe=None) for r in records]
    items = {it.id: it for it in split.test}
    here = score_records(scenario, items, pool, records, local_components, 0)
    there = score_records(scenario, items, pool, driver, local_components, 0)
    assert here["prompt_probe"] == "in-place" and here["probed_in_place"] == len(asked)
    assert there["prompt_probe"] == "driver" and there["probed_in_driver"] == len(asked)
    assert here["in_place_cpu_s"] > 0
    for a, b in zip(records, driver, strict=True):
        assert a.metrics is not None and b.metrics is not None
        if a.prompt is None:
            assert "prompt_evidence_score" not in a.metrics | b.metrics
            continue
        if name == "sst2":  # a conversation: rendered differently by the two probes
            continue
        assert a.metrics["prompt_evidence_score"] == b.metrics["prompt_evidence_score"]
        assert a.metrics["prompt_evidence_margin"] == pytest.approx(
            b.metrics["prompt_evidence_margin"], abs=1e-3
        )
        assert a.quality == b.quality


def test_the_probe_changes_nothing_the_meter_sees(
    meter_env: Any, local_components: Components, tiny_data: Path
) -> None:
    _, _, monitor = meter_env
    scenario, split, env, pool = _setup("squad", local_components, monitor, tiny_data, n=3)
    chains = build_chains(scenario, env, ablation=False)
    probe = InPlaceProbe(local_components, probe_candidates(scenario, split.test, pool, 0))

    def run(with_probe: bool) -> list[tuple[Any, ...]]:
        _clear_caches(local_components, list(chains))
        recs = run_items("squad", chains, split.test, monitor, probe=probe if with_probe else None)
        assert all((r.prompt_probe is not None) == with_probe for r in recs)
        return [
            (r.output, r.prompt_tokens, r.completion_tokens, r.cached_tokens, r.calls) for r in recs
        ]

    off = run(False)
    assert any(c[3] > 0 for c in off)  # the later items read the shared prompt prefix
    assert run(True) == off


def test_records_it_cannot_probe_fall_back_to_the_driver(
    fake_components: Components, tiny_data: Path, meter_env: Any
) -> None:
    _, _, monitor = meter_env
    scenario, split, env, pool = _setup("squad", fake_components, monitor, tiny_data)
    chains = build_chains(scenario, env, ablation=False)
    probe = InPlaceProbe(fake_components, probe_candidates(scenario, split.test, pool, 0))
    records = run_items("squad", chains, split.test, monitor, probe=probe)
    assert all(r.prompt_probe is None for r in records)  # fake models: no choice_scores
    records[0].prompt_probe = {"score": 0.0, "margin": -1.5, "cpu_s": 0.25, "wall_s": 0.5}
    items = {it.id: it for it in split.test}
    summary = score_records(scenario, items, pool, records, fake_components, 0)
    assert summary["prompt_probe"] == "mixed"
    assert summary["probed_in_place"] == 1 and summary["probed_in_driver"] == len(records) - 1
    assert summary["in_place_cpu_s"] == 0.25 and summary["in_place_wall_s"] == 0.5
    assert records[0].metrics is not None
    assert records[0].metrics["prompt_evidence_margin"] == -1.5
    assert all("prompt_evidence_score" in (r.metrics or {}) for r in records)
    assert "prompt_probe" not in records[0].to_dict()  # kept in memory, moved into metrics
    off = score_records(
        scenario, items, pool, [ItemRecord(it.id, "green", output="x") for it in split.test],
        fake_components, 0, prompt_probe=False,
    )  # fmt: skip
    assert off["prompt_probe"] is False


def test_a_failing_probe_leaves_the_record_to_the_driver(
    meter_env: Any, local_components: Components, tiny_data: Path
) -> None:
    _, _, monitor = meter_env
    scenario, split, env, pool = _setup("squad", local_components, monitor, tiny_data, n=1)
    chains = build_chains(scenario, env, ablation=False)
    cands = probe_candidates(scenario, split.test, pool, 0)
    bad = {k: replace(c, distractors=()) for k, c in cands.items()}  # the scoring raises
    records = run_items(
        "squad", chains, split.test, monitor, probe=InPlaceProbe(local_components, bad)
    )
    assert all(r.prompt_probe is None and r.error is None for r in records)


def test_run_scenario_records_where_the_probe_ran(
    meter_env: Any, local_components: Components, tiny_data: Path
) -> None:
    _, _, monitor = meter_env
    (scenario,) = get_scenarios(["squad"])
    opts = RunOptions(n_items=2, data_root=tiny_data, progress=False)
    entry = run_scenario(scenario, local_components, monitor, opts, log=lambda _m: None)
    assert entry["status"] == "ok", entry.get("error")
    assert entry["scoring"]["prompt_probe"] == "in-place"
    assert entry["scoring"]["probed_in_place"] == len(entry["records"])  # all answered by an LLM
    assert all("prompt_evidence_score" in r["metrics"] for r in entry["records"])
    off = run_scenario(
        scenario, local_components, monitor, replace(opts, prompt_probe=False), log=lambda _m: None
    )
    assert off["scoring"]["prompt_probe"] is False
    assert not any("prompt_evidence_score" in r["metrics"] for r in off["records"])


def test_ablation_records_are_not_probed(
    meter_env: Any, local_components: Components, tiny_data: Path
) -> None:
    """Only baseline and green records get the probe: the results report it for those."""
    _, _, monitor = meter_env
    (scenario,) = get_scenarios(["squad"])
    opts = RunOptions(n_items=2, data_root=tiny_data, progress=False, ablation=True)
    entry = run_scenario(scenario, local_components, monitor, opts, log=lambda _m: None)
    assert entry["status"] == "ok", entry.get("error")
    recs = entry["records"]
    main = [r for r in recs if r["variant"] in PROBED_VARIANTS]
    ablation = [r for r in recs if r["variant"] not in PROBED_VARIANTS]
    assert len(main) == 4 and ablation  # 2 items x (baseline, green), and ablation rows
    assert entry["scoring"]["probed_in_place"] == len(main)
    assert entry["scoring"]["probed_in_driver"] == 0
    assert all("prompt_evidence_score" in r["metrics"] for r in main)
    assert not any("prompt_evidence_score" in r["metrics"] for r in ablation)
    assert all(r["metrics"] and r["quality"] is not None for r in ablation)  # still scored


def test_a_worker_probes_where_the_item_runs(
    meter_env: Any, local_components: Components, tiny_data: Path
) -> None:
    """``--jobs``/Ray workers get the candidates with the scenario spec (they lack the
    pool) and return the probe in the records, across a pickle boundary."""
    import pickle

    from green_chain.bench.ray_executor import BenchWorker, scenario_spec

    _, _, monitor = meter_env
    scenario, split, env, pool = _setup("squad", local_components, monitor, tiny_data, n=1)
    cands = probe_candidates(scenario, split.test, pool, 0)
    spec = scenario_spec(scenario, env, ablation=False, warm_up=False, probe=cands)
    worker = BenchWorker(lambda: (local_components, monitor), None, None)
    worker.ensure("squad:1", pickle.loads(pickle.dumps(spec)))
    records = pickle.loads(pickle.dumps(worker.run("squad:1", split.test[0])))
    assert [r.variant for r in records] == ["baseline", "green"]
    assert all(r.prompt_probe is not None and r.worker is not None for r in records)
    no_probe = scenario_spec(scenario, env, ablation=False, warm_up=False)
    worker.ensure("squad:2", no_probe)
    assert all(r.prompt_probe is None for r in worker.run("squad:2", split.test[0]))
