"""Cached prompt tokens (prefix/KV cache reads) per call and in the report summary."""

from __future__ import annotations

from green_chain.testing.models import ScriptedChatModel, ai_message


def test_cached_prompt_tokens_per_call_and_in_summary(metered):
    model = ScriptedChatModel(
        responses=[
            ai_message("a", input_tokens=100, output_tokens=5, cache_read=0),
            ai_message("b", input_tokens=140, output_tokens=5, cache_read=96),
        ],
        model_name="cached-model",
        on_call=lambda msgs: metered.work(1.0),
    )
    for text in ("first", "second"):
        model.invoke(text, config={"callbacks": [metered.handler]})
    calls = [r for r in metered.handler.records() if r["run_type"] == "chat_model"]
    assert [r["cached_prompt_tokens"] for r in calls] == [0, 96]
    assert [r["prefilled_tokens"] for r in calls] == [100, 44]
    report = metered.handler.report()
    row = report.by_model()[0]
    assert row["cached_tokens"] == 96 and row["tokens"] == 250
    line = next(x for x in report.summary().splitlines() if x.startswith("cached-model"))
    assert line.split()[1:4] == ["2", "250", "96"]


def test_no_cache_reported_is_none(metered):
    model = ScriptedChatModel(
        responses=[ai_message("a", input_tokens=10, output_tokens=2)], model_name="plain"
    )
    model.invoke("x", config={"callbacks": [metered.handler]})
    (call,) = [r for r in metered.handler.records() if r["run_type"] == "chat_model"]
    assert call["cached_prompt_tokens"] is None and call["prefilled_tokens"] is None
    report = metered.handler.report()
    assert report.by_model()[0]["cached_tokens"] is None
    line = next(x for x in report.summary().splitlines() if x.startswith("plain"))
    assert line.split()[3] == "-"
