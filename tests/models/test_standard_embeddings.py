"""LangChain's standard embeddings test suites (``langchain-tests``) for ``LocalEmbeddings``.

The integration suite (``-m integration``) embeds with the packaged all-MiniLM-L6-v2.
Skipped by the unit suite itself, with its own message: ``test_init_from_env_params``
(LocalEmbeddings reads no environment variable: no key, no endpoint).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from green_chain.models import LocalEmbeddings


class TestLocalEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[Embeddings]:
        return LocalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "all-minilm-l6-v2"}


@pytest.mark.integration
class TestLocalEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[Embeddings]:
        return LocalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "all-minilm-l6-v2"}
