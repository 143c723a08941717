"""A first tier in front of a benchmark chain: answer with no LLM when it is confident.

:class:`FirstTierGate` asks a first tier (an
:class:`~green_chain.routing.ExampleClassifier`) about one field of the chain's input
dict; when the tier answers, its answer is the chain's output and no model is called;
otherwise the input goes on to the LLM chain unchanged. The tier's outcome is published
as a routing decision (:func:`green_chain.events.publish_routing_decision`, the
``first_tier*`` fields of :class:`~green_chain.routing.decision.RoutingDecision`), so it is
recorded on the run as routing decisions are. A tier that raises declines: a failing
first tier never breaks the chain.

The gate sits before the prompt (not inside a ``RoutedChatModel``) so it reads the raw
input text whatever prompt format the scenario renders, and works with routing off.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from green_chain.events import publish_routing_decision
from green_chain.routing.tier import TierAnswer, as_tier_answer, tier_name

logger = logging.getLogger(__name__)

#: ``chosen_model`` of a decision where the tier declined and the LLM chain answered.
FELL_THROUGH = "llm"


def tier_decision(name: str, answer: TierAnswer) -> dict[str, Any]:
    """The routing-decision record of one first-tier outcome."""
    return {
        "router": "FirstTierGate",
        "chosen_model": name if answer.answered else FELL_THROUGH,
        "chosen_index": -1 if answer.answered else 0,
        "reason": (
            f"first tier {name} answered: {answer.reason}"
            if answer.answered
            else f"first tier {name} declined: {answer.reason}"
        ),
        "first_tier": name,
        "first_tier_answered": answer.answered,
        "first_tier_confidence": answer.confidence,
        "first_tier_threshold": answer.threshold,
        "first_tier_label": answer.label,
        "first_tier_reason": answer.reason,
    }


class FirstTierGate(Runnable[dict[str, Any], Any]):
    """``tier`` on ``inputs[text_key]``; its answer if it answers, else ``rest.invoke(inputs)``.

    Args:
        tier: A first tier (returns a ``TierAnswer``, a mapping or ``None``).
        rest: The LLM chain the input falls through to.
        text_key: The input field the tier reads.
    """

    name: str | None = "FirstTierGate"

    def __init__(self, tier: Runnable[Any, Any], rest: Runnable[Any, Any], text_key: str) -> None:
        self.tier = tier
        self.rest = rest
        self.text_key = text_key

    def _ask(self, text: str, config: RunnableConfig) -> TierAnswer:
        try:
            return as_tier_answer(self.tier.invoke(text, config))
        except Exception as exc:  # a failing first tier declines
            logger.warning("first tier failed; the LLM chain answers: %s", exc)
            return TierAnswer(reason=f"first tier failed ({type(exc).__name__}: {exc})")

    def _run(
        self,
        inputs: dict[str, Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> Any:
        child = patch_config(config, callbacks=run_manager.get_child())
        answer = self._ask(str(inputs[self.text_key]), child)
        publish_routing_decision(tier_decision(tier_name(self.tier), answer), config=child)
        if answer.answered:
            return answer.answer
        return self.rest.invoke(inputs, child)

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        if not isinstance(input, dict) or self.text_key not in input:
            raise ValueError(f"FirstTierGate input must be a dict with key {self.text_key!r}")
        return self._call_with_config(self._run, input, config, run_type="chain")


__all__ = ["FELL_THROUGH", "FirstTierGate", "tier_decision"]
