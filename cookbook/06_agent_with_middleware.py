"""Recipe 6: a LangChain agent with green-chain middleware, metered per graph node.

What it shows
    ``langchain.agents.create_agent`` builds a tool-calling agent over ``ChatLocal``
    with one real tool (a search over SQuAD passages in an ``InMemoryVectorStore``
    with the packaged MiniLM embeddings) and two green-chain middlewares:

    * :class:`green_chain.middleware.RelevantHistoryMiddleware` sends each model call
      only the earlier messages relevant to the new question, under a token budget;
    * :class:`green_chain.middleware.EnergyRouterMiddleware` picks, per model call, the
      cheap ``smollm2-135m-instruct`` or the larger ``gemma3-270m``.

    The conversation starts with a few earlier (unrelated) turns, then asks a SQuAD
    question. An ``EnergyCallbackHandler`` meters the whole graph; the recipe prints the
    report, the energy per LangGraph node (``langgraph_node``: ``model``, ``tools`` and
    the middleware nodes), the routing decisions and the history filter's ETR.

    A 135M model is unreliable at tool calling: with ``tool_choice="auto"`` it often
    answers directly, or writes a malformed call. The recipe does not depend on it:
    it caps the graph with ``recursion_limit`` and reports whatever happened (answer,
    number of tool calls, errors) with the energy of every node that ran.

Run it
    .venv/bin/python cookbook/06_agent_with_middleware.py [--out cookbook-output]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore

from green_chain.bench.data import load_squad
from green_chain.callbacks import EnergyCallbackHandler
from green_chain.middleware import EnergyRouterMiddleware, RelevantHistoryMiddleware
from green_chain.models import ChatLocal, LocalEmbeddings
from green_chain.routing import HeuristicScorer

CHEAP, LARGE = "smollm2-135m-instruct", "gemma3-270m"
EARLIER_TURNS = [
    ("Hi! Can you help me with some history questions later?", "Of course, ask away."),
    ("What is your favourite colour?", "I do not have one, but many people like blue."),
    ("Can you recommend a good pasta dish?", "Spaghetti carbonara is a classic choice."),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Agent + green-chain middleware, per node.")
    parser.add_argument("--passages", type=int, default=20)
    parser.add_argument("--history-budget", type=int, default=40, help="tokens")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("cookbook-output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    squad = load_squad()
    passages = list(dict.fromkeys(it.inputs["context"] for it in squad))[: args.passages]
    store = InMemoryVectorStore.from_texts(passages, LocalEmbeddings())

    @tool
    def search_passages(query: str) -> str:
        """Search encyclopedia passages and return the best match."""
        return store.similarity_search(query, k=1)[0].page_content

    cheap = ChatLocal(model=CHEAP, max_new_tokens=args.max_new_tokens)
    large = ChatLocal(model=LARGE, max_new_tokens=args.max_new_tokens)
    agent = create_agent(
        model=cheap,
        tools=[search_passages],
        system_prompt="You answer questions. Use search_passages to look facts up.",
        middleware=[
            RelevantHistoryMiddleware(
                max_tokens=args.history_budget, token_counter=CHEAP, on_overflow="keep_mandatory"
            ),
            EnergyRouterMiddleware([cheap, large], HeuristicScorer(), threshold=0.5),
        ],
    )

    question = next(it for it in squad if it.inputs["context"] == passages[0])
    messages: list = []
    for user, bot in EARLIER_TURNS:
        messages += [HumanMessage(user), AIMessage(bot)]
    messages.append(HumanMessage(question.inputs["question"]))

    handler = EnergyCallbackHandler()
    error = None
    answer = ""
    try:
        state = agent.invoke(
            {"messages": messages}, config={"callbacks": [handler], "recursion_limit": 8}
        )
        answer = str(state["messages"][-1].content)
    except Exception as exc:  # e.g. GraphRecursionError when the model keeps calling tools
        error = f"{type(exc).__name__}: {exc}"
    print(f"Q: {question.inputs['question']}\nA: {answer.strip()[:200]!r}")
    print(f"gold: {question.reference!r}" + (f"; agent stopped: {error[:200]}" if error else ""))

    report = handler.report()
    print()
    print(report.summary())
    records = report.records()
    by_node: dict[str, float] = {}
    for r in records:
        if r.get("langgraph_node") and r.get("attributed_energy_j") is not None:
            by_node[r["langgraph_node"]] = by_node.get(r["langgraph_node"], 0.0) + float(
                r["attributed_energy_j"]
            )
    kind = report.by_step_type()[0]["kind"]
    print(f"energy per LangGraph node (attributed exclusive J, {kind}):")
    for node, joules in sorted(by_node.items(), key=lambda kv: -kv[1]):
        print(f"  {node:<40} {joules:10.3f}")
    calls = [r for r in records if r["run_type"] == "chat_model"]
    tools = [r for r in records if r["run_type"] == "tool"]
    for r in calls:
        etr = r["etr"] if r["etr"] is None else round(r["etr"], 2)
        print(
            f"  model call: {r['model_name']} {r['prompt_tokens']} prompt tokens, "
            f"{r['energy_j']:.2f} J ({r['energy_kind']}), ETR {etr}"
        )
    # the router middleware records its decision on the run it ran in (the model node)
    decisions = [r["routing"] for r in records if r.get("routing")]
    for d in decisions:
        print(
            f"  routing decision: {d.get('chosen_model')} (scores {d.get('scores')}, threshold {d.get('threshold')})"
        )
    print(f"tool calls: {len(tools)}")
    plot = report.plot(args.out / "06_agent.png")
    print(f"plot saved to {plot}")
    print(
        "RESULT "
        + json.dumps(
            {
                "recipe": "06",
                "energy_by_node": by_node,
                "model_calls": len(calls),
                "tool_calls": len(tools),
                "routing_decisions": len(decisions),
                "etr": [r["etr"] for r in calls],
                "energy_kind": kind,
                "answer": answer or (error or ""),
                "error": error,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
