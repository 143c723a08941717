"""Recipe 5: calibrate a cheap-vs-large router and pick its operating point.

What it shows
    Two packaged models answer SQuAD questions from plain-text prompts: the cheap
    ``smollm2-135m-instruct`` and the larger ``gemma3-270m`` (a BASE model: no chat
    template, so the request is plain text, which both models read the same way).

    1. Labelled split: both models answer every calibration question under an
       :class:`~green_chain.callbacks.EnergyCallbackHandler`; each answer's quality
       (the per-token probability the model gives the gold answer) and each call's
       energy (from the run records) are collected; ``labels_from_quality`` marks
       where the cheap answer was good enough (the labels a learned scorer trains on).
    2. :func:`green_chain.routing.calibrate` sweeps the router threshold over the
       scorer's outputs (here the training-free :class:`~green_chain.routing.HeuristicScorer`;
       with a few hundred labelled requests an ``EmbeddingScorer().fit(requests,
       labels)`` learns a better one) and returns the quality-vs-energy curve and the
       cheapest threshold keeping ``--floor`` x the large model's quality.
    3. A :class:`~green_chain.routing.RoutedChatModel` with that threshold answers
       held-out questions (other passages); the handler records every routing decision
       next to the energy of the model actually called.

    The curve is printed and saved as a plot with the chosen point.

Run it
    .venv/bin/python cookbook/05_router_calibration.py [--n-cal 6] [--n-test 3] [--floor 0.9]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from green_chain.bench.data import load_squad
from green_chain.callbacks import EnergyCallbackHandler
from green_chain.models import ChatLocal, score_continuations
from green_chain.routing import HeuristicScorer, RoutedChatModel, calibrate, labels_from_quality

CHEAP, LARGE = "smollm2-135m-instruct", "gemma3-270m"


def request(item: Any) -> str:
    ctx, q = item.inputs["context"], item.inputs["question"]
    return f"Answer the question with a short phrase from the passage.\n\nPassage: {ctx}\n\nQuestion: {q}\nAnswer:"


def found(answer: str, item: Any) -> float:
    return float(any(ref.lower() in answer.lower() for ref in item.references))


def quality(model_name: str, items: list[Any]) -> list[float]:
    """Per-token probability of the gold answer after the request (teacher forcing), 0-1.

    Works even for tiny models that phrase their answers badly (a base model's reply
    rarely contains the exact gold span); answer-in-output is printed alongside.
    """
    scores = score_continuations(
        [request(it) for it in items], [" " + it.reference for it in items], model=model_name
    )
    return [math.exp(s.mean_logprob) for s in scores]


def measure(
    model: ChatLocal, items: list[Any], handler: EnergyCallbackHandler
) -> tuple[list[float], list[float]]:
    """Answer-in-output and energy (J) of each answer of ``model``, one call at a time."""
    hits, energies = [], []
    for item in items:
        answer = model.invoke(request(item), config={"callbacks": [handler]})
        call = handler.report().records()[-1]
        hits.append(found(str(answer.content), item))
        energies.append(call["attributed_inclusive_j"])
    return hits, energies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Calibrate a cheap-vs-large router.")
    parser.add_argument("--n-cal", type=int, default=6, help="calibration questions")
    parser.add_argument("--n-test", type=int, default=3, help="held-out questions")
    parser.add_argument("--floor", type=float, default=0.9, help="quality floor x large-only")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("cookbook-output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # One question per short passage; calibration and test use different passages.
    seen: set[str] = set()
    items = []
    for it in load_squad():
        if len(it.inputs["context"]) < 650 and it.group not in seen:
            seen.add(str(it.group))
            items.append(it)
        if len(items) == args.n_cal + args.n_test:
            break
    cal, test = items[: args.n_cal], items[args.n_cal :]

    cheap = ChatLocal(model=CHEAP, max_new_tokens=args.max_new_tokens)
    large = ChatLocal(model=LARGE, max_new_tokens=args.max_new_tokens)

    # 1. The labelled split, with measured (or estimated) energy per call.
    cal_handler = EnergyCallbackHandler()
    cheap_hit, cheap_j = measure(cheap, cal, cal_handler)
    large_hit, large_j = measure(large, cal, cal_handler)
    cheap_q, large_q = quality(CHEAP, cal), quality(LARGE, cal)
    labels = labels_from_quality(cheap_q, large_q, tolerance=0.05)  # training labels
    kind = cal_handler.report().by_model()[0]["kind"]
    print(f"calibration: {len(cal)} questions; cheap within 0.05 of large on {sum(labels)}")
    for name, q, hit, j in (
        (CHEAP, cheap_q, cheap_hit, cheap_j),
        (LARGE, large_q, large_hit, large_j),
    ):
        print(
            f"  {name}: gold-answer probability {sum(q) / len(cal):.3f}, answer-in-output "
            f"{sum(hit) / len(cal):.2f}, {sum(j):.2f} J ({kind})"
        )

    # 2. Scores, the quality-vs-energy curve and the operating point.
    scorer = HeuristicScorer()
    scores = [scorer.score([_human(request(it))]) for it in cal]
    result = calibrate(scores, cheap_q, large_q, cheap_j, large_j, quality_floor=args.floor)
    print(f"\n{'threshold':>9} {'large share':>11} {'quality':>8} {'energy_j':>9}")
    for p in result.curve:
        mark = "  <- chosen" if p == result.point else ""
        print(
            f"{p.threshold:>9.3f} {p.large_share:>11.2f} {p.quality:>8.2f} {p.energy_j:>9.2f}{mark}"
        )
    print(
        f"chosen threshold {result.threshold:.3f} ({result.method}): "
        f"{result.energy_saved_pct:.1f} % energy saved vs large-only, "
        f"{result.quality_retained_pct:.1f} % of its quality"
        + (f"; notes: {result.notes}" if result.notes else "")
    )
    plot = _plot(result, args.out / "05_router_curve.png", kind)
    print(f"plot saved to {plot}")

    # 3. The calibrated router on held-out questions.
    router = RoutedChatModel(models=[cheap, large], scorer=scorer, threshold=result.threshold)
    handler = EnergyCallbackHandler()
    test_q = []
    for it in test:
        answer = router.invoke(request(it), config={"callbacks": [handler]})
        test_q.append(found(str(answer.content), it))
    report = handler.report()
    print()
    print(report.summary())
    calls = [r for r in report.records() if r["run_type"] == "chat_model"]
    routed = [r for r in calls if r.get("routing")]
    for r in routed:
        print(f"  routing: {json.dumps(r['routing'], default=str)[:160]}")
    # the router is itself a chat-model run (it carries the routing decision); the
    # local model it called is its child run
    local = [r for r in calls if not r.get("routing")]
    print(
        "RESULT "
        + json.dumps(
            {
                "recipe": "05",
                "curve": [p._asdict() for p in result.curve],
                "chosen": result.point._asdict(),
                "energy_saved_pct": result.energy_saved_pct,
                "energy_kind": kind,
                "test": {
                    "calls": len(local),
                    "routing_records": len(routed),
                    "answer_in_output": sum(test_q) / len(test_q),
                    "energy_j": sum(report.device_energy_j.values()),
                    "models": [r["model_name"] for r in local],
                },
            }
        )
    )
    return 0


def _human(text: str) -> Any:
    from langchain_core.messages import HumanMessage

    return HumanMessage(text)


def _plot(result: Any, path: Path, kind: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(
        [p.energy_j for p in result.curve],
        [p.quality for p in result.curve],
        "o-",
        label="thresholds",
    )
    ax.plot([result.point.energy_j], [result.point.quality], "r*", ms=15, label="chosen")
    ax.set(
        xlabel=f"energy on the calibration set (J, {kind})",
        ylabel="quality (gold-answer probability)",
    )
    ax.set_title("Router: quality vs energy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
