"""Which tuned choices a scenario ran with, and where each came from (results.json ``tuned``).

A tuned choice is a value that could have been set by looking at items: the router's
minimum saving, the compression backend and rates (frozen: re-derived on calibration
items only by ``python -m green_chain.experiments.tuning``, whose output is committed
under :data:`TUNING_DIR`), and the values each run fits on its own calibration items (the
router's threshold and cheap/large cost ratio, GSM8K's answer cap, the few-shot
examples). Each record is ``{value, source}`` with ``source`` one of

* ``frozen:<file>``: a constant in the code, derived on calibration items of seed
  :data:`TUNING_SEED` (:data:`COMPRESSION_FILE`, :data:`ROUTER_FILE`; the item ids are
  in the file, not repeated here);
* ``fitted-on-calibration``: fitted by this run on its calibration items
  (``item_ids`` where they are a subset of the scenario's ``calibration_ids``);
* ``pending:<file>``: as ``frozen``, but the file is not committed yet (:data:`PENDING`),
  or does not hold this value (:data:`NOT_FROZEN_RATES`);
* ``reused``: a cost ratio an earlier run measured (``--route-costs``);
* ``fallback``: the documented default used when nothing could be measured;
* ``setting``: set for this run by a flag (``--rate``, another compressor);
* ``fixed``: a design constant no item outcome was used to choose.

``clean`` is false while the frozen choices are :data:`PENDING` (or the scenario's rate
is in :data:`NOT_FROZEN_RATES`), when a fitted choice
used a test item of this run, or when the run's seed is not :data:`TUNING_SEED` (the frozen choices were then tuned on items that may be
this run's test items).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from green_chain.bench.items import Item

#: The tuning experiment's committed output: one file per part, each with its chosen
#: values and the item ids it used.
TUNING_DIR = "docs/results/tuning"
#: The compression backend and rates.
COMPRESSION_FILE = f"{TUNING_DIR}/compression.json"
#: The router's minimum saving (and the answer-cap check).
ROUTER_FILE = f"{TUNING_DIR}/router.json"
#: The commands that wrote them (from the repository root): each part run over scenario
#: subsets in parallel (``--scenarios``), then combined; each file's ``merged_from`` lists
#: the runs it combines.
TUNING_COMMANDS = (
    f"python -m green_chain.experiments.tuning --merge {TUNING_DIR}/parts/compression-*.json "
    f"--out {COMPRESSION_FILE}",
    f"python -m green_chain.experiments.tuning --merge {TUNING_DIR}/parts/router-*.json "
    f"--out {ROUTER_FILE}",
)
#: The item selection seed whose calibration items the frozen choices were tuned on.
TUNING_SEED = 0

#: True until the tuning experiment's outputs are committed and their values frozen in the
#: code: the constants are then still the earlier choices (made partly on test items), and
#: their source reads ``pending:<file>`` instead of ``frozen:<file>``.
PENDING = False
_STATE = "pending" if PENDING else "frozen"
FROZEN_COMPRESSION = f"{_STATE}:{COMPRESSION_FILE}"
FROZEN_ROUTER = f"{_STATE}:{ROUTER_FILE}"
PENDING_COMPRESSION = f"pending:{COMPRESSION_FILE}"
#: Scenarios whose compression rate the committed files do not hold (the part did not
#: finish by the freeze): the rate is still the earlier choice, its source
#: ``pending:<file>`` and the scenario's (and the mixed stream's) ``clean`` false.
NOT_FROZEN_RATES: tuple[str, ...] = ()
FITTED = "fitted-on-calibration"


def _ids(items: Sequence[Item] | Sequence[str]) -> list[str]:
    return [it if isinstance(it, str) else it.id for it in items]


def _fitted(value: Any, item_ids: Sequence[str], calibration_ids: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "source": FITTED}
    if set(item_ids) != set(calibration_ids):  # all of them: see calibration_ids
        out["item_ids"] = list(item_ids)
    return out


def example_ids(scenario: Any, env: Any) -> list[str] | None:
    """Ids of the calibration items the baseline's fixed few-shot examples come from.

    ``None`` for a scenario without fixed examples.
    """
    if hasattr(scenario, "fixed_examples"):  # classification: dicts of text and label
        by_text = {(it.inputs.get("text"), it.reference): it.id for it in env.calibration}
        return [by_text[(ex["text"], ex["label"])] for ex in scenario.fixed_examples(env)]
    if hasattr(scenario, "example_items"):
        return _ids(scenario.example_items(env))
    return None


def tuned_choices(
    scenario: Any,
    env: Any,
    router_info: dict[str, Any] | None,
    test: Sequence[Item],
    *,
    seed: int,
) -> dict[str, Any]:
    """The ``tuned`` block of a scenario's results.json entry (see the module doc)."""
    from green_chain.bench.components import DEFAULT_COMPRESSOR
    from green_chain.bench.routefit import MIN_SAVING

    settings = env.settings
    cal_ids = _ids(env.calibration)
    out: dict[str, Any] = {}
    fitted_ids: set[str] = set()
    if settings.route:
        out["min_saving"] = {"value": MIN_SAVING, "source": FROZEN_ROUTER}
        if router_info:
            fit_ids = list(router_info.get("calibration_ids") or [])
            fitted_ids |= set(fit_ids)
            out["router_threshold"] = _fitted(router_info.get("threshold"), fit_ids, cal_ids)
            src = router_info.get("cost_ratio_source", "fallback")
            cost_ids = list(router_info.get("cost_items") or [])
            fitted_ids |= set(cost_ids)
            out["cost_ratio"] = (
                {**_fitted(router_info.get("cheap_cost_ratio"), cost_ids, cal_ids)}
                if src == "measured"
                else {"value": router_info.get("cheap_cost_ratio"), "source": src}
            )
    members = getattr(scenario, "members", None)
    compressible = (
        [m for m in members.values() if m.compressible]
        if members
        else ([scenario] if scenario.compressible else [])
    )
    if settings.compress and compressible:
        backend = env.components.versions.get("compressor", DEFAULT_COMPRESSOR)
        out["compressor"] = {
            "value": backend,
            "source": FROZEN_COMPRESSION if backend == DEFAULT_COMPRESSOR else "setting",
        }
        rates = {m.name: m.rate(env) for m in compressible}
        unfrozen = sorted(set(rates) & set(NOT_FROZEN_RATES))
        rate_src = (
            "setting"
            if settings.compression_rate is not None
            else (PENDING_COMPRESSION if unfrozen else FROZEN_COMPRESSION)
        )
        out["compression_rate"] = {
            "value": rates if members else rates[scenario.name],
            "source": rate_src,
        }
    if not members:
        from green_chain.bench.scenarios.base import Scenario

        cap = scenario.answer_cap(env)
        if type(scenario).answer_cap is not Scenario.answer_cap and env.calibration:
            out["answer_cap"] = _fitted(cap, cal_ids, cal_ids)
            fitted_ids |= set(cal_ids)
        else:
            out["answer_cap"] = {"value": cap, "source": "fixed"}
        examples = example_ids(scenario, env)
        if examples is not None:
            out["few_shot_examples"] = _fitted(len(examples), examples, cal_ids)
            fitted_ids |= set(examples)
    test_ids = {it.id for it in test}
    pending = out.get("compression_rate", {}).get("source") == PENDING_COMPRESSION
    out["clean"] = (
        not PENDING and not pending and seed == TUNING_SEED and not (fitted_ids & test_ids)
    )
    return out
