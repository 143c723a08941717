"""The history-filtering algorithm, free of any Runnable plumbing.

Steps (see :class:`HistoryPlanner`):

1. split the messages into atomic groups (an AI message with tool calls plus its tool
   results) and turns (a turn starts at each human message);
2. the *current turn* (the last human message and everything after it) and all system
   messages are mandatory; if they exceed the budget, :class:`HistoryBudgetError`
   is raised (or, with ``on_overflow="keep_mandatory"``, they are returned over budget:
   the new message is never truncated);
3. previous units (turns, or atomic groups with ``granularity="message"``) get a
   relevance, the best cosine similarity of their messages to the new message; those
   with relevance >= ``relevant_above`` are added first, most relevant first, while
   they fit (relevance beats recency for a clearly relevant turn; skipped when
   ``recency_weight`` is 1, recency only);
4. the newest ``keep_last`` previous turns are added, newest first, while they fit;
5. every other unit gets ``score = (1 - recency_weight) * relevance + recency_weight *
   recency`` where recency rises linearly from ~0 (oldest) to 1 (newest); units are
   added by descending score (ties: newer first) while they fit;
6. with ``budget="prompt"``, the whole rendered prompt of the kept messages is counted
   exactly and the units added last are removed until it fits;
7. the kept messages are returned in their original order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from green_chain.memory.messages import atomic_groups, message_text, message_tokens, turn_of_groups
from green_chain.memory.policy import Granularity, HistoryPolicy, Overflow

__all__ = [
    "Granularity",
    "HistoryBudgetError",
    "HistoryPlanner",
    "HistoryResult",
    "Overflow",
    "Plan",
    "PromptTokens",
]

#: ``messages -> int``: tokens of the whole prompt the model receives for those messages.
PromptTokens = Callable[[Sequence[BaseMessage]], int]


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
        tokens_before: Tokens of all input messages, as the budget counts them (tokens).
        tokens_after: Tokens of ``messages``, as the budget counts them (tokens).
        mandatory_tokens: Tokens of the system messages and the current turn (tokens).
        budget: What the token figures count: ``"messages"`` or ``"prompt"``.
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
    budget: str = "messages"


@dataclass
class Plan:
    """Intermediate state between the cheap steps and the embedding step."""

    messages: list[BaseMessage]
    costs: list[int]
    kept: set[int]
    candidates: list[list[int]]  # units, chronological
    recent: list[list[int]]  # the keep_last turns' indices, newest first
    query: str
    remaining: int
    mandatory_tokens: int
    summarize: bool = False
    over_budget: bool = False
    reserve: int = 0
    texts: list[str] = field(default_factory=list)
    added: list[list[int]] = field(default_factory=list)  # units in the order added


class HistoryPlanner:
    """Decides which messages to keep (see the module docstring for the algorithm).

    Args:
        policy: The configuration (budget, weights, ``keep_last``, ...).
        counter: ``str -> int`` token counter of the target model.
        prompt_tokens: With ``policy.budget == "prompt"``: the exact token count of the
            prompt the model receives for a list of messages.
    """

    def __init__(
        self,
        policy: HistoryPolicy,
        counter: Callable[[str], int],
        prompt_tokens: PromptTokens | None = None,
    ) -> None:
        if policy.budget == "prompt" and prompt_tokens is None:
            raise ValueError("budget='prompt' needs a prompt_tokens counter")
        self.policy = policy
        self.counter = counter
        self.prompt_tokens = prompt_tokens if policy.budget == "prompt" else None

    @property
    def max_tokens(self) -> int:
        return self.policy.max_tokens

    def _cost(self, message: BaseMessage) -> int:
        return message_tokens(message, self.counter, self.policy.message_overhead_tokens)

    # -- steps 1-2: cheap -------------------------------------------------------------
    def prepare(self, messages: Sequence[BaseMessage], *, summarize: bool = False) -> Plan:
        policy = self.policy
        msgs = list(messages)
        costs = [self._cost(m) for m in msgs]
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
        budget = policy.max_tokens
        if self.prompt_tokens is not None:
            exact = self.prompt_tokens([msgs[i] for i in sorted(kept)])
            budget -= exact - mandatory  # template and tools: a fixed part of the prompt
            mandatory = exact
        plan = Plan(
            msgs, costs, kept, [], [], query, budget - sum(costs[i] for i in kept), mandatory
        )
        plan.summarize = summarize
        if mandatory > policy.max_tokens:
            if policy.on_overflow == "raise":
                raise HistoryBudgetError(mandatory, policy.max_tokens)
            plan.over_budget = True
            plan.remaining = 0
            return plan
        previous = groups[: max(current, 0)]
        prev_turns = turns[: len(previous)]
        by_turn: dict[int, list[int]] = {}
        for g, t in zip(previous, prev_turns, strict=True):
            by_turn.setdefault(t, []).extend(g)
        newest = sorted(by_turn)[-policy.keep_last :] if policy.keep_last else []
        plan.recent = [by_turn[t] for t in reversed(newest)]
        if policy.granularity == "turn":
            plan.candidates = [u for _, u in sorted(by_turn.items())]
        else:
            plan.candidates = [list(g) for g in previous]
        texts = {message_text(msgs[i]) for u in plan.candidates for i in u}
        plan.texts = sorted(t for t in texts if t)
        return plan

    # -- steps 3-6: after embedding ---------------------------------------------------
    def _add(self, plan: Plan, indices: list[int], budget: int) -> int:
        """Add ``indices`` when they fit ``budget``; the budget left (-1: did not fit)."""
        new = [i for i in indices if i not in plan.kept]
        cost = sum(plan.costs[i] for i in new)
        if cost > budget:
            return -1
        if new:
            plan.kept.update(new)
            plan.added.append(new)
        return budget - cost

    def _add_if_fits(self, plan: Plan, indices: list[int], budget: int) -> int:
        left = self._add(plan, indices, budget)
        return budget if left < 0 else left

    def choose(
        self, plan: Plan, query_vec: np.ndarray | None, text_vecs: np.ndarray | None
    ) -> None:
        """Add the relevant, the newest and then the best-scoring units while they fit."""
        if not plan.candidates or plan.over_budget:
            return
        policy = self.policy
        sims: dict[str, float] = {}
        if query_vec is not None and text_vecs is not None and len(plan.texts):
            values = text_vecs @ query_vec
            sims = {t: float(v) for t, v in zip(plan.texts, values, strict=True)}

        def relevance(unit: list[int]) -> float:
            return max((sims.get(message_text(plan.messages[i]), 0.0) for i in unit), default=0.0)

        budget = plan.remaining
        if sims and policy.relevant_above is not None and policy.recency_weight < 1.0:
            clear = [u for u in plan.candidates if relevance(u) >= policy.relevant_above]
            for unit in sorted(clear, key=relevance, reverse=True):
                budget = self._add_if_fits(plan, unit, budget)
        for turn in plan.recent:
            left = self._add(plan, turn, budget)
            if left < 0:
                break
            budget = left
        rest = [u for u in plan.candidates if not plan.kept.issuperset(u)]
        if plan.summarize and rest and sum(plan.costs[i] for u in rest for i in u) > budget:
            plan.reserve = min(policy.summary_max_tokens, budget)
        budget -= plan.reserve
        n = len(plan.candidates)
        scored = []
        for pos, unit in enumerate(plan.candidates):
            if plan.kept.issuperset(unit):
                continue
            score = (1.0 - policy.recency_weight) * relevance(unit) + policy.recency_weight * (
                (pos + 1) / n
            )
            scored.append((-score, -pos, unit))
        scored.sort(key=lambda s: (s[0], s[1]))
        for _, _, unit in scored:
            budget = self._add_if_fits(plan, unit, budget)
        plan.remaining = budget + plan.reserve
        self._fit_prompt(plan)

    def _fit_prompt(self, plan: Plan) -> None:
        """``budget="prompt"``: drop the units added last until the exact prompt fits."""
        if self.prompt_tokens is None:
            return
        while plan.added:
            exact = self.prompt_tokens([plan.messages[i] for i in sorted(plan.kept)])
            if exact <= self.policy.max_tokens:
                break
            unit = plan.added.pop()
            plan.kept.difference_update(unit)
            plan.remaining += sum(plan.costs[i] for i in unit)

    def result(self, plan: Plan, summary: BaseMessage | None = None) -> HistoryResult:
        """Assemble the output (original order; the summary after leading system messages)."""
        kept = sorted(plan.kept)
        out = [plan.messages[i] for i in kept]
        tokens_after = sum(plan.costs[i] for i in kept)
        if summary is not None:
            with_summary = list(out)
            pos = 0
            while pos < len(with_summary) and isinstance(with_summary[pos], SystemMessage):
                pos += 1
            with_summary.insert(pos, summary)
            cost = self._cost(summary)
            fits = cost <= plan.remaining
            if fits and self.prompt_tokens is not None:
                fits = self.prompt_tokens(with_summary) <= self.policy.max_tokens
            if fits:
                out, tokens_after = with_summary, tokens_after + cost
            else:
                summary = None
        tokens_before = sum(plan.costs)
        if self.prompt_tokens is not None:
            tokens_before = self.prompt_tokens(plan.messages) if plan.messages else 0
            tokens_after = self.prompt_tokens(out) if out else 0
        return HistoryResult(
            messages=out,
            kept_indices=kept,
            dropped_indices=[i for i in range(len(plan.messages)) if i not in plan.kept],
            tokens_before=tokens_before,
            tokens_after=tokens_after,
            mandatory_tokens=plan.mandatory_tokens,
            summary=summary,
            over_budget=plan.over_budget,
            budget=self.policy.budget,
        )
