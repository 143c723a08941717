"""Turning LangChain messages into prompt tokens, and the text tool-calling protocol.

Chat models (a tokenizer chat template, e.g. SmolLM2's ChatML) get their own template.
Base models (no template, e.g. ``gemma3-270m``) get this plain transcript, one turn per
paragraph, ending with an open ``Assistant:`` turn::

    System: <system text>

    User: <user text>

    Assistant: <assistant text>

    Tool result (<tool name>): <tool output>

    Assistant:

and generation stops at the next ``\\nUser:``, ``\\nSystem:`` or ``\\nTool result`` line.

Completion style (``base_prompt="completion"``, :data:`BASE_PROMPTS`): a base model was
trained to continue text, not to answer labelled turns, so a conversation that is one user
message and nothing else (what a ``PromptTemplate`` string becomes) is sent as its raw
text, no ``User:``/``Assistant:`` labels: a prompt ending in ``Answer:`` is continued with
the answer. Conversations with a system message, several turns or tools keep the
transcript. Chat-template models ignore the setting.

Tool protocol (:meth:`ChatLocal.bind_tools`): the tools' OpenAI-format specs are written
into the system prompt (:func:`tools_instructions`) and the model is asked to reply with
only ``{"tool": "<name>", "arguments": {...}}`` to call one. An assistant turn that called
tools is rendered back as those JSON objects; a ``ToolMessage`` is rendered as a
``Tool result (<name>): <content>`` user turn. With ``tool_choice`` forcing a call, the
reply is *prefilled* with ``{"tool": "`` (any tool) or ``{"tool": "<name>", "arguments": ``
(one tool), which makes tiny models far more reliable.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from green_chain.models.generation import json_object_end

BASE_MODEL_STOPS = ("\nUser:", "\nSystem:", "\nTool result")
#: How a base model (no chat template) gets its prompt: ``"transcript"`` (labelled turns,
#: always) or ``"completion"`` (one user message as its raw text; see the module doc).
BASE_PROMPTS = ("transcript", "completion")
_ARGS_KEYS = {"arguments", "args", "parameters"}
_NAME_RE = re.compile(r'"(?:tool|name)"\s*:\s*"([^"\\]*)"')


@dataclass
class Prompt:
    """A rendered prompt: token ids, the text the reply is prefilled with, extra stops."""

    ids: list[int]
    text: str
    prefill: str = ""
    stop: tuple[str, ...] = ()
    tool_names: tuple[str, ...] = field(default_factory=tuple)


def message_text(content: Any) -> str:
    """Plain text of a message content (string or list of content blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _tool_call_json(name: str, args: Any) -> str:
    return json.dumps({"tool": name, "arguments": args}, ensure_ascii=False)


def tool_choice_name(tool_choice: Any) -> str | None:
    """The tool name a ``tool_choice`` forces, ``"any"`` for any tool, ``None`` for auto/none."""
    if tool_choice in (None, "auto", "none", False):
        return None
    if tool_choice in ("any", "required", True):
        return "any"
    if isinstance(tool_choice, str):
        return tool_choice
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function", tool_choice)
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return str(fn["name"])
    raise ValueError(
        f"unsupported tool_choice {tool_choice!r}: use 'auto', 'none', 'any'/'required', "
        "a tool name or {'type': 'function', 'function': {'name': ...}}"
    )


#: A placeholder argument value in the tool instructions' example: a JSON string naming the
#: type (``"<integer>"``). A call that still holds one copied the example, not a value.
_PLACEHOLDER_RE = re.compile(r"<(string|integer|number|boolean|array|object|value)>")


def _example_args(fn: dict[str, Any]) -> dict[str, Any]:
    """Example arguments for a tool, valid JSON: ``{"<name>": "<type>"}`` per argument."""
    props = (fn.get("parameters") or {}).get("properties") or {}
    args: dict[str, Any] = {}
    for key, spec in props.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        args[str(key)] = f"<{kind}>" if isinstance(kind, str) else "<value>"
    return args


def _copied_placeholders(args: dict[str, Any]) -> list[str]:
    return [
        k for k, v in args.items() if isinstance(v, str) and _PLACEHOLDER_RE.fullmatch(v.strip())
    ]


def tools_instructions(tools: Sequence[dict[str, Any]], forced: str | None) -> str:
    """System-prompt text describing the tools and the JSON reply format."""
    specs = []
    for t in tools:
        fn = t.get("function", t)
        specs.append(
            json.dumps(
                {
                    "name": fn.get("name"),
                    "description": fn.get("description", ""),
                    "parameters": fn.get("parameters", {}),
                },
                ensure_ascii=False,
            )
        )
    first = tools[0].get("function", tools[0]) if tools else {}
    example = _tool_call_json(str(first.get("name", "tool_name")), _example_args(first))
    lines = [
        "You can call these tools:",
        *specs,
        "To call a tool, reply with only one JSON object with the keys "
        '"tool" (the tool name) and "arguments" (an object of the argument values; '
        'replace each "<type>" with a real value of that type), '
        f"for example: {example}",
    ]
    if forced == "any":
        lines.append("You must call one of the tools now.")
    elif forced:
        lines.append(f"You must call the tool {forced} now.")
    else:
        lines.append("If no tool is needed, answer in plain text.")
    return "\n".join(lines)


def to_turns(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """Messages as ``{"role", "content"}`` turns (system / user / assistant only)."""
    turns: list[dict[str, str]] = []
    call_names: dict[str, str] = {}
    for m in messages:
        text = message_text(m.content)
        if isinstance(m, SystemMessage):
            role = "system"
        elif isinstance(m, AIMessage):
            role = "assistant"
            calls = []
            for tc in m.tool_calls:
                if tc.get("id"):
                    call_names[str(tc["id"])] = tc["name"]
                calls.append(_tool_call_json(tc["name"], tc.get("args", {})))
            text = "\n".join([t for t in (text, *calls) if t])
        elif isinstance(m, ToolMessage):
            role = "user"
            name = m.name or call_names.get(m.tool_call_id, "tool")
            text = f"Tool result ({name}): {text}"
        elif isinstance(m, HumanMessage):
            role = "user"
        else:  # ChatMessage / FunctionMessage / custom roles
            role = {"human": "user", "ai": "assistant"}.get(m.type, "user")
        if role == "system" and turns and turns[0]["role"] == "system":
            turns[0]["content"] += "\n\n" + text
        elif role == "system" and turns:
            turns.insert(0, {"role": "system", "content": text})
        else:
            turns.append({"role": role, "content": text})
    return turns


def transcript(turns: Sequence[dict[str, str]]) -> str:
    """The plain transcript used for base models (see module docstring)."""
    label = {"system": "System", "user": "User", "assistant": "Assistant"}
    parts = []
    for t in turns:
        content = t["content"]
        if t["role"] == "user" and content.startswith("Tool result ("):
            parts.append(content)
        else:
            parts.append(f"{label[t['role']]}: {content}")
    parts.append("Assistant:")
    return "\n\n".join(parts)


def is_completion(turns: Sequence[dict[str, str]]) -> bool:
    """Whether ``turns`` (after the tool instructions were added) is one plain user message:
    the only conversation a base model gets as raw text in completion style."""
    return (
        len(turns) == 1
        and turns[0]["role"] == "user"
        and not turns[0]["content"].startswith("Tool result (")
    )


def render(
    lm: Any,
    messages: Sequence[BaseMessage],
    tools: Sequence[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    base_prompt: str = "transcript",
) -> Prompt:
    """Render messages (and bound tools) into the model's prompt token ids.

    ``base_prompt`` (one of :data:`BASE_PROMPTS`) chooses a base model's format; a model
    with a chat template always uses its template.
    """
    if not messages:
        raise ValueError("ChatLocal needs at least one message")
    if base_prompt not in BASE_PROMPTS:
        raise ValueError(f"base_prompt must be one of {list(BASE_PROMPTS)}, got {base_prompt!r}")
    turns = to_turns(messages)
    forced = tool_choice_name(tool_choice) if tools else None
    names = tuple(str(t.get("function", t).get("name")) for t in tools or ())
    if forced and forced != "any" and forced not in names:
        raise ValueError(f"tool_choice names {forced!r}, but the bound tools are {list(names)}")
    if tools and tool_choice != "none":
        instructions = tools_instructions(tools, forced)
        if turns and turns[0]["role"] == "system":
            turns[0]["content"] += "\n\n" + instructions
        else:
            turns.insert(0, {"role": "system", "content": instructions})
    prefill = ""
    if forced == "any":
        prefill = '{"tool": "'
    elif forced:
        prefill = '{"tool": "' + forced + '", "arguments": '
    tok = lm.tokenizer
    if lm.chat_template:
        text = tok.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        text += prefill
        ids = list(tok(text, add_special_tokens=False)["input_ids"])
        stops: tuple[str, ...] = ()
    elif base_prompt == "completion" and is_completion(turns) and not prefill:
        text = turns[0]["content"]
        ids = list(tok(text, add_special_tokens=True)["input_ids"])
        stops = BASE_MODEL_STOPS
    else:
        text = transcript(turns) + (" " + prefill if prefill else "")
        ids = list(tok(text, add_special_tokens=True)["input_ids"])
        stops = BASE_MODEL_STOPS
    return Prompt(ids=ids, text=text, prefill=prefill, stop=stops, tool_names=names)


def _close_json(fragment: str) -> str | None:
    """``fragment`` with the brackets it leaves open closed, or ``None`` if it ends mid-string."""
    stack: list[str] = []
    in_str = escaped = False
    for ch in fragment:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    if in_str:
        return None
    return fragment.rstrip().rstrip(",:") + "".join(reversed(stack))


def _repair(text: str) -> Any:
    """Parse a JSON object truncated mid-way (e.g. at ``max_new_tokens``): close it, or cut it
    back to one of its last commas and close it there. ``None`` if nothing parses."""
    cuts = [len(text), *[i for i in range(len(text) - 1, 0, -1) if text[i] == ","][:12]]
    for cut in cuts:
        closed = _close_json(text[:cut])
        if closed is None:
            continue
        try:
            return json.loads(closed)
        except ValueError:
            continue
    return None


def _object_end(text: str, start: int) -> int:
    """End (exclusive) of the brace-balanced object opening at ``start`` (a ``{``); -1 if
    it never closes (truncated). Braces inside JSON strings do not count."""
    end = json_object_end(text[start:])
    return -1 if end < 0 else start + end


@dataclass(frozen=True)
class _Repaired:
    """A truncated object closed by :func:`_repair` (``value``), with its raw text."""

    value: dict[str, Any]
    raw: str


@dataclass(frozen=True)
class _Malformed:
    """A complete (brace-balanced) object that is not valid JSON."""

    raw: str
    error: str


def _decode_json_objects(text: str) -> list[tuple[int, int, Any]]:
    """Every top-level JSON object in ``text`` as (start, end, value).

    A truncated object (its braces never close, e.g. cut at ``max_new_tokens``) is
    repaired when possible; a complete but invalid one is returned as :class:`_Malformed`
    (never "repaired" into something the model did not write).
    """
    dec = json.JSONDecoder()
    found: list[tuple[int, int, Any]] = []
    i = text.find("{")
    while i >= 0:
        value: Any = None
        end = -1
        try:
            value, end = dec.raw_decode(text, i)
        except ValueError as exc:
            closing = _object_end(text, i)
            if closing > 0:
                value, end = _Malformed(text[i:closing], f"not valid JSON ({exc})"), closing
            else:
                value = _repair(text[i:])
                end = len(text) if value is not None else -1
                if isinstance(value, dict):
                    value = _Repaired(value, text[i:])
        if end > 0 and isinstance(value, (dict, _Malformed, _Repaired)):
            found.append((i, end, value))
            i = text.find("{", end)
        else:
            i = text.find("{", i + 1)
    return found


def parse_tool_calls(
    text: str, tool_names: Sequence[str]
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a reply into (remaining text, tool_calls, invalid_tool_calls).

    A tool call is a JSON object with ``"tool"`` (or ``"name"``) naming a bound tool and
    ``"arguments"`` (or ``"args"``/``"parameters"``) holding an object. Objects that name an
    unknown tool or carry non-object arguments become ``invalid_tool_calls``, and so does a
    complete object that names a tool but is not valid JSON (its raw text is kept in
    ``args``), a call whose arguments hold the instructions' ``"<type>"`` placeholder, and a
    truncated call whose arguments were cut off. Only an object cut off before its
    closing brace is repaired, and only when its arguments survive the repair.
    """
    calls: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    spans: list[tuple[int, int]] = []
    for start, end, obj in _decode_json_objects(text):
        if isinstance(obj, _Malformed):
            found = _NAME_RE.search(obj.raw)
            if found is None:  # JSON-like text that is not a tool call: left in the content
                continue
            spans.append((start, end))
            invalid.append(
                {
                    "name": found.group(1),
                    "args": obj.raw,
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "error": f"the tool call is {obj.error}",
                    "type": "invalid_tool_call",
                }
            )
            continue
        truncated = None
        if isinstance(obj, _Repaired):
            truncated, obj = obj.raw, obj.value
        name = obj.get("tool", obj.get("name"))
        if not isinstance(name, str):
            continue
        if truncated is not None and not _ARGS_KEYS & set(obj) and '"arg' in truncated:
            spans.append((start, end))
            invalid.append(
                {
                    "name": name,
                    "args": truncated,
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "error": "the tool call was cut off before its arguments were complete "
                    "(raise max_tokens)",
                    "type": "invalid_tool_call",
                }
            )
            continue
        args = obj.get("arguments", obj.get("args", obj.get("parameters", {})))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                pass
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        spans.append((start, end))
        copied = _copied_placeholders(args) if isinstance(args, dict) else []
        if name in tool_names and isinstance(args, dict) and not copied:
            calls.append({"name": name, "args": args, "id": call_id, "type": "tool_call"})
        else:
            if name not in tool_names:
                error = f"unknown tool {name!r}"
            elif copied:
                error = f"arguments {copied} hold the instructions' example placeholder"
            else:
                error = "arguments are not an object"
            invalid.append(
                {
                    "name": name,
                    "args": json.dumps(args, default=str),
                    "id": call_id,
                    "error": error,
                    "type": "invalid_tool_call",
                }
            )
    rest = text
    for start, end in reversed(spans):
        rest = rest[:start] + rest[end:]
    return rest.strip(), calls, invalid
