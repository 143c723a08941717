"""Fakes shared by the routing tests: a recording chat model, fixed scorers, a curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from green_chain.routing import RouteScorer


class FakeModel(BaseChatModel):
    """Answers ``"<name> answer"``; records calls and bound tools."""

    model_name: str
    logprob: float | None = None
    calls: list[Any] = Field(default_factory=list)
    bound_tools: list[list[str]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-routing"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.calls.append({"messages": messages, "kwargs": kwargs, "stop": stop})
        meta: dict[str, Any] = {"model_name": self.model_name}
        if self.logprob is not None:
            meta["mean_token_logprob"] = self.logprob
        msg = AIMessage(content=f"{self.model_name} answer", response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        names = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
        self.bound_tools.append(names)
        return self.bind(tools=names, **kwargs)

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Any:
        name = self.model_name

        def parse(_: Any) -> Any:
            self.calls.append({"structured": True})
            out = {"model": name, "schema": getattr(schema, "__name__", str(schema))}
            if include_raw:
                return {
                    "raw": AIMessage(
                        content=name,
                        response_metadata={"mean_token_logprob": self.logprob}
                        if self.logprob is not None
                        else {},
                    ),
                    "parsed": out,
                    "parsing_error": None,
                }
            return out

        return RunnableLambda(parse)


class FixedScorer(RouteScorer):
    """Returns fixed probabilities (one per cheaper model), or raises."""

    name = "fixed"

    def __init__(self, probs: Sequence[float] | float, error: Exception | None = None) -> None:
        self.probs = [probs] if isinstance(probs, float | int) else list(probs)
        self.error = error
        self.seen: list[list[BaseMessage]] = []

    def score(self, messages: Sequence[BaseMessage]) -> float:
        return self.probabilities(messages, len(self.probs))[0]

    def probabilities(self, messages: Sequence[BaseMessage], n_cheaper: int) -> list[float]:
        self.seen.append(list(messages))
        if self.error is not None:
            raise self.error
        return [float(p) for p in self.probs]


class QuadCurve:
    """Stand-in for EnergyCurve: E(n) = a*n^2 + b*n + c joules."""

    def __init__(self, a: float, b: float, c: float, kind: str = "estimated") -> None:
        self.a, self.b, self.c, self.kind = a, b, c, kind

    def predict(self, n: float) -> float:
        return self.a * n * n + self.b * n + self.c


class Recorder(BaseCallbackHandler):
    """Catches custom events and chat-model starts."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, UUID]] = []
        self.model_starts: list[tuple[UUID, UUID | None, str]] = []
        self.chain_starts: list[tuple[UUID, UUID | None, str]] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.append((name, data, run_id))

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.model_starts.append((run_id, parent_run_id, str(kwargs.get("name"))))

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.chain_starts.append((run_id, parent_run_id, str(kwargs.get("name"))))
