"""Per-step figures that mean what they say (issue 16 item 4, the handler's part)."""

from __future__ import annotations

from uuid import uuid4

from langchain_core.messages import HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from green_chain.testing.models import ScriptedChatModel, ai_message


def _routed_call(metered):
    from green_chain.routing import HeuristicScorer, RoutedChatModel

    cheap = ScriptedChatModel(
        responses=[ai_message("cheap", input_tokens=10, output_tokens=2)],
        model_name="cheap-model",
        cycle=True,
        on_call=lambda msgs: metered.work(2.0),
    )
    large = ScriptedChatModel(
        responses=[ai_message("large", input_tokens=10, output_tokens=2)],
        model_name="large-model",
        cycle=True,
    )
    router = RoutedChatModel(models=[cheap, large], scorer=HeuristicScorer(), threshold=0.0)
    router.invoke("hello there", config={"callbacks": [metered.handler]})


def test_step_type_table_counts_a_routed_call_once(metered):
    _routed_call(metered)
    rows = {r["group"]: r for r in metered.handler.report().by_step_type()}
    assert rows["chat_model"]["calls"] == 1 and rows["chat_model"]["tokens"] == 12
    assert rows["chat_model (wrapper)"]["tokens"] is None
    total = sum(r["tokens"] or 0 for r in rows.values())
    assert total == 12


def test_unnamed_model_gets_a_useful_label(metered):
    h, run_id = metered.handler, uuid4()
    h.on_chat_model_start({"name": "MyChat"}, [[HumanMessage("hello")]], run_id=run_id)
    reply = ai_message("hi", input_tokens=3, output_tokens=1)
    h.on_llm_end(LLMResult(generations=[[ChatGeneration(message=reply)]]), run_id=run_id)
    (row,) = h.report().by_model()
    assert row["group"] == "MyChat (no model name)"  # was "?"


def test_summary_flags_approximate_token_counts(metered):
    model = ScriptedChatModel(responses=[ai_message("a reply without usage")])
    model.invoke("hello there", config={"callbacks": [metered.handler]})
    rec = metered.records(run_type="chat_model")[0]
    assert rec["tokens_approximate"] is True
    summary = metered.handler.report().summary()
    assert f"~{rec['total_tokens']}" in summary
    assert "approximate" in summary


def test_tool_call_arguments_count_as_completion_tokens(metered):
    h, run_id = metered.handler, uuid4()
    message = ai_message(
        "",
        tool_calls=[
            {"name": "search_flights", "args": {"origin": "Paris", "to": "Tokyo"}, "id": "1"}
        ],
    )
    h.on_chat_model_start({}, [[HumanMessage("find me a flight")]], run_id=run_id)
    h.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]), run_id=run_id)
    rec = h.records()[0]
    assert rec["completion_tokens"] > 5  # was 0: the arguments are what the model produced
