"""Evidence for the router: energy saved at 95% of large-only quality, per scorer.

``python -m green_chain.experiments.router [--items N] [--train-items M] [--seed S] [--out DIR]``

Cheap = packaged SmolLM2-135M-Instruct, large = packaged Gemma-3-270M (base;
plain-text prompts). Items: SQuAD v1.1 dev, NQ-open with its gold passage, SST-2
dev, from ``green_chain.paths.data_dir()``. ``N`` test items and ``M`` (default ``N``) disjoint
train items (same task mix, fixed seed); scorers are fitted and calibrated on the
train items only.

Per item and model: the generation call is metered with ``EnergyMonitor`` (its
``estimate`` backend on machines without counters: CPU time x W/core, labelled
``estimated``); quality is a multiple choice by mean answer log-likelihood (gold vs
three distractor answers of other items, fixed seed; 2-way for SST-2), with EM/F1 of
the generated answer beside it. A scorer's routed energy on the test items is the
sum of the metered calls it chooses (cascade: the cheap call always, plus the large
call when it escalates) plus the scorer's own metered energy.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import string
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHEAP, LARGE = "smollm2-135m-instruct", "gemma3-270m"
MIX = (("squad", 0.4), ("nq", 0.3), ("sst2", 0.3))
MAX_CONTEXT_CHARS = 1200


@dataclass
class Item:
    id: str
    task: str
    prompt: str
    gold: list[str]
    options: list[str]
    answer_index: int
    max_new_tokens: int


@dataclass
class CallResult:
    answer: str
    energy_j: float
    confidence: float
    mc_correct: float
    em: float
    f1: float


@dataclass
class ScorerReport:
    scorer: str
    threshold: float
    large_share: float
    quality: float
    quality_retained_pct: float
    energy_j: float
    scorer_energy_j: float
    energy_saved_pct: float
    em: float
    f1: float
    curve: list[dict[str, float]] = field(default_factory=list)


# -- data -----------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _distractors(rng: random.Random, pool: list[str], gold: list[str], k: int = 3) -> list[str]:
    golds = {g.strip().lower() for g in gold}
    out: list[str] = []
    while len(out) < k:
        cand = rng.choice(pool)
        if cand.strip().lower() not in golds and cand not in out:
            out.append(cand)
    return out


def _qa_items(
    task: str, rows: list[tuple[str, str, str, list[str]]], n: int, rng: random.Random
) -> list[Item]:
    pool = [r[3][0] for r in rows]
    items = []
    for rid, context, question, gold in rng.sample(rows, n):
        ctx = context[:MAX_CONTEXT_CHARS]
        prompt = f"Context: {ctx}\nQuestion: {question}\nShort answer:"
        options = [gold[0], *_distractors(rng, pool, gold)]
        order = list(range(4))
        rng.shuffle(order)
        items.append(Item(rid, task, prompt, gold, [options[i] for i in order], order.index(0), 12))
    return items


def load_items(n_total: int, seed: int) -> list[Item]:
    """``n_total`` items in the fixed task mix (reads ``data_dir()``)."""
    from green_chain.paths import data_file

    rng = random.Random(seed)
    counts = {t: round(n_total * share) for t, share in MIX}
    counts["squad"] += n_total - sum(counts.values())
    squad = _read_jsonl(data_file("qa/squad_v1.1_dev.jsonl", what="SQuAD v1.1 dev (jsonl)"))
    squad_rows = [
        (r["id"], r["context"], r["question"], r["answers"]) for r in squad if r.get("answers")
    ]
    nq = _read_jsonl(
        data_file("qa/nq-open-oracle.jsonl.gz", what="NQ-open dev with gold passages (jsonl.gz)")
    )
    nq_rows = [
        (f"nq-{i}", r["ctxs"][0]["text"], r["question"], r["answers"])
        for i, r in enumerate(nq)
        if r.get("ctxs") and r.get("answers")
    ]
    items = _qa_items("squad", squad_rows, counts["squad"], rng)
    items += _qa_items("nq", nq_rows, counts["nq"], rng)
    sst = data_file("classification/sst2_stsa.binary.dev", what="SST-2 dev (label<TAB|space>text)")
    lines = [ln.strip() for ln in sst.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for i in rng.sample(range(len(lines)), counts["sst2"]):
        label, text = lines[i].split(" ", 1)
        gold = "positive" if label == "1" else "negative"
        prompt = f"Review: {text}\nIs the sentiment of this review positive or negative?\nAnswer:"
        items.append(
            Item(
                f"sst2-{i}", "sst2", prompt, [gold], ["negative", "positive"], int(label == "1"), 3
            )
        )
    rng.shuffle(items)
    return items


# -- metrics --------------------------------------------------------------------------


def _norm(text: str) -> list[str]:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def exact_match(pred: str, gold: list[str]) -> float:
    return float(any(_norm(pred) == _norm(g) for g in gold))


def f1_score(pred: str, gold: list[str]) -> float:
    best = 0.0
    p = _norm(pred)
    for g in gold:
        t = _norm(g)
        common = sum((Counter(p) & Counter(t)).values())
        if common:
            prec, rec = common / len(p), common / len(t)
            best = max(best, 2 * prec * rec / (prec + rec))
    return best


# -- running the models ---------------------------------------------------------------


def run_model(name: str, items: list[Item], monitor: Any) -> list[CallResult]:
    """Generate (metered) and score the multiple choice for every item."""
    import math

    from langchain_core.messages import HumanMessage

    from green_chain.models import ChatLocal, load_causal_lm, score_continuations

    loaded = load_causal_lm(name)
    results = []
    for k, item in enumerate(items):
        chat = ChatLocal(model=name, max_new_tokens=item.max_new_tokens, temperature=0.0)
        monitor.begin(("gen", name, k))
        msg = chat.invoke([HumanMessage(content=item.prompt)], stop=["\n"])
        energy = monitor.end(("gen", name, k)).total_j or 0.0
        answer = str(msg.content).strip()
        lp = (msg.response_metadata or {}).get("mean_token_logprob")
        conf = math.exp(lp) if isinstance(lp, int | float) and lp == lp else 0.0
        scores = score_continuations(
            [item.prompt] * len(item.options), [" " + o for o in item.options], model=loaded
        )
        best = max(range(len(scores)), key=lambda i: scores[i].mean_logprob)
        results.append(
            CallResult(
                answer,
                float(energy),
                min(1.0, conf),
                float(best == item.answer_index),
                exact_match(answer, item.gold),
                f1_score(answer, item.gold),
            )
        )
        print(f"  {name} {k + 1}/{len(items)}", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    return results


# -- scorers --------------------------------------------------------------------------


def _cv_scores(scorer: Any, x: Any, y: Any, folds: int = 5) -> list[float]:
    """Out-of-fold scores on the train items (calibrating on in-sample scores overfits)."""
    import numpy as np

    out = np.zeros(len(y))
    idx = np.arange(len(y))
    for f in range(folds):
        test = idx % folds == f
        scorer.fit_embedded(x[~test], y[~test])
        out[test] = scorer.predict_embedded(x[test])[:, 0]
    scorer.fit_embedded(x, y)
    return [float(v) for v in out]


def _report(
    name: str,
    train: dict[str, Any],
    test: dict[str, Any],
    scores_train: list[float],
    scores_test: list[float],
    scorer_energy_j: float,
    cascade: bool,
    floor: float,
) -> ScorerReport:
    from green_chain.routing import calibrate, evaluate_threshold

    cal = calibrate(
        scores_train,
        train["qc"],
        train["ql"],
        train["ec"],
        train["el"],
        quality_floor=floor,
        cascade=cascade,
    )
    pt = evaluate_threshold(
        scores_test, test["qc"], test["ql"], test["ec"], test["el"], cal.threshold, cascade=cascade
    )
    large_only_q = sum(test["ql"]) / len(test["ql"])
    base_e = sum(test["el"])
    energy = pt.energy_j + scorer_energy_j
    cheap = [s >= cal.threshold for s in scores_test]
    em = sum(c if ch else g for ch, c, g in zip(cheap, test["emc"], test["eml"], strict=True))
    f1 = sum(c if ch else g for ch, c, g in zip(cheap, test["f1c"], test["f1l"], strict=True))
    n = len(cheap)
    test_curve = calibrate(
        scores_test,
        test["qc"],
        test["ql"],
        test["ec"],
        test["el"],
        quality_floor=floor,
        cascade=cascade,
    ).curve
    return ScorerReport(
        name,
        cal.threshold,
        pt.large_share,
        pt.quality,
        100 * pt.quality / large_only_q,
        energy,
        scorer_energy_j,
        100 * (1 - energy / base_e),
        em / n,
        f1 / n,
        [p._asdict() for p in test_curve],
    )


def evaluate(
    items_train: list[Item],
    items_test: list[Item],
    res: dict[str, Any],
    floor: float,
    monitor: Any,
    embeddings: Any = None,
) -> list[ScorerReport]:
    """Fit, calibrate (train) and evaluate (test) every scorer on metered results."""
    import numpy as np
    from langchain_core.messages import HumanMessage

    from green_chain.routing import EmbeddingScorer, HeuristicScorer, labels_from_quality

    def pack(split: str) -> dict[str, Any]:
        c, g = res[CHEAP][split], res[LARGE][split]
        return {
            "qc": [r.mc_correct for r in c],
            "ql": [r.mc_correct for r in g],
            "ec": [r.energy_j for r in c],
            "el": [r.energy_j for r in g],
            "emc": [r.em for r in c],
            "eml": [r.em for r in g],
            "f1c": [r.f1 for r in c],
            "f1l": [r.f1 for r in g],
            "conf": [r.confidence for r in c],
        }

    train, test = pack("train"), pack("test")
    req_train = [[HumanMessage(content=i.prompt)] for i in items_train]
    req_test = [[HumanMessage(content=i.prompt)] for i in items_test]
    reports = []

    heur = HeuristicScorer()
    monitor.begin("heuristic")
    h_test = heur.score_batch(req_test)
    h_e = monitor.end("heuristic").total_j or 0.0
    reports.append(
        _report("heuristic", train, test, heur.score_batch(req_train), h_test, h_e, False, floor)
    )

    emb = EmbeddingScorer(embeddings, method="logistic")
    labels = np.asarray(labels_from_quality(train["qc"], train["ql"]), dtype=float)[:, None]
    x_train = emb.embed(req_train)
    s_train = _cv_scores(emb, x_train, labels)
    monitor.begin("embedding")
    e_test = emb.score_batch(req_test)
    e_e = monitor.end("embedding").total_j or 0.0
    reports.append(_report("embedding:logistic", train, test, s_train, e_test, e_e, False, floor))

    reports.append(_report("cascade", train, test, train["conf"], test["conf"], 0.0, True, floor))
    oracle = [float(c >= g) for c, g in zip(test["qc"], test["ql"], strict=True)]
    reports.append(_report("oracle (test labels)", test, test, oracle, oracle, 0.0, False, floor))
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m green_chain.experiments.router",
        description=__doc__.split("\n")[0] if __doc__ else None,
    )
    parser.add_argument("--items", type=int, default=40, help="test items")
    parser.add_argument(
        "--train-items", type=int, default=None, help="train/calibration items (default: --items)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--floor", type=float, default=0.95, help="quality floor x large-only")
    parser.add_argument("--out", type=Path, default=None, help="folder for router.json")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy box)"
    )
    args = parser.parse_args(argv)
    if args.items < 10:
        parser.error("--items must be >= 10")

    import torch

    torch.set_num_threads(max(1, args.threads))

    from green_chain.energy.backends.estimate import CPUTimeEstimateBackend
    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.energy.probe import detect_backends

    backends = detect_backends() or [CPUTimeEstimateBackend()]
    monitor = EnergyMonitor(backends)
    n_train = args.train_items if args.train_items is not None else args.items
    if n_train < 10:
        parser.error("--train-items must be >= 10")
    items = load_items(n_train + args.items, args.seed)
    train_items, test_items = items[:n_train], items[n_train:]
    assert not {i.id for i in train_items} & {i.id for i in test_items}, "train/test overlap"
    started = time.time()
    res: dict[str, Any] = {}
    for name in (CHEAP, LARGE):
        res[name] = {
            "train": run_model(name, train_items, monitor),
            "test": run_model(name, test_items, monitor),
        }
    reports = evaluate(train_items, test_items, res, args.floor, monitor)
    sources = sorted({b.source for b in backends})
    kind = "measured" if set(sources) - {"estimate"} else "estimated"

    t = res[LARGE]["test"]
    c = res[CHEAP]["test"]
    n = len(t)
    print(
        f"\nRouter benchmark: {n} test items, {len(train_items)} train items, seed {args.seed}; "
        f"energy {kind} (sources: {', '.join(sources)})"
    )
    print(
        f"large-only ({LARGE}): MC acc {sum(r.mc_correct for r in t) / n:.3f}, "
        f"EM {sum(r.em for r in t) / n:.3f}, F1 {sum(r.f1 for r in t) / n:.3f}, "
        f"{sum(r.energy_j for r in t):.1f} J"
    )
    print(
        f"cheap-only ({CHEAP}): MC acc {sum(r.mc_correct for r in c) / n:.3f}, "
        f"EM {sum(r.em for r in c) / n:.3f}, F1 {sum(r.f1 for r in c) / n:.3f}, "
        f"{sum(r.energy_j for r in c):.1f} J"
    )
    print(f"\nAt the quality floor {args.floor:.2f} x large-only (threshold calibrated on train):")
    print(
        f"{'scorer':<22}{'thr':>8}{'large%':>8}{'MC acc':>8}{'retained%':>10}"
        f"{'energy J':>10}{'saved%':>8}{'EM':>7}{'F1':>7}"
    )
    for r in reports:
        print(
            f"{r.scorer:<22}{r.threshold:>8.3f}{100 * r.large_share:>8.1f}{r.quality:>8.3f}"
            f"{r.quality_retained_pct:>10.1f}{r.energy_j:>10.1f}{r.energy_saved_pct:>8.1f}"
            f"{r.em:>7.3f}{r.f1:>7.3f}"
        )
    out = args.out or Path("green-chain-results") / time.strftime("router-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": "python -m green_chain.experiments.router " + " ".join(argv or sys.argv[1:]),
        "cheap": CHEAP,
        "large": LARGE,
        "seed": args.seed,
        "floor": args.floor,
        "energy_kind": kind,
        "torch_threads": args.threads,
        "energy_sources": sources,
        "duration_s": time.time() - started,
        "train_ids": [i.id for i in train_items],
        "test_ids": [i.id for i in test_items],
        "reports": [asdict(r) for r in reports],
        "per_item": {m: {s: [asdict(r) for r in v] for s, v in d.items()} for m, d in res.items()},
    }
    (out / "router.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    print(f"\nwrote {out / 'router.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
