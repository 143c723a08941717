"""The warm-up sets a chain up (encoders, indexes) but leaves no prompt state behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.runnables import RunnableLambda

from green_chain.bench.components import Components, cap_answer, forget_prompt_states
from green_chain.bench.items import Item
from green_chain.bench.runner import _warm_up
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


def _blocks(model) -> int:
    return model.kv_cache.stats().blocks


def test_the_warm_up_forgets_the_prompt_states_it_left(tiny_folder: Path) -> None:
    pytest.importorskip("torch")
    from green_chain.models import ChatLocal

    chat = ChatLocal(model=str(tiny_folder), max_tokens=2, prefix_cache=True)
    comps = Components(models={"cheap": chat, "large": chat})
    green, base = (cap_answer(chat, 2, cache_salt=salt) for salt in ("green", "baseline"))
    base.invoke(PROMPT + "great.")  # the baseline's own states, in its own cache
    chain = RunnableLambda(lambda x: x["review"]) | green
    calibration = [Item(id="cal:1", inputs={"review": PROMPT + "loved it."}, reference="pos")]

    info = _warm_up(_Scenario(), chain, calibration)  # as before: states stay behind
    assert info["errors"] == [] and _blocks(green) > 0
    info = _warm_up(_Scenario(), chain, calibration, components=comps, cache_salt="green")
    assert info["errors"] == [] and info["item_ids"] == ["cal:1"]
    # the warmed chain starts its test items cold, as the baseline (never warmed) does
    assert _blocks(green) == 0
    assert _blocks(base) > 0  # another chain's cache is not touched
    # the first test item prefills the whole prompt again
    green.invoke(PROMPT + "loved it.")
    assert green.kv_cache.stats().hit_tokens == 0


def test_models_without_a_prefix_cache_are_skipped() -> None:
    comps, _ = fake_worker_setup()
    assert forget_prompt_states(comps, "green") == 0
