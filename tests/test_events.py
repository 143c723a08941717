from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableLambda

from green_chain.events import (
    OPTIMIZER_TOKENS_EVENT,
    ROUTING_DECISION_EVENT,
    apublish_token_counts,
    publish_routing_decision,
    publish_token_counts,
    token_counts_payload,
)


class Catcher(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, data))


def test_outside_a_run_the_event_is_dropped() -> None:
    assert publish_token_counts("x", 10, 5) is False


def test_inside_a_run_the_event_reaches_handlers() -> None:
    catcher = Catcher()

    def step(text: str) -> str:
        assert publish_token_counts("compression:test", 100, 40, rate=0.4)
        publish_routing_decision({"chosen": "cheap"})
        return text

    RunnableLambda(step).invoke("hi", config={"callbacks": [catcher]})
    assert catcher.events == [
        (
            OPTIMIZER_TOKENS_EVENT,
            {
                "optimizer": "compression:test",
                "tokens_before": 100,
                "tokens_after": 40,
                "rate": 0.4,
            },
        ),
        (ROUTING_DECISION_EVENT, {"chosen": "cheap"}),
    ]


async def test_async_publish_inside_a_run() -> None:
    catcher = Catcher()

    async def step(text: str) -> str:
        assert await apublish_token_counts("history", 7, 3)
        return text

    await RunnableLambda(step).ainvoke("hi", config={"callbacks": [catcher]})
    assert catcher.events == [
        (OPTIMIZER_TOKENS_EVENT, {"optimizer": "history", "tokens_before": 7, "tokens_after": 3})
    ]


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="token counts must be >= 0"):
        token_counts_payload("x", -1, 3)
