"""Which first-tier settings the benchmark's classification scenarios use, chosen on
calibration items only.

Run: ``python -m green_chain.experiments.first_tier_settings [--data ../shared/data]
[--scenarios sst2,agnews,trec] [--k 5,10,20] [--floors 0.9,0.95] [--levels none,0.9]``.

For each scenario it takes the scenario's own calibration items (seed 0: the
label-balanced draw from the train file for SST-2 and TREC, the items held apart from
the pool for AG News; never a test item), embeds them once with the packaged MiniLM,
and fits an :class:`~green_chain.routing.ExampleClassifier` per setting (``k``
neighbours, quality floor, point estimate or one-sided Wilson bound at ``level``; 30 %
held aside). It prints what the fit reports on its held-aside calibration items: the
threshold, coverage (share it would answer) and accuracy of the answered ones. No
energy is measured: coverage is what the first tier saves (an answered item calls no
LLM).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from langchain_core.embeddings import Embeddings


class _Cached(Embeddings):
    """Embeds each distinct text once (the settings re-fit on the same texts)."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.inner.embed_documents(todo), strict=True))
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _floats(text: str) -> list[float | None]:
    return [None if p.strip() == "none" else float(p) for p in text.split(",") if p.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m green_chain.experiments.first_tier_settings")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--scenarios", default="sst2,agnews,trec")
    p.add_argument("--k", default="5,10,20")
    p.add_argument("--floors", default="0.9,0.95")
    p.add_argument("--levels", default="none,0.9")
    args = p.parse_args(argv)

    import torch

    from green_chain.bench.scenarios import get_scenarios
    from green_chain.models import LocalEmbeddings
    from green_chain.routing import ExampleClassifier

    torch.set_num_threads(1)
    emb = _Cached(LocalEmbeddings())
    rows = []
    for scenario in get_scenarios(args.scenarios.split(",")):
        cal = scenario.split(Path(args.data), 1, 0).calibration
        texts = [it.inputs["text"] for it in cal]
        labels = [it.reference for it in cal]
        for k in (int(x) for x in args.k.split(",")):
            for floor in _floats(args.floors):
                for level in _floats(args.levels):
                    assert floor is not None
                    c = (
                        ExampleClassifier(emb, k=k)
                        .fit(texts, labels, quality_floor=floor, confidence_level=level)
                        .calibration
                    )
                    assert c is not None
                    row = {
                        "scenario": scenario.name,
                        "n_calibration": len(cal),
                        "k": k,
                        "floor": floor,
                        "wilson_level": level,
                        "threshold": c.threshold,
                        "coverage": round(c.coverage, 3),
                        "answered_accuracy": c.answered_accuracy,
                        "head_accuracy": round(c.accuracy, 3),
                        "n_holdout": c.n_holdout,
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
