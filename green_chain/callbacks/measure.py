"""`handler.measure(name)`: meter code outside LangChain as a run of the same tree.

Use it as a context manager (sync or async) or a decorator (sync or async)::

    with handler.measure("pdf-parse"):
        pages = parse(pdf)

    @handler.measure("preprocess")
    async def preprocess(text): ...

Inside a LangChain run (e.g. in a ``RunnableLambda``) the block becomes a child
of that run; outside, it is its own root. While the block runs, LangChain runs
started inside it get it as their parent (through LangChain's child-config
context variable), so a block wrapping ``chain.invoke`` owns the chain's tree.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import Token
from typing import Any, TypeVar
from uuid import UUID, uuid4

from langchain_core.callbacks import BaseCallbackManager, CallbackManager
from langchain_core.runnables.config import var_child_runnable_config

from green_chain.callbacks.adapters import RunEventAdapter
from green_chain.callbacks.lifecycle import RunStart

F = TypeVar("F", bound=Callable[..., Any])


def _enter_config(handler: RunEventAdapter, run_id: UUID) -> tuple[UUID | None, Token[Any]]:
    """The current LangChain parent run id, and a child config whose parent is ``run_id``."""
    config = var_child_runnable_config.get() or {}
    callbacks = config.get("callbacks")
    parent: UUID | None = None
    if isinstance(callbacks, BaseCallbackManager):
        parent = callbacks.parent_run_id
        manager = callbacks.copy()
        manager.parent_run_id = run_id
        if not any(h is handler for h in manager.handlers):
            manager.add_handler(handler, inherit=True)
    else:
        handlers = list(callbacks or [])
        if not any(h is handler for h in handlers):
            handlers.append(handler)
        manager = CallbackManager(
            handlers, inheritable_handlers=list(handlers), parent_run_id=run_id
        )
    token = var_child_runnable_config.set({**config, "callbacks": manager})  # type: ignore[typeddict-item]
    return parent, token


class MeasuredBlock:
    """Context manager / decorator created by :meth:`EnergyCallbackHandler.measure`."""

    def __init__(
        self,
        handler: RunEventAdapter,
        name: str,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not name:
            raise ValueError("measure() needs a non-empty name for the measured block")
        self.handler = handler
        self.name = name
        self.tags = list(tags or [])
        self.metadata = dict(metadata or {})
        self._stack: list[tuple[UUID, Token[Any] | None]] = []

    @property
    def run_id(self) -> UUID | None:
        """Run id of the innermost active use of this block, if any."""
        return self._stack[-1][0] if self._stack else None

    def _open(self) -> None:
        run_id = uuid4()
        token: Token[Any] | None = None
        parent: UUID | None = None
        try:
            parent, token = _enter_config(self.handler, run_id)
        except Exception:  # never break the user's code
            token = None
        self.handler.open_run(
            RunStart(run_id, parent, "measure", self.name, self.tags, self.metadata)
        )
        self._stack.append((run_id, token))

    def _close(self, exc: BaseException | None) -> None:
        run_id, token = self._stack.pop()
        if token is not None:
            try:
                var_child_runnable_config.reset(token)
            except ValueError:  # token from another context (e.g. a different task)
                pass
        self.handler.close_run(run_id, error=exc)

    def __enter__(self) -> MeasuredBlock:
        self._open()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._close(exc)

    async def __aenter__(self) -> MeasuredBlock:
        self._open()
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._close(exc)

    def __call__(self, func: F) -> F:
        handler, name, tags, metadata = self.handler, self.name, self.tags, self.metadata
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with MeasuredBlock(handler, name, tags=tags, metadata=metadata):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with MeasuredBlock(handler, name, tags=tags, metadata=metadata):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
