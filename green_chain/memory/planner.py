"""The history-filtering algorithm, free of any Runnable plumbing.

Steps (see :class:`HistoryPlanner`):

1. split the messages into atomic groups (an AI message with tool calls plus its tool
   results) and turns (a turn starts at each human message);
2. the *current turn* (the last human message and everything after it) and all system
   messages are mandatory; if they exceed the budget, :class:`HistoryBudgetError`
   is raised (or, with ``on_overflow="keep_mandatory"``, they are returned over budget:
   the new message is never truncated);
3. the newest ``keep_last`` previous turns are added, newest first, while they fit;
4. every other unit (a turn, or an atomic group with ``granularity="message"``) gets
   ``score = (1 - recency_weight) * relevance + recency_weight * recency`` where
   relevance is the best cosine similarity of its messages to the new message and
   recency rises linearly from ~0 (oldest) to 1 (newest); units are added by
   descending score (ties: newer first) while they fit;
5. the kept messages are returned in their original order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from green_chain.memory.messages import atomic_groups, message_text, message_tokens, turn_of_groups

Granularity = Literal["turn", "message"]
Overflow = Literal["raise", "keep_mandatory"]


class HistoryBudgetError(ValueError):
    """The mandatory messages (system + the new turn) alone exceed ``max_tokens``."""

    def __init__(self, mandatory_tokens: int, max_tokens: int) -> None:
        self.mandatory_tokens = mandatory_tokens
        self.max_tokens = max_tokens
        super().__init__(
            f"the system messages and the new message need {mandatory_tokens} tokens but "
            f"max_tokens is {max_tokens}; raise max_tokens, shorten the new message, or pass "
            "on_overflow='keep_mandatory' to send them over budget (the new message is never "
            "truncated)"
        )


@dataclass
class HistoryResult:
    """What :class:`HistoryPlanner` decided.

    Attributes:
        messages: The messages to send, in original order (plus the summary, if any).
        kept_indices: Positions (in the input) of the kept messages.
        dropped_indices: Positions of the dropped messages.
        tokens_before: Tokens of all input messages (tokens).
        tokens_after: Tokens of ``messages`` (tokens).
        mandatory_tokens: Tokens of the system messages and the current turn (tokens).
        summary: The summary message that replaced the dropped ones, if any.
        over_budget: True when mandatory messages were kept over budget.
    """

    messages: list[BaseMessage]
    kept_indices: list[int]
    dropped_indices: list[int]
    tokens_before: int
    tokens_after: int
    mandatory_tokens: int
    summary: BaseMessage | None = None
    over_budget: bool = False


@dataclass
class Plan:
    """Intermediate state between the cheap steps and the embedding step."""

    messages: list[BaseMessage]
    costs: list[int]
    kept: set[int]
    candidates: list[list[int]]  # units, chronological
    query: str
    remaining: int
    mandatory_tokens: int
    over_budget: bool = False
    reserve: int = 0
    texts: list[str] = field(default_factory=list)


@dataclass
class HistoryPlanner:
    """Decides which messages to keep (see the module docstring for the algorithm).

    Attributes:
        max_tokens: Budget for the messages sent (tokens).
        counter: ``str -> int`` token counter of the target model.
        recency_weight: Weight of recency against relevance, in ``[0, 1]``.
        keep_last: Previous turns always kept (newest first, while they fit).
        granularity: ``"turn"`` keeps or drops whole turns (keeps user/assistant
            alternation); ``"message"`` scores each atomic group.
        message_overhead_tokens: Tokens added per message for role markers (tokens).
        on_overflow: What to do when the mandatory messages exceed the budget.
        summary_max_tokens: Budget reserved for a summary when one is requested (tokens).
    """

    max_tokens: int
    counter: Callable[[str], int]
    recency_weight: float = 0.3
    keep_last: int = 1
    granularity: Granularity = "turn"
    message_overhead_tokens: int = 4
    on_overflow: Overflow = "raise"
    summary_max_tokens: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive int, got {self.max_tokens!r}")
        if not 0.0 <= self.recency_weight <= 1.0:
            raise ValueError(f"recency_weight must be in [0, 1], got {self.recency_weight}")
        if self.keep_last < 0:
            raise ValueError(f"keep_last must be >= 0, got {self.keep_last}")
        if self.granularity not in ("turn", "message"):
            raise ValueError(f"granularity must be 'turn' or 'message', got {self.granularity!r}")
        if self.on_overflow not in ("raise", "keep_mandatory"):
            raise ValueError(
                f"on_overflow must be 'raise' or 'keep_mandatory', got {self.on_overflow!r}"
            )
        if self.message_overhead_tokens < 0 or self.summary_max_tokens < 0:
            raise ValueError("message_overhead_tokens and summary_max_tokens must be >= 0")

    # -- step 1-3: cheap ------------------------------------------------------------
    def prepare(self, messages: Sequence[BaseMessage], *, summarize: bool = False) -> Plan:
        msgs = list(messages)
        costs = [message_tokens(m, self.counter, self.message_overhead_tokens) for m in msgs]
        groups = atomic_groups(msgs)
        turns = turn_of_groups(msgs, groups)
        system = {i for i, m in enumerate(msgs) if isinstance(m, SystemMessage)}
        current = len(groups) - 1
        for gi in range(len(groups) - 1, -1, -1):
            if isinstance(msgs[groups[gi][0]], HumanMessage):
                current = gi
                break
        query = message_text(msgs[groups[current][0]]) if groups else ""
        kept = set(system)
        for g in groups[max(current, 0) :] if groups else []:
            kept.update(g)
        mandatory = sum(costs[i] for i in kept)
        plan = Plan(msgs, costs, kept, [], query, self.max_tokens - mandatory, mandatory)
        if mandatory > self.max_tokens:
            if self.on_overflow == "raise":
                raise HistoryBudgetError(mandatory, self.max_tokens)
            plan.over_budget = True
            plan.remaining = 0
            return plan
        previous = groups[: max(current, 0)]
        prev_turns = turns[: len(previous)]
        # keep_last newest previous turns, newest first, while they fit
        recent_turns = sorted(set(prev_turns))[-self.keep_last :] if self.keep_last else []
        for t in reversed(recent_turns):
            idx = [i for g, gt in zip(previous, prev_turns, strict=True) if gt == t for i in g]
            cost = sum(costs[i] for i in idx)
            if cost > plan.remaining:
                break
            kept.update(idx)
            plan.remaining -= cost
        # candidate units
        units: list[list[int]] = []
        if self.granularity == "turn":
            by_turn: dict[int, list[int]] = {}
            for g, t in zip(previous, prev_turns, strict=True):
                by_turn.setdefault(t, []).extend(g)
            units = [u for _, u in sorted(by_turn.items())]
        else:
            units = [list(g) for g in previous]
        plan.candidates = [u for u in units if not kept.intersection(u)]
        if summarize and plan.candidates:
            total_left = sum(costs[i] for u in plan.candidates for i in u)
            if total_left > plan.remaining:
                plan.reserve = min(self.summary_max_tokens, plan.remaining)
        texts = {message_text(msgs[i]) for u in plan.candidates for i in u}
        plan.texts = sorted(t for t in texts if t)
        return plan

    # -- step 4-5: after embedding ---------------------------------------------------
    def choose(
        self, plan: Plan, query_vec: np.ndarray | None, text_vecs: np.ndarray | None
    ) -> None:
        """Add the best-scoring candidate units to ``plan.kept`` while they fit."""
        if not plan.candidates:
            return
        sims: dict[str, float] = {}
        if query_vec is not None and text_vecs is not None and len(plan.texts):
            values = text_vecs @ query_vec
            sims = {t: float(v) for t, v in zip(plan.texts, values, strict=True)}
        n = len(plan.candidates)
        scored = []
        for pos, unit in enumerate(plan.candidates):
            rel = max((sims.get(message_text(plan.messages[i]), 0.0) for i in unit), default=0.0)
            recency = (pos + 1) / n
            score = (1.0 - self.recency_weight) * rel + self.recency_weight * recency
            scored.append((-score, -pos, unit))
        scored.sort(key=lambda s: (s[0], s[1]))
        budget = plan.remaining - plan.reserve
        for _, _, unit in scored:
            cost = sum(plan.costs[i] for i in unit)
            if cost <= budget:
                plan.kept.update(unit)
                budget -= cost
        plan.remaining = budget + plan.reserve

    def result(self, plan: Plan, summary: BaseMessage | None = None) -> HistoryResult:
        """Assemble the output (original order; the summary after leading system messages)."""
        kept = sorted(plan.kept)
        out = [plan.messages[i] for i in kept]
        tokens_after = sum(plan.costs[i] for i in kept)
        if summary is not None:
            cost = message_tokens(summary, self.counter, self.message_overhead_tokens)
            if cost <= plan.remaining:
                pos = 0
                while pos < len(out) and isinstance(out[pos], SystemMessage):
                    pos += 1
                out.insert(pos, summary)
                tokens_after += cost
            else:
                summary = None
        return HistoryResult(
            messages=out,
            kept_indices=kept,
            dropped_indices=[i for i in range(len(plan.messages)) if i not in plan.kept],
            tokens_before=sum(plan.costs),
            tokens_after=tokens_after,
            mandatory_tokens=plan.mandatory_tokens,
            summary=summary,
            over_budget=plan.over_budget,
        )
