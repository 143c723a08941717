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
    from green_chain.tokens import resolve_token_counter

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
