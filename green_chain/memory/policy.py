"""``HistoryPolicy``: the one configuration of the history filter.

``RelevantHistory``, ``relevant_history``, ``HistoryFilter`` and
``RelevantHistoryMiddleware`` all take a :class:`HistoryPolicy` (``policy=``) or the same
fields as keywords, which build one (:func:`build_policy`), as the routing adapters
share ``RoutingPolicy``.

What ``max_tokens`` counts (``budget``):

* ``"messages"`` (default): for each message sent, the tokens of its text (string
  content or text parts, plus an AI message's tool calls as JSON) counted with
  ``token_counter``, plus ``message_overhead_tokens``. The chat template's special
  tokens, a template's default system prompt and bound tool schemas are *not* counted.
* ``"prompt"``: the tokens of the whole prompt the model receives for the messages
  sent: chat template, generation prompt and the schemas of ``tools`` included
  (``token_counter`` must be able to render a prompt: a model name, a tokenizer with a
  chat template or a chat model; see :class:`green_chain.tokens.ResolvedTokenCounter`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from langchain_core.runnables import Runnable

from green_chain.checks import real_in, token_count

Granularity = Literal["turn", "message"]
Overflow = Literal["raise", "keep_mandatory"]
Budget = Literal["messages", "prompt"]


@dataclass(frozen=True)
class HistoryPolicy:
    """How a conversation is cut to a token budget (see the module docstring for budgets).

    Attributes:
        max_tokens: The budget (tokens; what it counts depends on ``budget``).
        embeddings: LangChain embeddings for relevance (``None``: the packaged MiniLM
            ``LocalEmbeddings``, loaded on first use).
        token_counter: Counts tokens for the target model, as in ``trim_messages``: a
            model name, a tokenizer, a chat model, a callable, or ``None`` /
            ``"approximate"`` (see :func:`green_chain.tokens.resolve_token_counter`).
        recency_weight: Weight of recency against relevance in ``[0, 1]`` (0: relevance
            only, 1: recency only, like ``trim_messages``).
        keep_last: Previous turns kept when they fit, newest first, after the clearly
            relevant ones (see ``relevant_above``).
        relevant_above: Previous turns (or groups) whose relevance (cosine similarity of
            their best message to the new message) is at least this are kept first, most
            relevant first, while they fit: relevance beats recency for a clearly relevant
            turn. ``None`` disables it (``keep_last`` turns then come first), and so does
            ``recency_weight=1``.
        granularity: ``"turn"`` (keep or drop whole user/assistant turns) or ``"message"``.
        message_overhead_tokens: Tokens per message for role markers (``budget="messages"``).
        on_overflow: ``"raise"`` (:class:`~green_chain.memory.planner.HistoryBudgetError`)
            or ``"keep_mandatory"`` (send the system messages and the new turn over budget).
        summarizer: Optional chat model that replaces the dropped messages by one short
            system message.
        summary_max_tokens: Budget reserved for that summary (tokens).
        budget: ``"messages"`` or ``"prompt"`` (see the module docstring).
        tools: Tools bound to the model, counted with ``budget="prompt"`` (LangChain tools,
            functions, pydantic models or OpenAI tool dicts). The middleware uses the
            request's own tools.
    """

    max_tokens: int
    embeddings: Embeddings | None = None
    token_counter: Any = None
    recency_weight: float = 0.3
    keep_last: int = 1
    relevant_above: float | None = 0.5
    granularity: Granularity = "turn"
    message_overhead_tokens: int = 4
    on_overflow: Overflow = "raise"
    summarizer: Runnable[Any, Any] | None = None
    summary_max_tokens: int = 120
    budget: Budget = "messages"
    tools: Sequence[Any] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        token_count(self.max_tokens, "max_tokens")
        token_count(self.summary_max_tokens, "summary_max_tokens", minimum=0)
        token_count(self.message_overhead_tokens, "message_overhead_tokens", minimum=0)
        real_in(self.recency_weight, "recency_weight", 0.0, 1.0)
        keep_last: Any = self.keep_last
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
            raise ValueError(f"keep_last must be an int >= 0 (turns), got {self.keep_last!r}")
        if self.relevant_above is not None:
            real_in(self.relevant_above, "relevant_above (a cosine similarity, or None)", -1.0, 1.0)
        if self.granularity not in ("turn", "message"):
            raise ValueError(f"granularity must be 'turn' or 'message', got {self.granularity!r}")
        if self.on_overflow not in ("raise", "keep_mandatory"):
            raise ValueError(
                f"on_overflow must be 'raise' or 'keep_mandatory', got {self.on_overflow!r}"
            )
        if self.budget not in ("messages", "prompt"):
            raise ValueError(f"budget must be 'messages' or 'prompt', got {self.budget!r}")
        if self.summarizer is not None and not isinstance(self.summarizer, Runnable):
            raise TypeError(
                f"summarizer must be a chat model (a Runnable), got {type(self.summarizer).__name__}"
            )
        if self.embeddings is not None and not isinstance(self.embeddings, Embeddings):
            raise TypeError(
                f"embeddings must be a langchain_core Embeddings, got {type(self.embeddings).__name__}"
            )
        if isinstance(self.tools, str) or not isinstance(self.tools, Sequence):
            raise TypeError(f"tools must be a list of tools, got {type(self.tools).__name__}")
        object.__setattr__(self, "tools", tuple(self.tools))


#: The keyword options a history constructor accepts (the fields of :class:`HistoryPolicy`).
OPTION_NAMES = tuple(f.name for f in fields(HistoryPolicy))


def build_policy(
    owner: str,
    max_tokens: Any,
    policy: HistoryPolicy | None,
    options: Mapping[str, Any],
) -> HistoryPolicy:
    """``policy``, or a :class:`HistoryPolicy` built from ``max_tokens`` and ``options``.

    Raises:
        TypeError: both or neither given, an unknown option, or messages passed where
            ``max_tokens`` belongs (``RelevantHistory(messages)``).
    """
    if isinstance(max_tokens, list | tuple | dict):
        raise TypeError(
            f"{owner}(...) builds a filter and takes max_tokens, not messages; to filter now "
            "call relevant_history(messages, max_tokens=...) or "
            f"{owner}(max_tokens=...).invoke(messages)"
        )
    if policy is not None:
        if not isinstance(policy, HistoryPolicy):
            raise TypeError(f"policy must be a HistoryPolicy, got {type(policy).__name__}")
        if max_tokens is not None or options:
            raise TypeError(f"{owner}: pass policy= or keyword options (max_tokens, ...), not both")
        return policy
    if max_tokens is None:
        raise TypeError(f"{owner} needs max_tokens=... (or policy=HistoryPolicy(...))")
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"{owner} got unknown option(s) {unknown}; accepted: {', '.join(OPTION_NAMES)}"
        )
    return HistoryPolicy(max_tokens=max_tokens, **options)
