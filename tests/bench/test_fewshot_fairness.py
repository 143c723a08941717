"""A fair baseline: label-balanced shuffled fixed examples, answer caps fitted on calibration."""

from __future__ import annotations

from green_chain.bench.items import Item
from green_chain.bench.scenarios import GreenSettings, ScenarioEnv, get_scenarios
from green_chain.bench.scenarios.fewshot import label_balanced

TREC = ("abbreviation", "description", "entity", "human", "location", "number")


def _items(labels, per_label, rare=None):
    out = []
    for lab in labels:
        n = 1 if lab == rare else per_label
        out += [Item(f"t:{lab}:{k}", {"text": f"{lab} question {k}"}, lab) for k in range(n)]
    return out


def test_label_balanced_keeps_a_rare_label():
    pool = _items(TREC, 40, rare="abbreviation")
    chosen = label_balanced(pool, 12, seed=0)
    assert len(chosen) == 12
    assert {it.reference for it in chosen} == set(TREC)
    assert label_balanced(pool, 12, seed=0) == chosen


def test_fixed_examples_cover_every_label_and_do_not_end_on_one(fake_components):
    (trec,) = get_scenarios(["trec"])
    last = set()
    for seed in range(6):
        cal = label_balanced(_items(TREC, 20, rare="abbreviation"), 64, seed)
        env = ScenarioEnv(fake_components, cal, GreenSettings(), seed)
        fixed = trec.fixed_examples(env)
        labels = [ex["label"] for ex in fixed]
        assert len(fixed) == trec.fixed_k and set(labels) == set(TREC)
        assert max(labels.count(lab) for lab in TREC) <= 2
        last.add(labels[-1])
    assert len(last) > 1  # the last example's label changes with the seed (shuffled)


def test_agnews_fixed_examples_are_balanced(fake_components):
    (ag,) = get_scenarios(["agnews"])
    topics = ("World", "Sports", "Business", "Science/Tech")
    env = ScenarioEnv(fake_components, _items(topics, 10), GreenSettings(), 0)
    labels = [ex["label"] for ex in ag.fixed_examples(env)]
    assert sorted(labels) == sorted(topics * 2)
    assert labels[-4:] != ["World"] * 4


def test_gsm8k_cap_fits_the_calibration_solutions(fake_components):
    (gsm,) = get_scenarios(["gsm8k"])
    long_solution = " ".join(["step"] * 120)
    cal = [
        Item(f"g:{k}", {"question": "q"}, "7", meta={"solution": long_solution}) for k in range(5)
    ]
    env = ScenarioEnv(fake_components, cal, GreenSettings(), 0)
    cap = gsm.answer_cap(env)
    assert cap % 16 == 0 and cap >= 1.5 * 120  # room for the whole worked answer
    assert (
        gsm.answer_cap(ScenarioEnv(fake_components, [], GreenSettings(), 0)) == gsm.max_new_tokens
    )
