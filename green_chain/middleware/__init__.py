"""LangChain 1.x ``create_agent`` middleware versions of green-chain's optimizers.

- :class:`RelevantHistoryMiddleware`: relevance-filtered history per model call.
- :class:`EnergyRouterMiddleware`: cheap-vs-large model choice per model call.
- :class:`ResponseBudgetMiddleware`: a predicted answer budget per model call.

They need the ``agents`` extra (``pip install "green-chain[agents]"``); the names
load lazily so ``import green_chain.middleware`` works without langchain.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "RelevantHistoryMiddleware": "green_chain.middleware.history",
    "EnergyRouterMiddleware": "green_chain.middleware.routing",
    "ResponseBudgetMiddleware": "green_chain.middleware.response",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'green_chain.middleware' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
