"""Training labels for learned scorers: where was the cheap answer good enough?"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig


def labels_from_quality(
    cheap_quality: Sequence[float], large_quality: Sequence[float], tolerance: float = 0.0
) -> list[int]:
    """1 where ``cheap >= large - tolerance`` (the cheap answer is good enough), else 0."""
    if len(cheap_quality) != len(large_quality):
        raise ValueError(
            f"got {len(cheap_quality)} cheap and {len(large_quality)} large quality scores"
        )
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    return [
        int(float(c) >= float(g) - tolerance)
        for c, g in zip(cheap_quality, large_quality, strict=True)
    ]


@dataclass
class LabelledRequests:
    """Both models' outputs and quality on a labelled set, and the resulting labels."""

    labels: list[int]
    cheap_quality: list[float]
    large_quality: list[float]
    cheap_outputs: list[Any] = field(default_factory=list)
    large_outputs: list[Any] = field(default_factory=list)
    tolerance: float = 0.0


def label_requests(
    requests: Sequence[Any],
    cheap: Runnable[Any, Any],
    large: Runnable[Any, Any],
    score_fn: Callable[[Any, Any, Any], float],
    tolerance: float = 0.0,
    *,
    references: Sequence[Any] | None = None,
    config: RunnableConfig | None = None,
) -> LabelledRequests:
    """Run both models on every request and label where the cheap one was good enough.

    Args:
        requests: Model inputs (strings, message lists, prompt values ...).
        cheap, large: The cheaper and the larger model (any runnables).
        score_fn: ``(request, output, reference) -> quality`` (higher is better;
            ``reference`` is ``None`` without ``references``).
        tolerance: Label 1 where ``cheap quality >= large quality - tolerance``.
        references: Gold answers, one per request.
        config: Passed to both models (callbacks, e.g. an energy handler).
    """
    if len(requests) == 0:
        raise ValueError("label_requests() needs at least one request")
    if references is not None and len(references) != len(requests):
        raise ValueError(f"got {len(references)} references for {len(requests)} requests")
    refs: Sequence[Any] = references if references is not None else [None] * len(requests)
    cheap_out = cheap.batch(list(requests), config)
    large_out = large.batch(list(requests), config)
    cq = [float(score_fn(r, o, g)) for r, o, g in zip(requests, cheap_out, refs, strict=True)]
    lq = [float(score_fn(r, o, g)) for r, o, g in zip(requests, large_out, refs, strict=True)]
    return LabelledRequests(
        labels=labels_from_quality(cq, lq, tolerance),
        cheap_quality=cq,
        large_quality=lq,
        cheap_outputs=list(cheap_out),
        large_outputs=list(large_out),
        tolerance=tolerance,
    )
