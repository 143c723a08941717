"""``ResponseBudget``: cap each answer of any chat model at the tokens it needs.

Decoding dominates the energy of a response and grows with its length, so an
answer that stops when it has said what it needs saves energy no prompt
optimizer can reach. ``ResponseBudget`` wraps a chat model (``ChatLocal``,
``ChatOpenAI``, ``ChatAnthropic``, any ``BaseChatModel``) and for each request:

1. predicts the budget (a :class:`~green_chain.response.predictor.BudgetPredictor`:
   a budget per task, or nearest neighbours over earlier answer lengths);
2. binds it as the model's answer cap (``max_tokens`` or the model's own name for
   it), the reasoning budget where the model uses one, the stop sequences, and
   optionally a one-line "answer concisely" instruction;
3. calls the model as a child run, and publishes the outcome as the custom event
   ``green_chain.response_budget`` (the :class:`~green_chain.callbacks.EnergyCallbackHandler`
   stores it on that model call's record as ``response_budget``), also stored in
   the answer's ``response_metadata["response_budget"]``;
4. with ``retry=True``, calls once more at a larger budget when the answer hit it.

Each call is one chain run named ``ResponseBudget``. Name the task per call with
``invoke(x, task="classify")`` or ``config={"configurable": {"task": "classify"}}``.
``stream`` yields the whole answer as one chunk (the retry needs the full answer).
The agent middleware is :class:`green_chain.middleware.response.ResponseBudgetMiddleware`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config
from langchain_core.tools import BaseTool

from green_chain.events import apublish_response_budget, publish_response_budget
from green_chain.response.policy import (
    BudgetPolicy,
    arun_budgeted,
    attach_budget,
    resolve_policy,
    run_budgeted,
)
from green_chain.response.predictor import BudgetPredictor
from green_chain.routing.scorers import as_messages


def _message(output: Any) -> BaseMessage:
    if isinstance(output, BaseMessage):
        return output
    raise TypeError(
        f"ResponseBudget needs a chat model that returns a message, got {type(output).__name__}"
    )


class ResponseBudget(Runnable[Any, BaseMessage]):
    """Bind a predicted answer budget on every call of ``model`` (see module doc).

    Args:
        model: The chat model (or a bound chat model).
        predictor: A ``BudgetPredictor``, ``{task: tokens}``, or one budget (``int``).
        policy: A ready :class:`BudgetPolicy` (instead of ``predictor`` and the options).
        stop, concise, retry, retry_factor, max_budget, reasoning_effort,
        thinking_budget_tokens, learn, stop_on_repeat: As for :class:`BudgetPolicy`.
    """

    def __init__(
        self,
        model: Runnable[Any, Any],
        predictor: BudgetPredictor | Mapping[str, int] | int | None = None,
        *,
        policy: BudgetPolicy | None = None,
        stop: Sequence[str] | None = None,
        concise: bool | str = False,
        retry: bool = False,
        retry_factor: float = 2.0,
        max_budget: int | None = None,
        reasoning_effort: str | None = None,
        thinking_budget_tokens: int | None = None,
        learn: bool = False,
        stop_on_repeat: bool = False,
    ) -> None:
        if not isinstance(model, Runnable):
            raise TypeError(f"model must be a chat model (a Runnable), got {type(model).__name__}")
        self.model = model
        self.policy = resolve_policy(
            policy,
            predictor,
            stop=stop,
            concise=concise,
            retry=retry,
            retry_factor=retry_factor,
            max_budget=max_budget,
            reasoning_effort=reasoning_effort,
            thinking_budget_tokens=thinking_budget_tokens,
            learn=learn,
            stop_on_repeat=stop_on_repeat,
        )

    @property
    def InputType(self) -> Any:
        return getattr(self.model, "InputType", Any)

    @property
    def OutputType(self) -> Any:
        return BaseMessage

    @staticmethod
    def _task(config: RunnableConfig, kwargs: dict[str, Any]) -> str | None:
        task = kwargs.pop("task", None)
        if task is None:
            task = (config.get("configurable") or {}).get("task")
        return str(task) if task is not None else None

    def _run(
        self,
        input: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        kwargs: dict[str, Any],
        task: str | None,
    ) -> BaseMessage:
        messages = as_messages(input)
        sent = self.policy.messages_for(messages)
        child = patch_config(config, callbacks=run_manager.get_child())

        def call(bound: dict[str, Any], attempt: int) -> BaseMessage:
            return _message(self.model.invoke(sent, child, **{**kwargs, **bound}))

        def publish(payload: dict[str, Any]) -> None:
            publish_response_budget(payload, config=child)

        output, payload = run_budgeted(
            self.policy, messages, self.model, call, _message, publish, task=task
        )
        return attach_budget(output, payload)

    async def _arun(
        self,
        input: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        kwargs: dict[str, Any],
        task: str | None,
    ) -> BaseMessage:
        messages = as_messages(input)
        sent = self.policy.messages_for(messages)
        child = patch_config(config, callbacks=run_manager.get_child())

        async def call(bound: dict[str, Any], attempt: int) -> BaseMessage:
            return _message(await self.model.ainvoke(sent, child, **{**kwargs, **bound}))

        async def publish(payload: dict[str, Any]) -> None:
            await apublish_response_budget(payload, config=child)

        output, payload = await arun_budgeted(
            self.policy, messages, self.model, call, _message, publish, task=task
        )
        return attach_budget(output, payload)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        """Answer ``input`` under its budget; ``task=`` names the task, other kwargs go to the model."""
        from langchain_core.runnables.config import ensure_config

        config = ensure_config(config)
        task = self._task(config, kwargs)
        return self._call_with_config(
            lambda x, run_manager, config: self._run(x, run_manager, config, kwargs, task),
            input,
            config,
            run_type="chain",
            serialized={"name": "ResponseBudget"},
        )

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        """Async twin of :meth:`invoke`."""
        from langchain_core.runnables.config import ensure_config

        config = ensure_config(config)
        task = self._task(config, kwargs)

        async def run(x: Any, run_manager: Any, config: RunnableConfig) -> BaseMessage:
            return await self._arun(x, run_manager, config, kwargs, task)

        return await self._acall_with_config(
            run, input, config, run_type="chain", serialized={"name": "ResponseBudget"}
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        **kwargs: Any,
    ) -> ResponseBudget:
        """The model's own ``bind_tools``, under the same policy."""
        bind = getattr(self.model, "bind_tools", None)
        if bind is None:
            raise NotImplementedError(f"{type(self.model).__name__} does not support bind_tools")
        return ResponseBudget(bind(tools, **kwargs), policy=self.policy)


__all__ = ["ResponseBudget"]
