"""A small measured demonstration of the two levers of issue 18 (CPU, estimated energy).

Run: ``python -m green_chain.experiments.response_budget [--out FILE] [--n-test 30]
[--n-fit 600] [--n-turns 20] [--skip-tier | --skip-budget]``.

1. **First tier** (:class:`~green_chain.routing.ExampleClassifier`): fitted on
   ``--n-fit`` SST-2 *train* sentences (half held aside for calibration, quality
   floor ``--quality-floor``), then ``--n-test`` SST-2 *test* sentences go (a)
   to the LLM alone (``ChatLocal``, a one-word sentiment prompt) and (b) through
   an :class:`~green_chain.routing.EnergyRouter` whose first tier is the
   classifier and whose routes are that same LLM chain (two identical routes,
   threshold 0: the router is only the carrier of the first tier here). Reported:
   coverage (share answered by the tier), accuracy of the answered items, overall
   accuracy of each path, LLM calls, and each path's energy.
2. **Response budget** (:class:`~green_chain.response.ResponseBudget`): MT-Bench-101
   last user turns (history cut to the last ``--history-turns`` exchanges). The
   baseline answers with a ``--max-new-tokens`` cap. A
   :class:`~green_chain.response.NearestNeighbourBudget` (k=5, 0.9-quantile) is
   fitted on the baseline's own answer lengths for ``--n-turns`` *other* turns;
   then ``--n-turns`` test turns are answered by the baseline, by the budget, and
   by the budget plus the "answer concisely" line. Reported: generated tokens,
   answers cut by the budget, and energy. Answer quality is NOT judged here (the
   benchmark rework of issue 23 does that): a cut answer may have lost content.

Energy: the :class:`~green_chain.callbacks.EnergyCallbackHandler` with the meters
this machine has; on a machine with no counter that is process CPU time x a
per-core power, labelled ``estimated`` (each figure carries its kind). The paths
run one after the other in the same process with single-thread torch, so their
ratios are side-by-side comparisons; absolute joules are +/-50 % (the estimate's
stated uncertainty).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableLambda

SENTIMENT_SYSTEM = (
    "Classify the sentiment of the movie review. Answer with one word: positive or negative."
)


def _handler() -> Any:
    from green_chain.callbacks import EnergyCallbackHandler

    return EnergyCallbackHandler(estimators=None)


def _energy(handler: Any) -> dict[str, Any]:
    """Device energy over the union of the handler's windows, with its kind."""
    kinds = sorted({r["energy_kind"] for r in handler.records() if r.get("energy_kind")})
    return {
        "energy_j": round(float(handler.device_energy_j), 3),
        "energy_kind": "/".join(kinds) or None,
    }


def _label_of(text: str) -> str | None:
    low = text.lower()
    pos, neg = low.find("positive"), low.find("negative")
    if pos < 0 and neg < 0:
        return None
    if pos < 0:
        return "negative"
    if neg < 0:
        return "positive"
    return "positive" if pos < neg else "negative"


def run_tier(
    chat: Any,
    *,
    n_fit: int,
    n_test: int,
    quality_floor: float,
    seed: int,
) -> dict[str, Any]:
    """Part 1: the classifier tier vs the LLM alone on SST-2 (see module doc)."""
    import random

    from green_chain.bench.data import load_sst2
    from green_chain.routing import EnergyRouter, ExampleClassifier, HeuristicScorer

    train = load_sst2(split="train")
    test = load_sst2(split="test")
    rng = random.Random(seed)
    fit_items = rng.sample(train, n_fit)
    test_items = rng.sample(test, n_test)

    fit_handler = _handler()
    started = time.perf_counter()
    with fit_handler.measure("ExampleClassifier.fit"):
        clf = ExampleClassifier(head="knn", k=15).fit(
            [it.inputs["text"] for it in fit_items],
            [it.reference for it in fit_items],
            quality_floor=quality_floor,
            holdout=0.5,
            seed=seed,
        )
    fit_s = time.perf_counter() - started
    assert clf.calibration is not None

    def to_messages(x: Any) -> list[BaseMessage]:
        return [SystemMessage(SENTIMENT_SYSTEM), HumanMessage(str(x))]

    llm: Runnable[Any, Any] = RunnableLambda(to_messages) | chat
    llm.invoke("warm-up: load the model outside any metered path")

    llm_handler = _handler()
    llm_right, llm_calls = 0, 0
    for it in test_items:
        out = llm.invoke(it.inputs["text"], {"callbacks": [llm_handler]})
        llm_calls += 1
        llm_right += _label_of(str(out.content)) == it.reference

    router = EnergyRouter(
        [llm, llm], HeuristicScorer(), 0.0, names=["llm", "llm-copy"], first_tier=clf
    )
    tier_handler = _handler()
    answered = answered_right = routed_right = routed_llm_calls = 0
    for it in test_items:
        out = router.invoke(it.inputs["text"], {"callbacks": [tier_handler]})
        if isinstance(out, AIMessage):
            routed_llm_calls += 1
            label = _label_of(str(out.content))
        else:
            answered += 1
            label = str(out)
            answered_right += label == it.reference
        routed_right += label == it.reference
    llm_energy, tier_energy = _energy(llm_handler), _energy(tier_handler)
    return {
        "dataset": "SST-2 (fit: train split, test: test split)",
        "n_fit": n_fit,
        "n_test": n_test,
        "quality_floor": quality_floor,
        "calibration": clf.calibration.to_dict() | {"calibration_x": None, "calibration_y": None},
        "fit": {"seconds": round(fit_s, 2), **_energy(fit_handler)},
        "llm_only": {
            "accuracy": llm_right / n_test,
            "llm_calls": llm_calls,
            **llm_energy,
        },
        "with_first_tier": {
            "coverage": answered / n_test,
            "answered": answered,
            "answered_accuracy": answered_right / answered if answered else None,
            "accuracy": routed_right / n_test,
            "llm_calls": routed_llm_calls,
            **tier_energy,
        },
        "energy_ratio_tier_vs_llm": (
            round(tier_energy["energy_j"] / llm_energy["energy_j"], 3)
            if llm_energy["energy_j"] > 0
            else None
        ),
    }


def _dialogue_messages(item: Any, history_turns: int) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for user, bot in item.inputs["history"][-history_turns:]:
        messages += [HumanMessage(user), AIMessage(bot)]
    messages.append(HumanMessage(item.inputs["question"]))
    return messages


def _answer_all(
    call: Callable[[list[BaseMessage], Any], AIMessage],
    prompts: Sequence[list[BaseMessage]],
) -> dict[str, Any]:
    handler = _handler()
    tokens, cut = [], 0
    for messages in prompts:
        out = call(messages, handler)
        usage = out.usage_metadata
        tokens.append(int(usage["output_tokens"]) if usage else 0)
        budget = out.response_metadata.get("response_budget")
        cut += bool(budget and budget.get("hit_budget"))
    return {
        "generated_tokens": sum(tokens),
        "per_turn": tokens,
        "cut_by_budget": cut,
        **_energy(handler),
    }


def run_budget(chat: Any, *, n_turns: int, history_turns: int, seed: int) -> dict[str, Any]:
    """Part 2: 2 x ``n_turns`` MT-Bench-101 turns with and without ResponseBudget."""
    import random

    from green_chain.bench.data import load_mtbench101
    from green_chain.response import NearestNeighbourBudget, ResponseBudget

    items = random.Random(seed).sample(load_mtbench101(), 2 * n_turns)
    calib = [_dialogue_messages(it, history_turns) for it in items[:n_turns]]
    test = [_dialogue_messages(it, history_turns) for it in items[n_turns:]]

    def plain(messages: list[BaseMessage], handler: Any) -> AIMessage:
        out: AIMessage = chat.invoke(messages, {"callbacks": [handler]})
        return out

    chat.invoke("warm-up: load the model outside any metered path")
    calibration = _answer_all(plain, calib)
    predictor = NearestNeighbourBudget(k=5, quantile=0.9, min_examples=3)
    predictor.fit(calib, calibration["per_turn"])
    budget = ResponseBudget(chat, predictor)
    concise = ResponseBudget(chat, predictor, concise=True)

    baseline = _answer_all(plain, test)

    def under(runnable: Any) -> Callable[[list[BaseMessage], Any], AIMessage]:
        def call(messages: list[BaseMessage], handler: Any) -> AIMessage:
            out: AIMessage = runnable.invoke(messages, {"callbacks": [handler]})
            return out

        return call

    budgeted = _answer_all(under(budget), test)
    short = _answer_all(under(concise), test)

    def ratio(a: dict[str, Any], key: str) -> float | None:
        return round(a[key] / baseline[key], 3) if baseline[key] else None

    return {
        "dataset": "MT-Bench-101 last user turns",
        "n_turns": n_turns,
        "history_turns": history_turns,
        "predictor": {"k": 5, "quantile": 0.9, "fitted_on": f"{n_turns} other turns"},
        "calibration_lengths": calibration["per_turn"],
        "baseline": baseline,
        "response_budget": budgeted
        | {
            "tokens_ratio": ratio(budgeted, "generated_tokens"),
            "energy_ratio": ratio(budgeted, "energy_j"),
        },
        "response_budget_concise": short
        | {
            "tokens_ratio": ratio(short, "generated_tokens"),
            "energy_ratio": ratio(short, "energy_j"),
        },
        "quality": "not judged (see issue 23); 'cut_by_budget' counts answers the budget cut",
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m green_chain.experiments.response_budget",
        description="Classifier first tier and response budgets, side by side (CPU).",
    )
    p.add_argument("--model", default="smollm2-135m-instruct", help="ChatLocal model")
    p.add_argument("--n-fit", type=int, default=600, help="SST-2 train items to fit on")
    p.add_argument("--n-test", type=int, default=30, help="SST-2 test items")
    p.add_argument("--quality-floor", type=float, default=0.95)
    p.add_argument("--n-turns", type=int, default=20, help="dialogue test turns")
    p.add_argument("--history-turns", type=int, default=2)
    p.add_argument("--max-new-tokens", type=int, default=96, help="baseline answer cap")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-tier", action="store_true")
    p.add_argument("--skip-budget", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="write the JSON here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("n_fit", "n_test", "n_turns", "history_turns", "max_new_tokens"):
        if getattr(args, name) < 1:
            print(f"--{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    import torch

    torch.set_num_threads(1)
    from green_chain.models import ChatLocal

    result: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "model": args.model,
        "torch_threads": 1,
        "seed": args.seed,
    }
    if not args.skip_tier:
        chat = ChatLocal(model=args.model, max_new_tokens=3)
        result["first_tier"] = run_tier(
            chat,
            n_fit=args.n_fit,
            n_test=args.n_test,
            quality_floor=args.quality_floor,
            seed=args.seed,
        )
    if not args.skip_budget:
        chat = ChatLocal(model=args.model, max_new_tokens=args.max_new_tokens)
        result["response_budget"] = run_budget(
            chat, n_turns=args.n_turns, history_turns=args.history_turns, seed=args.seed
        )
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
