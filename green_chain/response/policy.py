"""The response-budget policy shared by :class:`ResponseBudget` and the middleware.

One :class:`BudgetPolicy` turns a request into a budget (its predictor), the call
arguments that bind it on a given model (:mod:`green_chain.response.params`), the
optional one-line "answer concisely" instruction, and, once the answer is back,
the record published as the custom event ``green_chain.response_budget``
(:func:`green_chain.events.publish_response_budget`) and stored in the answer's
``response_metadata["response_budget"]``. :func:`run_budgeted` runs one request,
with at most one retry at a larger budget when the answer was cut.

Event payload (one per model call)::

    {"optimizer": "response_budget", "attempt": 1, "budget_tokens": 48,
     "source": "knn", "parameter": "max_tokens", "bound": {"max_tokens": 48},
     "concise": False, "completion_tokens": 48, "finish_reason": "length",
     "hit_budget": True, "retry_budget_tokens": 96, "stop_on_repeat": None,
     "prediction": {...}}

``hit_budget`` is True when the provider reports the cap as the reason it stopped
(``finish_reason == "length"``, ``stop_reason == "max_tokens"``); ``None`` when no
budget was bound. ``stop_on_repeat`` is ``None`` when the policy does not ask for a
repeat stop, ``"unsupported"`` when it does and the model has none, else whether the
answer ended at a repeated line (``finish_reason == "repeat"``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from green_chain.response import params
from green_chain.response.predictor import (
    BudgetPrediction,
    BudgetPredictor,
    TaskBudgets,
)

logger = logging.getLogger(__name__)

#: The default one-line instruction added with ``concise=True``.
CONCISE_INSTRUCTION = "Answer concisely: give only what the question asks for."


def with_instruction(system: SystemMessage | None, instruction: str) -> SystemMessage:
    """``system`` with ``instruction`` appended as a last line (a new one when ``None``)."""
    if system is None:
        return SystemMessage(content=instruction)
    content = system.content
    if isinstance(content, str):
        text = f"{content.rstrip()}\n{instruction}" if content.strip() else instruction
        return system.model_copy(update={"content": text})
    return system.model_copy(update={"content": [*content, {"type": "text", "text": instruction}]})


def as_predictor(
    predictor: BudgetPredictor | Mapping[str, int] | int | None,
) -> BudgetPredictor | None:
    """A predictor from a predictor, ``{task: tokens}`` or one fixed budget (``int``)."""
    if predictor is None or isinstance(predictor, BudgetPredictor):
        return predictor
    if isinstance(predictor, bool):
        raise TypeError("predictor must be a BudgetPredictor, a {task: tokens} mapping or an int")
    if isinstance(predictor, int):
        return TaskBudgets({}, default=predictor)
    if isinstance(predictor, Mapping):
        return TaskBudgets(predictor)
    raise TypeError(
        "predictor must be a BudgetPredictor, a {task: tokens} mapping or an int, "
        f"got {type(predictor).__name__}"
    )


@dataclass
class BudgetPolicy:
    """What to bind on each call, and what to do when an answer was cut.

    Attributes:
        predictor: The length predictor (``None``: bind no budget, only ``stop``
            and the instruction).
        stop: Stop sequences bound on every call.
        concise: Add a one-line instruction to answer concisely (``True`` uses
            :data:`CONCISE_INSTRUCTION`; a string is used as the instruction).
        retry: Call once more, at ``ceil(retry_factor * budget)`` tokens, when the
            answer hit its budget; the second answer is returned.
        retry_factor: Budget multiplier of the retry (``> 1``).
        max_budget: Largest budget ever bound (first call or retry); ``None``: no cap.
        reasoning_effort: OpenAI-style effort bound on models that use one.
        thinking_budget_tokens: Anthropic-style thinking budget bound on models
            with thinking enabled.
        learn: Store each uncut answer's length in the predictor (when it has
            ``add(request, length)``); cut answers are censored and never stored.
        stop_on_repeat: End each answer at its first repeated line (a degenerate loop)
            on models that take ``stop_on_repeat`` (``ChatLocal``); others ignore it.
        name: Recorded as ``optimizer`` in the event.
    """

    predictor: BudgetPredictor | None = None
    stop: Sequence[str] | None = None
    concise: bool | str = False
    retry: bool = False
    retry_factor: float = 2.0
    max_budget: int | None = None
    reasoning_effort: str | None = None
    thinking_budget_tokens: int | None = None
    learn: bool = False
    stop_on_repeat: bool = False
    name: str = "response_budget"

    def __post_init__(self) -> None:
        self.predictor = as_predictor(self.predictor)
        if not self.retry_factor > 1.0:
            raise ValueError(f"retry_factor must be > 1, got {self.retry_factor}")
        if self.max_budget is not None and (
            isinstance(self.max_budget, bool) or self.max_budget < 1
        ):
            raise ValueError(f"max_budget must be a positive int or None, got {self.max_budget!r}")
        if (
            self.reasoning_effort is not None
            and self.reasoning_effort not in params.REASONING_EFFORTS
        ):
            raise ValueError(
                f"reasoning_effort must be one of {params.REASONING_EFFORTS}, got {self.reasoning_effort!r}"
            )
        if self.thinking_budget_tokens is not None and self.thinking_budget_tokens < 1:
            raise ValueError(
                f"thinking_budget_tokens must be >= 1, got {self.thinking_budget_tokens}"
            )
        if self.stop is not None:
            if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
                raise ValueError(f"stop must be a list of non-empty strings, got {self.stop!r}")
            self.stop = list(self.stop)
        if not isinstance(self.stop_on_repeat, bool):
            raise ValueError(f"stop_on_repeat must be True or False, got {self.stop_on_repeat!r}")
        if isinstance(self.concise, str) and not self.concise.strip():
            raise ValueError("concise must be True/False or a non-empty instruction")

    @property
    def instruction(self) -> str | None:
        if isinstance(self.concise, str):
            return self.concise
        return CONCISE_INSTRUCTION if self.concise else None

    def plan(self, messages: Sequence[BaseMessage], task: str | None = None) -> BudgetPrediction:
        """The budget for one request; a failing predictor binds no budget (never raises)."""
        if self.predictor is None:
            return BudgetPrediction(None, "none", {})
        try:
            prediction = self.predictor.predict(messages, task)
        except Exception as exc:
            logger.warning("response budget predictor failed; no budget bound: %s", exc)
            return BudgetPrediction(None, "none", {"error": f"{type(exc).__name__}: {exc}"})
        tokens = prediction.tokens
        if tokens is not None and self.max_budget is not None and tokens > self.max_budget:
            tokens = self.max_budget
            prediction = BudgetPrediction(tokens, prediction.source, prediction.detail)
        return prediction

    def messages_for(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        """``messages`` with the concise instruction in the (first) system message."""
        out = list(messages)
        text = self.instruction
        if text is None:
            return out
        if out and isinstance(out[0], SystemMessage):
            out[0] = with_instruction(out[0], text)
        else:
            out.insert(0, with_instruction(None, text))
        return out

    def kwargs_for(self, model: Any, tokens: int | None) -> dict[str, Any]:
        """Call arguments for ``model`` (cap, reasoning budget, stop)."""
        return params.budget_kwargs(
            model,
            tokens,
            stop=list(self.stop) if self.stop else None,
            reasoning_effort=self.reasoning_effort,
            thinking_budget_tokens=self.thinking_budget_tokens,
            stop_on_repeat=self.stop_on_repeat,
        )

    def retry_tokens(self, tokens: int | None) -> int | None:
        """The retry budget after ``tokens`` were hit (``None``: no retry possible)."""
        if tokens is None:
            return None
        larger = math.ceil(self.retry_factor * tokens)
        if self.max_budget is not None:
            larger = min(larger, self.max_budget)
        return larger if larger > tokens else None

    def outcome(
        self,
        prediction: BudgetPrediction,
        tokens: int | None,
        bound: Mapping[str, Any],
        message: BaseMessage,
        attempt: int,
    ) -> dict[str, Any]:
        """The event payload for one answered call (see module doc)."""
        hit = params.hit_cap(message) if tokens is not None else None
        retry = self.retry_tokens(tokens) if (hit and self.retry and attempt == 1) else None
        reason = params.finish_reason(message)
        repeat: bool | str | None = None
        if self.stop_on_repeat:
            repeat = reason == "repeat" if bound.get("stop_on_repeat") else "unsupported"
        return {
            "optimizer": self.name,
            "attempt": attempt,
            "budget_tokens": tokens,
            "source": prediction.source,
            "parameter": next((k for k in params.CAP_FIELDS if k in bound), None),
            "bound": dict(bound),
            "concise": self.instruction is not None,
            "completion_tokens": params.output_tokens(message),
            "finish_reason": reason,
            "hit_budget": hit,
            "retry_budget_tokens": retry,
            "stop_on_repeat": repeat,
            "prediction": prediction.to_dict(),
        }

    def observe(self, messages: Sequence[BaseMessage], payload: Mapping[str, Any]) -> None:
        """Learn from an uncut answer (``learn=True``); never raises."""
        if not self.learn or payload.get("hit_budget") or payload.get("completion_tokens") is None:
            return
        add = getattr(self.predictor, "add", None)
        if not callable(add):
            return
        try:
            add(messages, int(payload["completion_tokens"]))
        except Exception as exc:
            logger.warning("response budget predictor could not learn: %s", exc)


def resolve_policy(policy: BudgetPolicy | None, predictor: Any, **options: Any) -> BudgetPolicy:
    """``policy`` as given, else a :class:`BudgetPolicy` of ``predictor`` and ``options``
    (the keyword form of :class:`ResponseBudget` and its middleware); both is an error."""
    if policy is not None and predictor is not None:
        raise ValueError("pass either predictor (with options) or policy, not both")
    return policy or BudgetPolicy(predictor, **options)


def attach_budget(message: BaseMessage, payload: Mapping[str, Any]) -> BaseMessage:
    """Copy of ``message`` with ``response_metadata["response_budget"]`` set."""
    meta = {**(message.response_metadata or {}), "response_budget": dict(payload)}
    return message.model_copy(update={"response_metadata": meta})


Call = Callable[[dict[str, Any], int], Any]


def run_budgeted(
    policy: BudgetPolicy,
    messages: Sequence[BaseMessage],
    model: Any,
    call: Call,
    read: Callable[[Any], BaseMessage],
    publish: Callable[[dict[str, Any]], Any],
    *,
    task: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Run one request under ``policy``; returns (final output, its event payload).

    ``call(kwargs, attempt)`` makes the model call with the budget's call
    arguments, ``read(output)`` returns its answer message, ``publish(payload)``
    records one event per call right after it.
    """
    prediction = policy.plan(messages, task)
    tokens = prediction.tokens
    attempt = 1
    while True:
        bound = policy.kwargs_for(model, tokens)
        output = call(bound, attempt)
        payload = policy.outcome(prediction, tokens, bound, read(output), attempt)
        publish(payload)
        next_tokens = payload["retry_budget_tokens"]
        if next_tokens is None:
            policy.observe(messages, payload)
            return output, payload
        tokens, attempt = next_tokens, attempt + 1


async def arun_budgeted(
    policy: BudgetPolicy,
    messages: Sequence[BaseMessage],
    model: Any,
    call: Callable[[dict[str, Any], int], Awaitable[Any]],
    read: Callable[[Any], BaseMessage],
    publish: Callable[[dict[str, Any]], Awaitable[Any]],
    *,
    task: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Async twin of :func:`run_budgeted` (the predictor runs in a thread)."""
    import asyncio

    prediction = await asyncio.to_thread(policy.plan, messages, task)
    tokens = prediction.tokens
    attempt = 1
    while True:
        bound = policy.kwargs_for(model, tokens)
        output = await call(bound, attempt)
        payload = policy.outcome(prediction, tokens, bound, read(output), attempt)
        await publish(payload)
        next_tokens = payload["retry_budget_tokens"]
        if next_tokens is None:
            await asyncio.to_thread(policy.observe, messages, payload)
            return output, payload
        tokens, attempt = next_tokens, attempt + 1
