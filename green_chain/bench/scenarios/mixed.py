"""A mixed stream of every other scenario's items through the router.

The stream is a seeded sample, not a second run of every member: ``n`` test items in all
(``ceil(n / members)`` drawn per member with seed + 1, shuffled, cut to ``n``), so it
costs one scenario's items, not the members' sum. Nothing is reused from the member
scenarios' own records: what the mixed scenario measures is the *one router fitted across
tasks* (on the mixed calibration items), so its green calls differ from a member's, and
its baselines use the members' examples from the mixed draw (another content key in
:mod:`green_chain.bench.content_cache`); re-running keeps every pair interleaved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from green_chain.bench.data import Root
from green_chain.bench.items import Item, Split, shuffled
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv


class MixedStream(Scenario):
    """Items of all member scenarios interleaved; each runs its own chain pair.

    Item inputs are ``{"scenario": member name, "inputs": member inputs}``. The member
    green chains all route through the components' router; every member keeps its own
    calibration items (few-shot pools), so nothing leaks between calibration and test.
    """

    name = "mixed"
    title = "Mixed stream of all scenarios through the router"
    generation_metric = "task"
    calibration_size = 0
    router_items = 20
    quick_router_items = 4
    route_cost_items = 4

    def __init__(self, members: Sequence[Scenario]) -> None:
        if not members:
            raise ValueError("the mixed scenario needs at least one member scenario")
        self.members = {m.name: m for m in members}
        self.optimizers = tuple(  # type: ignore[misc]
            dict.fromkeys(o for m in members for o in m.optimizers)
        )
        self.quick_items = min(len(self.members), 4)  # type: ignore[misc]
        self._calibration: dict[str, list[Item]] = {}

    def load(self, root: Root) -> list[Item]:
        return [self._wrap(m.name, it) for m in self.members.values() for it in m.load(root)]

    @staticmethod
    def _wrap(member: str, it: Item) -> Item:
        return Item(
            id=f"mixed/{it.id}",
            inputs={"scenario": member, "inputs": it.inputs},
            reference=it.reference,
            references=it.references,
            choices=it.choices,
            group=it.group,
            meta={**it.meta, "scenario": member},
        )

    def split(self, root: Root, n_test: int | None, seed: int) -> Split:
        per = None if n_test is None else max(1, math.ceil(n_test / len(self.members)))
        cal: list[Item] = []
        test: list[Item] = []
        for m in self.members.values():
            # the member's own split (same seed): its calibration items are the ones every
            # frozen choice was tuned on (green_chain.experiments.tuning), so no mixed test
            # item is one of them; another seed's test items would be
            s = m.split(root, per, seed)
            self._calibration[m.name] = s.calibration
            cal += [self._wrap(m.name, it) for it in s.calibration]
            test += [self._wrap(m.name, it) for it in s.test]
        test = shuffled(test, seed)
        split = Split(cal, test if n_test is None else test[:n_test])
        split.check_disjoint()
        return split

    def _member_env(self, env: ScenarioEnv, name: str) -> ScenarioEnv:
        cal = self._calibration.get(name)
        if cal is None:
            cal = [
                Item(
                    it.id.split("/", 1)[1],
                    it.inputs["inputs"],
                    it.reference,
                    it.references,
                    it.choices,
                    it.group,
                    it.meta,
                )
                for it in env.calibration
                if it.inputs["scenario"] == name
            ]
        # one shared router policy (fitted on the whole mixed calibration set)
        return ScenarioEnv(
            env.components,
            cal,
            env.settings,
            env.seed,
            stop=self.members[name].stop,
            first_line=self.members[name].first_line,
            route_policy=env.route_policy,
            cache_salt=env.cache_salt,
        )

    def _dispatch(self, env: ScenarioEnv, variant: str) -> Runnable:
        chains: dict[str, Runnable] = {}

        def run(inputs: dict[str, Any]) -> str:
            name = inputs["scenario"]
            if name not in chains:
                member = self.members[name]
                menv = self._member_env(env, name)
                chains[name] = (
                    member.baseline(menv) if variant == "baseline" else member.green(menv)
                )
            return chains[name].invoke(inputs["inputs"])

        return RunnableLambda(run, name=f"mixed_{variant}")

    def fit_first_tier(self, env: ScenarioEnv) -> bool:
        """Fit every member's first tier on its share of the calibration items."""
        fitted = [m.fit_first_tier(self._member_env(env, n)) for n, m in self.members.items()]
        return any(fitted)

    def fitted_first_tiers(self, env: ScenarioEnv) -> dict[str, Runnable]:
        """Every member's fitted tier, by member name."""
        out: dict[str, Runnable] = {}
        for n, m in self.members.items():
            out.update(m.fitted_first_tiers(self._member_env(env, n)))
        return out

    def adopt_first_tiers(self, env: ScenarioEnv, tiers: Mapping[str, Runnable]) -> None:
        """Each member takes its own tier."""
        for n, m in self.members.items():
            m.adopt_first_tiers(self._member_env(env, n), tiers)

    def baseline(self, env: ScenarioEnv) -> Runnable:
        return self._dispatch(env, "baseline")

    def green(self, env: ScenarioEnv) -> Runnable:
        return self._dispatch(env, "green")

    def warmup_items(self, calibration: Sequence[Item]) -> list[Item]:
        """One calibration item per member (each member chain has its own caches)."""
        first: dict[str, Item] = {}
        for it in calibration:
            first.setdefault(it.inputs["scenario"], it)
        return list(first.values())

    def member_of(self, item: Item) -> Scenario:
        return self.members[item.inputs["scenario"]]

    def candidates(self, item: Item, pool: Sequence[Item], seed: int) -> list[str]:
        same = [it for it in pool if it.inputs["scenario"] == item.inputs["scenario"]]
        return self.member_of(item).candidates(item, same, seed)

    def normalized_for(self, item: Item) -> bool:
        return self.member_of(item).normalized_for(item)

    def mc_text(self, answer: str, item: Item | None = None) -> str:
        return answer if item is None else self.member_of(item).mc_text(answer, item)

    def chance_quality(self, item: Item) -> float:
        return self.member_of(item).chance_quality(item)

    def score_generation(self, item: Item, output: str) -> dict[str, float]:
        member = self.member_of(item)
        scores = member.score_generation(item, output)
        return {**scores, "task": scores[member.generation_metric]}
