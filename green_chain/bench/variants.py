"""The chains a benchmark item runs: baseline, green and the ablation variants.

``only:<optimizer>`` is the green chain with that optimizer alone. Shared by the runner,
the worker processes (:mod:`green_chain.bench.process_executor`, :mod:`.ray_executor`) and
:mod:`.same_calls`, so every place builds the same chains.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from langchain_core.runnables import Runnable

from green_chain.bench.results import ABLATION_PREFIX
from green_chain.bench.scenarios.base import GreenSettings, Scenario, ScenarioEnv

#: The two chains every item runs.
VARIANTS = ("baseline", "green")


def ablation_variants(scenario: Scenario, settings: GreenSettings) -> list[str]:
    """The ablation variants of ``scenario``: ``only:<optimizer>`` per optimizer it uses."""
    return [f"{ABLATION_PREFIX}{opt}" for opt in scenario.optimizers if getattr(settings, opt)]


def variant_chain(scenario: Scenario, env: ScenarioEnv, variant: str) -> Runnable:
    """The chain of one variant on ``env``: ``baseline``, ``green`` or ``only:<optimizer>``
    (the green chain with that optimizer alone), with its own prefix cache (see
    :func:`build_chains`)."""
    if variant == "baseline":
        return scenario.baseline(replace(env, cache_salt=variant))
    if variant == "green":
        return scenario.green(replace(env, cache_salt=variant))
    if not variant.startswith(ABLATION_PREFIX):
        raise ValueError(f"unknown variant {variant!r}")
    opt = variant[len(ABLATION_PREFIX) :]
    return scenario.green(replace(env, settings=env.settings.only(opt), cache_salt=variant))


def build_chains(
    scenario: Scenario, env: ScenarioEnv, *, ablation: bool, skip: Collection[str] = ()
) -> dict[str, Runnable]:
    """The chains one item runs, in run order: baseline, green, then (``ablation``) the green
    chain with each optimizer alone (:func:`ablation_variants`), all on ``env``; none for the
    variants in ``skip`` (those found the same as the baseline: :mod:`.same_calls`).

    Used here and by the worker processes (:mod:`green_chain.bench.ray_executor`,
    :mod:`green_chain.bench.process_executor`), so every executor runs the same variants.
    Every variant gets its own prefix cache (``cache_salt`` = the variant's name): run
    one after another on the same item, a chain must not read prompt states that another
    chain computed, as two separate deployments would not.
    """
    names = [*VARIANTS, *(ablation_variants(scenario, env.settings) if ablation else [])]
    return {v: variant_chain(scenario, env, v) for v in names if v not in skip}


__all__ = ["VARIANTS", "ablation_variants", "build_chains", "variant_chain"]
