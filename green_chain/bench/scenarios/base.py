"""What every benchmark scenario provides: items, a baseline chain, a green chain, metrics."""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from green_chain.bench.components import Components
from green_chain.bench.data import Root
from green_chain.bench.items import Item, Split, distractors, split_items
from green_chain.bench.tags import OPTIMIZER_TAG


@dataclass
class GreenSettings:
    """Knobs of the green chains (each optimizer configurable, or off).

    Attributes:
        compress: Use prompt compression where it fits.
        compression_rate: Fraction of context tokens kept (LLMLingua's meaning);
            ``None`` = each scenario's ``default_rate`` (lower for long contexts).
        history: Filter chat history by relevance under ``history_tokens``.
        history_tokens: Token budget of the kept history.
        select_examples: Budgeted few-shot example selection.
        example_tokens: Token budget of the selected examples.
        stable_examples: Select the examples once per task (the default): the baseline's
            label-balanced examples that fit ``example_tokens``, so every prompt of the task
            starts with the same examples and a prefix cache reads them instead of
            prefilling them; ``False``: the examples most relevant to each input (the
            prefix changes on every request).
        tool_tokens: Token budget of the selected function specs (BFCL).
        route: Route between the cheap and the large model.
        response_budget: Cap each free-text answer at a budget fitted on the calibration
            items' reference answers (:meth:`Scenario.response_budget_tokens`), never
            above the baseline's cap, through :class:`~green_chain.response.ResponseBudget`.
        response_quantile: Quantile of the calibration references' lengths (tokens of
            the large model) the budget starts from.
        response_margin: Factor on that quantile (the budget is
            ``ceil(response_margin * quantile)``, at most the scenario's cap).
        first_tier: Answer classification items with a calibrated
            :class:`~green_chain.routing.ExampleClassifier` (no LLM) when it is confident;
            the rest fall through to the LLM chain.
        tier_quality_floor: Accuracy the classifier's answered held-aside calibration
            items must reach (the point estimate; see ``tier_confidence_level``).
        tier_confidence_level: Use the one-sided Wilson lower bound at this level
            instead of the point estimate (``None``: the point estimate).
        tier_head: The classifier's head, ``"logistic"`` (multinomial logistic regression,
            L2 strength by cross-validation on its training part) or ``"knn"``; ``None``:
            each scenario's own (``FewShotClassification.tier_head``, chosen on calibration
            items by ``python -m green_chain.experiments.first_tier_settings``).
        tier_l2: L2 strength of the logistic head (``None``: cross-validated).
        tier_k: Neighbours voting in the classifier (``tier_head="knn"``).
        tier_holdout: Share of the classifier's calibration items held aside for its
            confidence calibration and threshold.
        tier_examples: At most this many calibration items train and calibrate the
            classifier: the first ones (the classification scenarios' calibration list
            starts with their 400 label-balanced pool items); ``None``: all of them
            (1,200-2,000). ``--quick`` fits it on :data:`QUICK_TIER_EXAMPLES`.
    """

    compress: bool = True
    compression_rate: float | None = None
    history: bool = True
    history_tokens: int = 128
    select_examples: bool = True
    example_tokens: int = 160
    stable_examples: bool = True
    tool_tokens: int = 300
    route: bool = True
    response_budget: bool = True
    response_quantile: float = 0.9
    response_margin: float = 1.25
    first_tier: bool = True
    tier_quality_floor: float = 0.95
    tier_confidence_level: float | None = None
    tier_head: str | None = None
    tier_l2: float | None = None
    tier_k: int = 10
    tier_holdout: float = 0.3
    tier_examples: int | None = None

    def __post_init__(self) -> None:
        if self.tier_examples is not None and (
            isinstance(self.tier_examples, bool)
            or not isinstance(self.tier_examples, int)
            or self.tier_examples < 10
        ):
            raise ValueError(
                f"tier_examples must be an int >= 10 or None, got {self.tier_examples!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def only(self, optimizer: str) -> GreenSettings:
        """These settings with every optimizer off but ``optimizer`` (an ablation chain)."""
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; known: {list(OPTIMIZERS)}")
        flags: dict[str, Any] = {name: name == optimizer for name in OPTIMIZERS}
        return replace(self, **flags)


#: Calibration items the first tier is fitted on in ``--quick`` (the standard run: all):
#: embedding every one of 1,200-2,000 items was a fifth of a quick run's wall time. 400 is
#: the label-balanced pool each calibration list starts with, one of the sizes
#: ``experiments.first_tier_settings`` compared.
QUICK_TIER_EXAMPLES = 400

#: The optimizer switches of :class:`GreenSettings` (the ablation's units).
OPTIMIZERS = (
    "compress",
    "history",
    "select_examples",
    "route",
    "response_budget",
    "first_tier",
)


@dataclass
class ScenarioEnv:
    """Everything a scenario needs to build its chains for one run."""

    components: Components
    calibration: list[Item] = field(default_factory=list)
    settings: GreenSettings = field(default_factory=GreenSettings)
    seed: int = 0
    #: Stop sequences of every answer (the same for baseline and green, both models).
    stop: tuple[str, ...] = ()
    #: End every answer at its first line break after text (baseline and green alike).
    first_line: bool = False
    #: The fitted router (``green_chain.bench.routefit.RoutePolicy``), or ``None``.
    route_policy: Any = None
    #: The run's :class:`~green_chain.energy.monitor.EnergyMonitor` (router cost fit).
    monitor: Any = None
    #: Router-fit items measuring the cheap/large energy ratio (``None``: the scenario's).
    route_cost_items: int | None = None
    #: Answer by constrained choice over these labels (classification; empty: generate).
    guided_choice: tuple[str, ...] = ()
    #: The chain's own prefix cache (``ChatLocal.cache_salt``): the runner gives every
    #: variant its own, so no chain reads prompt states another chain computed.
    cache_salt: str | None = None
    #: Runs the router fit's model calls elsewhere (``(scenario, env, items) -> {role:
    #: records}``: the ``--jobs`` worker processes, see
    #: :func:`~green_chain.bench.routefit.run_both_models`); ``None``: in this process.
    fit_runner: Any = None

    def large(self, max_new_tokens: int) -> BaseChatModel:
        """The large model, answer length capped and stop sequences set."""
        return self._model("large", max_new_tokens)

    def _model(self, role: str, max_new_tokens: int) -> BaseChatModel:
        return self.components.model(
            role,
            max_new_tokens,
            self.stop,
            self.first_line,
            self.guided_choice or None,
            cache_salt=self.cache_salt,
        )

    def answer_model(
        self, max_new_tokens: int, budget: int | None = None, retry: bool = False
    ) -> Runnable:
        """The green chain's model: the router over cheap and large, or the large one.

        With ``budget`` (tokens) and ``settings.response_budget`` on, the model is wrapped in
        the components' ``response_budget`` (``ResponseBudget``), never above
        ``max_new_tokens`` (the baseline's cap); ``retry``: once more at a larger budget
        (up to the cap) when an answer hit its budget.
        """
        model = self._answer_model(max_new_tokens)
        if budget is None or not self.settings.response_budget:
            return model
        return self.components.response_budget(
            model=model,
            budget=min(budget, max_new_tokens),
            max_budget=max_new_tokens,
            retry=retry,
        )

    def _answer_model(self, max_new_tokens: int) -> BaseChatModel:
        never_routes = self.route_policy is not None and not getattr(
            self.route_policy, "routes", True
        )
        if not self.settings.route or never_routes:  # no scorer paid for a fixed choice
            return self.large(max_new_tokens)
        models = [
            self._model("cheap", max_new_tokens),
            self.large(max_new_tokens),
        ]
        extra: dict[str, Any] = {}
        if self.route_policy is not None:
            extra = {"scorer": self.route_policy.scorer, "threshold": self.route_policy.threshold}
        return self.components.router(models=models, calibration=self.calibration, **extra)


def as_optimizer(runnable: Runnable, name: str) -> Runnable:
    """Tag an optimizer run so its own energy is metered apart from the model's."""
    return runnable.with_config(tags=[OPTIMIZER_TAG], run_name=name)


#: A field label a model may echo before its answer ("Answer: Denver"); parsing drops it.
_ANSWER_LABEL = re.compile(r"^(?:answer|a|assistant|label|summary)\s*:\s*", re.IGNORECASE)


def first_line(text: str) -> str:
    """The answer part of a plain-text completion: its first non-empty line, an echoed
    field label (``Answer:``, ``A:``, ``Label:``, ``Summary:``) removed."""
    for line in text.strip().splitlines():
        if line.strip():
            return _ANSWER_LABEL.sub("", line.strip()).strip()
    return ""


class Scenario(abc.ABC):
    """One benchmark scenario: real items, a baseline chain and a green chain.

    Subclasses set the class attributes and implement :meth:`load`,
    :meth:`baseline` and :meth:`green`.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    #: Name of the task metric computed from the parsed generated answer: the item's quality.
    generation_metric: ClassVar[str] = "f1"
    #: Answer length cap in tokens (generation dominates short prompts' energy).
    max_new_tokens: ClassVar[int] = 10
    #: Items in ``--quick`` (a fixed subset: the first ones for seed 0).
    quick_items: ClassVar[int] = 2
    #: Calibration items held apart (few-shot pool, router training).
    calibration_size: ClassVar[int] = 50
    #: Score long continuations (summaries, replies) by mean log-prob per token.
    normalized_mc: ClassVar[bool] = False
    #: Distractors per item for the multiple choice (when the item has no fixed choices).
    n_distractors: ClassVar[int] = 3
    #: Whether the green chain compresses a context (validated-ETR sweep applies).
    compressible: ClassVar[bool] = False
    #: Compression rate of the green chain unless ``--rate`` sets one for all.
    default_rate: ClassVar[float] = 0.5
    #: Stop sequences of the answers (none by default: the base model often starts its
    #: answer with a blank line, so a newline stop would end it before it began).
    stop: ClassVar[tuple[str, ...]] = ()
    #: End answers at their first line break after text, for baseline and green alike:
    #: the metric reads only the first line (:func:`first_line`), so the rest is never
    #: generated. Leading blank lines are kept (the base model often opens with one).
    first_line: ClassVar[bool] = False
    #: Calibration items the router is fitted on (``quick_router_items`` in ``--quick``).
    router_items: ClassVar[int] = 12
    quick_router_items: ClassVar[int] = 4
    #: Router-fit items run on both models to measure the cheap/large energy ratio.
    route_cost_items: ClassVar[int] = 2
    #: The :data:`OPTIMIZERS` the green chain uses (one ablation chain each).
    optimizers: ClassVar[tuple[str, ...]] = ("route",)

    #: Retry once at a larger budget (up to the cap) when an answer hits its response
    #: budget. It doubles the cost of every cut answer, so it pays only where a cut answer
    #: loses its whole score (GSM8K: the number comes last); off by default.
    response_retry: ClassVar[bool] = False

    @abc.abstractmethod
    def load(self, root: Root) -> list[Item]:
        """The evaluation pool, in file order."""

    def calibration_pool(self, root: Root) -> list[Item] | None:
        """A separate calibration source (a train file), or ``None`` to hold apart from the pool."""
        return None

    def split(self, root: Root, n_test: int | None, seed: int) -> Split:
        """Deterministic calibration/test split without leakage."""
        return split_items(
            self.load(root),
            n_test=n_test,
            n_calibration=self.calibration_size,
            seed=seed,
            calibration_pool=self.calibration_pool(root),
        )

    @abc.abstractmethod
    def baseline(self, env: ScenarioEnv) -> Runnable:
        """Full context, full history, fixed examples, always the large model; dict -> str."""

    @abc.abstractmethod
    def green(self, env: ScenarioEnv) -> Runnable:
        """The optimized chain (optimizers per ``env.settings``); dict -> str."""

    def fit_first_tier(self, env: ScenarioEnv) -> bool:
        """Fit the green chain's no-LLM first tier now, so the run can meter the fit as a
        one-off cost (``one_off.first_tier_fit_j``); the chain builders reuse the fit.

        ``False`` when the chain has no first tier (the default, or ``first_tier`` off).
        """
        return False

    def fitted_first_tiers(self, env: ScenarioEnv) -> dict[str, Runnable]:
        """The first tiers already fitted for ``env``, by (member) scenario name, to hand to
        worker processes so they reuse the driver's metered fit (none by default)."""
        return {}

    def adopt_first_tiers(self, env: ScenarioEnv, tiers: Mapping[str, Runnable]) -> None:
        """Take ``tiers`` (from :meth:`fitted_first_tiers` elsewhere, same items and
        settings) as this env's fits instead of fitting again (nothing to take by default)."""
        return None

    def answer_cap(self, env: ScenarioEnv) -> int:
        """The answer length cap (tokens) of both chains; scenarios may fit it on calibration."""
        return self.max_new_tokens

    def response_reference(self, item: Item) -> str:
        """``item``'s reference answer as the model would write it (the budget's fit)."""
        return item.reference

    def response_budget(self, env: ScenarioEnv, cap: int) -> int | None:
        """The green chain's answer budget (tokens of the large model), or ``None`` (off, or
        the scenario does not list ``response_budget`` in :attr:`optimizers`).

        Fitted on the calibration items' references only
        (:func:`~green_chain.bench.response_fit.fit_response_budget`), at most ``cap``.
        """
        if not env.settings.response_budget or "response_budget" not in self.optimizers:
            return None
        from green_chain.bench.response_fit import fit_response_budget
        from green_chain.routing.decision import model_name

        return fit_response_budget(
            [self.response_reference(it) for it in env.calibration],
            token_model=model_name(env.components.models["large"]),
            cap=cap,
            quantile=env.settings.response_quantile,
            margin=env.settings.response_margin,
        )

    def rate(self, env: ScenarioEnv) -> float:
        """The compression rate in force: the run's setting, else the scenario's default."""
        r = env.settings.compression_rate
        return self.default_rate if r is None else r

    def warmup_items(self, calibration: Sequence[Item]) -> list[Item]:
        """Calibration items the green chain runs on, unmeasured, before the test items."""
        return list(calibration[:1])

    def candidates(self, item: Item, pool: Sequence[Item], seed: int) -> list[str]:
        """Wrong answers for the multiple choice: the item's other choices or other items' golds."""
        if item.choices is not None:
            return [c for c in item.choices if c != item.reference]
        return distractors(item, pool, k=self.n_distractors, seed=seed)

    def normalized_for(self, item: Item) -> bool:
        """Whether ``item``'s multiple choice uses length-normalised log-likelihoods."""
        return self.normalized_mc

    def chance_quality(self, item: Item) -> float:
        """The quality (0-1) a guess scores on ``item``: one over its fixed choices, else 0."""
        return 1.0 / len(item.choices) if item.choices else 0.0

    def mc_text(self, answer: str, item: Item | None = None) -> str:
        """How an answer is written as the continuation scored in the multiple choice."""
        return answer

    def score_generation(self, item: Item, output: str) -> dict[str, float]:
        """Task metrics of the generated text (EM/F1 by default)."""
        from green_chain.bench.metrics import exact_match, f1

        answer = first_line(output)
        return {"em": exact_match(answer, item.references), "f1": f1(answer, item.references)}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "generation_metric": self.generation_metric,
            "max_new_tokens": self.max_new_tokens,
            "quick_items": self.quick_items,
            "calibration_size": self.calibration_size,
            "stop": list(self.stop),
            "first_line": self.first_line,
        }


def parser() -> StrOutputParser:
    """Chains return the answer text."""
    return StrOutputParser()
