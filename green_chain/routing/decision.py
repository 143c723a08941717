"""The routing policy shared by the chat model, the runnable and the middleware.

:class:`RoutingPolicy` turns a scorer's probabilities into a choice among models
ordered cheapest to largest, and :class:`RoutingDecision` is what every router
records on its run (custom event ``green_chain.routing_decision``) and in the
answer's ``response_metadata["routing"]``.

Threshold semantics: ``threshold`` is one float in ``[0, 1]`` for all cheaper models
or one per cheaper model. Model ``i`` (not the largest) is chosen when it is the
cheapest with ``p[i] >= threshold[i]`` and ``threshold[i] < 1``; when none clears, the
largest model is chosen. So ``threshold=0`` always picks the cheapest and
``threshold=1`` always the largest; values outside ``[0, 1]`` are rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableBinding

from green_chain.routing.scorers import RouteScorer

logger = logging.getLogger(__name__)


def model_name(model: Any) -> str:
    """A model's name: ``model_name``/``model``/``model_id`` of the (unbound) model."""
    inner = model
    while isinstance(inner, RunnableBinding):
        inner = inner.bound
    for attr in ("model_name", "model", "model_id"):
        value = getattr(inner, attr, None)
        if isinstance(value, str) and value:
            return value
    name = getattr(inner, "name", None)
    if isinstance(name, str) and name:
        return name
    return type(inner).__name__


def unique_names(models: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    """Names of the candidates, made unique (``name``, ``name#2`` ...) when needed."""
    if names is not None:
        if len(names) != len(models):
            raise ValueError(f"got {len(names)} names for {len(models)} models")
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {list(names)}")
        return list(names)
    out: list[str] = []
    for m in models:
        base = model_name(m)
        name, k = base, 2
        while name in out:
            name, k = f"{base}#{k}", k + 1
        out.append(name)
    return out


def thresholds_for(threshold: float | Sequence[float], n_models: int) -> list[float]:
    """One threshold per cheaper model (see the module docstring)."""
    if isinstance(threshold, int | float):
        values = [float(threshold)] * (n_models - 1)
    else:
        values = [float(t) for t in threshold]
        if len(values) != n_models - 1:
            raise ValueError(
                f"threshold has {len(values)} values; {n_models} models need one float "
                f"or {n_models - 1} values (one per cheaper model)"
            )
    for t in values:
        if not 0.0 <= t <= 1.0:  # NaN fails too
            raise ValueError(
                f"threshold must be in [0, 1] (0: always the cheapest model, 1: always the "
                f"largest), got {t}"
            )
    return values


def routes_cheaper(probability: float, threshold: float) -> bool:
    """Whether a score sends the request to the cheaper model (``threshold=1``: never)."""
    return threshold < 1.0 and probability >= threshold


def choose(probabilities: Sequence[float], thresholds: Sequence[float]) -> int:
    """Index of the cheapest model with ``p >= threshold`` (and ``threshold < 1``), else
    the largest."""
    for i, (p, t) in enumerate(zip(probabilities, thresholds, strict=True)):
        if routes_cheaper(p, t):
            return i
    return len(thresholds)


@dataclass
class RoutingDecision:
    """One routing decision, as recorded on the run.

    With a first tier (:mod:`green_chain.routing.tier`) the ``first_tier*`` fields
    record its name, calibrated confidence, threshold, label and whether it
    answered; when it answered, ``chosen_model`` is the tier's name and
    ``chosen_index`` is ``-1`` (no candidate model was called).

    ``predicted_energy_j`` maps each candidate with a fitted curve to E(n) at the
    request's prompt tokens; those figures are ``projected`` (a model of energy,
    not a measurement).
    """

    router: str
    scorer: str
    candidates: list[str]
    chosen_model: str
    chosen_index: int
    scores: list[float | None]
    threshold: list[float]
    reason: str
    prompt_tokens: int
    prompt_tokens_method: str
    predicted_energy_j: dict[str, float] = field(default_factory=dict)
    predicted_energy_kind: str = "projected"
    predicted_energy_source: str = ""
    predicted_saving_j: float | None = None
    scorer_error: str | None = None
    cascade_calls: list[str] = field(default_factory=list)
    first_tier: str | None = None
    first_tier_answered: bool = False
    first_tier_confidence: float | None = None
    first_tier_threshold: float | None = None
    first_tier_label: str | None = None
    first_tier_reason: str | None = None

    @property
    def score(self) -> float | None:
        """The first (cheapest model's) score."""
        return self.scores[0] if self.scores else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = self.score
        return data


class RoutingPolicy:
    """Scorer + thresholds + energy curves over named candidates.

    Args:
        names: Candidate names, cheapest to largest (two or more).
        scorer: The :class:`RouteScorer`.
        threshold: One float or one per cheaper model.
        energy_curves: ``{name: curve}``, each with ``predict(n_tokens) -> joules``
            (``green_chain.energy.model.EnergyCurve``); used for predictions only.
        token_model: Tokenizer name for counting prompt tokens (default: the
            largest candidate's name).
        router: Router name recorded in decisions.
    """

    def __init__(
        self,
        names: Sequence[str],
        scorer: RouteScorer,
        threshold: float | Sequence[float],
        energy_curves: Mapping[str, Any] | None = None,
        *,
        token_model: str | None = None,
        router: str = "router",
    ) -> None:
        if len(names) < 2:
            raise ValueError(
                f"a router needs two or more models ordered cheapest to largest, got {len(names)}"
            )
        if not isinstance(scorer, RouteScorer):
            raise TypeError(f"scorer must be a RouteScorer, got {type(scorer).__name__}")
        self.names = list(names)
        self.scorer = scorer
        self.thresholds = thresholds_for(threshold, len(names))
        curves = dict(energy_curves or {})
        unknown = sorted(set(curves) - set(self.names))
        if unknown:
            raise KeyError(f"energy_curves has unknown model names {unknown}; models: {self.names}")
        for key, curve in curves.items():
            if not callable(getattr(curve, "predict", None)):
                raise TypeError(f"energy curve for {key!r} has no predict(n) method")
        self.energy_curves = curves
        self.token_model = token_model or self.names[-1]
        self.router = router

    @property
    def n_cheaper(self) -> int:
        return len(self.names) - 1

    def index_of(self, name: str) -> int:
        """Index of a candidate by name (clear error for unknown names)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown model name {name!r}; models: {self.names}") from None

    def new_decision(self, messages: Sequence[BaseMessage]) -> RoutingDecision:
        """A decision skeleton with token counts and predictions (chosen: largest)."""
        from green_chain.tokens import count_message_tokens

        tokens = count_message_tokens(messages, self.token_model)
        predicted: dict[str, float] = {}
        sources: list[str] = []
        for name, curve in self.energy_curves.items():
            try:
                predicted[name] = float(curve.predict(tokens.tokens))
            except Exception as exc:  # a broken curve must not break the call
                logger.debug("energy curve for %s failed", name, exc_info=True)
                sources.append(f"{name}: predict failed ({exc})")
                continue
            kind = getattr(curve, "kind", None)
            device = getattr(curve, "device", None)
            sources.append(
                f"{name}: E(n) fit"
                + (f" of {kind}" if kind else "")
                + (f" on {device}" if device else "")
            )
        last = len(self.names) - 1
        return RoutingDecision(
            router=self.router,
            scorer=getattr(self.scorer, "name", type(self.scorer).__name__),
            candidates=list(self.names),
            chosen_model=self.names[last],
            chosen_index=last,
            scores=[None] * self.n_cheaper,
            threshold=list(self.thresholds),
            reason="",
            prompt_tokens=tokens.tokens,
            prompt_tokens_method=tokens.method,
            predicted_energy_j=predicted,
            predicted_energy_source="; ".join(sources),
        )

    def note_tier(self, decision: RoutingDecision, name: str, answer: Any) -> RoutingDecision:
        """Record a first tier's outcome (a ``TierAnswer``); chooses the tier if it answered."""
        decision.first_tier = name
        decision.first_tier_answered = bool(answer.answered)
        decision.first_tier_confidence = answer.confidence
        decision.first_tier_threshold = answer.threshold
        decision.first_tier_label = answer.label
        decision.first_tier_reason = answer.reason
        if answer.answered:
            decision.chosen_index = -1
            decision.chosen_model = name
            decision.reason = f"first tier {name} answered: {answer.reason}"
        return decision

    def set_choice(self, decision: RoutingDecision, index: int, reason: str) -> RoutingDecision:
        decision.chosen_index = index
        decision.chosen_model = self.names[index]
        decision.reason = reason
        largest = self.names[-1]
        chosen = decision.chosen_model
        pred = decision.predicted_energy_j
        if largest in pred and chosen in pred:
            decision.predicted_saving_j = pred[largest] - pred[chosen]
        return decision

    def decide(self, messages: Sequence[BaseMessage]) -> RoutingDecision:
        """Score the request (before any call) and choose; a failing scorer picks the largest."""
        decision = self.new_decision(messages)
        try:
            probs = [float(p) for p in self.scorer.probabilities(messages, self.n_cheaper)]
            if len(probs) != self.n_cheaper:
                raise ValueError(
                    f"scorer returned {len(probs)} probabilities for "
                    f"{self.n_cheaper} cheaper models"
                )
        except Exception as exc:
            logger.warning(
                "routing scorer %s failed; using the largest model: %s", decision.scorer, exc
            )
            decision.scorer_error = f"{type(exc).__name__}: {exc}"
            return self.set_choice(
                decision,
                self.n_cheaper,
                f"scorer failed ({decision.scorer_error}); routed to largest",
            )
        decision.scores = list(probs)
        index = choose(probs, self.thresholds)
        return self.set_choice(decision, index, self._reason(index, probs))

    def _reason(self, index: int, probs: Sequence[float]) -> str:
        if index < self.n_cheaper:
            return (
                f"p={probs[index]:.3f} >= threshold {self.thresholds[index]:.3f} "
                f"for {self.names[index]}"
            )
        return "no cheaper model cleared its threshold"

    def cascade_check(
        self,
        decision: RoutingDecision,
        index: int,
        messages: Sequence[BaseMessage],
        response: BaseMessage,
    ) -> bool:
        """Record the cascade score of model ``index``'s answer; True = keep it.

        A failing confidence function escalates (and records the reason).
        """
        decision.cascade_calls.append(self.names[index])
        try:
            score = self.scorer.score_response(messages, response)  # type: ignore[attr-defined]
        except Exception as exc:
            logger.warning("cascade scorer failed on %s; escalating: %s", self.names[index], exc)
            decision.scorer_error = f"{type(exc).__name__}: {exc}"
            return False
        decision.scores[index] = float(score)
        if score >= self.thresholds[index]:
            self.set_choice(
                decision,
                index,
                f"cascade: confidence {score:.3f} >= threshold "
                f"{self.thresholds[index]:.3f}; kept {self.names[index]}'s answer",
            )
            return True
        return False

    def cascade_final(self, decision: RoutingDecision) -> RoutingDecision:
        """Choose the largest after every cheaper answer was rejected."""
        if decision.scorer_error:
            reason = f"cascade: scorer failed ({decision.scorer_error}); routed to largest"
        else:
            reason = "cascade: no cheaper answer was confident enough; escalated to largest"
        return self.set_choice(decision, self.n_cheaper, reason)
