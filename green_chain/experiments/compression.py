"""Evidence for prompt compression on real data (run: python -m green_chain.experiments.compression).

Reports, per backend: answer survival and the change of the gold answer's
log-likelihood under the packaged chat model (SQuAD v1.1 dev, NQ-open oracle) at
rates 0.5 and 0.33; HotpotQA supporting-paragraph kept share at rate 0.4; the budget
fitter's worst relative error over 200..50k tokens; compression speed; the
compressor's own energy against the target model's saving (``estimate`` meters on a
CPU-only machine; ``projected`` for a user-given fitted E(n) curve). Item ids are
printed so others can rerun the same items.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import time
from typing import Any

TARGET = "smollm2-135m-instruct"


def _load_squad(n: int) -> list[dict[str, Any]]:
    from green_chain.paths import data_file

    rows = []
    with open(data_file("qa/squad_v1.1_dev.jsonl", what="SQuAD v1.1 dev")) as f:
        rows = [json.loads(line) for line in f]
    rnd = random.Random(0)
    rnd.shuffle(rows)
    out = []
    for r in rows[: n * 3]:
        answers = [a if isinstance(a, str) else a.get("text", "") for a in r.get("answers", [])]
        if answers:
            out.append(
                {
                    "id": r["id"],
                    "context": r["context"],
                    "question": r["question"],
                    "answers": answers,
                }
            )
        if len(out) == n:
            break
    return out


def _load_nq(n: int) -> list[dict[str, Any]]:
    from green_chain.paths import data_file

    out = []
    with gzip.open(data_file("qa/nq-open-oracle.jsonl.gz", what="NQ-open oracle"), "rt") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            ctx = r["ctxs"][0]
            out.append(
                {
                    "id": f"nq-oracle-{i}",
                    "context": f"{ctx['title']}\n{ctx['text']}",
                    "question": r["question"],
                    "answers": r["answers"],
                }
            )
            if len(out) == n:
                break
    return out


def _load_hotpot(n: int) -> list[dict[str, Any]]:
    from green_chain.paths import data_file

    with open(data_file("qa/hotpotqa_dev_distractor_sample100.json", what="HotpotQA sample")) as f:
        return json.load(f)[:n]


def _survives(text: str, answers: list[str]) -> bool:
    low = text.lower()
    return any(a.strip() and a.strip().lower() in low for a in answers)


def _word_recall(sentence: str, text: str) -> float:
    words = re.findall(r"\w+", sentence.lower())
    kept = set(re.findall(r"\w+", text.lower()))
    return sum(w in kept for w in words) / max(1, len(words))


def _compressors(names: list[str], rate: float) -> dict[str, Any]:
    from green_chain.compression import PromptCompressor

    return {b: PromptCompressor(b, rate=rate, token_counter=TARGET, min_tokens=0) for b in names}


def qa_eval(
    items: list[dict[str, Any]], backends: list[str], rates: list[float], score: bool
) -> list[dict[str, Any]]:
    """Answer survival / Δ log-likelihood per backend and rate."""
    from green_chain.compression import tolerance
    from green_chain.models import score_continuations

    rows = []
    base_lp: list[float] = []
    if score:
        prompts = [f"{it['context']}\nQuestion: {it['question']}\nAnswer:" for it in items]
        base_lp = [
            s.logprob_sum
            for s in score_continuations(
                prompts, [" " + it["answers"][0] for it in items], model=TARGET
            )
        ]
    for rate in rates:
        for name, comp in _compressors(backends, rate).items():
            comp.compress_text(items[0]["context"], items[0]["question"])  # warm-up: load models
            outs, t0, toks, errs, within = [], time.perf_counter(), 0, [], 0
            for it in items:
                res = comp.compress_text(it["context"], it["question"])
                outs.append(res.text)
                toks += res.tokens_before
                if res.target_tokens:
                    errs.append(abs(res.tokens_after - res.target_tokens) / res.target_tokens)
                    within += abs(res.tokens_after - res.target_tokens) <= tolerance(
                        res.target_tokens
                    )
            dt = time.perf_counter() - t0
            row: dict[str, Any] = {
                "backend": name,
                "rate": rate,
                "n": len(items),
                "answer_survival": sum(
                    _survives(o, it["answers"]) for o, it in zip(outs, items, strict=True)
                )
                / len(items),
                "tokens_per_s": toks / dt,
                "worst_budget_error": max(errs, default=0.0),
                "within_tolerance_share": within / max(1, len(errs)),
            }
            if score:
                prompts = [
                    f"{o}\nQuestion: {it['question']}\nAnswer:"
                    for o, it in zip(outs, items, strict=True)
                ]
                lp = [
                    s.logprob_sum
                    for s in score_continuations(
                        prompts, [" " + it["answers"][0] for it in items], model=TARGET
                    )
                ]
                row["mean_delta_logprob_nats"] = sum(
                    a - b for a, b in zip(lp, base_lp, strict=True)
                ) / len(items)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def hotpot_eval(
    items: list[dict[str, Any]], backends: list[str], rate: float
) -> list[dict[str, Any]]:
    """Share of gold supporting paragraphs whose supporting sentences keep >= 50% of their words."""
    rows = []
    for name, comp in _compressors(backends, rate).items():
        kept = total = 0
        for it in items:
            paras = [
                (it["title_a"], it["para_a"], it["supporting_facts"][0]),
                (it["title_b"], it["para_b"], it["supporting_facts"][1]),
            ]
            paras += [(d[0], d[1], []) for d in it["distractors"]]  # [title, sentences, score]
            random.Random(it["_id"]).shuffle(paras)
            context = "\n\n".join(f"{t}: {''.join(s).strip()}" for t, s, _ in paras)
            out = comp.compress_text(context, it["question"]).text
            for _, sents, sup in paras[:]:
                if not sup:
                    continue
                total += 1
                kept += all(_word_recall(sents[i], out) >= 0.5 for i in sup if i < len(sents))
        row = {
            "backend": name,
            "rate": rate,
            "n": len(items),
            "supporting_paragraph_kept": kept / max(1, total),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def precision_eval(backends: list[str], lengths: list[int]) -> list[dict[str, Any]]:
    """Worst relative budget error over lengths (tokens) and rates, per backend."""
    from green_chain.models.token_counters import resolve_token_counter

    count = resolve_token_counter(TARGET)
    corpus = " ".join(it["context"] for it in _load_squad(600))
    words = corpus.split(" ")
    rows = []
    for name in backends:
        from green_chain.compression import tolerance

        worst, all_within = 0.0, True
        for n in lengths:
            lo, hi = 1, len(words)
            while lo < hi:  # shortest word prefix with >= n tokens
                mid = (lo + hi) // 2
                if count(" ".join(words[:mid])) >= n:
                    hi = mid
                else:
                    lo = mid + 1
            text = " ".join(words[:lo])
            for rate in (0.5, 0.33, 0.1):
                res = _compressors([name], rate)[name].compress_text(text, "When did it happen?")
                err = abs(res.tokens_after - (res.target_tokens or 0)) / max(
                    1, res.target_tokens or 1
                )
                worst = max(worst, err)
                target = res.target_tokens or 1
                all_within &= abs(res.tokens_after - target) <= tolerance(target)
        row = {
            "backend": name,
            "lengths": lengths,
            "rates": [0.5, 0.33, 0.1],
            "worst_relative_error": worst,
            "all_within_tolerance": all_within,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def energy_eval(
    items: list[dict[str, Any]], backends: list[str], curve_path: str | None
) -> list[dict[str, Any]]:
    """Compressor energy vs the target's prefill energy saved (estimate meters; projected curve)."""
    import torch

    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.models import load_causal_lm

    lm = load_causal_lm(TARGET)
    mon = EnergyMonitor()
    curve = None
    if curve_path:
        from green_chain.energy.model import EnergyCurve

        if os.path.exists(curve_path):
            curve = EnergyCurve.load(curve_path)
        else:  # MODEL@GPU of the documented projection
            from green_chain.bench.projection import prefill_curve

            curve = prefill_curve(curve_path)

    def prefill_j(texts: list[str]) -> tuple[float, str]:
        with torch.inference_mode():  # warm-up, unmetered
            lm.model(**lm.tokenizer(texts[0], return_tensors="pt"))
        mon.begin("t")
        for t in texts:
            ids = lm.tokenizer(t, return_tensors="pt")
            with torch.inference_mode():
                lm.model(**ids)
        m = mon.end("t")
        return float(m.total_j or 0.0), str(m.kind)

    rows = []
    for name, comp in _compressors(backends, 0.5).items():
        comp.compress_text(items[0]["context"], items[0]["question"])  # load models outside
        mon.begin("c")
        results = [comp.compress_text(it["context"], it["question"]) for it in items]
        mc = mon.end("c")
        e_orig, kind = prefill_j([it["context"] for it in items])
        e_comp, _ = prefill_j([r.text for r in results])
        row: dict[str, Any] = {
            "backend": name,
            "n": len(items),
            "energy_kind": kind,
            "meter_sources": list(mc.sources),
            "compressor_j": mc.total_j,
            "target_saved_j": e_orig - e_comp,
            "target_model": TARGET,
        }
        if curve is not None:
            saved = sum(
                curve.predict(r.tokens_before) - curve.predict(r.tokens_after) for r in results
            )
            row["projected_target_saved_j"] = float(saved)
            row["projected_curve"] = curve_path
            row["projected_curve_kind"] = curve.kind
            row["projected_target_model"] = curve.model_name
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=200, help="QA items per dataset (HotpotQA: half)")
    p.add_argument("--quick", action="store_true", help="few items, short lengths, no llmlingua")
    p.add_argument("--backends", default="embedding,selective,learned,llmlingua,longllmlingua")
    p.add_argument(
        "--parts",
        default="squad,nq,hotpot,precision,energy",
        help="comma-separated subset of squad,nq,hotpot,precision,energy",
    )
    p.add_argument("--energy-items", type=int, default=50, help="SQuAD items in the energy part")
    p.add_argument(
        "--lengths",
        help="comma-separated prompt lengths (tokens) of the precision part "
        "(default 200,1000,5000,20000,50000; --quick: up to 5000)",
    )
    p.add_argument("--no-score", action="store_true", help="skip the log-likelihood scoring")
    p.add_argument(
        "--energy-curve",
        help="JSON file of a fitted EnergyCurve, or MODEL@GPU of the documented projection "
        "(e.g. llama-3.1-70b@h100): the target's energy saved, labelled projected",
    )
    p.add_argument("--out", help="write all results as JSON here")
    a = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    backends = [b for b in a.backends.split(",") if b]
    n = min(a.items, 30) if a.quick else a.items
    if a.quick:
        backends = [b for b in backends if b in ("embedding", "selective", "learned")]
    lengths = [200, 1000, 5000] if a.quick else [200, 1000, 5000, 20000, 50000]
    if a.lengths:
        lengths = [int(x) for x in a.lengths.split(",") if x]
    squad, nq, hotpot = _load_squad(n), _load_nq(n), _load_hotpot(max(1, min(100, n // 2)))
    print(
        json.dumps(
            {
                "squad_ids": [x["id"] for x in squad],
                "nq_ids": [x["id"] for x in nq],
                "hotpot_ids": [x["_id"] for x in hotpot],
            }
        )
    )
    parts = {x for x in a.parts.split(",") if x}
    unknown = parts - {"squad", "nq", "hotpot", "precision", "energy"}
    if unknown:
        p.error(f"unknown --parts {sorted(unknown)}")
    res: dict[str, Any] = {"args": vars(a)}
    if "squad" in parts:
        res["squad"] = qa_eval(squad, backends, [0.5, 0.33], not a.no_score)
    if "nq" in parts:
        res["nq"] = qa_eval(nq, backends, [0.5, 0.33], not a.no_score)
    if "hotpot" in parts:
        res["hotpot"] = hotpot_eval(hotpot, backends, 0.4)
    if "precision" in parts:
        res["precision"] = precision_eval(backends, lengths)
    if "energy" in parts:
        res["energy"] = energy_eval(squad[: a.energy_items], backends, a.energy_curve)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
