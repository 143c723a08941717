"""The small interface every compression backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from green_chain.compression.units import Granularity


class CompressionBackend(ABC):
    """Ranks text units; the shared budget fitter then keeps the best within budget.

    Subclasses set ``name`` (used in the event name ``compression:<name>``) and
    ``granularity`` (``"sentence"`` or ``"word"``: how the compressor splits text
    before calling :meth:`score_units`).
    """

    name: str = "backend"
    granularity: Granularity = "sentence"

    @abstractmethod
    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        """One keep-priority per unit (higher is kept first).

        Args:
            units: Text units in order; joined they give the text to compress.
            question: The question the compressed text must answer, when known.
            keep_ratio: Fraction of tokens that will be kept (a hint; most backends
                ignore it, ``llmlingua`` passes it on as its rate).
        """

    def last_stats(self) -> dict[str, Any]:
        """Backend-specific figures of the last call (e.g. llmlingua's raw rate)."""
        return {}
