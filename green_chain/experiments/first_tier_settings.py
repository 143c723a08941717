"""Which first-tier settings the benchmark's classification scenarios use, chosen on
calibration items only.

Run: ``python -m green_chain.experiments.first_tier_settings [--data ../shared/data]
[--scenarios sst2,agnews,trec] [--heads knn,logistic] [--sizes 400,1200,2000] [--k 10]
[--floors 0.95] [--levels none] [--folds 4] [--out rows.jsonl]``.

Items: for a scenario with a separate train file (SST-2, TREC) the label-balanced draw
from it that the benchmark's calibration items come from (seed 0, ``max(sizes) * folds /
(folds - 1)`` items, a prefix-stable draw: the benchmark's calibration items are its first
``tier_calibration_size``); for a scenario that holds its calibration items apart from its
test pool (AG News) its own calibration items at the benchmark's
``tier_calibration_size``, and sizes are capped there (a larger size would look at items
the benchmark tests on). Either way the items are checked disjoint from every test item
of the scenario's split (:meth:`Split.check_disjoint`, and again here).

Evaluation: ``folds``-fold cross-fitting. Each fold is a *check* part never seen by the
fit; on the other items (their first ``size`` in seeded order) an
:class:`~green_chain.routing.ExampleClassifier` is fitted per head, ``k``, quality floor
and level as the benchmark fits it (30 % of them held aside for its calibration and
threshold), then asked about the check items. A row gives what the fits report on their
own held-aside items (mean threshold, coverage) and, pooled over the folds, what they did
on the check items: coverage (share answered: what the first tier saves, an answered item
calls no LLM), accuracy of the answered ones with its Wilson 95 % interval, and the head's
accuracy on all of them. No energy is measured here.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from green_chain.bench.items import Item


class _Cached(Embeddings):
    """Embeds each distinct text once (the settings re-fit on the same texts); with
    ``path``, the vectors are kept in that ``.npz`` file across runs."""

    def __init__(self, inner: Embeddings, path: Path | None = None) -> None:
        self.inner = inner
        self.path = path
        self.cache: dict[str, list[float]] = {}
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as saved:
                self.cache = dict(
                    zip(saved["texts"].tolist(), saved["vectors"].tolist(), strict=True)
                )

    def save(self) -> None:
        if self.path is not None and self.cache:
            texts = list(self.cache)
            np.savez(
                self.path, texts=np.asarray(texts), vectors=np.asarray(list(self.cache.values()))
            )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.inner.embed_documents(todo), strict=True))
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _floats(text: str) -> list[float | None]:
    return [None if p.strip() == "none" else float(p) for p in text.split(",") if p.strip()]


def candidate_items(scenario: Any, root: Path, n: int, seed: int) -> tuple[list[Item], int]:
    """(items, largest usable size): up to ``n`` calibration-only items of ``scenario``.

    A scenario with a train pool gives its label-balanced draw of ``n`` (the benchmark's
    calibration items are its first ``tier_calibration_size``); one without gives its own
    calibration items (``tier_calibration_size`` of them). Raises ``ValueError`` when any item is one of the scenario's test
    items.
    """
    from green_chain.bench.scenarios.fewshot import label_balanced

    split = scenario.split(root, None, seed)  # checks calibration/test disjointness
    pool = scenario.calibration_pool(root)
    items = label_balanced(pool, n, seed) if pool is not None else list(split.calibration)
    test_ids = {it.id for it in split.test}
    leaked = [it.id for it in items if it.id in test_ids]
    if leaked:
        raise ValueError(f"{scenario.name}: {len(leaked)} candidate item(s) are test items")
    return items, len(items)


@dataclass
class _Tally:
    """Check-part outcomes of one (floor, level), pooled over the folds."""

    answered: int = 0
    right_answered: int = 0
    right_all: int = 0
    n: int = 0
    thresholds: list[float] = field(default_factory=list)
    coverages: list[float] = field(default_factory=list)
    l2s: list[float] = field(default_factory=list)


def cross_fit(
    texts: Sequence[str],
    labels: Sequence[str],
    size: int,
    folds: int,
    seed: int,
    make: Any,
    floors: Sequence[tuple[float, float | None]],
) -> list[dict[str, Any]]:
    """Per (floor, level) in ``floors``: fit ``make()`` on ``size`` items outside each
    fold (the head once per fold, the threshold per floor), ask it about the fold; the
    check figures pooled over the folds."""
    from green_chain.routing.classifier import wilson_lower

    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    parts = [order[f::folds] for f in range(folds)]
    tallies = [_Tally() for _ in floors]
    n_fit = 0
    for f, part in enumerate(parts):
        rest = [i for g, p in enumerate(parts) if g != f for i in p][:size]
        n_fit = len(rest)
        fitted = make().fit([texts[i] for i in rest], [labels[i] for i in rest], seed=seed)
        for tally, (floor, level) in zip(tallies, floors, strict=True):
            clf = fitted.with_floor(floor, level)
            cal = clf.calibration
            assert cal is not None
            tally.thresholds.append(cal.threshold)
            tally.coverages.append(cal.coverage)
            if cal.l2 is not None:
                tally.l2s.append(cal.l2)
            for i, a in zip(part, clf.classify([texts[i] for i in part]), strict=True):
                ok = a.label == labels[i]
                tally.n += 1
                tally.right_all += ok
                if a.answered:
                    tally.answered += 1
                    tally.right_answered += ok
    out = []
    for tally, (floor, level) in zip(tallies, floors, strict=True):
        n, answered, hits = tally.n, tally.answered, tally.right_answered
        ci = (
            [
                round(wilson_lower(hits, answered, 0.975), 3),
                round(1.0 - wilson_lower(answered - hits, answered, 0.975), 3),
            ]
            if answered
            else None
        )
        finite = [t for t in tally.thresholds if math.isfinite(t)]
        out.append(
            {
                "floor": floor,
                "wilson_level": level,
                "n_fit": n_fit,
                "n_check": n,
                "fit_threshold_mean": round(sum(finite) / len(finite), 3) if finite else None,
                "fits_never_answering": len(tally.thresholds) - len(finite),
                "fit_coverage_mean": round(sum(tally.coverages) / len(tally.coverages), 3),
                "l2": sorted(set(tally.l2s)) or None,
                "check_coverage": round(answered / n, 3),
                "check_answered": answered,
                "check_answered_accuracy": round(hits / answered, 3) if answered else None,
                "check_answered_ci95": ci,
                "check_head_accuracy": round(tally.right_all / n, 3),
            }
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m green_chain.experiments.first_tier_settings")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--scenarios", default="sst2,agnews,trec")
    p.add_argument("--heads", default="knn,logistic")
    p.add_argument("--sizes", default="400,1200,2000", help="calibration items fitted on")
    p.add_argument("--k", default="10")
    p.add_argument("--floors", default="0.95")
    p.add_argument("--levels", default="none")
    p.add_argument("--folds", type=int, default=4, help="cross-fitting folds (check parts)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the rows here (JSON lines)")
    p.add_argument(
        "--embedding-cache", default=None, help="a .npz file keeping the embeddings across runs"
    )
    args = p.parse_args(argv)
    if args.folds < 2:
        p.error(f"--folds must be >= 2, got {args.folds}")
    sizes = sorted({int(x) for x in args.sizes.split(",")})
    if not sizes or sizes[0] < 10:
        p.error(f"--sizes must be >= 10 each, got {args.sizes}")
    heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    floors = [
        (floor, level)
        for floor in _floats(args.floors)
        if floor is not None
        for level in _floats(args.levels)
    ]

    import torch

    from green_chain.bench.scenarios import get_scenarios
    from green_chain.models import LocalEmbeddings
    from green_chain.routing import ExampleClassifier

    torch.set_num_threads(1)
    emb = _Cached(LocalEmbeddings(), Path(args.embedding_cache) if args.embedding_cache else None)
    rows = []
    for scenario in get_scenarios(args.scenarios.split(",")):
        want = -(-max(sizes) * args.folds // (args.folds - 1))
        items, _ = candidate_items(scenario, Path(args.data), want, args.seed)
        texts = [it.inputs["text"] for it in items]
        labels = [it.reference for it in items]
        emb.embed_documents(texts)
        emb.save()
        usable = len(items) - -(-len(items) // args.folds)
        for size in sizes:
            if size > usable:
                print(
                    f"# {scenario.name}: size {size} skipped: only {len(items)} calibration "
                    f"items ({usable} outside a check fold)",
                    flush=True,
                )
                continue
            for head in heads:
                for k in (int(x) for x in args.k.split(",")) if head == "knn" else [None]:

                    def make(head: str = head, k: int | None = k) -> ExampleClassifier:
                        return ExampleClassifier(emb, head=head, k=k or 10)

                    for res in cross_fit(texts, labels, size, args.folds, args.seed, make, floors):
                        row = {
                            "scenario": scenario.name,
                            "n_items": len(items),
                            "size": size,
                            "head": head,
                            "k": k,
                            **res,
                        }
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
