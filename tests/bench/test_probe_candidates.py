"""The prompt probe's candidates: one definition for both probes, long answers cut to their
first ``PROBE_MAX_WORDS`` words, short ones whole."""

from __future__ import annotations

import pytest

from green_chain.bench.item_run import (
    PROBE_MAX_WORDS,
    item_candidates,
    probe_candidates,
    probe_text,
)
from green_chain.bench.scenarios import get_scenarios
from green_chain.paths import SAMPLE_DIR


def test_probe_text_keeps_short_text_whole() -> None:
    text = "The answer is  42.\n"
    assert probe_text(text) == text  # untouched, whitespace included


def test_probe_text_cuts_long_text_to_its_first_words() -> None:
    words = [f"w{i}" for i in range(PROBE_MAX_WORDS + 10)]
    cut = probe_text("\n".join(words))
    assert cut.split() == words[:PROBE_MAX_WORDS]
    assert probe_text("a b c d", max_words=2) == "a b"


def test_probe_text_rejects_a_non_positive_limit() -> None:
    with pytest.raises(ValueError, match="max_words"):
        probe_text("a b", max_words=0)


@pytest.mark.parametrize("name", ["mtbench101", "qmsum", "squad"])
def test_item_candidates_are_the_scenarios_texts_cut(name: str) -> None:
    (scenario,) = get_scenarios([name])
    split = scenario.split(SAMPLE_DIR, 3, 0)
    pool = [*split.test, *split.calibration]
    many = probe_candidates(scenario, split.test, pool, 0)
    assert many, "the scenario gives distractors"
    for item in split.test:
        one = item_candidates(scenario, item, pool, 0)
        assert one == many.get(item.id)  # the in-place and driver probes read the same
        if one is None:
            continue
        gold = scenario.mc_text(item.reference, item)
        assert one.gold == probe_text(gold)
        assert len(one.gold.split()) <= PROBE_MAX_WORDS
        wrong = scenario.candidates(item, pool, 0)
        assert one.distractors == tuple(probe_text(scenario.mc_text(w, item)) for w in wrong)
        assert one.normalized == scenario.normalized_for(item)


def test_long_dialogue_answers_are_cut() -> None:
    (scenario,) = get_scenarios(["mtbench101"])
    split = scenario.split(SAMPLE_DIR, 3, 0)
    item = split.test[0]
    whole = scenario.mc_text(item.reference, item)
    assert len(whole.split()) > PROBE_MAX_WORDS  # a multi-paragraph reference answer
    cands = item_candidates(scenario, item, [*split.test, *split.calibration], 0)
    assert cands is not None and cands.gold.split() == whole.split()[:PROBE_MAX_WORDS]
