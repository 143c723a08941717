"""Run tags the benchmark puts on its chains (a leaf module: imports nothing of the bench)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

#: Tag put on every optimizer run inside a green chain, so its own energy is separated
#: from the answering model's (by the energy handler's run tree and by the capture).
OPTIMIZER_TAG = "green_chain:optimizer"


class OptimizerRuns:
    """Which runs of one invocation are an optimizer's: a run tagged :data:`OPTIMIZER_TAG`,
    or below one (an optimizer's own model call). Fed every run's start, in order."""

    def __init__(self) -> None:
        self._parents: dict[UUID, UUID | None] = {}
        self._roots: set[UUID] = set()

    def clear(self) -> None:
        """Forget every run (a new invocation)."""
        self._parents.clear()
        self._roots.clear()

    def under_optimizer(self, parent_run_id: UUID | None) -> bool:
        """Whether a run with this parent is below an optimizer's run."""
        for _ in range(1000):  # a bound, not a depth any chain reaches
            if parent_run_id is None:
                return False
            if parent_run_id in self._roots:
                return True
            parent_run_id = self._parents.get(parent_run_id)
        return False

    def start(self, run_id: UUID, parent_run_id: UUID | None, tags: Sequence[str] | None) -> bool:
        """Record a run's start; whether it is an optimizer's (tagged, or below one)."""
        self._parents[run_id] = parent_run_id
        tagged = OPTIMIZER_TAG in (tags or [])
        below = self.under_optimizer(parent_run_id)
        if tagged and not below:
            self._roots.add(run_id)
        return tagged or below
