"""The warm-up sets a chain up (encoders, indexes) but neither answers nor leaves prompt
states behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.runnables import RunnableLambda

from green_chain.bench.components import Components, cap_answer, forget_prompt_states
from green_chain.bench.items import Item
from green_chain.bench.tags import OPTIMIZER_TAG
from green_chain.bench.warm_up import warm_up
from green_chain.testing.bench_workers import fake_worker_setup

#: Long enough for several 16-token prefix-cache blocks.
PROMPT = (
    "Classify each review as positive or negative.\nReview: a warm, funny film.\n"
    "Label: positive\nReview: dull and far too long.\nLabel: negative\nReview: "
)


class _Scenario:
    name = "toy"

    def warmup_items(self, calibration: list[Item]) -> list[Item]:
        return list(calibration[:1])


CAL = [Item(id="cal:1", inputs={"review": PROMPT + "loved it."}, reference="pos")]


def _blocks(model) -> int:
    return model.kv_cache.stats().blocks


@pytest.fixture()
def tiny_chat(tiny_folder: Path):
    pytest.importorskip("torch")
    from green_chain.models import ChatLocal

    return ChatLocal(model=str(tiny_folder), max_tokens=2, prefix_cache=True)


def test_prompt_states_are_forgotten_per_chain(tiny_chat) -> None:
    comps = Components(models={"cheap": tiny_chat, "large": tiny_chat})
    green, base = (cap_answer(tiny_chat, 2, cache_salt=salt) for salt in ("green", "baseline"))
    base.invoke(PROMPT + "great.")
    green.invoke(PROMPT + "loved it.")
    assert _blocks(green) > 0 and _blocks(base) > 0
    assert forget_prompt_states(comps, "green") == 2  # one cache per model role
    assert _blocks(green) == 0
    assert _blocks(base) > 0  # another chain's cache is not touched


def test_the_warm_up_runs_the_setup_and_stops_before_the_answer(tiny_chat) -> None:
    comps = Components(models={"cheap": tiny_chat, "large": tiny_chat})
    green = cap_answer(tiny_chat, 2, cache_salt="green")
    setup: list[str] = []

    def optimizer(x: dict) -> str:
        setup.append(x["review"])
        return x["review"]

    step = RunnableLambda(optimizer).with_config(tags=[OPTIMIZER_TAG])
    chain = step | green

    # without the run's models: the old warm-up, which answers and leaves its states
    info = warm_up(_Scenario(), chain, CAL)
    assert info["errors"] == [] and info["answer_calls_skipped"] == 0 and _blocks(green) > 0
    green.kv_cache.clear()

    info = warm_up(_Scenario(), chain, CAL, components=comps, cache_salt="green")
    assert info == {"item_ids": ["cal:1"], "errors": [], "answer_calls_skipped": 1}
    assert setup == [CAL[0].inputs["review"]] * 2  # the optimizer ran both times
    stats = green.kv_cache.stats()
    assert stats.blocks == 0 and stats.lookups == 0  # nothing prefilled, nothing stored


def test_an_optimizers_own_model_call_is_setup_and_runs() -> None:
    comps, _ = fake_worker_setup()
    large = comps.models["large"]
    seen: list[str] = []

    def summarize(x: dict) -> str:  # an optimizer that asks the model itself
        out = large.invoke("summarize: " + x["review"]).content
        seen.append(out)
        return x["review"]

    chain = RunnableLambda(summarize).with_config(tags=[OPTIMIZER_TAG]) | large
    info = warm_up(_Scenario(), chain, CAL, components=comps)
    assert info["errors"] == [] and info["answer_calls_skipped"] == 1
    assert len(seen) == 1  # the optimizer's call answered; the chain's answer did not run


def test_a_failing_setup_is_recorded_not_swallowed() -> None:
    comps, _ = fake_worker_setup()

    def broken(x: dict) -> str:
        raise RuntimeError("index could not be built")

    chain = RunnableLambda(broken).with_config(tags=[OPTIMIZER_TAG]) | comps.models["large"]
    logged: list[str] = []
    info = warm_up(_Scenario(), chain, CAL, logged.append, components=comps)
    assert info["answer_calls_skipped"] == 0
    assert info["errors"] == [
        {"item_id": "cal:1", "error": "RuntimeError: index could not be built"}
    ]
    assert logged and "index could not be built" in logged[0]


def test_models_without_a_prefix_cache_are_skipped() -> None:
    comps, _ = fake_worker_setup()
    assert forget_prompt_states(comps, "green") == 0
