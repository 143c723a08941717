"""Cheap-vs-large routing: send each request to the least energy that answers it well.

- :class:`RoutedChatModel`: a chat model over candidates ordered cheapest to largest.
- :class:`EnergyRouter`: the same for any runnables.
- Scorers (P(a cheaper model is good enough)): :class:`EmbeddingScorer`,
  :class:`CascadeScorer`, :class:`HeuristicScorer`, behind :class:`RouteScorer`.
- :func:`label_requests` and :func:`calibrate` to train scorers and pick thresholds.
- A first tier with no LLM: :class:`ExampleClassifier` (protocol :class:`TierAnswer`),
  passed as ``first_tier=`` to either router.
- The agent middleware lives in :mod:`green_chain.middleware.routing`.
"""

from green_chain.routing.calibration import (
    CalibrationResult,
    CurvePoint,
    calibrate,
    evaluate_threshold,
)
from green_chain.routing.cascade import CascadeScorer, logprob_confidence
from green_chain.routing.chat_model import RoutedChatModel
from green_chain.routing.classifier import ClassifierCalibration, ExampleClassifier
from green_chain.routing.decision import RoutingDecision, RoutingPolicy, choose
from green_chain.routing.embedding_scorer import EmbeddingScorer
from green_chain.routing.labels import LabelledRequests, label_requests, labels_from_quality
from green_chain.routing.runnable import EnergyRouter
from green_chain.routing.scorers import (
    EmptyRequestError,
    HeuristicScorer,
    RouteScorer,
    as_messages,
    conversation_text,
)
from green_chain.routing.tier import TierAnswer

__all__ = [
    "CalibrationResult",
    "CascadeScorer",
    "ClassifierCalibration",
    "CurvePoint",
    "EmbeddingScorer",
    "EmptyRequestError",
    "EnergyRouter",
    "ExampleClassifier",
    "HeuristicScorer",
    "LabelledRequests",
    "RouteScorer",
    "RoutedChatModel",
    "RoutingDecision",
    "RoutingPolicy",
    "TierAnswer",
    "as_messages",
    "calibrate",
    "choose",
    "conversation_text",
    "evaluate_threshold",
    "label_requests",
    "labels_from_quality",
    "logprob_confidence",
]
