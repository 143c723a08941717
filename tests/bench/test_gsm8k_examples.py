"""GSM8K's green chain: the worked examples are compressed once per task, question-agnostic,
so they are a stable (cached) prefix, and every example keeps its "The answer is N." line."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.items import Item
from green_chain.bench.scenarios import GreenSettings, ScenarioEnv, get_scenarios

SOLUTION = (
    "Tom has {a} apples and buys {b} more. "
    "So he has {a} + {b} = {c} apples.\nHe gives none away, so he keeps all {c} of them."
)


def _calibration() -> list[Item]:
    return [
        Item(
            f"gsm8k:{k}",
            {"question": f"Tom has {k} apples and buys {k + 2} more. How many now?"},
            str(2 * k + 2),
            meta={"solution": SOLUTION.format(a=k, b=k + 2, c=2 * k + 2)},
        )
        for k in range(12)
    ]


def _env(components: Any, **settings: Any) -> ScenarioEnv:
    echo = FakeListChatModel(responses=["So 5. The answer is 5."])
    comps = replace(components, models={"cheap": echo, "large": echo})
    return ScenarioEnv(comps, _calibration(), GreenSettings(route=False, **settings), 0)


def _prompts(chain: Any, questions: list[str]) -> list[str]:
    capture = CaptureHandler()
    out = []
    for q in questions:
        capture.reset()
        chain.invoke({"question": q}, config={"callbacks": [capture]})
        call = capture.reset().final_call()
        assert call is not None and call.prompt is not None
        out.append(call.prompt)
    return out


def _spy(components: Any, seen: list[dict[str, Any]]) -> Any:
    """The components' compressor, recording every input it gets and its settings."""
    inner = components.compressor

    def factory(**kw: Any) -> Any:
        seen.append({"factory": kw})
        real = inner(**kw)

        def run(value: dict[str, Any], config: Any) -> Any:
            seen.append({"input": dict(value)})
            return real.invoke(value, config)

        return RunnableLambda(run)

    return replace(components, compressor=factory)


def test_compressed_examples_are_one_stable_prefix_with_closing_lines(fake_components) -> None:
    (gsm,) = get_scenarios(["gsm8k"])
    seen: list[dict[str, Any]] = []
    env = _env(_spy(fake_components, seen), compression_rate=0.4)
    questions = ["Ann has 3 pens and buys 4. How many?", "A bus holds 20. How many in 3 buses?"]
    prompts = _prompts(gsm.green(env), questions)
    prefixes = [p[: p.rindex("\n\nQ: ")] for p in prompts]
    assert prefixes[0] == prefixes[1]  # the same examples open every prompt
    assert prompts[0] != prompts[1]
    inputs = [s["input"] for s in seen if "input" in s]
    assert len(inputs) == 1 and "question" not in inputs[0]  # once per task, no question
    (factory,) = [s["factory"] for s in seen if "factory" in s]
    assert factory["question_key"] is None and factory["rate"] == 0.4
    uncompressed = gsm.examples_text(env)
    assert len(prefixes[0]) < len(uncompressed)
    for it in gsm.example_items(env):
        # the question and the closing sentence stay whole, right after the kept solution
        assert f"Q: {it.inputs['question']}\nA: " in prefixes[0]
        assert f" The answer is {it.reference}.\n\n" in prefixes[0] + "\n\n"
    # only the worked solutions were handed to the compressor
    assert sorted(inputs[0].values()) == sorted(
        it.meta["solution"] for it in gsm.example_items(env)
    )


def test_per_question_compression_when_stable_examples_are_off(fake_components) -> None:
    (gsm,) = get_scenarios(["gsm8k"])
    seen: list[dict[str, Any]] = []
    env = _env(_spy(fake_components, seen), compression_rate=0.4, stable_examples=False)
    questions = ["Ann has 3 pens. How many?", "A bus holds 20. How many?"]
    _prompts(gsm.green(env), questions)
    inputs = [s["input"] for s in seen if "input" in s]
    assert [i["question"] for i in inputs] == questions
    assert gsm.stable_prefix(env) is None
    assert gsm.stable_prefix(replace(env, settings=GreenSettings())) == gsm.examples_text(env)


def test_rate_one_or_compression_off_sends_the_baseline_examples(fake_components) -> None:
    (gsm,) = get_scenarios(["gsm8k"])
    seen: list[dict[str, Any]] = []
    comps = _spy(fake_components, seen)
    question = ["Ann has 3 pens and buys 4. How many?"]
    baseline = _prompts(gsm.baseline(_env(comps)), question)
    for settings in ({"compression_rate": 1.0}, {"compress": False, "compression_rate": 0.4}):
        assert _prompts(gsm.green(_env(comps, **settings)), question) == baseline
    assert not seen


def test_examples_text_checks_the_solution_count(fake_components) -> None:
    import pytest

    (gsm,) = get_scenarios(["gsm8k"])
    with pytest.raises(ValueError, match="solutions"):
        gsm.examples_text(_env(fake_components), ["only one"])
