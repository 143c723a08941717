"""The shared budget fitter: picks units by score until the token budget is hit exactly.

Backends only rank units; this module turns a ranking into text whose token count,
measured with the target model's tokenizer on the *joined* output, is within
``tolerance(target)`` of the target. Steps:

1. protected units are always kept;
2. the other units are taken greedily by score (ties: earlier first) while the sum of
   their individual token costs fits;
3. the joined text is re-counted exactly and units are added/removed to correct the
   difference (a few rounds: costs of units in context differ slightly from alone);
4. if the remaining gap is still larger than the tolerance (sentence units are
   coarse), a prefix of the next-best unit's words is added, sized by bisection on
   the exact count;
5. if that unit cannot be cut (a single long word), smaller lower-ranked units fill
   the gap, each addition checked with an exact count.

The original order of the kept units is always preserved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from green_chain.compression.units import join_units, split_words

logger = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]


def tolerance(target_tokens: int) -> int:
    """Allowed deviation from the budget: 5% of it or 8 tokens, whichever is larger."""
    return max(8, int(0.05 * target_tokens))


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_budget` kept.

    Attributes:
        text: The compressed text (kept units joined in order).
        tokens: Its exact token count with the counter given.
        target_tokens: The budget asked for.
        kept: Per-unit keep flags (a partially kept unit counts as kept).
        protected_overflow: True when the protected units alone exceed the budget
            (protection wins; the budget is then not met).
    """

    text: str
    tokens: int
    target_tokens: int
    kept: list[bool]
    protected_overflow: bool = False

    @property
    def relative_error(self) -> float:
        """(tokens - target) / target."""
        return (self.tokens - self.target_tokens) / max(1, self.target_tokens)


def fit_budget(
    units: Sequence[str],
    scores: Sequence[float],
    count: TokenCounter,
    target_tokens: int,
    *,
    protected: Sequence[bool] | None = None,
    max_rounds: int = 8,
) -> FitResult:
    """Keep the best-scored units so the joined text has ``target_tokens`` (± tolerance).

    Args:
        units: Text units that joined give the original text (see ``units.py``).
        scores: Keep priority per unit (higher is kept first).
        count: Exact token counter of the target model.
        target_tokens: Token budget of the output (> 0).
        protected: Units that must be kept whatever their score.
        max_rounds: Correction rounds with an exact re-count.
    """
    n = len(units)
    if len(scores) != n:
        raise ValueError(f"got {len(scores)} scores for {n} units")
    if target_tokens <= 0:
        raise ValueError(f"target_tokens must be > 0, got {target_tokens}")
    prot = list(protected) if protected is not None else [False] * n
    if len(prot) != n:
        raise ValueError(f"got {len(prot)} protect flags for {n} units")
    tol = tolerance(target_tokens)
    costs = [count(u) if u.strip() else 0 for u in units]
    keep = list(prot)
    order = sorted((i for i in range(n) if not prot[i]), key=lambda i: (-scores[i], i))
    est = sum(c for c, p in zip(costs, prot, strict=True) if p)
    nxt = 0  # order[:nxt] are kept
    while nxt < len(order) and est + costs[order[nxt]] <= target_tokens:
        est += costs[order[nxt]]
        keep[order[nxt]] = True
        nxt += 1
    text = join_units(units, keep)
    tokens = count(text)
    for _ in range(max_rounds):
        diff = target_tokens - tokens
        if -tol <= diff <= tol:
            break
        if diff > 0:  # room left: add further units that fit the gap
            added = 0
            while nxt < len(order) and added + costs[order[nxt]] <= diff:
                added += costs[order[nxt]]
                keep[order[nxt]] = True
                nxt += 1
            if added == 0:
                break  # next unit is too large: partial fill below
        else:  # over budget: drop the lowest-ranked kept units
            removed = 0
            while nxt > 0 and removed < -diff:
                nxt -= 1
                keep[order[nxt]] = False
                removed += costs[order[nxt]]
            if removed == 0:
                break  # only protected units left
        text = join_units(units, keep)
        tokens = count(text)
    if target_tokens - tokens > tol and nxt < len(order):
        filled, tokens = _partial_fill(units, keep, order[nxt], count, target_tokens, tokens)
        if filled is not None:
            keep[order[nxt]] = True
            text = filled
            nxt += 1
    if target_tokens - tokens > tol and nxt < len(order):
        # the next unit could not be cut to the gap (one long word): smaller,
        # lower-ranked units fill it instead
        text, tokens = _fill_gap(
            units, keep, order[nxt + 1 :], costs, count, target_tokens, text, tokens
        )
    overflow = tokens > target_tokens + tol
    if overflow:
        logger.warning(
            "protected text alone has %d tokens > budget %d; protection wins", tokens, target_tokens
        )
    return FitResult(
        text=text,
        tokens=tokens,
        target_tokens=target_tokens,
        kept=keep,
        protected_overflow=overflow,
    )


def _fill_gap(
    units: Sequence[str],
    keep: list[bool],
    candidates: Sequence[int],
    costs: Sequence[int],
    count: TokenCounter,
    target_tokens: int,
    text: str,
    tokens: int,
) -> tuple[str, int]:
    """Add the best-ranked ``candidates`` that fit the gap, checking each exact count."""
    for i in candidates:
        gap = target_tokens - tokens
        if gap <= tolerance(target_tokens):
            break
        if keep[i] or costs[i] > gap:
            continue
        keep[i] = True
        trial = join_units(units, keep)
        t = count(trial)
        if t <= target_tokens + tolerance(target_tokens):
            text, tokens = trial, t
        else:
            keep[i] = False
    return text, tokens


def _partial_fill(
    units: Sequence[str],
    keep: list[bool],
    idx: int,
    count: TokenCounter,
    target_tokens: int,
    tokens_now: int,
) -> tuple[str, int] | tuple[None, int]:
    """Add the longest word prefix of unit ``idx`` that keeps the text within budget."""
    words = split_words(units[idx])
    before = "".join(u for i, u in enumerate(units[:idx]) if keep[i])
    after = "".join(u for i, u in enumerate(units) if i > idx and keep[i])
    best: tuple[str, int] | None = None
    lo, hi = 1, len(words) - 1  # a full unit did not fit
    while lo <= hi:
        mid = (lo + hi) // 2
        piece = "".join(words[:mid])
        if not piece.endswith((" ", "\n", "\t")) and after:
            piece += " "
        text = (before + piece + after).rstrip()
        t = count(text)
        if t <= target_tokens:
            best = (text, t)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None:
        return None, tokens_now
    return best
