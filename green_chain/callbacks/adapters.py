"""LangChain's callback events turned into open/close calls on one run.

:class:`RunEventAdapter` is the LangChain-facing half of
:class:`~green_chain.callbacks.handler.EnergyCallbackHandler`: each ``on_*_start``
builds a :class:`~green_chain.callbacks.lifecycle.RunStart` and calls
:meth:`RunEventAdapter.open_run`; each ``on_*_end`` / ``on_*_error`` calls
:meth:`RunEventAdapter.close_run`; green-chain's own custom events go to
:meth:`RunEventAdapter.record_event`. Signatures are langchain-core's. The
handler is sync and inline (``run_inline = True``): ``docs/callbacks.md`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from green_chain.callbacks.lifecycle import RunStart
from green_chain.events import (
    MODEL_LOAD_TAG,
    OPTIMIZER_TOKENS_EVENT,
    RESPONSE_BUDGET_EVENT,
    ROUTING_DECISION_EVENT,
)

_EVENTS = (OPTIMIZER_TOKENS_EVENT, ROUTING_DECISION_EVENT, RESPONSE_BUDGET_EVENT)


def _name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if name:
        return str(name)
    if serialized:
        if serialized.get("name"):
            return str(serialized["name"])
        ids = serialized.get("id")
        if isinstance(ids, list) and ids:
            return str(ids[-1])
    return default


class RunEventAdapter(BaseCallbackHandler):
    """Maps LangChain's run events onto :meth:`open_run` / :meth:`close_run`.

    Subclasses implement the three hooks; none of them may raise.
    """

    raise_error: bool = False
    run_inline: bool = True

    @property
    def keeps_root_inputs(self) -> bool:
        """Whether root runs keep their inputs (for an evaluator)."""
        return False

    def open_run(self, start: RunStart) -> None:
        """Open the run described by ``start``."""
        raise NotImplementedError

    def close_run(
        self,
        run_id: UUID,
        *,
        error: BaseException | None = None,
        outputs: Any = None,
        response: Any = None,
    ) -> None:
        """Close the run ``run_id``."""
        raise NotImplementedError

    def record_event(self, name: str, data: Any, run_id: UUID) -> None:
        """Keep one of green-chain's custom events (``name`` in the events module)."""
        raise NotImplementedError

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        keep = inputs if (self.keeps_root_inputs and parent_run_id is None) else None
        name = _name(serialized, kwargs, "chain")
        run_type = "load" if tags and MODEL_LOAD_TAG in tags else "chain"
        self.open_run(RunStart(run_id, parent_run_id, run_type, name, tags, metadata, keep))

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.open_run(
            RunStart(
                run_id, parent_run_id, "llm", _name(serialized, kwargs, "llm"), tags, metadata,
                inputs=prompts if parent_run_id is None else None, prompts=prompts,
                serialized=serialized, invocation_params=kwargs.get("invocation_params"),
            )
        )  # fmt: skip

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.open_run(
            RunStart(
                run_id, parent_run_id, "chat_model", _name(serialized, kwargs, "chat_model"),
                tags, metadata, inputs=messages if parent_run_id is None else None,
                messages=messages, serialized=serialized,
                invocation_params=kwargs.get("invocation_params"),
            )
        )  # fmt: skip

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        keep = query if parent_run_id is None else None
        name = _name(serialized, kwargs, "retriever")
        self.open_run(RunStart(run_id, parent_run_id, "retriever", name, tags, metadata, keep))

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        keep = (inputs or input_str) if parent_run_id is None else None
        name = _name(serialized, kwargs, "tool")
        self.open_run(RunStart(run_id, parent_run_id, "tool", name, tags, metadata, keep))

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        self.close_run(run_id, outputs=outputs)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.close_run(run_id, response=response)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.close_run(run_id, outputs=documents)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.close_run(run_id, outputs=output)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.close_run(run_id, error=error)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.close_run(run_id, error=error)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.close_run(run_id, error=error)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.close_run(run_id, error=error)

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if name not in _EVENTS:
            return
        self.record_event(name, data, run_id)
