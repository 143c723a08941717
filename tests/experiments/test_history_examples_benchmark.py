"""The few-shot benchmark's data split: pool, test and validation items never overlap."""

from __future__ import annotations

import pytest

from green_chain.experiments.history_examples import TASKS, _load_task


@pytest.mark.parametrize("task", sorted(TASKS))
def test_pool_test_and_validation_are_disjoint(shared_data_dir, task):
    pool, test, val = _load_task(task, 300, 50, 0, val=40)
    assert (len(pool), len(test), len(val)) == (300, 50, 40)
    labels = set(TASKS[task]["labels"].values())
    assert {x["label"] for x in pool + test + val} <= labels

    def key(x):
        return x["text"]

    # the same sentence may occur in a train and a test file, but no item object is
    # shared and validation is a slice of the pool's source after the pool itself
    assert not {key(x) for x in val} & {key(x) for x in pool}
    if task == "agnews":  # one file split in halves: nothing may cross
        assert not {key(x) for x in pool + val} & {key(x) for x in test}
    # deterministic for a seed
    assert _load_task(task, 300, 50, 0, val=40) == (pool, test, val)
    assert _load_task(task, 300, 50, 0)[2] == []
