"""The typed record of one benchmark item run (one variant of one item), as results.json stores it.

:class:`ItemRecord` is built by :func:`green_chain.bench.item_run.run_item`, scored by
:func:`~green_chain.bench.item_run.score_records` and summarised by
:mod:`green_chain.bench.results`. :meth:`ItemRecord.to_dict` writes the results.json
record (schema version 1: same keys, same order as before the record was typed);
:meth:`ItemRecord.from_dict` reads one back (older files: missing keys take defaults).

Units: joules (``*_j``), seconds (``duration_s``), kilograms CO2e (``carbon_kg``),
tokens (``*_tokens``). ``energy_kind`` says whether ``energy_j`` is measured or estimated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallRecord:
    """One answering model call of an item (``calls`` in results.json)."""

    model_name: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    optimizer: bool = False
    #: Prompt tokens read from the model's prefix cache, not prefilled (``None``: not reported).
    cached_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "optimizer": self.optimizer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallRecord:
        return cls(
            model_name=data.get("model_name"),
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            optimizer=bool(data.get("optimizer", False)),
            cached_tokens=data.get("cached_tokens"),
        )


@dataclass
class HandlerFigures:
    """What the energy callback handler recorded for an item's root run (see ``handler_figures``).

    ``etr_handler`` = tokens sent / (sent + tokens the optimizers removed) over the model
    calls that consumed optimizer events; ``None`` (with the token sums) when none did.
    """

    energy_j: float
    energy_kind: str | None
    energy_sources: list[str]
    energy_uncertainty_j: float | None
    duration_s: float | None
    carbon_kg: float | None
    optimizer_energy_j: float
    optimizer_runs: list[dict[str, Any]]
    etr_handler: float | None
    handler_tokens_sent: int | None
    handler_tokens_saved: int | None


@dataclass
class ItemRecord:
    """One variant (``baseline`` or ``green``) of one benchmark item.

    Attributes:
        item_id, variant: Which item and chain.
        energy_basis: ``handler`` (figures from the energy callback handler's run record)
            or ``window`` (the handler did not record the run: the runner's window).
        energy_j, energy_kind, energy_sources, energy_uncertainty_j: The item's energy
            (joules), its kind (``measured``/``estimated``), meter sources, uncertainty.
        duration_s: Wall time of the invocation (seconds).
        window_energy_j: The runner's own window around the call (joules; a cross-check).
        optimizer_energy_j, optimizer_runs: Energy of the optimizer runs (tagged
            :data:`~green_chain.bench.tags.OPTIMIZER_TAG`) and one entry per run.
        etr_handler: The handler's ETR for this item (``None`` without optimizer events).
        prompt_tokens, completion_tokens: Summed over the answering calls.
        cached_tokens: Prompt tokens of the answering calls read from a prefix cache.
        optimizer_model_tokens: Tokens of model calls made by optimizers.
        calls: The answering calls.
        model: Model of the final answering call.
        optimizer_events, routing: Events published through :mod:`green_chain.events`.
        output, error: The answer text; the failure (``Type: message``) or ``None``.
        carbon_kg, handler_tokens_sent, handler_tokens_saved: Handler figures, written
            only when ``energy_basis == "handler"``.
        handler_records: The handler's records of this item's run tree (``None``: no handler).
        metrics, quality, quality_metric: Set by scoring (``None`` until scored).
        worker: Where the item ran when not here (``bench --jobs N``, ``--ray``): hashed
            host, process id and meters of the worker that measured it; ``None`` for an
            item run in the driver.
        prompt: The final call's prompt text, kept for scoring; never written to results.json.
        prompt_probe: The prompt probe scored where the item ran, right after its metered
            window (:class:`~green_chain.bench.item_run.InPlaceProbe`): ``score`` (0/1),
            ``margin`` (nats, or nats per token), ``cpu_s``/``wall_s`` (its unmetered cost);
            moved into ``metrics`` by scoring; never written to results.json.
        cached: Taken, already scored, from the run folder's content cache
            (:mod:`green_chain.bench.content_cache`) instead of run again.
        same_as: ``"baseline"`` for an ablation variant that makes the baseline's model
            calls on every item, ``"green"`` for one that makes the green chain's calls
            and does its optimizer work (:mod:`green_chain.bench.same_calls`): not run,
            this is a copy of the item's record of that chain.
    """

    item_id: str
    variant: str
    energy_basis: str = "window"
    energy_j: float | None = None
    energy_kind: str | None = None
    energy_sources: list[str] = field(default_factory=list)
    energy_uncertainty_j: float | None = None
    duration_s: float | None = None
    window_energy_j: float | None = None
    optimizer_energy_j: float = 0.0
    optimizer_runs: list[dict[str, Any]] = field(default_factory=list)
    etr_handler: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    optimizer_model_tokens: int = 0
    calls: list[CallRecord] = field(default_factory=list)
    model: str | None = None
    optimizer_events: list[dict[str, Any]] = field(default_factory=list)
    routing: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""
    error: str | None = None
    carbon_kg: float | None = None
    handler_tokens_sent: int | None = None
    handler_tokens_saved: int | None = None
    handler_records: list[dict[str, Any]] | None = None
    metrics: dict[str, Any] | None = None
    quality: float | None = None
    quality_metric: str | None = None
    worker: dict[str, Any] | None = None
    prompt: str | None = field(default=None, repr=False)
    prompt_probe: dict[str, float] | None = field(default=None, repr=False)
    cached: bool = False
    same_as: str | None = None

    def apply_handler(self, figures: HandlerFigures) -> None:
        """Take the energy, optimizer energy and ETR from the handler (``energy_basis: handler``)."""
        self.energy_basis = "handler"
        self.energy_j = figures.energy_j
        self.energy_kind = figures.energy_kind
        self.energy_sources = list(figures.energy_sources)
        self.energy_uncertainty_j = figures.energy_uncertainty_j
        self.duration_s = figures.duration_s
        self.carbon_kg = figures.carbon_kg
        self.optimizer_energy_j = figures.optimizer_energy_j
        self.optimizer_runs = list(figures.optimizer_runs)
        self.etr_handler = figures.etr_handler
        self.handler_tokens_sent = figures.handler_tokens_sent
        self.handler_tokens_saved = figures.handler_tokens_saved

    def to_dict(self) -> dict[str, Any]:
        """The results.json record (``prompt`` left out; handler-only keys only with a handler)."""
        out: dict[str, Any] = {
            "item_id": self.item_id,
            "variant": self.variant,
            "energy_basis": self.energy_basis,
            "energy_j": self.energy_j,
            "energy_kind": self.energy_kind,
            "energy_sources": list(self.energy_sources),
            "energy_uncertainty_j": self.energy_uncertainty_j,
            "duration_s": self.duration_s,
            "window_energy_j": self.window_energy_j,
            "optimizer_energy_j": self.optimizer_energy_j,
            "optimizer_runs": list(self.optimizer_runs),
            "etr_handler": self.etr_handler,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "optimizer_model_tokens": self.optimizer_model_tokens,
            "calls": [c.to_dict() for c in self.calls],
            "model": self.model,
            "optimizer_events": list(self.optimizer_events),
            "routing": list(self.routing),
            "output": self.output,
            "error": self.error,
        }
        if self.energy_basis == "handler":
            out["carbon_kg"] = self.carbon_kg
            out["handler_tokens_sent"] = self.handler_tokens_sent
            out["handler_tokens_saved"] = self.handler_tokens_saved
        if self.handler_records is not None:
            out["handler_records"] = list(self.handler_records)
        if self.metrics is not None:
            out["metrics"] = dict(self.metrics)
        if self.quality is not None:
            out["quality"] = self.quality
        if self.quality_metric is not None:
            out["quality_metric"] = self.quality_metric
        if self.worker is not None:
            out["worker"] = dict(self.worker)
        if self.cached:
            out["cached"] = True
        if self.same_as is not None:
            out["same_as"] = self.same_as
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemRecord:
        """A record read back from results.json (missing keys take their defaults)."""
        return cls(
            item_id=str(data.get("item_id", "")),
            variant=str(data.get("variant", "")),
            energy_basis=data.get("energy_basis") or "window",
            energy_j=data.get("energy_j"),
            energy_kind=data.get("energy_kind"),
            energy_sources=list(data.get("energy_sources") or []),
            energy_uncertainty_j=data.get("energy_uncertainty_j"),
            duration_s=data.get("duration_s"),
            window_energy_j=data.get("window_energy_j"),
            optimizer_energy_j=float(data.get("optimizer_energy_j") or 0.0),
            optimizer_runs=list(data.get("optimizer_runs") or []),
            etr_handler=data.get("etr_handler"),
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cached_tokens=int(data.get("cached_tokens") or 0),
            optimizer_model_tokens=int(data.get("optimizer_model_tokens") or 0),
            calls=[CallRecord.from_dict(c) for c in data.get("calls") or []],
            model=data.get("model"),
            optimizer_events=list(data.get("optimizer_events") or []),
            routing=list(data.get("routing") or []),
            output=str(data.get("output") or ""),
            error=data.get("error"),
            carbon_kg=data.get("carbon_kg"),
            handler_tokens_sent=data.get("handler_tokens_sent"),
            handler_tokens_saved=data.get("handler_tokens_saved"),
            handler_records=data.get("handler_records"),
            metrics=data.get("metrics"),
            quality=data.get("quality"),
            quality_metric=data.get("quality_metric"),
            worker=data.get("worker"),
            cached=bool(data.get("cached", False)),
            same_as=data.get("same_as"),
        )


def as_record(record: ItemRecord | Mapping[str, Any]) -> ItemRecord:
    """``record`` itself, or the :class:`ItemRecord` read from a results.json dict."""
    return record if isinstance(record, ItemRecord) else ItemRecord.from_dict(record)
