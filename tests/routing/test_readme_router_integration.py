"""The README's router example, with the packaged MiniLM: a handful of labelled requests
and ``threshold=0.6`` must route an easy new request to the cheap model."""

from __future__ import annotations

import warnings

import pytest
from routing_fakes import answering_model

from green_chain.routing import EmbeddingScorer, RoutedChatModel
from green_chain.routing.embedding_scorer import ScorerFitWarning

pytestmark = pytest.mark.integration

REQUESTS = [
    "What is 2 + 2?",
    "Say hello in French.",
    "What is the capital of Italy?",
    "Translate 'cat' to Spanish.",
    "Prove that there are infinitely many prime numbers, step by step.",
    "Write a detailed comparison of TCP congestion control algorithms.",
    "Explain how transformers use attention, with the math.",
    "Design a database schema for a hospital and justify each table.",
]
LABELS = [1, 1, 1, 1, 0, 0, 0, 0]  # 1: the cheap model's answer was good enough


def test_readme_router_example_routes_to_the_cheap_model() -> None:
    pytest.importorskip("sentence_transformers")
    cheap, large = answering_model("cheap"), answering_model("large")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScorerFitWarning)
        scorer = EmbeddingScorer().fit(REQUESTS, LABELS)
    router = RoutedChatModel(models=[cheap, large], scorer=scorer, threshold=0.6)
    easy = router.invoke("What is 3 + 5?")
    hard = router.invoke("Derive the closed form of the Fibonacci sequence and prove it.")
    assert easy.response_metadata["routing"]["chosen_model"] == "cheap"
    assert hard.response_metadata["routing"]["chosen_model"] == "large"
