"""Item quality is the task metric on the parsed answer; the prompt probe is secondary."""

from __future__ import annotations

import pytest

from green_chain.bench.item_run import score_records
from green_chain.bench.items import Item
from green_chain.bench.records import ItemRecord
from green_chain.bench.scenarios import get_scenarios


def _score(name, items, outputs, components, prompt="context"):
    scenario = get_scenarios([name])[0]
    records = [
        ItemRecord(item_id=it.id, variant="green", output=out, prompt=prompt)
        for it, out in zip(items, outputs, strict=True)
    ]
    score_records(scenario, {it.id: it for it in items}, items, records, components, seed=0)
    return scenario, records


def test_classification_quality_reads_the_generated_label(fake_components):
    labels = ("negative", "positive")
    items = [
        Item("s:1", {"text": "great"}, "positive", choices=labels),
        Item("s:2", {"text": "awful"}, "negative", choices=labels),
        Item("s:3", {"text": "fine"}, "positive", choices=labels),
    ]
    outputs = [" positive\nReview:", "Answer:", "negative, not positive"]
    scenario, recs = _score("sst2", items, outputs, fake_components)
    assert [r.quality for r in recs] == [1.0, 0.0, 0.0]
    assert all(r.quality_metric == "accuracy" for r in recs)
    # the probe is kept, under its own name, and never is the quality
    assert all("prompt_evidence_score" in (r.metrics or {}) for r in recs)
    assert scenario.chance_quality(items[0]) == pytest.approx(0.5)


def test_extractive_qa_quality_is_f1_of_the_first_line(fake_components):
    items = [Item("q:1", {"context": "c", "question": "q"}, "Denver Broncos")]
    _, recs = _score("squad", items, ["the Denver Broncos\nmore text"], fake_components)
    assert recs[0].quality == pytest.approx(1.0)
    _, recs = _score("squad", items, ["Broncos"], fake_components)
    assert recs[0].quality == pytest.approx(2 * (1 * 0.5) / 1.5)
    assert get_scenarios(["squad"])[0].chance_quality(items[0]) == 0.0


def test_gsm8k_quality_is_the_final_number(fake_components):
    items = [Item("g:1", {"question": "q"}, "18", meta={"solution": "s"})]
    _, recs = _score(
        "gsm8k", items, [" 16 - 3 - 4 = 9 eggs, 9 * 2 = 18. The answer is 18."], fake_components
    )
    assert recs[0].quality == 1.0
    _, recs = _score("gsm8k", items, [" A:"], fake_components)
    assert recs[0].quality == 0.0


def test_failed_item_scores_zero_without_metrics(fake_components):
    items = [Item("q:1", {"context": "c", "question": "q"}, "x")]
    scenario = get_scenarios(["squad"])[0]
    rec = ItemRecord(item_id="q:1", variant="green", output="x", error="RuntimeError: boom")
    score_records(scenario, {"q:1": items[0]}, items, [rec], fake_components, seed=0)
    assert rec.quality == 0.0 and rec.metrics == {}


def test_the_parse_drops_an_echoed_answer_label():
    from green_chain.bench.scenarios.base import first_line

    assert first_line("\nAnswer: the Denver Broncos\nQuestion: x") == "the Denver Broncos"
    assert first_line("Label: positive") == "positive"
    assert first_line("Answer:") == ""
    assert first_line("Answering machines: 3") == "Answering machines: 3"
