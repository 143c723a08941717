"""The per-run record of the energy handler.

Units are in the names: joules (``_j``), seconds (``_s``), kilograms CO2e
(``_kg``). Energy fields, all for one run (one LangChain step):

``energy_j``
    Gross device energy during the run's window (all available local domains),
    children included: what the meter saw between the run's start and end.
    ``None`` when no meter could be read, with ``energy_reason`` saying why.
``inclusive_energy_j``
    Same as ``energy_j`` (named for symmetry with ``exclusive_energy_j``).
``exclusive_energy_j``
    Device energy of the intervals in which this run was *innermost* (open with
    no open child), not split among concurrent runs.
``net_energy_j``
    ``energy_j`` net of idle (``max(0, gross - idle_power_w * duration_s)`` per
    domain) when an idle baseline is set, else ``None``.
``attributed_energy_j`` / ``attributed_inclusive_j``
    Exclusive and inclusive *attributed* energy (see
    :mod:`green_chain.callbacks.attribution`): concurrent runs split the device's
    joules, and these sum to the device energy over the union of the windows.
``load_energy_j``
    Attributed energy (J) of loading model weights inside this run: the
    ``attributed_inclusive_j`` of the ``load`` runs in its tree (its own for a
    ``load`` run); ``None`` when no model was loaded in it. A model call that had
    to load its model records the load as a child ``load`` run: the joules are
    shown (in ``energy_j``, the inclusive figures and the load's own record) but
    not charged to the call's efficiency figures.
``api_energy_j``
    Energy of a hosted-API call estimated by a
    :class:`~green_chain.callbacks.estimators.CallEnergyEstimator`; reported
    apart, never added to the local figures above.

``handler_error`` says what the handler itself failed to compute for the run
(a malformed payload or a bug): the run is still recorded and delivered.

Tokens: ``prompt_tokens`` counts the whole prompt; ``cached_prompt_tokens`` of them
were read from the provider's prefix (KV) cache, so ``prefilled_tokens`` =
``prompt_tokens - cached_prompt_tokens`` were encoded by this call (``None`` when the
provider did not report a cache).

Efficiency figures (``tokens_per_j``, ``per``) use the *energy basis*
``basis_energy_j``: ``attributed_inclusive_j`` (which equals ``energy_j`` for a run
that overlapped nothing), falling back to ``energy_j``, less ``load_energy_j``;
``energy_basis`` names it. ``carbon_kg`` is the emission of all of
``attributed_inclusive_j`` (loading included: it was spent).
"""

from __future__ import annotations

import datetime as _dt
import math
import warnings
from dataclasses import dataclass, field, fields
from typing import Any

#: Run types recorded by the handler (LangChain's, ``measure`` for handler.measure(),
#: ``load`` for a model loading its weights inside a call).
RUN_TYPES: tuple[str, ...] = ("chain", "llm", "chat_model", "retriever", "tool", "measure", "load")
MODEL_RUN_TYPES: frozenset[str] = frozenset({"llm", "chat_model"})
#: Run type of a model load (see ``green_chain.events.MODEL_LOAD_TAG``).
LOAD_RUN_TYPE = "load"


def checked_score(score: Any, *, stacklevel: int = 2) -> float:
    """``score`` as a float in 0-100; warns for (0, 1], which looks like a 0-1 fraction.

    ``stacklevel`` 1 blames the caller, 2 its caller (as in :func:`warnings.warn`).

    Raises:
        ValueError: not a finite number in 0-100.
    """
    value = float(score)
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        raise ValueError(f"score must be a number in 0-100, got {value}")
    if 0.0 < value <= 1.0:
        warnings.warn(
            f"record_score({value:g}): scores are 0-100 (a percentage), so this is "
            f"{value:g} %; pass {value * 100:g} for a {value:g} fraction",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    return value


def _iso(unix_s: float | None) -> str | None:
    if unix_s is None:
        return None
    return _dt.datetime.fromtimestamp(unix_s, tz=_dt.UTC).isoformat()


@dataclass(slots=True)
class RunRecord:
    """Everything the handler knows about one run (see the module docstring for units)."""

    run_id: str
    parent_run_id: str | None
    root_run_id: str
    name: str
    run_type: str
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    langgraph_node: str | None = None
    model_name: str | None = None
    provider: str | None = None
    status: str = "running"
    error: str | None = None
    start_unix_s: float | None = None
    end_unix_s: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    duration_s: float | None = None
    energy_j: float | None = None
    net_energy_j: float | None = None
    exclusive_energy_j: float | None = None
    attributed_energy_j: float | None = None
    attributed_inclusive_j: float | None = None
    energy_kind: str | None = None
    energy_sources: list[str] = field(default_factory=list)
    energy_uncertainty_j: float | None = None
    energy_reason: str | None = None
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    load_energy_j: float | None = None
    api_energy_j: float | None = None
    api_energy_kind: str | None = None
    api_energy_sources: list[str] = field(default_factory=list)
    api_domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    tokens_approximate: bool | None = None
    token_method: str | None = None
    optimizer_events: list[dict[str, Any]] = field(default_factory=list)
    published_events: list[dict[str, Any]] = field(default_factory=list)
    tokens_saved: int | None = None
    etr: float | None = None
    routing: dict[str, Any] | None = None
    response_budget: dict[str, Any] | None = None
    score: float | None = None
    handler_error: str | None = None
    energy_basis: str | None = None
    tokens_per_j: float | None = None
    per: float | None = None
    carbon_kg: float | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    @property
    def prefilled_tokens(self) -> int | None:
        """Prompt tokens this call encoded (cached ones excluded); ``None`` if unknown."""
        if self.prompt_tokens is None or self.cached_prompt_tokens is None:
            return None
        return max(0, self.prompt_tokens - self.cached_prompt_tokens)

    @property
    def spent_energy_j(self) -> float | None:
        """All energy (J) of the run: attributed inclusive, else gross (loading included)."""
        if self.attributed_inclusive_j is not None:
            return self.attributed_inclusive_j
        return self.energy_j

    @property
    def basis_energy_j(self) -> float | None:
        """Energy (J) the efficiency figures use: :attr:`spent_energy_j` less model loading.

        A ``load`` run's basis is its own energy.
        """
        spent = self.spent_energy_j
        if spent is None or self.load_energy_j is None or self.run_type == LOAD_RUN_TYPE:
            return spent
        return max(0.0, spent - self.load_energy_j)

    def derive(self, carbon: Any | None) -> None:
        """(Re)compute ``tokens_per_j``, ``per`` and ``carbon_kg`` from the energy basis."""
        basis = self.basis_energy_j
        spent = self.spent_energy_j
        name = "attributed_inclusive_j" if self.attributed_inclusive_j is not None else "energy_j"
        if basis is not None and basis != spent:
            name = f"{name} - load_energy_j"
        self.energy_basis = None if basis is None else name
        total = self.total_tokens
        ok = basis is not None and basis > 0
        self.tokens_per_j = total / basis if ok and total is not None else None  # type: ignore[operator]
        self.per = self.score / basis if ok and self.score is not None else None  # type: ignore[operator]
        self.carbon_kg = None
        if carbon is not None and spent is not None:
            try:
                self.carbon_kg = float(carbon.carbon_kg(spent))
            except Exception:
                self.carbon_kg = None

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-able dict (wall-clock times as ISO 8601 UTC strings)."""
        out: dict[str, Any] = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            cls = value.__class__
            out[name] = dict(value) if cls is dict else list(value) if cls is list else value
        out["start_time"] = _iso(self.start_unix_s)
        out["end_time"] = _iso(self.end_unix_s)
        out["inclusive_energy_j"] = self.energy_j
        out["total_tokens"] = self.total_tokens
        out["prefilled_tokens"] = self.prefilled_tokens
        out["basis_energy_j"] = self.basis_energy_j if self.energy_basis is not None else None
        return out


#: Field names of :class:`RunRecord`, computed once (``dataclasses.fields`` is slow per call).
_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(RunRecord))
