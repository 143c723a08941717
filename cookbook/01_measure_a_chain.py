"""Recipe 1: measure the energy of an existing LangChain chain, step by step.

What it shows
    A plain ``prompt | ChatLocal | StrOutputParser`` chain answers a few SQuAD v1.1
    questions. An :class:`~green_chain.callbacks.EnergyCallbackHandler` passed in the
    run config meters every step (the chain, the prompt template, the chat model, the
    parser). The chain itself is unchanged: the handler is just a callback. Each answer
    is scored (100 if a gold answer appears in it, else 0) with ``handler.record_score``,
    so the report also shows PER (score per joule). The recipe prints the per-step
    report and the figures of every model call, then saves the report's plot.

    ``with get_energy_callback() as handler:`` does the same without touching the
    config: every LangChain run inside the block is metered (see recipe 2).

Run it
    .venv/bin/python cookbook/01_measure_a_chain.py [--n 3] [--out cookbook-output]

Energy figures are *measured* when a hardware meter (NVML, RAPL) is readable, else
*estimated* from process CPU time (source ``estimate``); every figure says which.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from green_chain.bench.data import load_squad
from green_chain.callbacks import EnergyCallbackHandler
from green_chain.models import ChatLocal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure a prompt | model | parser chain.")
    parser.add_argument("--n", type=int, default=3, help="SQuAD questions to answer")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("cookbook-output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # An ordinary chain: nothing green-chain specific except the local model.
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question with a short phrase copied from the passage."),
            ("human", "Passage: {context}\n\nQuestion: {question}"),
        ]
    )
    chain = prompt | ChatLocal(max_new_tokens=args.max_new_tokens) | StrOutputParser()

    # Short passages keep the run fast on a CPU.
    items = [it for it in load_squad() if len(it.inputs["context"]) < 700][: args.n]

    handler = EnergyCallbackHandler()
    for item in items:
        answer = chain.invoke(item.inputs, config={"callbacks": [handler]})
        hit = any(ref.lower() in answer.lower() for ref in item.references)
        handler.record_score(100.0 if hit else 0.0)  # scores the latest root run
        print(f"Q: {item.inputs['question']}\n   model: {answer.strip()!r}")
        print(f"   gold: {item.reference!r} -> {'hit' if hit else 'miss'}")

    report = handler.report()
    print()
    print(report.summary())

    print("\nmodel calls:")
    calls = [r for r in report.records() if r["run_type"] == "chat_model"]
    for r in calls:
        print(
            f"  {r['model_name']}: {r['prompt_tokens']} prompt + {r['completion_tokens']} "
            f"generated tokens, {r['energy_j']:.3f} J ({r['energy_kind']}, "
            f"{'+'.join(r['energy_sources'])}), {r['duration_s']:.2f} s, "
            f"{r['tokens_per_j']:.1f} tokens/J"
        )
    roots = [r for r in report.records() if r["parent_run_id"] is None]
    model_j = sum(r["attributed_inclusive_j"] for r in calls)
    chain_j = sum(r["attributed_inclusive_j"] for r in roots)
    print(f"share of the chain's energy spent in the model: {100 * model_j / chain_j:.1f} %")
    plot = report.plot(args.out / "01_measure_a_chain.png")
    print(f"plot saved to {plot}")
    print(
        "RESULT "
        + json.dumps(
            {
                "recipe": "01",
                "questions": len(items),
                "model_calls": len(calls),
                "model_energy_j": model_j,
                "chain_energy_j": chain_j,
                "device_energy_j": sum(report.device_energy_j.values()),
                "energy_kind": calls[0]["energy_kind"] if calls else None,
                "mean_score": sum(r["score"] for r in roots) / len(roots),
                "plot": str(plot),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
