"""Recipe 4: a few-shot sentiment classifier with a token budget for its examples.

What it shows
    SST-2 movie reviews (``classification/sst2_stsa.binary.train`` as the example pool,
    ``.test`` for the items) are classified by ``ChatLocal`` through a
    ``FewShotPromptTemplate``. Two example selectors fill the prompt:

    * **fixed k**: LangChain's ``SemanticSimilarityExampleSelector`` (the ``k`` most
      similar examples, whatever their length);
    * **budgeted**: :class:`green_chain.selection.BudgetedExampleSelector`, relevant and
      diverse examples (MMR) until a token budget, counted with the model's tokenizer,
      is spent.

    Both use the packaged MiniLM embeddings. Each variant runs under
    ``get_energy_callback()``; the recipe prints accuracy, prompt tokens and energy per
    variant and the reports (ETR of the budgeted variant = tokens of the examples kept
    over the tokens of the candidates offered).

Run it
    .venv/bin/python cookbook/04_fewshot_budgeted_examples.py [--n 6] [--budget 60] [--k 4]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from langchain_core.example_selectors import SemanticSimilarityExampleSelector
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate
from langchain_core.vectorstores import InMemoryVectorStore

from green_chain.bench.data import load_sst2
from green_chain.callbacks import get_energy_callback
from green_chain.models import ChatLocal, LocalEmbeddings
from green_chain.selection import BudgetedExampleSelector

MODEL = "smollm2-135m-instruct"
EXAMPLE_PROMPT = PromptTemplate.from_template("Review: {text}\nSentiment: {label}")


def classifier(selector: Any, chat: ChatLocal) -> Any:
    prompt = FewShotPromptTemplate(
        example_selector=selector,
        example_prompt=EXAMPLE_PROMPT,
        prefix="Classify the sentiment of each movie review as positive or negative.",
        suffix="Review: {text}\nAnswer with one word, positive or negative.\nSentiment:",
        input_variables=["text"],
    )
    return prompt | chat | StrOutputParser()


def label_of(reply: str) -> str:
    head = reply.strip().lower()[:40]
    for label in ("positive", "negative"):
        if label in head:
            return label
    return "?"


def run_variant(name: str, chain: Any, items: list[Any]) -> dict[str, Any]:
    with get_energy_callback() as handler:
        predicted = [label_of(chain.invoke(it.inputs)) for it in items]
    report = handler.report()
    calls = [r for r in report.records() if r["run_type"] == "chat_model"]
    correct = [p == it.reference for p, it in zip(predicted, items, strict=True)]
    print(f"\n=== {name} ===")
    for it, p, ok in zip(items, predicted, correct, strict=True):
        print(
            f"  {it.reference:>8} -> {p:<8} {'ok' if ok else 'wrong'}  {it.inputs['text'][:60]!r}"
        )
    print(report.summary())
    return {
        "variant": name,
        "items": len(items),
        "accuracy": sum(correct) / len(correct),
        "prompt_tokens": [c["prompt_tokens"] for c in calls],
        "energy_j": sum(c["attributed_inclusive_j"] for c in calls),
        "pipeline_energy_j": sum(report.device_energy_j.values()),
        "energy_kind": calls[0]["energy_kind"],
        "etr": report.by_model()[0]["etr"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Budgeted vs fixed-k few-shot examples.")
    parser.add_argument("--n", type=int, default=6, help="test reviews to classify")
    parser.add_argument("--pool", type=int, default=200, help="training examples in the pool")
    parser.add_argument("--k", type=int, default=4, help="examples of the fixed-k selector")
    parser.add_argument("--budget", type=int, default=60, help="example budget in tokens")
    parser.add_argument("--out", type=Path, default=Path("cookbook-output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    train = load_sst2(split="train")
    pool = [{"text": it.inputs["text"], "label": it.reference} for it in train[: args.pool]]
    test = load_sst2(split="test")
    # alternate labels so a constant answer scores 50 %
    neg = [it for it in test if it.reference == "negative"]
    pos = [it for it in test if it.reference == "positive"]
    items = [it for pair in zip(neg, pos, strict=False) for it in pair][: args.n]

    embeddings = LocalEmbeddings()
    fixed = SemanticSimilarityExampleSelector.from_examples(
        pool, embeddings, InMemoryVectorStore, k=args.k, input_keys=["text"]
    )
    budgeted = BudgetedExampleSelector(
        pool,
        max_tokens=args.budget,
        embeddings=embeddings,
        example_prompt=EXAMPLE_PROMPT,
        token_counter=MODEL,
        input_keys=["text"],
    )
    chat = ChatLocal(model=MODEL, max_new_tokens=3)
    results = [
        run_variant(f"fixed k={args.k}", classifier(fixed, chat), items),
        run_variant(f"budgeted {args.budget} tokens", classifier(budgeted, chat), items),
    ]
    a, b = results
    print(
        f"\nmean prompt tokens {sum(a['prompt_tokens']) / a['items']:.0f} -> "
        f"{sum(b['prompt_tokens']) / b['items']:.0f}; model energy {a['energy_j']:.2f} J -> "
        f"{b['energy_j']:.2f} J ({a['energy_kind']}); accuracy {a['accuracy']:.2f} -> "
        f"{b['accuracy']:.2f}"
    )
    print("RESULT " + json.dumps({"recipe": "04", "variants": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
