"""Compress one text or several parts to a token budget with a backend (no LangChain types)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from green_chain.compression.backends.base import CompressionBackend
from green_chain.compression.budget import fit_budget
from green_chain.compression.protect import compile_protect, protected_mask
from green_chain.compression.units import split_units
from green_chain.tokens import TokenCounter


def validate_budget(rate: float | None, target_tokens: int | None) -> None:
    """Raise a ValueError naming the problem for a bad ``rate``/``target_tokens``."""
    if rate is not None and target_tokens is not None:
        raise ValueError("give either rate= or target_tokens=, not both")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"rate must be a number in (0, 1], got {rate!r}")
        if not 0.0 < float(rate) <= 1.0:
            raise ValueError(
                f"rate is the fraction of tokens kept and must be in (0, 1], got {rate}"
            )
    if target_tokens is not None:
        if isinstance(target_tokens, bool) or not isinstance(target_tokens, int):
            raise ValueError(f"target_tokens must be an int > 0, got {target_tokens!r}")
        if target_tokens <= 0:
            raise ValueError(f"target_tokens must be > 0, got {target_tokens}")


@dataclass
class CompressionResult:
    """Outcome of compressing some text parts.

    Attributes:
        texts: Compressed parts, in the order given.
        tokens_before: Target-model tokens of all parts before.
        tokens_after: Target-model tokens of all parts after.
        target_tokens: Budget for all parts (``None`` when passed unchanged).
        backend: Backend name.
        stats: Backend figures (e.g. llmlingua raw tokens and deviation).
    """

    texts: list[str]
    tokens_before: int
    tokens_after: int
    target_tokens: int | None
    backend: str
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The single compressed text (for one part)."""
        return self.texts[0] if self.texts else ""


def rank_first(scores: Sequence[float], first: Sequence[bool]) -> list[float]:
    """Scores where every ``first`` unit outranks every other one; order within each group kept."""
    if not any(first):
        return list(scores)
    offset = max(scores) - min(scores) + 1.0
    return [s + offset if f else s for s, f in zip(scores, first, strict=True)]


def compress_parts(
    parts: Sequence[str],
    *,
    backend: CompressionBackend,
    count: TokenCounter,
    question: str | None,
    rate: float | None,
    target_tokens: int | None,
    min_tokens: int,
    patterns: Sequence[Any],
) -> CompressionResult:
    """Compress every part to its share of the budget (rate per part, or tokens pro rata).

    Units matching the backend's ``priority`` patterns are ranked first (see
    :class:`CompressionBackend`); ``patterns`` (``protect=``) are always kept.
    """
    validate_budget(rate, target_tokens)
    befores = [count(p) if p.strip() else 0 for p in parts]
    total = sum(befores)
    budget = (
        int(target_tokens)
        if target_tokens is not None
        else round(float(rate if rate is not None else 0.5) * total)
    )
    budget = max(1, budget)
    if total < min_tokens or budget >= total:
        return CompressionResult(list(parts), total, total, None, backend.name)
    first = compile_protect(backend.priority)
    out: list[str] = []
    after = 0
    raw_tokens = 0
    raw_seen = False
    for p, b in zip(parts, befores, strict=True):
        share = max(1, round(budget * b / total)) if b else 0
        if b == 0 or share >= b:
            out.append(p)
            after += b
            continue
        units = split_units(p, backend.granularity)
        scores = backend.score_units(units, question, keep_ratio=share / b)
        if len(scores) != len(units):
            raise RuntimeError(
                f"backend {backend.name!r} returned {len(scores)} scores for {len(units)} units"
            )
        if first:
            scores = rank_first(scores, protected_mask(p, units, first))
        raw = backend.last_stats().get("raw_text")
        if isinstance(raw, str):
            raw_seen = True
            raw_tokens += count(raw)
        fit = fit_budget(units, scores, count, share, protected=protected_mask(p, units, patterns))
        out.append(fit.text)
        after += fit.tokens
    stats: dict[str, Any] = {}
    if raw_seen:
        stats = {
            "raw_tokens": raw_tokens,
            "raw_relative_error": (raw_tokens - budget) / budget,
        }
    return CompressionResult(out, total, after, budget, backend.name, stats)
