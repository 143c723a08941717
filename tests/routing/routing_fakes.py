"""Helpers shared by the routing tests: answering models, fixed scorers, a curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

from green_chain.routing import RouteScorer
from green_chain.testing.models import ScriptedChatModel


def answering_model(name: str, logprob: float | None = None) -> ScriptedChatModel:
    """The shipped scripted model, answering ``"<name> answer"`` to every call; with
    ``logprob`` its replies carry ``response_metadata["mean_token_logprob"]``."""
    meta = {} if logprob is None else {"mean_token_logprob": logprob}
    return ScriptedChatModel(model_name=name, default=f"{name} answer", response_metadata=meta)


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
