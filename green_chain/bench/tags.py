"""Run tags the benchmark puts on its chains (a leaf module: imports nothing of the bench)."""

from __future__ import annotations

#: Tag put on every optimizer run inside a green chain, so its own energy is separated
#: from the answering model's (by the energy handler's run tree and by the capture).
OPTIMIZER_TAG = "green_chain:optimizer"
