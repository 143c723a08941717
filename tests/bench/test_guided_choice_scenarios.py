"""Classification scenarios answer by constrained choice over their label set."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableSequence

from green_chain.bench.components import Components, cap_answer
from green_chain.bench.items import Item
from green_chain.bench.scenarios import GreenSettings, ScenarioEnv, get_scenarios
from green_chain.models import ChatLocal

TOPICS = ("World", "Sports", "Business", "Science/Tech")


def _models(chain: Any) -> list[ChatLocal]:
    steps = chain.steps if isinstance(chain, RunnableSequence) else [chain]
    return [s for s in steps if isinstance(s, ChatLocal)]


def _components() -> Components:
    return Components(
        models={"cheap": ChatLocal(model="smollm2-135m-instruct"), "large": ChatLocal()},
        router=lambda models, calibration, **_: models[0],
    )


def test_cap_answer_sets_guided_choice_only_where_the_model_has_it() -> None:
    assert cap_answer(ChatLocal(), 3, guided_choice=["a", "b"]).guided_choice == ["a", "b"]
    assert cap_answer(ChatLocal(), 3).guided_choice is None


def test_env_passes_guided_choice_to_both_models() -> None:
    env = ScenarioEnv(_components(), settings=GreenSettings(route=True), guided_choice=("x", "y"))
    assert env.large(3).guided_choice == ["x", "y"]
    assert env.answer_model(3).guided_choice == ["x", "y"]  # the (fake) router's cheap model
    assert ScenarioEnv(_components()).large(3).guided_choice is None


def test_baseline_and_green_choose_over_the_calibration_labels() -> None:
    (ag,) = get_scenarios(["agnews"])
    cal = [Item(f"a:{t}:{k}", {"text": f"{t} news {k}"}, t) for t in TOPICS for k in range(3)]
    env = ScenarioEnv(
        _components(),
        cal,
        GreenSettings(route=True, select_examples=False, first_tier=False),
        seed=0,
    )
    for chain in (ag.baseline(env), ag.green(env)):
        (model,) = _models(chain)
        assert model.guided_choice == sorted(TOPICS)


def test_generation_scenarios_do_not_constrain() -> None:
    (squad,) = get_scenarios(["squad"])
    env = ScenarioEnv(_components(), [], GreenSettings(route=False), seed=0)
    (model,) = _models(squad.baseline(env))
    assert model.guided_choice is None
