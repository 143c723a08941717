"""``ResponseBudgetMiddleware``: a response budget on every agent model call.

A LangChain 1.x ``AgentMiddleware`` whose ``wrap_model_call`` predicts the
answer budget of the whole request (system message, history, tool results),
adds the call arguments to ``request.model_settings`` (the agent binds them on
the model together with the tools), optionally appends the "answer concisely"
line to the system message, and, with ``retry=True``, calls the model once more
at a larger budget when the answer was cut. It uses the same
:class:`~green_chain.response.policy.BudgetPolicy` as
:class:`~green_chain.response.ResponseBudget`.

The outcome of each call is published as ``green_chain.response_budget`` on the
agent's model node run (the energy handler stores it on the model call's record)
and stored in the answer's ``response_metadata["response_budget"]``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

try:
    from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
except ImportError as exc:  # pragma: no cover - exercised only without langchain
    raise ImportError(
        'ResponseBudgetMiddleware needs LangChain 1.x agents: pip install "green-chain[agents]"'
    ) from exc


from green_chain.events import apublish_response_budget, publish_response_budget
from green_chain.middleware.calls import last_ai_message, request_messages, with_last_ai
from green_chain.response.policy import (
    BudgetPolicy,
    arun_budgeted,
    attach_budget,
    resolve_policy,
    run_budgeted,
    with_instruction,
)
from green_chain.response.predictor import BudgetPredictor


class ResponseBudgetMiddleware(AgentMiddleware):
    """Bind a predicted answer budget on each agent model call.

    Args:
        predictor: A ``BudgetPredictor``, ``{task: tokens}``, or one budget (``int``).
        task: The task name passed to the predictor for this agent's calls.
        policy: A ready :class:`BudgetPolicy` (instead of ``predictor`` and the options).
        stop, concise, retry, retry_factor, max_budget, reasoning_effort,
        thinking_budget_tokens, learn, stop_on_repeat: As for :class:`BudgetPolicy`.
    """

    def __init__(
        self,
        predictor: BudgetPredictor | Mapping[str, int] | int | None = None,
        *,
        task: str | None = None,
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
        super().__init__()
        self.task = task
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
    def name(self) -> str:
        return "ResponseBudgetMiddleware"

    def _base(self, request: ModelRequest) -> ModelRequest:
        text = self.policy.instruction
        if text is None:
            return request
        return request.override(system_message=with_instruction(request.system_message, text))

    def wrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], ModelResponse],
    ) -> ModelResponse:
        """Bind the budget, call the model (once more, larger, if cut and ``retry``)."""
        messages = request_messages(request)
        base = self._base(request)

        def call(bound: dict[str, Any], attempt: int) -> Any:
            return handler(base.override(model_settings={**request.model_settings, **bound}))

        def publish(payload: dict[str, Any]) -> None:
            publish_response_budget(payload)

        output, payload = run_budgeted(
            self.policy, messages, request.model, call, last_ai_message, publish, task=self.task
        )
        return with_last_ai(output, lambda m: attach_budget(m, payload))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """Async twin of :meth:`wrap_model_call`."""
        messages = request_messages(request)
        base = self._base(request)

        async def call(bound: dict[str, Any], attempt: int) -> Any:
            return await handler(base.override(model_settings={**request.model_settings, **bound}))

        async def publish(payload: dict[str, Any]) -> None:
            await apublish_response_budget(payload)

        output, payload = await arun_budgeted(
            self.policy, messages, request.model, call, last_ai_message, publish, task=self.task
        )
        return with_last_ai(output, lambda m: attach_budget(m, payload))


__all__ = ["ResponseBudgetMiddleware"]
