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

    ``priority`` names built-in patterns of ``green_chain.compression.protect``
    (``"numbers"``: numbers and dates; ``"entities"``: capitalised names) whose units
    the compressor ranks above every other unit, so they are kept first within the
    budget (unlike ``protect=``, which keeps them even over the budget). Backends that
    score words set ``("numbers", "entities")`` by default: a word scorer left alone
    drops years and figures (they are predictable to a language model).
    """

    name: str = "backend"
    granularity: Granularity = "sentence"
    priority: tuple[str, ...] = ()

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

    def set_priority(self, priority: Sequence[str] | None) -> None:
        """Set :attr:`priority` (``None`` keeps the class default; ``()`` turns it off)."""
        if priority is None:
            return
        from green_chain.compression.protect import BUILTIN_PATTERNS

        if isinstance(priority, str):
            priority = (priority,)
        unknown = [p for p in priority if p not in BUILTIN_PATTERNS]
        if unknown:
            raise ValueError(
                f"priority takes built-in pattern names {sorted(BUILTIN_PATTERNS)}, got {unknown}"
            )
        self.priority = tuple(priority)

    def last_stats(self) -> dict[str, Any]:
        """Backend-specific figures of the last call (e.g. llmlingua's raw rate)."""
        return {}
