"""``PromptCompressor``: a LangChain Runnable that compresses context to a token budget."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor

from green_chain.compression.backends.base import CompressionBackend
from green_chain.compression.core import CompressionResult, compress_parts, validate_budget
from green_chain.compression.protect import compile_protect
from green_chain.events import apublish_token_counts, publish_token_counts
from green_chain.models.token_counters import ResolvedTokenCounter, resolve_token_counter

MessageFilter = Callable[[int, BaseMessage, Sequence[BaseMessage]], bool]
Rebuild = Callable[[list[str]], Any]


def make_backend(backend: str | CompressionBackend, **kwargs: Any) -> CompressionBackend:
    """A backend by name (``lexical``, ``embedding``, ``selective``, ``learned``,
    ``llmlingua``, ``longllmlingua``, ``llmlingua2``, ``head``: keep-the-head truncation,
    the reference) or the instance given."""
    if isinstance(backend, CompressionBackend):
        return backend
    if backend == "head":
        from green_chain.compression.backends.head import HeadBackend

        return HeadBackend(**kwargs)
    if backend == "lexical":
        from green_chain.compression.backends.lexical import LexicalBackend

        return LexicalBackend(**kwargs)
    if backend == "embedding":
        from green_chain.compression.backends.embedding import EmbeddingBackend

        return EmbeddingBackend(**kwargs)
    if backend == "selective":
        from green_chain.compression.backends.selective import SelectiveBackend

        return SelectiveBackend(**kwargs)
    if backend == "learned":
        from green_chain.compression.backends.learned import LearnedBackend

        return LearnedBackend(**kwargs)
    if backend in ("llmlingua", "longllmlingua", "llmlingua2"):
        from green_chain.compression.backends.llmlingua import LLMLinguaBackend

        return LLMLinguaBackend(mode=backend, **kwargs)  # type: ignore[arg-type]
    raise ValueError(
        f"unknown compression backend {backend!r}; use lexical, embedding, selective, learned, "
        "llmlingua, longllmlingua, llmlingua2, head or a CompressionBackend instance"
    )


def _older_messages(i: int, m: BaseMessage, messages: Sequence[BaseMessage]) -> bool:
    last_human = max((j for j, x in enumerate(messages) if isinstance(x, HumanMessage)), default=-1)
    return not isinstance(m, SystemMessage) and i < last_human


def _message_text(m: BaseMessage) -> str:
    c = m.content
    if isinstance(c, str):
        return c
    return " ".join(
        b if isinstance(b, str) else str(b.get("text", ""))
        for b in c
        if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")
    )


class PromptCompressor(Runnable[Any, Any]):
    """Compress the context of a prompt to a token budget; output has the input's type.

    Inputs: ``str``; ``StringPromptValue``/``ChatPromptValue``; a list of messages (by
    default the messages before the last human message are compressed, never system
    messages nor the last human question; the question is that last human message);
    a list of ``Document``; a dict (the ``keys`` are compressed: str, list of str or of
    ``Document``; a key that is missing raises ``KeyError``, a value of another type
    ``TypeError``; the question is ``input[question_key]``). Non-text content parts
    (images) and the dict's other values pass through untouched.

    Args:
        backend: Backend name or instance (see :func:`make_backend`).
        rate: Fraction of the compressed texts' tokens kept, in (0, 1] (LLMLingua's
            meaning). Default 0.5.
        target_tokens: Token budget instead of ``rate`` (> 0). Both count only the texts
            being compressed (the ``keys``, the chosen messages' text parts, the
            documents), joined, with ``token_counter``: not the question, not the
            prompt template, not the chat template.
        token_counter: Counts tokens for the model that reads the prompt, as in
            ``trim_messages``: a model name, a tokenizer, a chat model, a callable, or
            ``None``/``"approximate"`` (see :func:`green_chain.tokens.resolve_token_counter`).
        min_tokens: Text with fewer tokens than this passes unchanged.
        protect: Regexes / literal strings / built-ins ``"numbers"``, ``"code"``,
            ``"entities"`` whose matches always survive (sentence backends keep the
            whole sentence holding a match).
        keys: Dict keys to compress.
        question_key: Dict key of the question (for question-aware backends).
        question: A fixed question for ``str``/prompt-value inputs.
        messages: Predicate ``(index, message, messages) -> bool`` choosing the
            messages to compress (default: older non-system messages).
        backend_kwargs: Passed to the backend constructor when ``backend`` is a name.
    """

    def __init__(
        self,
        backend: str | CompressionBackend = "embedding",
        *,
        rate: float | None = None,
        target_tokens: int | None = None,
        token_counter: Any = None,
        min_tokens: int = 64,
        protect: Iterable[str | re.Pattern[str]] | None = None,
        keys: Sequence[str] = ("context",),
        question_key: str = "question",
        question: str | None = None,
        messages: MessageFilter | None = None,
        backend_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if rate is None and target_tokens is None:
            rate = 0.5
        validate_budget(rate, target_tokens)
        if min_tokens < 0:
            raise ValueError(f"min_tokens must be >= 0, got {min_tokens}")
        if isinstance(keys, str):
            keys = (keys,)
        self.backend = make_backend(backend, **(backend_kwargs or {}))
        self.rate = rate
        self.target_tokens = target_tokens
        self.token_counter = token_counter
        self.counter: ResolvedTokenCounter = resolve_token_counter(token_counter)
        self.min_tokens = min_tokens
        self.patterns = compile_protect(protect)
        self.keys = tuple(keys)
        self.question_key = question_key
        self.question = question
        self.message_filter: MessageFilter = messages or _older_messages
        self.name = name or f"PromptCompressor[{self.backend.name}]"

    # -- plumbing --------------------------------------------------------------
    def compress_text(self, text: str, question: str | None = None) -> CompressionResult:
        """Compress one text (no LangChain run, no event)."""
        return self._compress([text], question)

    def _compress(self, parts: list[str], question: str | None) -> CompressionResult:
        return compress_parts(
            parts,
            backend=self.backend,
            count=self.counter,
            question=question,
            rate=self.rate,
            target_tokens=self.target_tokens,
            min_tokens=self.min_tokens,
            patterns=self.patterns,
        )

    def _extract(self, value: Any) -> tuple[list[str], Rebuild, str | None]:
        if isinstance(value, str):
            return [value], lambda t: t[0], self.question
        if isinstance(value, StringPromptValue):
            return [value.text], lambda t: StringPromptValue(text=t[0]), self.question
        if isinstance(value, ChatPromptValue):
            texts, rebuild, q = self._extract_messages(list(value.messages))
            return texts, lambda t: ChatPromptValue(messages=rebuild(t)), q
        if isinstance(value, dict):
            return self._extract_dict(value)
        if isinstance(value, list):
            if all(isinstance(m, BaseMessage) for m in value):
                return self._extract_messages(value)
            if all(isinstance(d, Document | str) for d in value):
                return _extract_items(value, self.question)
        raise TypeError(
            "PromptCompressor takes str, a PromptValue, a list of messages or documents, or a "
            f"dict; got {type(value).__name__}"
        )

    def _extract_messages(self, msgs: list[BaseMessage]) -> tuple[list[str], Rebuild, str | None]:
        humans = [m for m in msgs if isinstance(m, HumanMessage)]
        question = _message_text(humans[-1]) if humans else self.question
        texts: list[str] = []
        slots: list[tuple[int, int | None]] = []  # (message index, content part index)
        for i, m in enumerate(msgs):
            if not self.message_filter(i, m, msgs):
                continue
            if isinstance(m.content, str):
                slots.append((i, None))
                texts.append(m.content)
                continue
            for j, block in enumerate(m.content):
                if isinstance(block, str):
                    slots.append((i, j))
                    texts.append(block)
                elif isinstance(block, dict) and block.get("type") == "text":
                    slots.append((i, j))
                    texts.append(str(block.get("text", "")))

        def rebuild(new: list[str]) -> list[BaseMessage]:
            out = list(msgs)
            contents: dict[int, Any] = {}
            for (i, j), t in zip(slots, new, strict=True):
                if j is None:
                    contents[i] = t
                    continue
                blocks = contents.setdefault(i, list(msgs[i].content))
                b = blocks[j]
                blocks[j] = t if isinstance(b, str) else {**b, "text": t}
            for i, c in contents.items():
                out[i] = msgs[i].model_copy(update={"content": c})
            return out

        return texts, rebuild, question

    def _extract_dict(self, value: dict[str, Any]) -> tuple[list[str], Rebuild, str | None]:
        q = value.get(self.question_key)
        question = q if isinstance(q, str) else self.question
        texts: list[str] = []
        builders: list[tuple[str, int, Rebuild]] = []
        for key in self.keys:
            if key not in value:
                raise KeyError(
                    f"PromptCompressor input has no key {key!r} to compress (keys={self.keys!r}); "
                    f"it has {sorted(map(str, value))}"
                )
            v = value[key]
            if isinstance(v, str):
                builders.append((key, 1, lambda t: t[0]))
                texts.append(v)
            elif isinstance(v, list) and all(isinstance(d, Document | str) for d in v):
                sub, rb, _ = _extract_items(v, question)
                builders.append((key, len(sub), rb))
                texts.extend(sub)
            else:
                raise TypeError(
                    f"PromptCompressor input[{key!r}] must be str or a list of str or Document "
                    f"to compress, got {type(v).__name__}"
                )

        def rebuild(new: list[str]) -> dict[str, Any]:
            out = dict(value)
            pos = 0
            for key, n, rb in builders:
                out[key] = rb(new[pos : pos + n])
                pos += n
            return out

        return texts, rebuild, question

    # -- Runnable ----------------------------------------------------------------
    def _run(self, value: Any) -> tuple[Any, CompressionResult]:
        texts, rebuild, question = self._extract(value)
        result = self._compress(texts, question)
        return rebuild(result.texts), result

    def _event_extra(self, result: CompressionResult) -> dict[str, Any]:
        return {
            "backend": result.backend,
            "rate": self.rate,
            "target_tokens": result.target_tokens,
            "tokenizer": self.counter.method,
            **result.stats,
        }

    def _invoke(
        self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        out, result = self._run(value)
        publish_token_counts(
            f"compression:{result.backend}",
            result.tokens_before,
            result.tokens_after,
            config=config,
            **self._event_extra(result),
        )
        return out

    async def _ainvoke(
        self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        out, result = await run_in_executor(config, self._run, value)
        await apublish_token_counts(
            f"compression:{result.backend}",
            result.tokens_before,
            result.tokens_after,
            config=config,
            **self._event_extra(result),
        )
        return out

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Compress ``input`` (see the class docstring) inside a LangChain run."""
        return self._call_with_config(self._invoke, input, config, run_type="prompt")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`invoke` (the scoring runs in an executor thread)."""
        return await self._acall_with_config(self._ainvoke, input, config, run_type="prompt")


def _extract_items(items: list[Any], question: str | None) -> tuple[list[str], Rebuild, str | None]:
    texts = [d.page_content if isinstance(d, Document) else d for d in items]

    def rebuild(new: list[str]) -> list[Any]:
        return [
            d.model_copy(update={"page_content": t}) if isinstance(d, Document) else t
            for d, t in zip(items, new, strict=True)
        ]

    return texts, rebuild, question
