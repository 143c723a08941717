"""Loaders and scenario splits on the real shared data (integration: reads ../shared/data)."""

from __future__ import annotations

import pytest

from green_chain.bench import data
from green_chain.bench.scenarios import SCENARIO_NAMES, get_scenarios


def test_missing_file_error_names_file_and_content(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"squad_v1\.1_dev\.jsonl.*SQuAD v1\.1 dev"):
        data.load_squad(tmp_path)


def test_unknown_scenario_is_rejected():
    with pytest.raises(ValueError, match=r"unknown scenario.*nope.*choose from"):
        get_scenarios(["squad", "nope"])


@pytest.mark.integration
@pytest.mark.parametrize(
    ("loader", "count"),
    [
        (data.load_squad, 10570),
        (data.load_nq_oracle, 2655),
        (data.load_hotpotqa, 100),
        (data.load_qmsum, 281),
        (data.load_sst2, 1821),
        (data.load_agnews, 7600),
        (data.load_trec, 500),
        (data.load_gsm8k, 1319),
        (data.load_bfcl_multiple, 200),
        (data.load_mtbench101, 1388),
    ],
)
def test_loader_counts_match_sources(shared_data_dir, loader, count):
    items = loader(shared_data_dir)
    assert len(items) == count
    assert len({it.id for it in items}) == count
    assert all(it.reference for it in items)


@pytest.mark.integration
def test_item_contents(shared_data_dir):
    sq = data.load_squad(shared_data_dir)[0]
    assert sq.id == "squad:5725b33f6a3fe71400b8952d" and sq.reference == "October 1973"
    hp = data.load_hotpotqa(shared_data_dir)[0]
    assert all(t in hp.inputs["context"] for t in hp.meta["gold_titles"])
    bf = data.load_bfcl_multiple(shared_data_dir)[0]
    assert bf.reference == "triangle_properties.get" and bf.reference in bf.choices
    gs = data.load_gsm8k(shared_data_dir)[0]
    assert gs.reference == "18" and "<<" not in gs.meta["solution"]
    qm = data.load_qmsum(shared_data_dir)
    assert max(len(it.inputs["context"].split()) for it in qm) <= 1500 + 2000  # whole turns
    sgd = data.load_sgd(shared_data_dir)
    assert sgd and all(it.inputs["history"] for it in sgd)


@pytest.mark.integration
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_quick_split_sizes_and_no_leakage(shared_data_dir, name):
    (sc,) = get_scenarios([name])
    split = sc.split(shared_data_dir, sc.quick_items, seed=0)
    assert len(split.test) == sc.quick_items
    assert not {i.id for i in split.test} & {i.id for i in split.calibration}
    groups = {i.group for i in split.calibration if i.group}
    assert not groups & {i.group for i in split.test if i.group}
    again = sc.split(shared_data_dir, sc.quick_items, seed=0)
    assert [i.id for i in again.test] == [i.id for i in split.test]
