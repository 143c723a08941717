"""green-chain: measure and cut the energy of LangChain applications.

The most used names are importable from the top level; they load lazily, so
``import green_chain`` stays fast and never imports torch or transformers:

- measuring: :class:`EnergyCallbackHandler`, :func:`get_energy_callback`,
  :class:`EnergyMonitor`, :class:`CarbonIntensity`, :class:`EnergyCurve`
- local models: :class:`ChatLocal`, :class:`LocalEmbeddings`
- optimizers: :class:`PromptCompressor`, :class:`GreenDocumentCompressor`,
  :class:`RelevantHistory`, :func:`relevant_history` (configured by a
  :class:`HistoryPolicy`), :class:`BudgetedExampleSelector`
- routing: :class:`RoutedChatModel`, :class:`EnergyRouter`, :class:`ExampleClassifier`
- response budgets: :class:`ResponseBudget`
- agent middleware: :class:`RelevantHistoryMiddleware`, :class:`EnergyRouterMiddleware`,
  :class:`ResponseBudgetMiddleware`
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "EnergyCallbackHandler": "green_chain.callbacks",
    "get_energy_callback": "green_chain.callbacks",
    "EnergyMonitor": "green_chain.energy.monitor",
    "Measurement": "green_chain.energy.measurement",
    "CarbonIntensity": "green_chain.energy.carbon",
    "EnergyCurve": "green_chain.energy.model",
    "IdleBaseline": "green_chain.energy.idle",
    "detect_backends": "green_chain.energy.probe",
    "ChatLocal": "green_chain.models",
    "LocalEmbeddings": "green_chain.models",
    "PromptCompressor": "green_chain.compression",
    "GreenDocumentCompressor": "green_chain.compression",
    "RelevantHistory": "green_chain.memory",
    "relevant_history": "green_chain.memory",
    "HistoryPolicy": "green_chain.memory",
    "BudgetedExampleSelector": "green_chain.selection",
    "RoutedChatModel": "green_chain.routing",
    "EnergyRouter": "green_chain.routing",
    "ExampleClassifier": "green_chain.routing",
    "ResponseBudget": "green_chain.response",
    "RelevantHistoryMiddleware": "green_chain.middleware",
    "EnergyRouterMiddleware": "green_chain.middleware",
    "ResponseBudgetMiddleware": "green_chain.middleware",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'green_chain' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
