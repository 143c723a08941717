"""Fixtures for the response-budget tests: a metered handler and the tiny random chat
model of ``tests/models``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing import FakeClock, FakeMeterBackend


@pytest.fixture
def handler() -> EnergyCallbackHandler:
    monitor = EnergyMonitor([FakeMeterBackend(["cpu"])], clock=FakeClock(start_s=10.0))
    return EnergyCallbackHandler(monitor, estimators=None)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random chat model of ``tests/models/conftest.py``."""
    path = Path(__file__).parents[1] / "models" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_green_chain_models_conftest", path)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder: Path = module.save_tiny(tmp_path_factory.mktemp("tiny-chat-budget"))
    return folder
