"""Fixtures for the response-budget tests: bag-of-words embeddings, a metered handler,
and the tiny random chat model of ``tests/models``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing import FakeClock, FakeMeterBackend


class WordEmbeddings(Embeddings):
    """Bag-of-words vectors over a fixed vocabulary (deterministic, no model)."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower())
            out.append([float(words.count(w)) for w in self.vocabulary] + [0.01])
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


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
