"""``resolve_token_counter``: the one resolver of every optimizer's ``token_counter=``.

``PromptCompressor``, ``RelevantHistory`` / ``HistoryPolicy``, ``BudgetedExampleSelector``
and ``RelevantHistoryMiddleware`` all resolve their ``token_counter=`` here. It accepts
what LangChain's ``trim_messages(token_counter=...)`` accepts (a chat model, a callable
on messages, ``"approximate"``) plus our packaged model names, local model paths and
Hugging Face tokenizers, and returns a cached :class:`ResolvedTokenCounter`. A name that
names no known tokenizer raises ``ValueError`` naming the argument and the accepted
names. Tokenizers load on first use, so resolving a name is cheap.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from green_chain.lru import LRUCache
from green_chain.tokens import (
    TokenCounter,
    count_tokens,
    get_token_counter,
    registered_names,
    tokenizer_counter,
)

#: ``(messages, tools) -> int``: tokens of the whole prompt a model receives.
PromptCounter = Callable[[Sequence[Any], Sequence[dict[str, Any]] | None], int]

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
            lambda text: tokenizer_counter(tokenizer())(text),
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
        f"({', '.join(registered_names()) or 'none yet'}), an OpenAI model name (tiktoken), "
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
            tokenizer_counter(tok), f"tokenizer:{label}", prompt=prompt, cache_size=cache_size
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
