"""Benchmark items and their deterministic, leak-free selection.

An :class:`Item` is one test case of a scenario: the chain's input dict, the
gold reference(s), and optionally a fixed set of answer choices (class labels,
function names) for the log-likelihood multiple choice. Item ids are stable
(derived from the source file's own ids or line numbers), so the same command
selects the same items on every machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Item:
    """One benchmark item.

    Attributes:
        id: Stable id, ``<dataset>:<source id>`` (e.g. ``squad:5725b33f6a3fe71400b8952d``).
        inputs: The chain's input dict (``context``, ``question``, ``history`` ...).
        reference: The primary gold answer (the continuation scored in the multiple choice).
        references: Every acceptable gold answer (for exact match / F1), first = ``reference``.
        choices: A fixed candidate set containing ``reference`` (labels, function names),
            or ``None`` when distractors are drawn from other items' references.
        group: Items sharing a group (same passage, same meeting) always fall on the
            same side of a calibration/test split.
        meta: Free JSON-able details (source file, task type ...).
    """

    id: str
    inputs: dict[str, Any]
    reference: str
    references: tuple[str, ...] = ()
    choices: tuple[str, ...] | None = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.references:
            object.__setattr__(self, "references", (self.reference,))
        if self.choices is not None and self.reference not in self.choices:
            raise ValueError(f"item {self.id}: reference {self.reference!r} not among its choices")


def stable_rank(key: str, seed: int) -> str:
    """A seed-dependent sort key independent of file order and Python's hash seed."""
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def shuffled(items: Sequence[Item], seed: int) -> list[Item]:
    """Items in a deterministic pseudo-random order for ``seed``."""
    return sorted(items, key=lambda it: stable_rank(it.id, seed))


@dataclass(frozen=True)
class Split:
    """A calibration/test split of one scenario's items (disjoint ids and groups)."""

    calibration: list[Item]
    test: list[Item]

    def check_disjoint(self) -> None:
        """Raise ``ValueError`` if an id or a group appears on both sides."""
        cal_ids = {it.id for it in self.calibration}
        leaked = cal_ids & {it.id for it in self.test}
        if leaked:
            raise ValueError(f"items in both calibration and test: {sorted(leaked)[:5]}")
        cal_groups = {it.group for it in self.calibration if it.group is not None}
        leaked_groups = cal_groups & {it.group for it in self.test if it.group is not None}
        if leaked_groups:
            raise ValueError(f"groups in both calibration and test: {sorted(leaked_groups)[:5]}")


def split_items(
    items: Sequence[Item],
    *,
    n_test: int | None,
    n_calibration: int,
    seed: int,
    calibration_pool: Sequence[Item] | None = None,
) -> Split:
    """Deterministic calibration/test split with no leakage.

    With ``calibration_pool`` (a separate train file) calibration comes from it and the
    test items from ``items``. Otherwise whole groups (or single items) are assigned in
    seeded order: calibration first until it holds ``n_calibration`` items (at most half
    of a small pool), then test.

    Args:
        items: The scenario's evaluation pool.
        n_test: Number of test items, ``None`` for the whole remaining pool.
        n_calibration: Number of calibration items (few-shot pool, router training).
        seed: Selection seed.
        calibration_pool: Optional separate source of calibration items.
    """
    if n_test is not None and n_test < 0:
        raise ValueError(f"n_test must be >= 0, got {n_test}")
    if calibration_pool is not None:
        test_pool = shuffled(items, seed)
        split = Split(
            shuffled(calibration_pool, seed)[:n_calibration],
            test_pool if n_test is None else test_pool[:n_test],
        )
        split.check_disjoint()
        return split
    # A small pool never goes entirely to calibration: at most half of it.
    n_calibration = min(n_calibration, len(items) // 2)
    groups: dict[str, list[Item]] = {}
    for it in items:
        groups.setdefault(it.group or it.id, []).append(it)
    order = sorted(groups, key=lambda g: stable_rank(g, seed))
    cal: list[Item] = []
    test: list[Item] = []
    for g in order:
        members = sorted(groups[g], key=lambda it: stable_rank(it.id, seed))
        if len(cal) < n_calibration:
            cal.extend(members)
        else:
            test.extend(members)
    # Spread the test items over groups: one per group first, in seeded order.
    test = _round_robin_by_group(test, seed)
    split = Split(cal[: max(n_calibration, 0)] if n_calibration else [], test)
    if n_test is not None:
        split = Split(split.calibration, split.test[:n_test])
    split.check_disjoint()
    return split


def _round_robin_by_group(items: list[Item], seed: int) -> list[Item]:
    by_group: dict[str, list[Item]] = {}
    for it in items:
        by_group.setdefault(it.group or it.id, []).append(it)
    order = sorted(by_group, key=lambda g: stable_rank(g, seed))
    out: list[Item] = []
    depth = 0
    while len(out) < len(items):
        for g in order:
            if depth < len(by_group[g]):
                out.append(by_group[g][depth])
        depth += 1
    return out


def distractors(
    item: Item,
    pool: Sequence[Item],
    *,
    k: int,
    seed: int,
    key: Callable[[Item], str] = lambda it: it.reference,
) -> list[str]:
    """``k`` distinct wrong answers for ``item`` drawn from other items' references.

    Deterministic for (item id, seed); never equal (case-insensitively) to any of the
    item's own references.
    """
    own = {r.strip().lower() for r in item.references}
    seen: set[str] = set()
    out: list[str] = []
    for other in sorted(pool, key=lambda it: stable_rank(f"{item.id}|{it.id}", seed)):
        cand = key(other).strip()
        low = cand.lower()
        if other.id == item.id or not cand or low in own or low in seen:
            continue
        seen.add(low)
        out.append(cand)
        if len(out) == k:
            break
    return out
