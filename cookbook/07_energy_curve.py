"""Recipe 7: fit a local model's energy curve, then predict a prompt's energy before sending it.

What it shows
    1. Profiling, the Python API behind ``green-chain profile``: prompts of exact token
       lengths are cut from real SQuAD passages, each call (one prefill plus
       ``--max-new-tokens`` greedy tokens) is measured in its own meter window, and
       ``E(n) = a n^2 + b n + c`` is fitted (:class:`green_chain.energy.model.EnergyCurve`).
       The curve is saved as JSON and loaded back, exactly like the file written by::

           .venv/bin/green-chain profile smollm2-135m-instruct --lengths 32,96,192,320 \
               --repeats 2 --out smollm2.curve.json

    2. Prediction: a few real SQuAD prompts are rendered into the exact token ids that
       ``ChatLocal`` will send (:func:`green_chain.models.prompting.render`), the curve
       predicts their energy *before* the call, then the call runs under the energy
       handler and the prediction is compared with the energy the handler recorded.
       A prediction like this lets an application refuse, shorten or route a prompt
       that would cost more than its energy budget.

Run it
    .venv/bin/python cookbook/07_energy_curve.py [--lengths 32,96,192,320] [--out cookbook-output]

On a machine without a hardware meter the energies are *estimated* from process CPU
time (source ``estimate``, +/-50 %); other processes competing for the CPU make them
noisy, which shows up in R^2 and in the prediction errors printed at the end.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from langchain_core.prompts import ChatPromptTemplate

from green_chain.bench.data import load_squad
from green_chain.callbacks import EnergyCallbackHandler
from green_chain.cli.profile import format_result, load_text
from green_chain.energy.model import EnergyCurve
from green_chain.energy.monitor import EnergyMonitor
from green_chain.energy.profiling import parse_lengths, profile_model
from green_chain.models import ChatLocal, load_causal_lm
from green_chain.models.prompting import render

MODEL = "smollm2-135m-instruct"


def make_run_fn(loaded: Any, max_new_tokens: int) -> Any:
    """One prefill plus exactly ``max_new_tokens`` greedy tokens on the given token ids."""
    import torch

    pad_id = loaded.tokenizer.pad_token_id or loaded.tokenizer.eos_token_id

    def run(ids: list[int]) -> None:
        input_ids = torch.tensor([ids])
        with torch.inference_mode():
            loaded.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_new_tokens,
                min_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad_id,
            )

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit E(n) and predict a prompt's energy.")
    parser.add_argument("--lengths", default="32,96,192,320", help="prompt lengths in tokens")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=1)
    parser.add_argument("--n", type=int, default=3, help="real prompts to predict and send")
    parser.add_argument("--out", type=Path, default=Path("cookbook-output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # 1. Profile the model and fit the curve.
    loaded = load_causal_lm(MODEL)
    text, source = load_text()
    print(f"profiling {loaded.name} on cpu; prompts cut from {source}")
    monitor = EnergyMonitor()
    try:
        result = profile_model(
            make_run_fn(loaded, args.max_new_tokens),
            loaded.tokenizer,
            parse_lengths(args.lengths),
            monitor,
            text=text,
            repeats=args.repeats,
            model_name=loaded.name,
            device="cpu",
        )
    finally:
        monitor.close()
    print(format_result(result))
    curve_path = result.curve.save(args.out / "07_smollm2.curve.json")
    curve = EnergyCurve.load(curve_path)  # what an application would load at start-up
    print(f"curve saved to {curve_path}")

    # 2. Predict real prompts before sending them, then measure them.
    chat = ChatLocal(model=MODEL, max_new_tokens=args.max_new_tokens)
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question with a short phrase from the passage."),
            ("human", "Passage: {context}\n\nQuestion: {question}"),
        ]
    )
    lo, hi = int(curve.min_tokens), int(curve.max_tokens)
    candidates: dict[int, Any] = {}  # prompt tokens -> item, inside the fitted range
    for it in load_squad()[:300]:
        n = len(render(chat.loaded, prompt.invoke(it.inputs).to_messages()).ids)
        if lo <= n <= hi:
            candidates.setdefault(n, it)
    # prompts spread over the fitted range (no extrapolation)
    targets = [lo + (hi - lo) * (i + 1) / (args.n + 1) for i in range(args.n)]
    items = {n: candidates[n] for n in (min(candidates, key=lambda m: abs(m - t)) for t in targets)}

    handler = EnergyCallbackHandler()
    rows = []
    print(f"\n{'tokens':>7} {'predicted_j':>12} {'measured_j':>11} {'error':>8}")
    for n, it in sorted(items.items()):
        predicted_j = curve.predict(n)  # before the call
        messages = prompt.invoke(it.inputs).to_messages()
        chat.invoke(messages, config={"callbacks": [handler]})
        call = handler.report().records()[-1]
        assert call["prompt_tokens"] == n, "render() counts exactly what ChatLocal sends"
        measured_j = call["energy_j"]
        err = (predicted_j - measured_j) / measured_j
        rows.append({"tokens": n, "predicted_j": predicted_j, "measured_j": measured_j})
        print(f"{n:>7} {predicted_j:>12.4f} {measured_j:>11.4f} {100 * err:>7.1f}%")

    report = handler.report()
    print()
    print(report.summary())
    mean_abs = sum(abs(r["predicted_j"] - r["measured_j"]) / r["measured_j"] for r in rows)
    mean_abs /= max(len(rows), 1)
    print(
        f"curve: E(n) = {curve.a:.3g} n^2 + {curve.b:.3g} n + {curve.c:.3g} J "
        f"(R^2 {curve.r2:.3f}, {curve.kind}, source {curve.source}); "
        f"mean |prediction error| on {len(rows)} real prompts: {100 * mean_abs:.1f} %"
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "recipe": "07",
                "curve": curve.to_dict(),
                "points": len(result.points),
                "predictions": rows,
                "mean_abs_rel_error": mean_abs,
                "energy_kind": curve.kind,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
