"""`get_energy_callback()`: meter every LangChain run inside a ``with`` block.

Like :func:`langchain_core.callbacks.get_usage_metadata_callback`, but with ONE
module-level :class:`~contextvars.ContextVar` registered ONCE with
:func:`langchain_core.tracers.context.register_configure_hook` when this module
is imported. (The langchain-core helper creates and registers a new ContextVar
on every call, so its hook list grows forever: langchain-ai/langchain#32300.)

Nesting works: inside an inner block, runs are recorded by the inner handler
and by every enclosing one (the variable then holds a small fan-out handler).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from green_chain.callbacks.handler import EnergyCallbackHandler

#: Names of the events an :class:`EnergyCallbackHandler` listens to.
_EVENTS: tuple[str, ...] = (
    "on_chain_start",
    "on_chain_end",
    "on_chain_error",
    "on_llm_start",
    "on_chat_model_start",
    "on_llm_end",
    "on_llm_error",
    "on_retriever_start",
    "on_retriever_end",
    "on_retriever_error",
    "on_tool_start",
    "on_tool_end",
    "on_tool_error",
    "on_custom_event",
)


class _EnergyHandlerGroup(BaseCallbackHandler):
    """Forwards every event to several energy handlers (outermost first)."""

    raise_error = False
    run_inline = True

    def __init__(self, handlers: tuple[EnergyCallbackHandler, ...]) -> None:
        self.handlers = handlers

    def __copy__(self) -> _EnergyHandlerGroup:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _EnergyHandlerGroup:
        return self


def _forwarder(event: str) -> Any:
    def forward(self: _EnergyHandlerGroup, *args: Any, **kwargs: Any) -> None:
        for handler in self.handlers:
            getattr(handler, event)(*args, **kwargs)

    forward.__name__ = event
    return forward


for _event in _EVENTS:
    setattr(_EnergyHandlerGroup, _event, _forwarder(_event))

_current: ContextVar[BaseCallbackHandler | None] = ContextVar(
    "green_chain_energy_callback", default=None
)
register_configure_hook(_current, inheritable=True)


def active_energy_handlers() -> tuple[EnergyCallbackHandler, ...]:
    """The handlers of the enclosing ``get_energy_callback`` blocks, outermost first."""
    value = _current.get()
    if value is None:
        return ()
    if isinstance(value, _EnergyHandlerGroup):
        return value.handlers
    return (value,)  # type: ignore[return-value]


class EnergyCallbackBlock:
    """The ``with`` / ``async with`` block of :func:`get_energy_callback`; yields the handler."""

    def __init__(self, handler: EnergyCallbackHandler) -> None:
        self.handler = handler
        self._outer: tuple[EnergyCallbackHandler, ...] = ()
        self._token: Token[BaseCallbackHandler | None] | None = None

    def __enter__(self) -> EnergyCallbackHandler:
        if self._token is not None:
            raise RuntimeError("this get_energy_callback() block is already active")
        self._outer = outer = active_energy_handlers()
        group = _EnergyHandlerGroup((*outer, self.handler)) if outer else self.handler
        self._token = _current.set(group)
        return self.handler

    def __exit__(self, *exc_info: object) -> None:
        token, outer, self._token = self._token, self._outer, None
        if token is None:
            return
        try:
            _current.reset(token)
        except ValueError:  # exited in another context (e.g. across tasks)
            _current.set(
                outer[-1] if len(outer) == 1 else (_EnergyHandlerGroup(outer) if outer else None)
            )

    async def __aenter__(self) -> EnergyCallbackHandler:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)


def get_energy_callback(**handler_kwargs: Any) -> EnergyCallbackBlock:
    """A ``with`` or ``async with`` block yielding an :class:`EnergyCallbackHandler`
    attached to every run inside it.

    Args:
        handler_kwargs: Passed to :class:`EnergyCallbackHandler` (``monitor``,
            ``carbon``, ``idle_baseline``, ``evaluator``, ``max_runs``, ``sink``,
            ``estimators``, ``loop_read_timeout_s``).
    """
    return EnergyCallbackBlock(EnergyCallbackHandler(**handler_kwargs))
