"""``head`` backend: keep the first share of the tokens (plain truncation, the reference).

Every word scores minus its position, so the shared budget fitter keeps the words
from the start until the budget is spent. It is the baseline every other backend
must beat on answer survival (``python -m green_chain.experiments.compression``).
"""

from __future__ import annotations

from collections.abc import Sequence

from green_chain.compression.backends.base import CompressionBackend


class HeadBackend(CompressionBackend):
    """Keep-the-head truncation: word ``i`` scores ``-i`` (earlier words are kept first)."""

    name = "head"
    granularity = "word"

    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        return [-float(i) for i in range(len(units))]
