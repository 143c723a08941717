"""How an example is rendered (to count its tokens) and which keys it must have."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompts import BasePromptTemplate

ExampleFormatter = Callable[[Mapping[str, Any]], str]


class ExampleKeyError(KeyError):
    """An example (or the selector input) lacks a key the template or selector needs."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def required_keys(example_prompt: Any, input_keys: list[str] | None) -> list[str]:
    """Keys every example must have: the template's input variables and ``input_keys``."""
    keys: list[str] = []
    if isinstance(example_prompt, BasePromptTemplate):
        keys.extend(example_prompt.input_variables)
    elif example_prompt is not None and hasattr(example_prompt, "input_variables"):
        keys.extend(example_prompt.input_variables)  # e.g. a message prompt template
    for k in input_keys or []:
        if k not in keys:
            keys.append(k)
    return keys


def check_example(example: Any, keys: list[str], where: str) -> dict[str, Any]:
    """``example`` as a dict, or a clear error naming the missing key."""
    if not isinstance(example, Mapping):
        raise TypeError(
            f"{where} must be a dict of template variables, got {type(example).__name__}"
        )
    for k in keys:
        if k not in example:
            raise ExampleKeyError(
                f"{where} is missing key {k!r} needed by the example prompt or input_keys "
                f"(it has {sorted(example)})"
            )
    return dict(example)


def _messages_text(messages: list[BaseMessage]) -> str:
    return "\n".join(f"{m.type}: {m.text}" for m in messages)


def make_formatter(example_prompt: Any) -> ExampleFormatter:
    """A function rendering one example as the text the model will see.

    ``example_prompt`` may be ``None`` (``key: value`` lines), a string prompt template,
    a chat prompt template or message prompt template (its messages' text), or a
    callable ``example -> str``.
    """
    if example_prompt is None:
        return lambda ex: "\n".join(f"{k}: {v}" for k, v in ex.items())
    if hasattr(example_prompt, "format_messages"):
        variables = list(example_prompt.input_variables)
        return lambda ex: _messages_text(
            example_prompt.format_messages(**{k: ex[k] for k in variables})
        )
    if isinstance(example_prompt, BasePromptTemplate):
        variables = list(example_prompt.input_variables)
        return lambda ex: str(example_prompt.format(**{k: ex[k] for k in variables}))
    if callable(example_prompt):
        return lambda ex: str(example_prompt(ex))
    raise TypeError(
        "example_prompt must be None, a prompt template or a callable example -> str, got "
        f"{type(example_prompt).__name__}"
    )
