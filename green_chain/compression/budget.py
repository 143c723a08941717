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
   coarse), the next-best units close it: each is added whole if the exact count
   allows, else as a prefix of its words sized by bisection on the exact count (a
   unit that cannot be cut, one long word, is passed over for the next).

The original order of the kept units is always preserved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from green_chain.compression.units import join_units, split_words
from green_chain.tokens import TokenCounter

logger = logging.getLogger(__name__)


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
        text, tokens = _fill_gap(units, keep, order[nxt:], count, target_tokens, text, tokens)
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
    count: TokenCounter,
    target_tokens: int,
    text: str,
    tokens: int,
) -> tuple[str, int]:
    """Close a gap larger than the tolerance with the best-ranked ``candidates``.

    Each candidate in turn is added whole when the exact count stays within the
    tolerance, else as its longest word prefix that stays within the budget (a unit
    may be cut only once; later units are tried when a cut gains nothing, e.g. one
    long word). Stops as soon as the gap is within the tolerance. ``keep`` is updated.
    """
    tol = tolerance(target_tokens)
    work = list(units)  # a cut unit is replaced by its kept prefix here
    for i in candidates:
        if target_tokens - tokens <= tol:
            break
        if keep[i]:
            continue
        keep[i] = True
        trial = join_units(work, keep)
        t = count(trial)
        if t <= target_tokens + tol:
            text, tokens = trial, t
            continue
        keep[i] = False
        piece, t = _partial_fill(work, keep, i, count, target_tokens)
        if piece is not None and t > tokens:
            work[i] = piece
            keep[i] = True
            text, tokens = join_units(work, keep), t
    return text, tokens


def _partial_fill(
    units: Sequence[str],
    keep: list[bool],
    idx: int,
    count: TokenCounter,
    target_tokens: int,
) -> tuple[str | None, int]:
    """The longest word prefix of unit ``idx`` that keeps the joined text within budget.

    Returns ``(prefix, tokens of the text with it)``, or ``(None, 0)`` if no prefix fits.
    """
    words = split_words(units[idx])
    later = any(keep[i] for i in range(idx + 1, len(units)))
    best: tuple[str, int] | None = None
    lo, hi = 1, len(words) - 1  # a full unit did not fit
    trial = list(keep)
    trial[idx] = True
    work = list(units)
    while lo <= hi:
        mid = (lo + hi) // 2
        piece = "".join(words[:mid])
        if not piece.endswith((" ", "\n", "\t")) and later:
            piece += " "
        work[idx] = piece
        t = count(join_units(work, trial))
        if t <= target_tokens:
            best = (piece, t)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None:
        return None, 0
    return best
