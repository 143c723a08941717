"""The benchmark scenarios, by name."""

from __future__ import annotations

from collections.abc import Sequence

from green_chain.bench.scenarios.base import GreenSettings, Scenario, ScenarioEnv
from green_chain.bench.scenarios.dialogue import SGD, MTBench101
from green_chain.bench.scenarios.fewshot import GSM8K, SST2, TREC, AGNews
from green_chain.bench.scenarios.mixed import MixedStream
from green_chain.bench.scenarios.qa import HotpotQA, NQOracleQA, QMSumSummary, SquadQA
from green_chain.bench.scenarios.tools import BFCLToolChoice

__all__ = [
    "SCENARIO_NAMES",
    "GreenSettings",
    "Scenario",
    "ScenarioEnv",
    "all_scenarios",
    "get_scenarios",
]

_MEMBERS: tuple[type[Scenario], ...] = (
    SquadQA,
    NQOracleQA,
    HotpotQA,
    QMSumSummary,
    SST2,
    AGNews,
    TREC,
    GSM8K,
    BFCLToolChoice,
    MTBench101,
    SGD,
)

#: Every scenario name, in run order (``mixed`` last).
SCENARIO_NAMES: tuple[str, ...] = (*(c.name for c in _MEMBERS), "mixed")


def all_scenarios() -> list[Scenario]:
    """One instance of every scenario, ``mixed`` last."""
    members = [cls() for cls in _MEMBERS]  # type: ignore[abstract]
    return [*members, MixedStream(members)]


def get_scenarios(names: Sequence[str] | None = None) -> list[Scenario]:
    """Scenarios by name (all when ``names`` is empty); unknown names raise ``ValueError``."""
    scenarios = all_scenarios()
    if not names:
        return scenarios
    by_name = {s.name: s for s in scenarios}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIO_NAMES)}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]
