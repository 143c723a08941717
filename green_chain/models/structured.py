"""Parsing a forced tool call into structured output (``ChatLocal.with_structured_output``).

The parser accepts only a valid call of the schema's own tool: a reply with no call, a
call of another tool, an ``invalid_tool_calls`` entry or arguments that fail the
pydantic schema all raise :class:`~langchain_core.exceptions.OutputParserException`
(never a silent ``None``).
"""

from __future__ import annotations

from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.pydantic import is_basemodel_subclass


def parse_forced_call(message: BaseMessage, schema: Any, name: str) -> Any:
    """The arguments of ``message``'s call of tool ``name``, validated by ``schema``.

    Args:
        message: The model's reply.
        schema: A pydantic model class (returns an instance) or anything else (returns the
            arguments dict).
        name: The schema's tool name.

    Raises:
        OutputParserException: no valid call of ``name``, or arguments the schema rejects.
    """
    calls = [tc for tc in getattr(message, "tool_calls", None) or [] if tc["name"] == name]
    if not calls:
        bad = getattr(message, "invalid_tool_calls", None) or []
        detail = "; ".join(str(b.get("error")) for b in bad) if bad else "no tool call"
        raise OutputParserException(
            f"the model did not return a valid {name!r} call ({detail})",
            llm_output=str(message.content),
        )
    args = calls[0]["args"]
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        try:
            if hasattr(schema, "model_validate"):
                return schema.model_validate(args)
            return schema.parse_obj(args)  # type: ignore[attr-defined]  # pydantic v1
        except Exception as exc:  # pydantic v1/v2 ValidationError
            raise OutputParserException(
                f"the {name!r} call's arguments do not match the schema: {exc}",
                llm_output=str(message.content),
            ) from exc
    return args


def forced_tool_parser(schema: Any, name: str) -> Runnable[AIMessage, Any]:
    """A runnable applying :func:`parse_forced_call` for ``schema``'s tool ``name``."""

    def parse(message: AIMessage) -> Any:
        return parse_forced_call(message, schema, name)

    return RunnableLambda(parse, name=f"parse_{name}")
