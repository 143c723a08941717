"""The handler on LCEL chains: runs, tree, energy, tokens, all invocation styles."""

from __future__ import annotations

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from green_chain.testing.models import ScriptedChatModel, ai_message
from green_chain.tokens import register_tokenizer, unregister_tokenizer

PROMPT = ChatPromptTemplate.from_messages([("human", "Answer briefly: {q}")])


def _model_chain(metered, joules: float = 5.0, **model_kwargs):
    model = ScriptedChatModel(
        responses=[ai_message("a short answer", input_tokens=12, output_tokens=3)],
        cycle=True,
        on_call=lambda _m: metered.work(joules, 0.5),
        **model_kwargs,
    )
    return PROMPT | model | StrOutputParser()


def _check_single_chain(metered, joules: float = 5.0) -> None:
    recs = metered.handler.records()
    assert [r["run_type"] for r in recs] == ["chain", "chain", "chat_model", "chain"]
    root, prompt, model, parser = recs
    assert root["parent_run_id"] is None
    assert (
        prompt["parent_run_id"]
        == model["parent_run_id"]
        == parser["parent_run_id"]
        == root["run_id"]
    )
    assert all(r["root_run_id"] == root["run_id"] for r in recs)
    assert model["energy_j"] == pytest.approx(joules)
    assert root["energy_j"] == pytest.approx(joules)
    assert model["attributed_energy_j"] == pytest.approx(joules)
    assert root["attributed_energy_j"] == pytest.approx(0.0)
    assert root["attributed_inclusive_j"] == pytest.approx(joules)
    assert model["duration_s"] == pytest.approx(0.5)
    assert model["prompt_tokens"] == 12 and model["completion_tokens"] == 3
    assert model["token_method"] == "usage_metadata" and model["tokens_approximate"] is False
    assert model["tokens_per_j"] == pytest.approx(15 / joules)
    assert model["model_name"] == "scripted-model"
    assert model["energy_kind"] == "measured" and model["energy_sources"] == ["fake-nvml"]
    assert model["domains"]["gpu:0"]["source"] == "fake-nvml"
    assert model["etr"] is None
    assert model["status"] == "ok" and model["error"] is None
    assert root["start_time"] <= root["end_time"]


def test_invoke_records_every_step(metered):
    chain = _model_chain(metered)
    assert chain.invoke({"q": "why?"}, config={"callbacks": [metered.handler]}) == "a short answer"
    _check_single_chain(metered)


async def test_ainvoke_records_every_step(metered):
    chain = _model_chain(metered)
    assert await chain.ainvoke({"q": "why?"}, config={"callbacks": [metered.handler]})
    _check_single_chain(metered)


def test_stream_records_every_step(metered):
    chain = _model_chain(metered)
    assert "".join(chain.stream({"q": "x"}, config={"callbacks": [metered.handler]})) == (
        "a short answer"
    )
    recs = metered.handler.records()
    assert sorted(r["run_type"] for r in recs) == ["chain", "chain", "chain", "chat_model"]
    model = metered.records(run_type="chat_model")[0]
    assert model["prompt_tokens"] == 12 and model["energy_j"] == pytest.approx(5.0)
    root = next(r for r in recs if r["parent_run_id"] is None)
    assert root["attributed_inclusive_j"] == pytest.approx(5.0)
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(5.0)


async def test_astream_records_every_step(metered):
    chain = _model_chain(metered)
    chunks = [c async for c in chain.astream({"q": "x"}, config={"callbacks": [metered.handler]})]
    assert "".join(chunks) == "a short answer"
    recs = metered.handler.records()
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs)
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(5.0)


@pytest.mark.parametrize("mode", ["batch", "abatch"])
async def test_batch_and_abatch_conserve_energy(metered, mode):
    chain = _model_chain(metered, joules=2.0)
    inputs = [{"q": str(i)} for i in range(5)]
    config = {"callbacks": [metered.handler]}
    out = (
        chain.batch(inputs, config=config)
        if mode == "batch"
        else await chain.abatch(inputs, config=config)
    )
    assert out == ["a short answer"] * 5
    recs = metered.handler.records()
    roots = [r for r in recs if r["parent_run_id"] is None]
    assert len(roots) == 5 and len(recs) == 20
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(10.0)
    assert sum(r["attributed_inclusive_j"] for r in roots) == pytest.approx(10.0)
    assert metered.handler.device_energy_j == pytest.approx(10.0)


def test_generic_fake_chat_model_counts_tokens_approximately(metered):
    model = GenericFakeChatModel(messages=iter([AIMessage(content="one two three four")]))
    chain = PROMPT | model | StrOutputParser()
    chain.invoke(
        {"q": "what is the answer to this question"}, config={"callbacks": [metered.handler]}
    )
    rec = metered.records(run_type="chat_model")[0]
    assert rec["tokens_approximate"] is True and rec["token_method"] == "approximate"
    assert rec["prompt_tokens"] > 0 and rec["completion_tokens"] > 0


def test_registered_tokenizer_is_used_without_usage_metadata(metered):
    register_tokenizer("word-model", lambda text: len(text.split()))
    try:
        model = ScriptedChatModel(
            responses=[AIMessage(content="one two three")], model_name="word-model"
        )
        model.invoke("a b c d e", config={"callbacks": [metered.handler]})
    finally:
        unregister_tokenizer("word-model")
    rec = metered.records(run_type="chat_model")[0]
    assert rec["token_method"] == "tokenizer:word-model" and rec["tokens_approximate"] is False
    assert rec["prompt_tokens"] == 5 and rec["completion_tokens"] == 3


def test_nested_chains_build_the_tree(metered):
    inner = RunnableLambda(lambda x: (metered.work(1.0), x + 1)[1]).with_config(run_name="inner")
    middle = (inner | RunnableLambda(lambda x: (metered.work(2.0), x * 2)[1])).with_config(
        run_name="middle"
    )
    outer = (RunnableLambda(lambda x: (metered.work(4.0), x)[1]) | middle).with_config(
        run_name="outer"
    )
    assert outer.invoke(1, config={"callbacks": [metered.handler]}) == 4
    recs = {r["name"]: r for r in metered.handler.records()}
    assert recs["outer"]["parent_run_id"] is None
    assert recs["middle"]["parent_run_id"] == recs["outer"]["run_id"]
    assert recs["inner"]["parent_run_id"] == recs["middle"]["run_id"]
    assert recs["outer"]["energy_j"] == pytest.approx(7.0)
    assert recs["middle"]["energy_j"] == pytest.approx(3.0)
    assert recs["middle"]["attributed_inclusive_j"] == pytest.approx(3.0)
    assert recs["inner"]["attributed_energy_j"] == pytest.approx(1.0)
    assert recs["outer"]["attributed_inclusive_j"] == pytest.approx(7.0)


class _Retriever(BaseRetriever):
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"doc about {query}")]


def test_retriever_and_tool_runs(metered):
    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        metered.work(0.5)
        return text.upper()

    chain = _Retriever() | RunnableLambda(lambda docs: docs[0].page_content) | shout
    assert chain.invoke("cats", config={"callbacks": [metered.handler]}) == "DOC ABOUT CATS"
    types = {r["run_type"] for r in metered.handler.records()}
    assert {"retriever", "tool", "chain"} <= types
    assert metered.records(run_type="tool")[0]["name"] == "shout"
    assert metered.records(run_type="tool")[0]["energy_j"] == pytest.approx(0.5)
    assert metered.records(run_type="retriever")[0]["status"] == "ok"


def test_error_inside_a_step_is_recorded_and_windows_close(metered):
    def boom(_x):
        metered.work(3.0)
        raise ValueError("bad input")

    chain = RunnableLambda(lambda x: x).with_config(run_name="ok") | RunnableLambda(
        boom
    ).with_config(run_name="boom")
    with pytest.raises(ValueError, match="bad input"):
        chain.invoke(1, config={"callbacks": [metered.handler]})
    recs = {r["name"]: r for r in metered.handler.records()}
    assert recs["boom"]["status"] == "error" and "ValueError: bad input" in recs["boom"]["error"]
    assert recs["boom"]["energy_j"] == pytest.approx(3.0)
    root = next(r for r in recs.values() if r["parent_run_id"] is None)
    assert root["status"] == "error" and root["attributed_inclusive_j"] == pytest.approx(3.0)
    assert metered.handler._open == {}


def test_model_error_is_recorded(metered):
    model = ScriptedChatModel(responses=[])
    with pytest.raises(IndexError):
        model.invoke("hi", config={"callbacks": [metered.handler]})
    rec = metered.records(run_type="chat_model")[0]
    assert rec["status"] == "error" and "ran out of responses" in rec["error"]
    assert rec["prompt_tokens"] is None
