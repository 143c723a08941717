"""RelevantHistory with the packaged MiniLM embeddings and SmolLM2 tokenizer on MT-Bench-101."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from green_chain.memory import RelevantHistory


@pytest.mark.integration
def test_context_memory_dialogues_under_budget(shared_data_dir) -> None:
    pytest.importorskip("sentence_transformers")
    from green_chain.models import LocalEmbeddings
    from green_chain.models.token_counters import resolve_token_counter

    count = resolve_token_counter("smollm2-135m-instruct")
    rows = [json.loads(x) for x in (shared_data_dir / "dialogue/mtbench101.jsonl").open()]
    rows = [r for r in rows if r["task"] == "CM" and len(r["history"]) >= 4][:3]
    history = RelevantHistory(
        250, embeddings=LocalEmbeddings(), token_counter="smollm2-135m-instruct"
    )
    for row in rows:
        msgs = [SystemMessage("You are helpful.")]
        for turn in row["history"][:-1]:
            msgs += [HumanMessage(turn["user"]), AIMessage(turn["bot"])]
        msgs.append(HumanMessage(row["history"][-1]["user"]))
        result = history.filter(msgs)
        assert result.tokens_after <= 250
        assert result.tokens_before == sum(count(m.text) + 4 for m in msgs)
        assert result.messages[-1] is msgs[-1] and result.messages[0] is msgs[0]


FLIGHT = [
    HumanMessage("My flight to Lisbon is TP 1353 and it leaves from gate B32 at 14:05."),
    AIMessage("Got it: TP 1353 to Lisbon leaves from gate B32 at 14:05."),
    HumanMessage("Can you recommend a good book for the trip?"),
    AIMessage(
        "Try The Book of Disquiet by Fernando Pessoa, a classic set in Lisbon that suits a "
        "long flight."
    ),
    HumanMessage("What's the weather usually like in Lisbon in May?"),
    AIMessage(
        "Mild and sunny, usually around 20 to 24 degrees Celsius, with little rain and cool "
        "evenings."
    ),
    HumanMessage("Any tips for trying local food there?"),
    AIMessage(
        "Try pasteis de nata, grilled sardines and bacalhau in the small family tascas of Alfama."
    ),
    HumanMessage("Which gate does my flight leave from?"),
]


@pytest.mark.integration
def test_relevance_beats_recency_for_the_flight_gate() -> None:
    pytest.importorskip("sentence_transformers")
    from green_chain.models import LocalEmbeddings

    for keep_last in (0, 1):
        history = RelevantHistory(
            max_tokens=100,
            keep_last=keep_last,
            embeddings=LocalEmbeddings(),
            token_counter="smollm2-135m-instruct",
        )
        kept = [m.text for m in history.invoke(FLIGHT)]
        assert FLIGHT[0].text in kept and FLIGHT[1].text in kept, keep_last


@pytest.mark.integration
def test_prompt_budget_counts_the_rendered_prompt_with_tools() -> None:
    pytest.importorskip("sentence_transformers")
    from langchain_core.tools import tool
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from green_chain.models import LocalEmbeddings, load_causal_lm
    from green_chain.models.prompting import render

    @tool
    def flight_status(flight: str) -> str:
        """The live status of a flight: gate, boarding time and delays."""
        return flight

    name = "smollm2-135m-instruct"
    lm = load_causal_lm(name)
    messages_budget = RelevantHistory(
        max_tokens=80, embeddings=LocalEmbeddings(), token_counter=name, keep_last=1
    ).filter(FLIGHT)
    schemas = [convert_to_openai_tool(flight_status)]
    seen = len(render(lm, messages_budget.messages, schemas).ids)
    assert messages_budget.tokens_after <= 80 < seen  # "messages" leaves template and tools out
    prompt = RelevantHistory(
        max_tokens=seen - 1,
        embeddings=LocalEmbeddings(),
        token_counter=name,
        keep_last=1,
        budget="prompt",
        tools=[flight_status],
    ).filter(FLIGHT)
    exact = len(render(lm, prompt.messages, schemas).ids)
    assert exact == prompt.tokens_after <= seen - 1
    assert len(render(lm, FLIGHT, schemas).ids) == prompt.tokens_before
