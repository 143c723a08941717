"""Recipe 2: RAG over SQuAD passages, with and without compressing the retrieved documents.

What it shows
    An in-memory vector store (``InMemoryVectorStore``) over real SQuAD v1.1 passages,
    embedded with the packaged ``all-minilm-l6-v2`` (:class:`green_chain.models.LocalEmbeddings`).
    The same RAG chain answers the same questions twice:

    * **plain**: the retrieved passages go into the prompt as they are;
    * **compressed**: the same retriever wrapped in a
      :class:`green_chain.compression.CompressingRetriever` whose
      :class:`~green_chain.compression.GreenDocumentCompressor` (a question-aware
      :class:`~green_chain.compression.PromptCompressor`, ``rate=0.5``) shrinks each
      retrieved passage before the prompt. (``CompressingRetriever`` replaces
      ``ContextualCompressionRetriever``, which LangChain 1.x's ``langchain`` no longer has.)

    Each variant runs inside its own ``get_energy_callback()`` block. The compressor
    publishes its token counts, so the report's ETR column shows the share of the
    original prompt tokens actually sent. Quality is measured twice per answer: does a
    gold answer appear in the reply (answer-in-output), and the gold answer's
    log-likelihood after the exact prompt the model saw (``score_continuations``, nats
    per token: higher = the model finds the right answer more likely).

Run it
    .venv/bin/python cookbook/02_rag_with_compression.py [--n 3] [--passages 24] [--out cookbook-output]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from green_chain.bench.data import load_squad
from green_chain.callbacks import get_energy_callback
from green_chain.compression import (
    CompressingRetriever,
    GreenDocumentCompressor,
    PromptCompressor,
)
from green_chain.models import ChatLocal, LocalEmbeddings, score_continuations
from green_chain.models.prompting import render

MODEL = "smollm2-135m-instruct"
PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question with a short phrase copied from the context."),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ]
)


def build_chain(retriever: Any, chat: ChatLocal, seen: list[str]) -> Any:
    """question -> retrieved passages -> prompt -> model -> text.

    Every context sent is appended to ``seen`` (to score the gold answer afterwards).
    """

    def context(question: str, config: RunnableConfig) -> str:
        docs = retriever.invoke(question, config)  # a child run: the handler sees its tokens
        text = "\n\n".join(d.page_content for d in docs)
        seen.append(text)
        return text

    return (
        {"context": RunnableLambda(context), "question": RunnablePassthrough()}
        | PROMPT
        | chat
        | StrOutputParser()
    )


def run_variant(name: str, retriever: Any, items: list[Any], chat: ChatLocal) -> dict[str, Any]:
    contexts: list[str] = []
    chain = build_chain(retriever, chat, contexts)
    with get_energy_callback() as handler:
        answers = [chain.invoke(it.inputs["question"]) for it in items]
    report = handler.report()
    calls = [r for r in report.records() if r["run_type"] == "chat_model"]
    # The exact prompt text the model saw (chat template included), to score the gold answer.
    prompts = [
        render(
            chat.loaded,
            PROMPT.invoke({"context": c, "question": it.inputs["question"]}).to_messages(),
        ).text
        for c, it in zip(contexts, items, strict=True)
    ]
    gold = score_continuations(prompts, [it.reference for it in items], model=MODEL)
    hits = [
        any(ref.lower() in ans.lower() for ref in it.references)
        for ans, it in zip(answers, items, strict=True)
    ]
    print(f"\n=== {name} ===")
    for it, ans, g, hit in zip(items, answers, gold, hits, strict=True):
        print(f"Q: {it.inputs['question']}\n   model: {ans.strip()!r} gold: {it.reference!r}")
        print(f"   answer-in-output: {hit}; gold log-likelihood {g.mean_logprob:.3f} nats/token")
    print(report.summary())
    return {
        "variant": name,
        "retriever": type(retriever).__name__,
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
        "model_energy_j": sum(c["attributed_inclusive_j"] for c in calls),
        "chain_energy_j": sum(report.device_energy_j.values()),
        "energy_kind": calls[0]["energy_kind"],
        "etr": report.by_model()[0]["etr"],
        "answer_in_output": sum(hits) / len(hits),
        "gold_mean_logprob": sum(g.mean_logprob for g in gold) / len(gold),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="RAG with and without document compression.")
    parser.add_argument("--n", type=int, default=3, help="questions")
    parser.add_argument("--passages", type=int, default=24, help="SQuAD passages indexed")
    parser.add_argument("--k", type=int, default=2, help="passages retrieved per question")
    parser.add_argument("--rate", type=float, default=0.5, help="share of tokens kept")
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("cookbook-output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # Index the first distinct passages; ask questions about a few of them.
    squad = load_squad()
    passages = list(dict.fromkeys(it.inputs["context"] for it in squad))[: args.passages]
    store = InMemoryVectorStore.from_texts(passages, LocalEmbeddings())
    retriever = store.as_retriever(search_kwargs={"k": args.k})
    step = max(1, len(passages) // args.n)
    wanted = passages[::step][: args.n]
    items = [next(it for it in squad if it.inputs["context"] == p) for p in wanted]

    chat = ChatLocal(model=MODEL, max_tokens=args.max_new_tokens)
    compressing = CompressingRetriever(
        base_retriever=retriever,
        compressor=GreenDocumentCompressor(
            compressor=PromptCompressor("embedding", rate=args.rate, token_counter=MODEL)
        ),
    )
    results = [
        run_variant("plain", retriever, items, chat),
        run_variant("compressed", compressing, items, chat),
    ]
    plain, small = results
    print(
        f"\nprompt tokens {plain['prompt_tokens']} -> {small['prompt_tokens']}; model energy "
        f"{plain['model_energy_j']:.2f} J -> {small['model_energy_j']:.2f} J "
        f"({small['energy_kind']}); answer-in-output {plain['answer_in_output']:.2f} -> "
        f"{small['answer_in_output']:.2f}; gold log-likelihood "
        f"{plain['gold_mean_logprob']:.3f} -> {small['gold_mean_logprob']:.3f} nats/token"
    )
    print("RESULT " + json.dumps({"recipe": "02", "variants": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
