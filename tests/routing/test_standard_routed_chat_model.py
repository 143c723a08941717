"""LangChain's standard chat-model test suites for ``RoutedChatModel`` over two local models.

The router routes between the packaged SmolLM2-135M-Instruct (cheap) and Gemma-3-270M
(large). The integration suite (``-m integration``) uses ``CascadeScorer`` with a
threshold of 0 so every request is answered by SmolLM2 and scored by its own
log-probability (one generation per request); the per-call model override selects
Gemma-3-270M. Every skip or xfail below names its reason in one line.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from green_chain.models import ChatLocal
from green_chain.routing import CascadeScorer, HeuristicScorer, RoutedChatModel
from tests.models.test_standard_chat_local import GEMMA, SMOL, XFAIL_135M


class TestRoutedChatModelUnit(ChatModelUnitTests):
    # Skipped by the suite itself, with its own message:
    # test_init_from_env_params: the router reads no environment variable.
    # test_serdes: the router is not lc-serializable (it holds models and a fitted scorer).
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return RoutedChatModel

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        params = dict(super().standard_chat_model_params)
        params.pop("api_key")  # local candidates have no API key (unknown fields are rejected)
        return params

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "models": [ChatLocal(model=SMOL), ChatLocal(model=GEMMA)],
            "scorer": HeuristicScorer(),
        }

    @property
    def model_override_value(self) -> str | None:
        return GEMMA


@pytest.mark.integration
class TestRoutedChatModelIntegration(ChatModelIntegrationTests):
    #: Expected failures (tests/conftest.py marks them xfail, non-strict): each is a
    #: capability SmolLM2-135M lacks, never a defect of ours.
    xfail_reasons = XFAIL_135M

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return RoutedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "models": [ChatLocal(model=SMOL), ChatLocal(model=GEMMA)],
            "scorer": CascadeScorer(),
            "threshold": 0.0,
            "max_tokens": 48,  # the suite's 100 would make the run slow on a 2-core CPU
        }

    @property
    def model_override_value(self) -> str | None:
        return GEMMA

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return False  # the candidates have no constrained JSON decoding

    @property
    def returns_usage_metadata(self) -> bool:
        return True
