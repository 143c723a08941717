"""A callback that records which calls each benchmark item's chain made (it meters nothing).

For every chain invocation it captures the model calls (the prompt text sent, the model
that answered, prompt/completion tokens, whether an optimizer made it: a run tagged
:data:`~green_chain.bench.tags.OPTIMIZER_TAG` or below one) and the optimizer events and
routing decisions published through :mod:`green_chain.events`. Energy comes from the
energy callback handler (:mod:`green_chain.bench.item_run`). A chat model call also keeps
its input messages and prompt-shaping options (in memory only) so the prompt probe can
re-read exactly that prompt where the item ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from green_chain.bench.records import CallRecord
from green_chain.bench.tags import OptimizerRuns
from green_chain.events import OPTIMIZER_TOKENS_EVENT, ROUTING_DECISION_EVENT

#: Call options that change the prompt a chat model renders (kept for the prompt probe).
_PROMPT_OPTIONS = ("tools", "tool_choice")


def render_messages(messages: list[BaseMessage]) -> str:
    """Plain text of a prompt: one message's text as-is, several as ``role: text`` lines."""
    if len(messages) == 1:
        return messages[0].text
    return "\n".join(f"{m.type}: {m.text}" for m in messages)


@dataclass
class ModelCall:
    """One chat-model (or LLM) call seen by the capture."""

    run_id: str
    parent_run_id: str | None
    prompt: str
    optimizer: bool
    model_name: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: Prompt tokens read from the model's prefix cache (``input_token_details.cache_read``).
    cached_tokens: int | None = None
    output: str = ""
    #: The chat model's input messages, as it received them (kept in memory for the
    #: in-place prompt probe; never serialized). ``None`` for a plain-text LLM call.
    messages: list[BaseMessage] | None = field(default=None, repr=False)
    #: The call options that shape the prompt (``tools``, ``tool_choice``), if any.
    prompt_options: dict[str, Any] = field(default_factory=dict, repr=False)

    def summary(self) -> CallRecord:
        """The call as the item record stores it (no prompt or output text)."""
        return CallRecord(
            self.model_name,
            self.prompt_tokens,
            self.completion_tokens,
            self.optimizer,
            cached_tokens=self.cached_tokens,
        )


@dataclass
class ItemCapture:
    """What one chain invocation did."""

    calls: list[ModelCall] = field(default_factory=list)
    optimizer_events: list[dict[str, Any]] = field(default_factory=list)
    routing: list[dict[str, Any]] = field(default_factory=list)

    def leaf_calls(self) -> list[ModelCall]:
        """Answering calls: not made by an optimizer and not wrapping another call (a router)."""
        parents = {c.parent_run_id for c in self.calls}
        return [c for c in self.calls if not c.optimizer and c.run_id not in parents]

    def final_call(self) -> ModelCall | None:
        """The last answering call (the one whose answer the chain returned)."""
        leaves = self.leaf_calls()
        return leaves[-1] if leaves else None


class CaptureHandler(BaseCallbackHandler):
    """Records the model calls, optimizer events and routing decisions of one invocation at a time."""

    raise_error = False
    run_inline = True

    def __init__(self) -> None:
        self.current = ItemCapture()
        self._calls: dict[UUID, ModelCall] = {}
        self._runs = OptimizerRuns()

    def reset(self) -> ItemCapture:
        """Start a new item; return the finished item's capture."""
        done = self.current
        self.current = ItemCapture()
        self._calls = {}
        self._runs.clear()
        return done

    # ----- optimizer runs --------------------------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._runs.start(run_id, parent_run_id, tags)

    # ----- model calls ----------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        call = self._start_call(
            run_id, parent_run_id, tags, render_messages(messages[0]) if messages else ""
        )
        if messages:
            call.messages = list(messages[0])
        params = kwargs.get("invocation_params") or {}
        call.prompt_options = {k: params[k] for k in _PROMPT_OPTIONS if params.get(k) is not None}

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_call(run_id, parent_run_id, tags, prompts[0] if prompts else "")

    def _start_call(
        self, run_id: UUID, parent: UUID | None, tags: list[str] | None, prompt: str
    ) -> ModelCall:
        optimizer = self._runs.start(run_id, parent, tags)
        call = ModelCall(str(run_id), str(parent) if parent else None, prompt, optimizer)
        self._calls[run_id] = call
        self.current.calls.append(call)
        return call

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._calls.get(run_id)
        if call is None or not response.generations or not response.generations[0]:
            return
        gen = response.generations[0][0]
        call.output = gen.text
        message = getattr(gen, "message", None)
        usage = getattr(message, "usage_metadata", None) or {}
        meta = getattr(message, "response_metadata", None) or {}
        call.prompt_tokens = usage.get("input_tokens")
        call.completion_tokens = usage.get("output_tokens")
        call.cached_tokens = (usage.get("input_token_details") or {}).get("cache_read")
        call.model_name = (
            meta.get("model_name")
            or meta.get("model")
            or (response.llm_output or {}).get("model_name")
        )

    # ----- events -----------------------------------------------------------------
    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if name == OPTIMIZER_TOKENS_EVENT and isinstance(data, dict):
            self.current.optimizer_events.append(dict(data))
        elif name == ROUTING_DECISION_EVENT and isinstance(data, dict):
            self.current.routing.append(dict(data))
