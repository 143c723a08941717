"""ETR: optimizer token-count events joined to the model call that used the prompt."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnableParallel

from green_chain.events import (
    apublish_token_counts,
    publish_routing_decision,
    publish_token_counts,
)
from green_chain.testing.models import ScriptedChatModel, ai_message


def _model(prompt_tokens: int = 60, n: int = 1) -> ScriptedChatModel:
    return ScriptedChatModel(
        responses=[ai_message("ok", input_tokens=prompt_tokens, output_tokens=2)] * n
    )


def _compress(before: int, after: int, name: str = "compression:test"):
    def step(text: str, config: RunnableConfig) -> str:
        assert publish_token_counts(name, before, after, config=config)
        return text

    return RunnableLambda(step).with_config(run_name=name)


def test_lambda_publishing_before_the_model(metered):
    chain = _compress(100, 40) | _model(60)
    chain.invoke("long prompt", config={"callbacks": [metered.handler]})
    model = metered.records(run_type="chat_model")[0]
    assert model["tokens_saved"] == 60
    assert model["etr"] == pytest.approx(60 / (60 + 60))
    assert model["optimizer_events"][0]["optimizer"] == "compression:test"
    publisher = metered.records(name="compression:test")[0]
    assert publisher["published_events"][0]["tokens_before"] == 100
    assert publisher["etr"] is None


def test_several_optimizers_add_up(metered):
    chain = _compress(50, 30, "history") | _compress(200, 100, "examples") | _model(80)
    chain.invoke("x", config={"callbacks": [metered.handler]})
    model = metered.records(run_type="chat_model")[0]
    assert model["tokens_saved"] == 120
    assert model["etr"] == pytest.approx(80 / 200)


def test_no_optimizer_gives_none_not_one(metered):
    _model(60).invoke("plain", config={"callbacks": [metered.handler]})
    assert metered.records(run_type="chat_model")[0]["etr"] is None


def test_sibling_branch_of_a_parallel(metered):
    parallel = RunnableParallel(
        context=RunnableLambda(lambda x: x) | _compress(300, 100),
        question=RunnableLambda(lambda x: x),
    )
    chain = parallel | RunnableLambda(lambda d: f"{d['context']} {d['question']}") | _model(150)
    chain.invoke("q", config={"callbacks": [metered.handler]})
    model = metered.records(run_type="chat_model")[0]
    assert model["etr"] == pytest.approx(150 / 350)


def test_optimizer_that_calls_the_model_inside_its_own_run(metered):
    """Like a wrap_model_call middleware: the model call is a child of the dispatcher."""
    model = _model(30)

    def node(text: str, config: RunnableConfig):
        publish_token_counts("middleware", 90, 30, config=config)
        return model.invoke(text, config=config)

    RunnableLambda(node).invoke("x", config={"callbacks": [metered.handler]})
    assert metered.records(run_type="chat_model")[0]["etr"] == pytest.approx(30 / 90)


def test_first_model_call_consumes_the_events(metered):
    chain = _compress(100, 50) | _model(50) | RunnableLambda(lambda m: m.content) | _model(40)
    chain.invoke("x", config={"callbacks": [metered.handler]})
    first, second = metered.records(run_type="chat_model")
    assert first["etr"] == pytest.approx(0.5)
    assert second["etr"] is None and second["optimizer_events"] == []


async def test_async_publish(metered):
    async def step(text: str, config: RunnableConfig) -> str:
        await apublish_token_counts("async-opt", 40, 10, config=config)
        return text

    chain = RunnableLambda(step) | _model(10)
    await chain.ainvoke("x", config={"callbacks": [metered.handler]})
    assert metered.records(run_type="chat_model")[0]["etr"] == pytest.approx(10 / 40)


def test_routing_decision_recorded_on_the_router_run(metered):
    def route(text: str, config: RunnableConfig) -> str:
        publish_routing_decision({"chosen": "small", "score": 0.8}, config=config)
        return text

    (RunnableLambda(route).with_config(run_name="router") | _model()).invoke(
        "x", config={"callbacks": [metered.handler]}
    )
    assert metered.records(name="router")[0]["routing"] == {"chosen": "small", "score": 0.8}


def test_publish_outside_a_run_is_harmless(metered):
    assert publish_token_counts("x", 10, 5) is False
    assert metered.handler.records() == []
