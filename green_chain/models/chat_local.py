"""``ChatLocal``: a LangChain chat model over a local causal LM, with exact token usage.

Decoding is greedy by default (``temperature=0``), so outputs are deterministic and a
``batch`` gives the same texts as sequential calls. Every reply carries
``usage_metadata`` (exact prompt and generated token counts from the model's own
tokenizer), ``response_metadata["model_name"]`` and ``response_metadata["mean_token_logprob"]``
(mean natural-log probability of the generated tokens, a confidence signal for cascades).

Prompts: the tokenizer's chat template when it has one (SmolLM2: ChatML); base models
(``gemma3-270m``) use the plain transcript documented in :mod:`green_chain.models.prompting`,
or, with ``base_prompt="completion"``, a lone user message (a ``PromptTemplate`` string) as
its raw text, so the base model continues it. Token counts
(:meth:`ChatLocal.get_num_tokens_from_messages`) and the prefix cache see the same tokens.

Constrained choice (``guided_choice=[...]``, as vLLM's OpenAI server takes it; a field or
a call option, ``.bind(guided_choice=[...])``): instead of generating, the model scores
each choice as the continuation of the rendered prompt and answers with the one of highest
*summed* log-probability (nats; the likelihood of the whole label, so a long label is not
favoured by averaging over its easy later tokens; ties go to the earlier choice). The
prompt is prefilled once for all choices, reusing the prefix cache when it is on. The
reply's text is the chosen choice; ``usage_metadata`` counts the prompt tokens once as
``input_tokens`` and every scored choice token (all choices) as ``output_tokens``;
``response_metadata`` holds ``guided_choice`` and ``choice_logprobs`` (summed nats per
choice). A base model scores each choice after a space when the prompt does not end in
whitespace (``"Label:"`` is continued by ``" positive"``); a chat turn scores it as is.
``stream`` yields the chosen choice as one chunk. Tools cannot be combined with it.

Tools (:meth:`ChatLocal.bind_tools`): a text protocol, see :mod:`green_chain.models.prompting`.
Reliability (honest, small sample): with SmolLM2-135M-Instruct, greedy, one
``get_weather(city)`` tool and "What is the weather in Paris?", ``tool_choice="any"`` and
``tool_choice="get_weather"`` both gave a parseable call with ``city="Paris"``, but the
model went on inventing schema-like keys (dropped, as undeclared arguments are) until
``max_new_tokens``; truncated JSON is repaired when possible, otherwise reported in
``invalid_tool_calls``. With ``tool_choice="auto"`` a 135M model seldom decides to call a
tool on its own (not measured systematically). Use it for plumbing tests and demos of
``create_agent``, and a larger model for real agents.

Energy-aware batching (``batching=True``): concurrent calls to one instance, from
threads or ``asyncio`` tasks, are gathered for up to ``batch_window_ms`` milliseconds (or
until ``max_batch_size`` have arrived) and run as one batched generation. It is OFF by
default: on a CPU the speed-up of batching is modest (see
``python -m green_chain.experiments.local_models``), every lone call would pay the window
as added latency, and a batch runs as long as its longest reply. Turn it on for servers
with many concurrent users, above all on GPUs where joules per token fall steeply with
batch size. ``batch``/``abatch`` always use one batched generation (per
``max_batch_size`` inputs), whatever ``batching`` says; ``stream`` never batches.

Prefix cache (``prefix_cache=True``): the key/value states of earlier calls are kept in
a cache bounded by ``prefix_cache_bytes`` and shared by every ``ChatLocal`` over the same
loaded model in the process (:mod:`green_chain.models.prefix_cache`); a call reuses the
longest cached prefix of its prompt (whole blocks of 16 tokens) and prefills only the
rest. Greedy replies are the same tokens with and without it. The reused tokens are in
``usage_metadata["input_token_details"]["cache_read"]`` (``input_tokens`` still counts
the whole prompt). It is used by ``invoke``/``ainvoke``/``stream`` and by a gathered
batch of one; batched generations of several prompts neither read nor write it (their
rows are left-padded to a common width, see
:func:`~green_chain.models.generation.generate_batch`).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import InputTokenDetails, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableMap,
    RunnablePassthrough,
)
from langchain_core.runnables.config import ensure_config, get_config_list
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import AliasChoices, ConfigDict, Field, PrivateAttr, field_validator

from green_chain.events import amodel_load_run, model_load_run
from green_chain.models.batching import Gatherer
from green_chain.models.generation import (
    GenOut,
    GenParams,
    StrippedPieces,
    generate_batch,
    stream_one,
)
from green_chain.models.prefix_cache import DEFAULT_MAX_BYTES, PrefixCache, shared_prefix_cache
from green_chain.models.prompting import Prompt, parse_tool_calls, render
from green_chain.models.registry import check_causal_lm_name
from green_chain.models.scoring import ContinuationScore, score_with
from green_chain.models.structured import forced_tool_parser

#: The gatherer of the ``batch``/``abatch`` call in progress (inherited by its workers).
_batch_group: contextvars.ContextVar[Gatherer | None] = contextvars.ContextVar(
    "green_chain_batch_group", default=None
)
_IGNORED_KWARGS = ("parallel_tool_calls",)
#: Per-call decoding parameters (``max_new_tokens`` is the older name of ``max_tokens``).
_PARAM_KWARGS = (
    "max_tokens",
    "max_new_tokens",
    "temperature",
    "top_p",
    "timeout",
    "stop_on_repeat",
)
PROVIDER = "green_chain_local"
#: The gatherer key: (model name, decoding parameters); equal keys can share a batch.
_BatchKey = tuple[str, GenParams]


class ChatLocal(BaseChatModel):
    """A chat model over a local causal LM (see the module docstring).

    LangChain's standard parameters (``model``/``model_name``, ``max_tokens``,
    ``temperature``, ``stop``, ``timeout``) are accepted at construction and per call
    (``invoke(..., max_tokens=2)``, ``.bind(model="gemma3-270m")``); unknown constructor
    fields raise, and so does an unknown model name (at construction, not at the first call).

    Attributes:
        model: Registry name (``smollm2-135m-instruct``, ``gemma3-270m``), HF folder or GGUF
            (alias ``model_name``). Checked at construction; loaded on first use.
        max_tokens: Most tokens generated per reply (alias ``max_new_tokens``).
        temperature: 0 = greedy (deterministic); > 0 samples.
        top_p: Nucleus sampling mass (with ``temperature > 0``).
        stop: Stop sequences; the reply is cut before the first one and generation stops.
        timeout: Most seconds one generation may run (``None``: no limit). A reply cut by
            it ends early with ``finish_reason="timeout"``; nothing is raised.
        max_retries: Accepted for LangChain's standard constructor. Local generation makes
            no network call, so there is nothing transient to retry: it is not used.
        streaming: ``invoke`` generates through ``stream`` (LangChain's ``streaming`` flag).
        first_line: End the reply at its first line break after non-blank text (short
            answers: what follows is never read, so it is never generated).
        stop_on_repeat: End the reply when a line of at least 16 characters repeats an
            earlier one (a degenerate loop); the reply is cut before the repeat, with
            ``finish_reason="repeat"``, and streams line by line. Also a call option.
        seed: Seeds torch's global RNG before each sampled generation.
        batching: Gather concurrent calls into batched generations (off by default).
        batch_window_ms: Longest wait for more calls after the first, in milliseconds.
        max_batch_size: Largest batched generation.
        prefix_cache: Reuse the key/value states of cached prompt prefixes (off by
            default; see the module docstring).
        prefix_cache_bytes: Bound of the model's shared prefix cache, in bytes (the
            largest any instance over the same model asked for applies).
        cache_salt: Isolates the prefix cache (vLLM's ``cache_salt``): instances with
            different salts never read each other's cached prefixes, as separate
            deployments would not (``None``: the model's common cache).
        base_prompt: A base model's prompt format (models with a chat template ignore it):
            ``"transcript"`` (labelled ``User:``/``Assistant:`` turns) or ``"completion"``
            (a conversation of one user message is sent as its raw text; others keep the
            transcript). See :mod:`green_chain.models.prompting`.
        guided_choice: Answer with the most likely of these strings instead of generating
            (see the module docstring); ``None`` generates. Also a call option.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="smollm2-135m-instruct", validation_alias=AliasChoices("model", "model_name")
    )
    max_tokens: int = Field(
        default=64, ge=1, validation_alias=AliasChoices("max_tokens", "max_new_tokens")
    )
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[str] | None = None
    timeout: float | None = Field(default=None, gt=0.0)
    max_retries: int = Field(default=0, ge=0)
    streaming: bool = False
    first_line: bool = False
    stop_on_repeat: bool = Field(default=False, strict=True)
    seed: int | None = None
    batching: bool = False
    batch_window_ms: float = Field(default=10.0, ge=0.0)
    max_batch_size: int = Field(default=16, ge=1)
    prefix_cache: bool = False
    prefix_cache_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=0)
    cache_salt: str | None = None
    base_prompt: Literal["transcript", "completion"] = "transcript"
    guided_choice: list[str] | None = None

    _gatherer: Gatherer | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _registered: set[str] = PrivateAttr(default_factory=set)

    def __init__(self, **data: Any) -> None:
        """Fields as listed above, plus the aliases ``model_name`` and ``max_new_tokens``
        (validated at runtime: unknown names raise)."""
        super().__init__(**data)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy with ``update`` applied; the aliases ``max_new_tokens`` and ``model_name``
        are accepted, unknown fields and unknown model names raise (pydantic's own
        ``model_copy`` does not validate ``update``)."""
        if update:
            update = dict(update)
            for alias, name in (("max_new_tokens", "max_tokens"), ("model_name", "model")):
                if alias in update:
                    update[name] = update.pop(alias)
            unknown = sorted(set(update) - set(type(self).model_fields))
            if unknown:
                raise ValueError(f"ChatLocal has no fields {unknown}")
            if "model" in update:
                check_causal_lm_name(update["model"])
        return super().model_copy(update=update, deep=deep)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        check_causal_lm_name(value)
        return value

    # ----------------------------------------------------------------- model
    @property
    def model_name(self) -> str:
        """The model (LangChain's ``model_name``; same as :attr:`model`)."""
        return self.model

    @property
    def max_new_tokens(self) -> int:
        """Older name of :attr:`max_tokens`."""
        return self.max_tokens

    @property
    def _llm_type(self) -> str:
        return "green-chain-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=PROVIDER,
            ls_model_name=str(kwargs.get("model") or self.model),
            ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
            ls_max_tokens=kwargs.get("max_tokens", kwargs.get("max_new_tokens", self.max_tokens)),
        )
        stops = stop or self.stop
        if stops:
            params["ls_stop"] = stops
        return params

    @property
    def loaded(self) -> Any:
        """The :class:`~green_chain.models.loading.LoadedModel` (loaded on first use)."""
        return self._load(self.model)

    def _load(self, name: str) -> Any:
        from green_chain.models.loading import load_causal_lm
        from green_chain.tokens import register_tokenizer

        lm = load_causal_lm(name)
        if name not in self._registered:
            register_tokenizer(name, lm.tokenizer)
            self._registered.add(name)
        return lm

    def _load_in(
        self,
        run_manager: CallbackManagerForLLMRun | None,
        config: RunnableConfig | None = None,
        *,
        name: Any = None,
    ) -> None:
        """Load the model (``name``: a per-call model, else :attr:`model`), if not loaded
        yet, inside a ``load`` run of its own.

        With the call's ``run_manager`` the load run is a child of the call; with only
        its ``config`` (``stream``: LangChain gives ``_stream`` no run manager) it runs
        just before the call, under the same parent. The handler records it as a
        ``load`` record: the loading energy is shown, not charged to the call
        (``green_chain.events.model_load_run``).
        """
        from green_chain.models.loading import is_loaded

        name = name if isinstance(name, str) and name else self.model
        if (run_manager is not None or config is not None) and not is_loaded(name):
            with model_load_run(run_manager, name, config=config):
                self._load(name)

    async def _aload_in(
        self,
        run_manager: AsyncCallbackManagerForLLMRun | None,
        config: RunnableConfig | None = None,
        *,
        name: Any = None,
    ) -> None:
        """Async :meth:`_load_in` (the load runs in a worker thread)."""
        from green_chain.models.loading import is_loaded

        name = name if isinstance(name, str) and name else self.model
        if (run_manager is not None or config is not None) and not is_loaded(name):
            async with amodel_load_run(run_manager, name, config=config):
                await asyncio.to_thread(self._load, name)

    @property
    def kv_cache(self) -> PrefixCache | None:
        """The model's shared :class:`PrefixCache` (``None`` when ``prefix_cache`` is off)."""
        return self._kv_cache_for(self.model)

    def _kv_cache_for(self, name: str) -> PrefixCache | None:
        """The shared :class:`PrefixCache` of model ``name`` (``None`` when off)."""
        if not self.prefix_cache:
            return None
        return shared_prefix_cache(
            self._load(name).model, self.prefix_cache_bytes, salt=self.cache_salt
        )

    # ----------------------------------------------------------------- token counting
    def _tokenizer(self) -> Any:
        from green_chain.models.loading import load_tokenizer

        return load_tokenizer(self.model)

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` under the model's own tokenizer (no special tokens added)."""
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        return list(self._tokenizer().encode(text, add_special_tokens=False))

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Prompt tokens of ``messages`` as the model reads them: the chat template (or the
        base-model transcript) with the open assistant turn, plus the tool instructions
        when ``tools`` are given. This is ``usage_metadata["input_tokens"]`` of a call."""
        if not messages:
            return 0
        if self.custom_get_token_ids is not None:
            return super().get_num_tokens_from_messages(messages, tools)
        from types import SimpleNamespace

        tok = self._tokenizer()
        lm = SimpleNamespace(tokenizer=tok, chat_template=bool(getattr(tok, "chat_template", None)))
        formatted = [convert_to_openai_tool(t) for t in tools] if tools else None
        return len(render(lm, messages, formatted, base_prompt=self.base_prompt).ids)

    # ----------------------------------------------------------------- helpers
    def _choices(self, kwargs: dict[str, Any]) -> list[str] | None:
        """The call's ``guided_choice`` (popped from ``kwargs``), else the field; checked."""
        choices = kwargs.pop("guided_choice", self.guided_choice)
        if choices is None:
            return None
        if isinstance(choices, str) or not all(isinstance(c, str) and c for c in choices):
            raise ValueError(f"guided_choice must be a list of non-empty strings, got {choices!r}")
        if not choices:
            raise ValueError("guided_choice must hold at least one choice")
        if kwargs.get("tools"):
            raise ValueError("guided_choice cannot be combined with bound tools")
        return list(choices)

    def _prepare(
        self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[Prompt, _BatchKey, list[dict[str, Any]] | None]:
        """Render the prompt and the decoding parameters of one call.

        Returns (prompt, (model name, params), tools). Per-call ``model``, ``max_tokens``,
        ``temperature``, ``top_p``, ``timeout`` and ``stop_on_repeat`` override the
        instance's.
        """
        kwargs.pop("guided_choice", None)
        tools = kwargs.pop("tools", None)
        tool_choice = kwargs.pop("tool_choice", None)
        name = kwargs.pop("model", None) or self.model
        params = {k: kwargs.pop(k) for k in _PARAM_KWARGS if k in kwargs}
        unknown = [k for k in kwargs if not k.startswith("ls_") and k not in _IGNORED_KWARGS]
        if unknown:
            raise TypeError(f"ChatLocal got unexpected keyword arguments: {sorted(unknown)}")
        if not isinstance(name, str):
            raise TypeError(f"model must be a model name or path, got {type(name).__name__}")
        max_tokens = params.get("max_tokens", params.get("max_new_tokens", self.max_tokens))
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
        timeout = params.get("timeout", self.timeout)
        if timeout is not None and not float(timeout) > 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {timeout!r}")
        stop_on_repeat = params.get("stop_on_repeat", self.stop_on_repeat)
        if not isinstance(stop_on_repeat, bool):
            raise ValueError(f"stop_on_repeat must be True or False, got {stop_on_repeat!r}")
        lm = self._load(name)
        prompt = render(lm, messages, tools, tool_choice, base_prompt=self.base_prompt)
        stops = tuple(dict.fromkeys([*(stop or self.stop or ()), *prompt.stop]))
        gen = GenParams(
            max_new_tokens=max_tokens,
            temperature=float(params.get("temperature", self.temperature)),
            top_p=float(params.get("top_p", self.top_p)),
            stop=stops,
            first_line=self.first_line,
            max_time_s=None if timeout is None else float(timeout),
            json_prefix=prompt.prefill or None,  # a forced tool call ends where its JSON does
            stop_on_repeat=stop_on_repeat,
        )
        return prompt, (name, gen), tools

    def choice_scores(
        self,
        input: LanguageModelInput,
        choices: Sequence[str],
        *,
        store: bool = True,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> list[ContinuationScore]:
        """Log-likelihood of each of ``choices`` as the continuation of the prompt a call
        with ``input`` would read (no LangChain run, no callbacks, nothing generated).

        ``input`` is rendered exactly as :meth:`invoke` renders it (chat template or
        base-model prompt; ``tools``/``tool_choice``/``model`` call options as in a call),
        so its token ids are those of that call's prompt, and each choice is scored as given
        (no separator added) after it, teacher-forced, the prompt prefilled once for all
        choices through the prefix cache (when ``prefix_cache`` is on): after a call on
        the same ``input``, only the prompt's last partial block (< 16 tokens) and the
        choices' tokens are computed.

        Args:
            input: Messages (or a string / prompt value), as for :meth:`invoke`.
            choices: Non-empty continuation texts.
            store: ``False`` only reads the prefix cache: no block is stored and its
                recency order and counters stay as they were, so scoring (e.g. an unmetered
                probe between measured calls) cannot change what a later call reads or
                evicts. ``True`` stores the prompt's states, as a call does.
            stop, kwargs: Call options (only those that change the prompt matter).

        Returns:
            One :class:`~green_chain.models.scoring.ContinuationScore` per choice
            (``logprob_sum`` in nats, ``n_tokens``, ``mean_logprob`` in nats per token).

        Raises:
            ValueError: no choices, an empty choice, or a choice with no token to score.
        """
        if isinstance(choices, str) or not all(isinstance(c, str) and c for c in choices):
            raise ValueError(f"choices must be a list of non-empty strings, got {choices!r}")
        if not choices:
            raise ValueError("choices must hold at least one string")
        messages = self._convert_input(input).to_messages()
        prompt, key, _ = self._prepare(messages, stop, dict(kwargs))
        return self._score_after(prompt, list(choices), key[0], store=store)

    def _score_after(
        self, prompt: Prompt, choices: list[str], name: str, *, store: bool = True
    ) -> list[ContinuationScore]:
        """Scores of ``choices`` (as given) after the rendered ``prompt``, via the prefix cache."""
        from green_chain.models.scoring import score_choices

        lm = self._load(name)
        return score_choices(
            lm.model,
            lm.tokenizer,
            prompt.ids,
            prompt.text,
            choices,
            add_special_tokens=not lm.chat_template,
            prefix_cache=self._kv_cache_for(name),
            store=store,
        )

    def _choose(self, prompt: Prompt, choices: list[str], name: str) -> AIMessage:
        """The constrained-choice reply: the choice of highest summed log-probability."""
        lm = self._load(name)
        kv = self._kv_cache_for(name)
        before = kv.stats().hit_tokens if kv is not None else 0
        # a base model continues "Label:" with " positive"; a chat turn opens with the text
        sep = "" if lm.chat_template or prompt.text[-1:].isspace() else " "
        scores = self._score_after(prompt, [sep + c for c in choices], name)
        best = max(range(len(choices)), key=lambda i: (scores[i].logprob_sum, -i))
        out_tokens = sum(sc.n_tokens for sc in scores)
        usage = UsageMetadata(
            input_tokens=len(prompt.ids),
            output_tokens=out_tokens,
            total_tokens=len(prompt.ids) + out_tokens,
        )
        if kv is not None:
            usage["input_token_details"] = InputTokenDetails(
                cache_read=kv.stats().hit_tokens - before
            )
        return AIMessage(
            content=choices[best],
            usage_metadata=usage,
            response_metadata={
                "model_name": name,
                "model_provider": PROVIDER,
                "finish_reason": "stop",
                "guided_choice": list(choices),
                "choice_logprobs": {
                    c: sc.logprob_sum for c, sc in zip(choices, scores, strict=True)
                },
                "mean_token_logprob": scores[best].mean_logprob,
            },
        )

    def _guided(
        self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AIMessage | None:
        """The constrained-choice reply of a call with ``guided_choice``, else ``None``."""
        choices = self._choices(kwargs)
        if choices is None:
            return None
        prompt, key, _ = self._prepare(messages, stop, kwargs)
        return self._choose(prompt, choices, key[0])

    def _run_batch(self, key: Hashable, prompts: Sequence[Any]) -> list[GenOut]:
        name, params = cast(_BatchKey, key)
        if params.temperature > 0 and self.seed is not None:
            import torch

            torch.manual_seed(self.seed)
        return generate_batch(self._load(name), list(prompts), params, self._kv_cache_for(name))

    def _instance_gatherer(self) -> Gatherer:
        with self._lock:
            if self._gatherer is None:
                self._gatherer = Gatherer(
                    self._run_batch,
                    window_s=self.batch_window_ms / 1000.0,
                    max_batch=self.max_batch_size,
                )
            return self._gatherer

    def _group(self) -> Gatherer | None:
        group = _batch_group.get()
        if group is not None:
            return group
        return self._instance_gatherer() if self.batching else None

    def _message(
        self, prompt: Prompt, out: GenOut, tools: list[dict[str, Any]] | None, name: str
    ) -> AIMessage:
        text = prompt.prefill + out.text
        if not self._load(name).chat_template:  # base-model transcript: "Assistant: <reply>\n"
            text = text.strip()
        content = text
        calls: list[dict[str, Any]] = []
        invalid: list[dict[str, Any]] = []
        if tools:
            content, calls, invalid = parse_tool_calls(text, prompt.tool_names)
            calls = [_known_args(c, tools) for c in calls]
            if prompt.prefill and not calls and not invalid:
                invalid = [
                    {
                        "name": None,
                        "args": text,
                        "id": None,
                        "error": "the model was asked for a JSON tool call but its reply "
                        "does not parse as one",
                        "type": "invalid_tool_call",
                    }
                ]
        return AIMessage(
            content=content,
            tool_calls=calls,
            invalid_tool_calls=invalid,
            usage_metadata=self._usage(out),
            response_metadata=self._metadata(out, name),
        )

    def _usage(self, out: GenOut) -> UsageMetadata:
        usage = UsageMetadata(
            input_tokens=out.input_tokens,
            output_tokens=out.output_tokens,
            total_tokens=out.input_tokens + out.output_tokens,
        )
        if self.prefix_cache:
            usage["input_token_details"] = InputTokenDetails(cache_read=out.cached_tokens)
        return usage

    def _metadata(self, out: GenOut, name: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "model_provider": PROVIDER,
            "mean_token_logprob": out.mean_logprob,
            "finish_reason": out.finish_reason,
            "batch_size": out.batch_size,
        }

    def _result(self, prompt: Prompt, out: GenOut, tools: Any, name: str) -> ChatResult:
        msg = self._message(prompt, out, tools, name)
        return ChatResult(
            generations=[
                ChatGeneration(message=msg, generation_info={"finish_reason": out.finish_reason})
            ],
            llm_output={"model_name": name},
        )

    # ----------------------------------------------------------------- generation
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._load_in(run_manager, name=kwargs.get("model"))
        guided = self._guided(messages, stop, dict(kwargs))
        if guided is not None:
            return ChatResult(
                generations=[
                    ChatGeneration(message=guided, generation_info={"finish_reason": "stop"})
                ],
                llm_output={"model_name": guided.response_metadata["model_name"]},
            )
        prompt, key, tools = self._prepare(messages, stop, dict(kwargs))
        group = self._group()
        if group is not None:
            out = group.submit(key, prompt.ids).result()
        else:
            out = self._run_batch(key, [prompt.ids])[0]
        return self._result(prompt, out, tools, key[0])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        await self._aload_in(run_manager, name=kwargs.get("model"))
        guided = await asyncio.to_thread(self._guided, messages, stop, dict(kwargs))
        if guided is not None:
            return ChatResult(
                generations=[
                    ChatGeneration(message=guided, generation_info={"finish_reason": "stop"})
                ],
                llm_output={"model_name": guided.response_metadata["model_name"]},
            )
        prompt, key, tools = await asyncio.to_thread(self._prepare, messages, stop, dict(kwargs))
        group = self._group()
        if group is not None:
            out = await asyncio.wrap_future(group.submit(key, prompt.ids))
        else:
            out = (await asyncio.to_thread(self._run_batch, key, [prompt.ids]))[0]
        return self._result(prompt, out, tools, key[0])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self._load_in(run_manager, name=kwargs.get("model"))
        guided = self._guided(messages, stop, dict(kwargs))
        if guided is not None:  # the choice is known only once all are scored: one chunk
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=guided.content,
                    usage_metadata=guided.usage_metadata,
                    response_metadata=guided.response_metadata,
                    chunk_position="last",
                ),
                generation_info={"finish_reason": "stop"},
            )
            if run_manager:
                run_manager.on_llm_new_token(str(guided.content), chunk=chunk)
            yield chunk
            return
        prompt, key, tools = self._prepare(messages, stop, dict(kwargs))
        name, params = key
        if tools:  # a tool call is only known once complete: one chunk
            out = self._run_batch(key, [prompt.ids])[0]
            msg = self._message(prompt, out, tools, name)
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=msg.content,
                    tool_call_chunks=[
                        {
                            "name": tc["name"],
                            "args": _json(tc["args"]),
                            "id": tc["id"],
                            "index": i,
                            "type": "tool_call_chunk",
                        }
                        for i, tc in enumerate(msg.tool_calls)
                    ],
                    usage_metadata=msg.usage_metadata,
                    response_metadata=msg.response_metadata,
                    chunk_position="last",
                )
            )
            if run_manager:
                run_manager.on_llm_new_token(str(msg.content), chunk=chunk)
            yield chunk
            return
        if params.temperature > 0 and self.seed is not None:
            import torch

            torch.manual_seed(self.seed)
        # a base model's reply is stripped by invoke (see _message): stream the same text
        strip = None if self._load(name).chat_template else StrippedPieces()
        if prompt.prefill:
            first = strip.feed(prompt.prefill) if strip is not None else prompt.prefill
            if first:
                yield ChatGenerationChunk(message=AIMessageChunk(content=first))
        for item in stream_one(self._load(name), prompt.ids, params, self._kv_cache_for(name)):
            if isinstance(item, str) and strip is not None:
                item = strip.feed(item)
                if not item:
                    continue
            if isinstance(item, GenOut):
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(
                        content="",
                        usage_metadata=self._usage(item),
                        response_metadata=self._metadata(item, name),
                        chunk_position="last",
                    ),
                    generation_info={"finish_reason": item.finish_reason},
                )
            else:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
                if run_manager:
                    run_manager.on_llm_new_token(item, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        await self._aload_in(run_manager, name=kwargs.get("model"))
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        done = object()

        def produce() -> None:
            try:
                for chunk in self._stream(messages, stop, None, **kwargs):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        ctx = contextvars.copy_context()
        worker = threading.Thread(target=ctx.run, args=(produce,), daemon=True)
        worker.start()
        while True:
            item = await queue.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            if run_manager and isinstance(item.message.content, str) and item.message.content:
                await run_manager.on_llm_new_token(item.message.content, chunk=item)
            yield item

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """LangChain's ``stream``; a first call loads the model in a ``load`` run just before."""
        self._load_in(None, ensure_config(config), name=kwargs.get("model"))
        yield from super().stream(input, config, stop=stop, **kwargs)

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """LangChain's ``astream``; a first call loads the model in a ``load`` run just before."""
        await self._aload_in(None, ensure_config(config), name=kwargs.get("model"))
        async for chunk in super().astream(input, config, stop=stop, **kwargs):
            yield chunk

    # ----------------------------------------------------------------- batching
    def _batch_gatherer(self, n: int, configs: list[RunnableConfig]) -> tuple[Gatherer, int]:
        limit = configs[0].get("max_concurrency") or min(n, self.max_batch_size)
        size = max(1, min(limit, self.max_batch_size, n))
        gatherer = Gatherer(self._run_batch, window_s=1.0, max_batch=size, expected=n)
        return gatherer, size

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        """Invoke on several inputs with one batched generation per ``max_batch_size`` inputs.

        Each input is still its own LangChain run (callbacks see one run per input).
        """
        if len(inputs) <= 1:
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        configs = get_config_list(config, len(inputs))
        gatherer, size = self._batch_gatherer(len(inputs), configs)
        configs = [{**c, "max_concurrency": size} for c in configs]  # type: ignore[typeddict-item]
        token = _batch_group.set(gatherer)
        try:
            return super().batch(inputs, configs, return_exceptions=return_exceptions, **kwargs)
        finally:
            _batch_group.reset(token)

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        """Async :meth:`batch` (one batched generation per ``max_batch_size`` inputs)."""
        if len(inputs) <= 1:
            return await super().abatch(
                inputs, config, return_exceptions=return_exceptions, **kwargs
            )
        configs = get_config_list(config, len(inputs))
        gatherer, size = self._batch_gatherer(len(inputs), configs)
        configs = [{**c, "max_concurrency": size} for c in configs]  # type: ignore[typeddict-item]
        token = _batch_group.set(gatherer)
        try:
            return await super().abatch(
                inputs, configs, return_exceptions=return_exceptions, **kwargs
            )
        finally:
            _batch_group.reset(token)

    # ----------------------------------------------------------------- tools & scoring
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools using the text protocol of :mod:`green_chain.models.prompting`.

        Args:
            tools: LangChain tools, functions, pydantic models or OpenAI tool dicts.
            tool_choice: ``"auto"``/``None`` (the model may call a tool), ``"none"`` (tools
                not shown), ``"any"``/``"required"``/``True`` (must call one: the reply is
                prefilled with the JSON opening), or a tool name / OpenAI tool-choice dict.
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        from green_chain.models.prompting import tool_choice_name

        forced = tool_choice_name(tool_choice)
        names = [t["function"]["name"] for t in formatted]
        if forced not in (None, "any") and forced not in names:
            raise ValueError(f"tool_choice names {forced!r}, but the tools are {names}")
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: str = "function_calling",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """A runnable returning ``schema``-shaped output, by forcing the schema's own tool.

        The reply is prefilled with the schema's tool call (``tool_choice=<schema name>``),
        so the model cannot call another tool. An answer that does not hold a valid call
        raises :class:`~langchain_core.exceptions.OutputParserException`; with
        ``include_raw=True`` the result is ``{"raw", "parsed": None, "parsing_error"}``
        instead, as in LangChain.

        Args:
            schema: A pydantic model (parsed into an instance), a TypedDict, a JSON schema
                or an OpenAI function dict (parsed into a dict).
            include_raw: Also return the raw message and the parsing error.
            method: ``function_calling``, ``json_schema`` or ``json_mode``: all use the
                text tool protocol (a local model has no native JSON mode).
            strict: Accepted for compatibility; arguments are always validated against a
                pydantic schema, and decoding is not constrained.
        """
        if kwargs:
            raise ValueError(f"with_structured_output got unsupported arguments {sorted(kwargs)}")
        if method not in ("function_calling", "json_schema", "json_mode"):
            raise ValueError(
                f"method must be 'function_calling', 'json_schema' or 'json_mode', got {method!r}"
            )
        if schema is None:
            raise ValueError("ChatLocal.with_structured_output needs a schema")
        tool = convert_to_openai_tool(schema)
        name = tool["function"]["name"]
        llm = self.bind_tools(
            [tool],
            tool_choice=name,
            ls_structured_output_format={
                "kwargs": {"method": method, "strict": strict},
                "schema": tool,
            },
        )
        parser = forced_tool_parser(schema, name)
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        ).with_fallbacks(
            [RunnablePassthrough.assign(parsed=lambda _: None)], exception_key="parsing_error"
        )
        return RunnableMap(raw=llm) | parsed

    def score_continuations(
        self, prompts: Sequence[str] | str, continuations: Sequence[str], batch_size: int = 8
    ) -> list[ContinuationScore]:
        """Log-likelihood of each continuation after its plain-text prompt (see
        :func:`green_chain.models.scoring.score_continuations`)."""
        lm = self.loaded
        return score_with(lm.model, lm.tokenizer, prompts, continuations, batch_size=batch_size)


def _known_args(call: dict[str, Any], tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Drop arguments the tool's schema does not declare (tiny models copy schema keys)."""
    for t in tools:
        fn = t.get("function", t)
        if fn.get("name") != call["name"]:
            continue
        params = fn.get("parameters") or {}
        props = params.get("properties")
        if isinstance(props, dict) and props and not params.get("additionalProperties"):
            call = {**call, "args": {k: v for k, v in call["args"].items() if k in props}}
    return call


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
