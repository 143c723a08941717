"""Evidence for prompt compression on real data (run: python -m green_chain.experiments.compression).

Reports, per backend: answer survival (the gold answer still in the compressed
context) and the change of the gold answer's log-likelihood under the packaged chat
model on held-out SQuAD v1.1 dev and NQ-open oracle items (the ``test`` split of
``green_chain.compression.qa_items``: no tuning ever sees them) at rates 0.5 and
0.33, with the keep-the-head truncation row (``head``) as the reference, printed as
one markdown table; HotpotQA supporting-paragraph kept share at rate 0.4; the budget
fitter's worst relative error over 200..50k tokens; compression speed; the
compressor's own energy against the target model's saving (``estimate`` meters on a
CPU-only machine; ``projected`` for a user-given fitted E(n) curve). Item ids are
printed so others can rerun the same items. ``--parts selective-why`` shows, on
``tune`` items, why surprisal scoring loses to truncation. The table of the README::

    python -m green_chain.experiments.compression --parts squad,nq --no-score
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from typing import Any

TARGET = "smollm2-135m-instruct"


def _load_squad(n: int) -> list[dict[str, Any]]:
    """``n`` held-out SQuAD items (the ``test`` split of ``green_chain.compression.qa_items``)."""
    from green_chain.compression.qa_items import squad_items

    return squad_items("test", n)


def _load_nq(n: int) -> list[dict[str, Any]]:
    """``n`` held-out NQ-oracle items (the ``test`` split of ``green_chain.compression.qa_items``)."""
    from green_chain.compression.qa_items import nq_items

    return nq_items("test", n)


def _load_hotpot(n: int) -> list[dict[str, Any]]:
    from green_chain.paths import data_file

    with open(data_file("qa/hotpotqa_dev_distractor_sample100.json", what="HotpotQA sample")) as f:
        return json.load(f)[:n]


def _survives(text: str, answers: list[str]) -> bool:
    from green_chain.compression.qa_items import survives

    return survives(text, answers)


def _word_recall(sentence: str, text: str) -> float:
    words = re.findall(r"\w+", sentence.lower())
    kept = set(re.findall(r"\w+", text.lower()))
    return sum(w in kept for w in words) / max(1, len(words))


def _compressors(names: list[str], rate: float) -> dict[str, Any]:
    from green_chain.compression import PromptCompressor
    from green_chain.models import LocalEmbeddings

    def kwargs(name: str) -> dict[str, Any]:
        if name == "embedding":  # no vector cache: every rate and dataset pays its encoding
            return {"embeddings": LocalEmbeddings(model="all-minilm-l6-v2", cache_size=0)}
        return {}

    return {
        b: PromptCompressor(
            b, rate=rate, token_counter=TARGET, min_tokens=0, backend_kwargs=kwargs(b)
        )
        for b in names
    }


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


def selective_diagnosis(n: int) -> dict[str, Any]:
    """Why the ``selective`` backend lost to truncation, on ``n`` SQuAD + ``n`` NQ *tune* items.

    Two SmolLM2 passes per item (with and without the question) give every scoring
    variant; each is fitted to the budget like ``PromptCompressor`` and its answer
    survival is reported at rates 0.5 and 0.33 next to keep-the-head, with and without
    the numbers/names priority, and the share of multi-word gold answers.
    """
    from green_chain.compression.backends.selective import SelectiveBackend, _sentence_of
    from green_chain.compression.budget import fit_budget
    from green_chain.compression.core import rank_first
    from green_chain.compression.protect import compile_protect, protected_mask
    from green_chain.compression.qa_items import nq_items, squad_items
    from green_chain.compression.units import split_words
    from green_chain.models.token_counters import resolve_token_counter

    count = resolve_token_counter(TARGET)
    lm = SelectiveBackend(TARGET)
    first = compile_protect(["numbers", "entities"])
    hits: dict[str, list[int]] = {}
    items = squad_items("tune", n) + nq_items("tune", n)
    for it in items:
        units = split_words(it["context"])
        with_q, k, _, _ = lm._word_totals(units, it["question"])
        without_q, _, _, _ = lm._word_totals(units, None)
        gain = [a - b for a, b in zip(without_q, with_q, strict=True)]
        sent = _sentence_of(units)
        groups: dict[int, list[float]] = {}
        for i, g in enumerate(gain):
            groups.setdefault(sent[i], []).append(g)
        variants = {
            "surprisal_given_question": [
                t / c if c else -1.0 for t, c in zip(with_q, k, strict=True)
            ],
            "surprisal_no_question": [
                t / c if c else -1.0 for t, c in zip(without_q, k, strict=True)
            ],
            "contrast_per_word": gain,
            "contrast_by_sentence": [
                sum(groups[sent[i]]) / len(groups[sent[i]]) + 1e-3 * g for i, g in enumerate(gain)
            ],
        }
        prio = protected_mask(it["context"], units, first)
        for rate in (0.5, 0.33):
            share = max(1, round(rate * count(it["context"])))
            runs = {"head": [-float(i) for i in range(len(units))]}
            for name, sc in variants.items():
                runs[name] = sc
                runs[name + "+priority"] = rank_first(sc, prio)
            for name, sc in runs.items():
                text = fit_budget(units, sc, count, share).text
                key = f"{'nq' if it['id'].startswith('nq') else 'squad'} {rate} {name}"
                hits.setdefault(key, []).append(int(_survives(text, it["answers"])))
    report: dict[str, Any] = {
        "items": {"squad_tune": n, "nq_tune": n},
        "multi_word_answers": sum(len(it["answers"][0].split()) > 1 for it in items),
        "survival": {key: sum(v) / len(v) for key, v in sorted(hits.items())},
    }
    print(json.dumps(report, indent=1), flush=True)
    return report


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


def survival_table(squad: list[dict[str, Any]], nq: list[dict[str, Any]]) -> str:
    """Markdown table: answer survival % per backend at 0.5 and 0.33 on SQuAD and NQ, tokens/s.

    ``squad`` and ``nq`` are :func:`qa_eval` rows; tokens/s is the range over the
    backend's runs (whole ``compress_text`` calls, one after the other in this process).
    """
    cols = [("SQuAD", 0.5), ("NQ", 0.5), ("SQuAD", 0.33), ("NQ", 0.33)]
    n_sq = squad[0]["n"] if squad else 0
    n_nq = nq[0]["n"] if nq else 0
    head = " | ".join(f"{d} {r}" for d, r in cols)
    lines = [
        f"held-out answer survival %, SQuAD {n_sq} items, NQ-oracle {n_nq} items",
        f"| backend | {head} | tokens/s |",
        "|---|" + "---|" * (len(cols) + 1),
    ]
    names: list[str] = []
    for row in squad + nq:
        if row["backend"] not in names:
            names.append(row["backend"])
    for name in names:
        cells = []
        speeds = []
        for data, rate in cols:
            rows = squad if data == "SQuAD" else nq
            hit = [r for r in rows if r["backend"] == name and r["rate"] == rate]
            cells.append(f"{100 * hit[0]['answer_survival']:.1f}" if hit else "-")
            speeds += [r["tokens_per_s"] for r in hit]
        speed = f"{min(speeds):,.0f}-{max(speeds):,.0f}" if speeds else "-"
        label = "keep the head" if name == "head" else f"`{name}`"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {speed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--squad-items", type=int, default=60, help="held-out SQuAD items")
    p.add_argument("--nq-items", type=int, default=40, help="held-out NQ-oracle items")
    p.add_argument(
        "--items", type=int, help="QA items per dataset (overrides both; HotpotQA: half)"
    )
    p.add_argument("--quick", action="store_true", help="few items, short lengths, no llmlingua")
    p.add_argument(
        "--backends",
        default="lexical,embedding,learned,selective,llmlingua,longllmlingua",
        help="comma-separated backends; the keep-the-head reference (head) is always added",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (speed is per thread)")
    p.add_argument(
        "--parts",
        default="squad,nq,hotpot,precision,energy",
        help="comma-separated subset of squad,nq,hotpot,precision,energy,selective-why "
        "(selective-why: why surprisal scoring loses, on --diag-items tune items per dataset)",
    )
    p.add_argument("--energy-items", type=int, default=50, help="SQuAD items in the energy part")
    p.add_argument(
        "--diag-items", type=int, default=25, help="tune items per dataset in selective-why"
    )
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
    if a.threads < 1:
        p.error(f"--threads must be >= 1, got {a.threads}")
    import torch

    torch.set_num_threads(a.threads)
    backends = [b for b in a.backends.split(",") if b and b != "head"]
    if a.quick:
        backends = [b for b in backends if b in ("lexical", "embedding", "learned")]
    backends.append("head")
    n_sq = a.items or a.squad_items
    n_nq = a.items or a.nq_items
    if a.quick:
        n_sq, n_nq = min(n_sq, 30), min(n_nq, 30)
    lengths = [200, 1000, 5000] if a.quick else [200, 1000, 5000, 20000, 50000]
    if a.lengths:
        lengths = [int(x) for x in a.lengths.split(",") if x]
    n_hotpot = max(1, min(100, max(n_sq, n_nq) // 2))
    squad, nq, hotpot = _load_squad(n_sq), _load_nq(n_nq), _load_hotpot(n_hotpot)
    print(
        json.dumps(
            {
                "split": "test (green_chain.compression.qa_items)",
                "squad_ids": [x["id"] for x in squad],
                "nq_ids": [x["id"] for x in nq],
                "hotpot_ids": [x["_id"] for x in hotpot],
            }
        )
    )
    parts = {x for x in a.parts.split(",") if x}
    unknown = parts - {"squad", "nq", "hotpot", "precision", "energy", "selective-why"}
    if unknown:
        p.error(f"unknown --parts {sorted(unknown)}")
    res: dict[str, Any] = {"args": vars(a)}
    if "squad" in parts:
        res["squad"] = qa_eval(squad, backends, [0.5, 0.33], not a.no_score)
    if "nq" in parts:
        res["nq"] = qa_eval(nq, backends, [0.5, 0.33], not a.no_score)
    if "selective-why" in parts:
        res["selective_why"] = selective_diagnosis(a.diag_items)
    if "hotpot" in parts:
        res["hotpot"] = hotpot_eval(hotpot, backends, 0.4)
    if "precision" in parts:
        res["precision"] = precision_eval(backends, lengths)
    if "squad" in parts or "nq" in parts:
        res["table"] = survival_table(res.get("squad", []), res.get("nq", []))
        print(res["table"], flush=True)
    if "energy" in parts:
        res["energy"] = energy_eval(squad[: a.energy_items], backends, a.energy_curve)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
