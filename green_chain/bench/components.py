"""The injectable parts of every benchmark chain: models and optimizer factories.

A scenario never imports a model or an optimizer itself: it receives a
:class:`Components` bundle. :func:`default_components` wires the real packaged
models and green-chain's optimizers (imported lazily); tests pass fakes.

Factory signatures (keyword arguments only, so real classes can be adapted here):

* ``compressor(rate=..., keys=[...], question_key=..., target_model=...) -> Runnable``
  over a dict, compressing only ``keys`` (``green_chain.compression.PromptCompressor``).
* ``history(max_tokens=..., keep_last=..., target_model=...) -> Runnable`` over a list of
  messages whose last one is the new user message (``green_chain.memory.RelevantHistory``).
* ``selector(examples=[...], max_tokens=..., input_keys=[...]) -> BaseExampleSelector``
  (``green_chain.selection.BudgetedExampleSelector``).
* ``router(models=[cheap, large], calibration=[...]) -> BaseChatModel``
  (``green_chain.routing.RoutedChatModel``); ``calibration`` holds the scenario's
  calibration :class:`~green_chain.bench.items.Item` objects.
* ``response_budget(model=..., budget=..., max_budget=..., retry=...) -> Runnable`` over a
  prompt, returning a message (``green_chain.response.ResponseBudget``; the default).
* ``first_tier(texts=[...], labels=[...], head=..., k=..., l2=..., quality_floor=...,
  confidence_level=..., holdout=..., seed=...) -> Runnable`` returning a ``TierAnswer``; ``None`` (the default):
  a fitted ``green_chain.routing.ExampleClassifier`` over ``Components.embeddings``
  (:meth:`Components.make_first_tier`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from green_chain.bench.metrics import LikelihoodScorer, packaged_scorer

#: Default packaged models: cheap = SmolLM2-135M-Instruct, large = Gemma-3-270M (base).
DEFAULT_CHEAP_MODEL = "smollm2-135m-instruct"
DEFAULT_LARGE_MODEL = "gemma3-270m"

#: Compression backend of the green chains, frozen from the tuning experiment on
#: calibration items only (``docs/results/tuning/compression.json``): BM25 sentence ranking
#: kept 95.8 % of the uncompressed prompts' probe score against 93.1 % for the MiniLM
#: ``embedding`` backend, at about 1/90 of its render time (SQuAD, NQ, HotpotQA, 6 items
#: each), so the optimizer's own energy stays small beside what it saves.
DEFAULT_COMPRESSOR = "lexical"


class ComponentUnavailableError(RuntimeError):
    """A green chain needs an optimizer that is not installed or not built yet."""


CompressorFactory = Callable[..., Runnable]
HistoryFactory = Callable[..., Runnable]
SelectorFactory = Callable[..., Any]
RouterFactory = Callable[..., BaseChatModel]
ResponseBudgetFactory = Callable[..., Runnable]
FirstTierFactory = Callable[..., Runnable]


def response_budget_factory(
    *, model: Runnable, budget: int, max_budget: int | None = None, retry: bool = False
) -> Runnable:
    """``ResponseBudget(model, budget, max_budget=..., retry=..., stop_on_repeat=True)``
    (works with any chat model; the repeat stop binds only on models that take it)."""
    from green_chain.response import ResponseBudget

    return ResponseBudget(model, budget, max_budget=max_budget, retry=retry, stop_on_repeat=True)


def uncached(embeddings: Any) -> Any:
    """``embeddings`` without its text cache, where it has one (``LocalEmbeddings``).

    The chains of one item (green, each ablation variant) embed the same request: with
    the shared cache only the first would pay for it, and an ablation row would look
    cheaper than the optimizer is. Other embeddings are returned unchanged.
    """
    if embeddings is not None and "cache_size" in getattr(type(embeddings), "model_fields", {}):
        return embeddings.model_copy(update={"cache_size": 0})
    return embeddings


def _missing(name: str, module: str) -> Callable[..., Any]:
    def factory(**_: Any) -> Any:
        raise ComponentUnavailableError(
            f"{name} is not available: could not import it from {module}. Install green-chain "
            f"with its local extras, or pass that factory in Components."
        )

    return factory


@dataclass
class Components:
    """Models and optimizer factories shared by every scenario of a run.

    Attributes:
        models: ``{"cheap": chat model, "large": chat model}``. Baselines always use
            ``large``; green chains route between both.
        compressor, history, selector, router, response_budget, first_tier: optimizer
            factories (see module doc).
        scorer: Log-likelihood scorer for the multiple-choice quality signal.
        scorer_normalized: Length-normalised scorer for long continuations.
        versions: Free description of what was wired, stored in results.json.
        embeddings: One LangChain ``Embeddings`` shared by every optimizer and the router
            (``None`` = each optimizer's default).
        warmer: Called by :meth:`warm_up` before anything is measured.
        route_fitter: ``(scenario, env, items) -> RoutePolicy`` fitting the router's
            scorer and threshold on calibration items (``None`` = the router factory's
            own default).
    """

    models: Mapping[str, BaseChatModel]
    compressor: CompressorFactory = field(
        default_factory=lambda: _missing("PromptCompressor", "green_chain.compression")
    )
    history: HistoryFactory = field(
        default_factory=lambda: _missing("RelevantHistory", "green_chain.memory")
    )
    selector: SelectorFactory = field(
        default_factory=lambda: _missing("BudgetedExampleSelector", "green_chain.selection")
    )
    router: RouterFactory = field(
        default_factory=lambda: _missing("RoutedChatModel", "green_chain.routing")
    )
    response_budget: ResponseBudgetFactory = response_budget_factory
    first_tier: FirstTierFactory | None = None
    scorer: LikelihoodScorer | None = None
    scorer_normalized: LikelihoodScorer | None = None
    versions: dict[str, str] = field(default_factory=dict)
    embeddings: Any = None
    warmer: Callable[[], None] | None = None
    route_fitter: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        missing = {"cheap", "large"} - set(self.models)
        if missing:
            raise ValueError(
                f"Components.models needs keys 'cheap' and 'large'; missing {sorted(missing)}"
            )

    def model(
        self,
        role: str,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        first_line: bool = False,
        guided_choice: Sequence[str] | None = None,
        *,
        cache_salt: str | None = None,
    ) -> BaseChatModel:
        """The ``cheap`` or ``large`` model, answer length capped and stop sequences set
        (``guided_choice``: answer with one of these labels; ``cache_salt``: the chain's own
        prefix cache; see :func:`cap_answer`)."""
        if role not in self.models:
            raise KeyError(f"unknown model role {role!r}; known: {sorted(self.models)}")
        return cap_answer(
            self.models[role], max_new_tokens, stop, first_line, guided_choice, cache_salt
        )

    def make_first_tier(
        self,
        *,
        texts: Sequence[str],
        labels: Sequence[str],
        head: str = "logistic",
        k: int = 10,
        l2: float | None = None,
        quality_floor: float = 0.95,
        confidence_level: float | None = None,
        holdout: float = 0.3,
        seed: int = 0,
    ) -> Runnable:
        """A first tier fitted on ``texts`` -> ``labels``: the ``first_tier`` factory's, else
        an ``ExampleClassifier`` over the shared ``embeddings`` (MiniLM when ``None``)."""
        kwargs: dict[str, Any] = {
            "head": head,
            "k": k,
            "l2": l2,
            "quality_floor": quality_floor,
            "confidence_level": confidence_level,
            "holdout": holdout,
            "seed": seed,
        }
        if self.first_tier is not None:
            return self.first_tier(texts=texts, labels=labels, **kwargs)
        from green_chain.routing import ExampleClassifier

        head, k, l2 = kwargs.pop("head"), kwargs.pop("k"), kwargs.pop("l2")
        return ExampleClassifier(uncached(self.embeddings), head=head, k=k, l2=l2).fit(
            texts, labels, **kwargs
        )

    def warm_up(self) -> None:
        """Load every model and encoder once, outside any measured window.

        A first call pays weight loading (seconds, tens of joules) that no item should
        be charged for; :func:`default_components` sets this to load the packaged
        models, run one short generation each, and load the embedding encoder.
        """
        if self.warmer is not None:
            self.warmer()


def forget_prompt_states(components: Components, cache_salt: str) -> int:
    """Drop the prompt states stored under ``cache_salt`` in every model's prefix cache.

    The runner warms a chain up on a calibration item (loading encoders, building
    indexes: one-off setup), which also leaves that item's prompt states, a few-shot
    prefix among them, in the chain's own prefix cache. The baseline is not warmed up, so
    the warmed chain's first test item would read a prefix the baseline's first item
    prefills: a saving the deployment never made. Forgetting them after the warm-up starts
    every chain cold. Models without a prefix cache (``prefix_cache`` off, fakes) are
    skipped. Returns the number of caches cleared.
    """
    cleared = 0
    for model in components.models.values():
        if "cache_salt" not in getattr(type(model), "model_fields", {}):
            continue
        cache = getattr(model.model_copy(update={"cache_salt": cache_salt}), "kv_cache", None)
        if cache is not None:
            cache.clear()
            cleared += 1
    return cleared


def cap_answer(
    model: BaseChatModel,
    max_new_tokens: int | None,
    stop: Sequence[str] | None = None,
    first_line: bool = False,
    guided_choice: Sequence[str] | None = None,
    cache_salt: str | None = None,
) -> BaseChatModel:
    """A copy of ``model`` generating at most ``max_new_tokens`` tokens, ending at ``stop``.

    Works for models with a ``max_new_tokens`` or ``max_tokens`` field and a ``stop``
    field (ChatLocal, most provider models); other models are returned unchanged.
    ``first_line`` sets ChatLocal's ``first_line`` (end at the first line break after
    text) where the model has that field; ``guided_choice`` sets ChatLocal's constrained
    choice (the answer is the most likely of these labels) where the model has that field;
    ``cache_salt`` sets ChatLocal's prefix-cache isolation (one cache per salt).
    """
    if max_new_tokens is not None and max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be > 0, got {max_new_tokens}")
    fields = getattr(type(model), "model_fields", {})
    update: dict[str, Any] = {}
    if max_new_tokens is not None:
        name = next((n for n in ("max_new_tokens", "max_tokens") if n in fields), None)
        if name is not None:
            update[name] = max_new_tokens
    if stop and "stop" in fields:
        update["stop"] = list(stop)
    if first_line and "first_line" in fields:
        update["first_line"] = True
    if guided_choice and "guided_choice" in fields:
        update["guided_choice"] = list(guided_choice)
    if cache_salt is not None and "cache_salt" in fields:
        update["cache_salt"] = cache_salt
    return model.model_copy(update=update) if update else model


def default_components(
    cheap: str = DEFAULT_CHEAP_MODEL,
    large: str = DEFAULT_LARGE_MODEL,
    compressor: str = DEFAULT_COMPRESSOR,
    route_fitter: Callable[..., Any] | None = None,
    prefix_cache: bool = True,
) -> Components:
    """The real components: packaged local models and green-chain's optimizers.

    ``route_fitter`` fits each scenario's router on its calibration items (the CLI passes
    :func:`green_chain.bench.routefit.fit_route_policy`); ``None`` = the router factory's
    heuristic default.

    ``compressor`` names the compression backend of the green chains (any name
    :func:`green_chain.compression.runnable.make_backend` takes). One
    ``LocalEmbeddings`` (MiniLM) is shared by the history filter, the example selector,
    the router and an ``embedding`` compressor. Optimizers that are not importable yield
    factories raising :class:`ComponentUnavailableError` (the scenarios needing them
    fail with that reason and the others still run). ``prefix_cache``: both models
    reuse cached prompt prefixes (``ChatLocal(prefix_cache=...)``), for both chains.
    Both models take ``base_prompt="completion"``: the base Gemma model continues a
    scenario's string prompt as raw text (SmolLM2 keeps its chat template).
    """
    try:
        from green_chain.models import ChatLocal, LocalEmbeddings
    except (ImportError, AttributeError) as exc:
        raise ComponentUnavailableError(
            f"the packaged local models are not available ({exc}); install green-chain[local]"
        ) from exc
    models = {
        "cheap": ChatLocal(model=cheap, prefix_cache=prefix_cache, base_prompt="completion"),
        "large": ChatLocal(model=large, prefix_cache=prefix_cache, base_prompt="completion"),
    }
    embeddings = LocalEmbeddings()

    def warm() -> None:
        for m in models.values():
            m.model_copy(update={"max_new_tokens": 1}).invoke("Hello")
        embeddings.embed_query("warm up")

    comps = Components(
        models=models,
        scorer=packaged_scorer(normalize=False),
        scorer_normalized=packaged_scorer(normalize=True),
        versions={
            "cheap": cheap,
            "large": large,
            "compressor": compressor,
            "prefix_cache": "on" if prefix_cache else "off",
        },
        embeddings=embeddings,
        warmer=warm,
        route_fitter=route_fitter,
    )
    _wire_optimizers(comps)
    return comps


def _wire_optimizers(comps: Components) -> None:
    """Adapt the real optimizer classes to the factory signatures (see module doc)."""
    from green_chain.compression import PromptCompressor
    from green_chain.compression.runnable import make_backend
    from green_chain.memory import RelevantHistory
    from green_chain.routing import HeuristicScorer, RoutedChatModel
    from green_chain.selection import BudgetedExampleSelector

    emb = comps.embeddings
    large = comps.versions.get("large")

    backend_name = comps.versions.get("compressor", DEFAULT_COMPRESSOR)
    backend_kwargs = {"embeddings": emb} if backend_name == "embedding" else {}
    make_backend(backend_name, **backend_kwargs)  # unknown names fail here, clearly

    def compressor(
        *,
        rate: float,
        keys: Sequence[str],
        question_key: str | None = None,
        target_model: str | None = None,
    ) -> Runnable:
        # sentence-level: keeps gold answers at rate 0.5 where word dropping breaks them
        return PromptCompressor(
            make_backend(backend_name, **backend_kwargs),
            rate=rate,
            keys=list(keys),
            question_key=question_key or "question",
            token_counter=target_model or large,
        )

    comps.compressor = compressor

    def history(
        *, max_tokens: int, keep_last: int = 1, target_model: str | None = None
    ) -> Runnable:
        return RelevantHistory(
            max_tokens,
            embeddings=emb,
            token_counter=target_model or large,
            keep_last=keep_last,
            on_overflow="keep_mandatory",
        )

    comps.history = history

    def selector(
        *,
        examples: list[dict[str, Any]],
        max_tokens: int,
        input_keys: Sequence[str],
        example_prompt: Callable[[dict[str, Any]], str] | None = None,
    ) -> Any:
        return BudgetedExampleSelector(
            examples,
            max_tokens=max_tokens,
            input_keys=list(input_keys),
            embeddings=emb,
            example_prompt=example_prompt,
            token_counter=large,
        )

    comps.selector = selector

    def router(
        *,
        models: Sequence[BaseChatModel],
        calibration: Sequence[Any] = (),
        scorer: Any = None,
        threshold: float = 0.5,
    ) -> BaseChatModel:
        # ``scorer``/``threshold`` come from green_chain.bench.routefit (fitted on the
        # scenario's calibration items); the heuristic is only a fallback.
        return RoutedChatModel(
            models=list(models), scorer=scorer or HeuristicScorer(), threshold=threshold
        )

    comps.router = router
