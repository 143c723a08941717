"""The handler's fault paths: issue 17 items 1-4 and 7 (each failed before the fix)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from uuid import uuid4

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import RunnableLambda

from green_chain.callbacks import EnergyCallbackHandler, lifecycle
from green_chain.energy.monitor import EnergyMonitor
from green_chain.events import OPTIMIZER_TOKENS_EVENT
from green_chain.testing.meters import FakeMeterBackend
from green_chain.testing.models import ScriptedChatModel, ai_message


def _start(h, run_id, parent=None, name="step"):
    h.on_chain_start({}, {}, run_id=run_id, parent_run_id=parent, name=name)


def _end(h, run_id):
    h.on_chain_end({}, run_id=run_id)


def _chat_result(usage):
    message = AIMessage(content="four words of answer")
    message.usage_metadata = usage  # type: ignore[assignment]  # a provider's raw payload
    return LLMResult(generations=[[ChatGeneration(message=message)]])


# ------------------------------------------------------------------ item 1
def test_transient_error_at_a_nested_start_never_gives_the_root_a_wrong_figure(metered):
    h, root, mid, leaf = metered.handler, uuid4(), uuid4(), uuid4()
    _start(h, root, name="root")
    _start(h, mid, root, name="mid")
    metered.work(1.0)
    metered.meter.fail("gpu:0", "NVML_ERROR_UNKNOWN")
    _start(h, leaf, mid, name="leaf")
    metered.meter.recover("gpu:0")
    metered.work(1.0)
    _end(h, leaf)
    metered.work(1.0)
    _end(h, mid)
    _end(h, root)
    rec = metered.records(name="root")[0]
    assert rec["energy_j"] == pytest.approx(3.0)
    # the tree's split is unknown: no figure rather than the root's own 0 J share
    assert rec["attributed_inclusive_j"] is None
    assert "attributed_inclusive_j incomplete" in rec["energy_reason"]
    assert rec["energy_basis"] == "energy_j"
    assert rec["carbon_kg"] == pytest.approx(h.carbon.carbon_kg(3.0))


# ------------------------------------------------------------------ item 2
def test_non_numeric_provider_token_usage_still_finishes_the_tree(metered_factory):
    got: list[dict] = []
    m = metered_factory(sink=got.append)
    h, root, call = m.handler, uuid4(), uuid4()
    _start(h, root, name="root")
    h.on_chat_model_start({}, [[HumanMessage("hi there")]], run_id=call, parent_run_id=root)
    m.work(2.0)
    h.on_llm_end(_chat_result({"input_tokens": "n/a", "output_tokens": None}), run_id=call)
    _end(h, root)
    assert {r["run_id"] for r in got} == {str(root), str(call)}
    model = next(r for r in got if r["run_id"] == str(call))
    assert model["status"] == "ok" and model["energy_j"] == pytest.approx(2.0)
    assert model["prompt_tokens"] > 0 and model["token_method"] != "usage_metadata"


def test_malformed_optimizer_event_is_kept_out_of_etr(metered_factory):
    got: list[dict] = []
    m = metered_factory(sink=got.append)
    h, root, call = m.handler, uuid4(), uuid4()
    _start(h, root, name="root")
    h.on_custom_event(OPTIMIZER_TOKENS_EVENT, {"tokens_before": "lots"}, run_id=root)
    h.on_chat_model_start({}, [[HumanMessage("hi")]], run_id=call, parent_run_id=root)
    h.on_llm_end(LLMResult(generations=[[ChatGeneration(message=ai_message("ok"))]]), run_id=call)
    _end(h, root)
    assert len(got) == 2
    root_rec = next(r for r in got if r["run_id"] == str(root))
    assert "tokens_before" in root_rec["published_events"][0]["error"]
    assert next(r for r in got if r["run_id"] == str(call))["etr"] is None


def test_a_bug_while_closing_a_record_still_delivers_and_caps_the_tree(
    metered_factory, monkeypatch
):
    got: list[dict] = []
    m = metered_factory(sink=got.append, max_runs=3)

    def broken(*args, **kwargs):
        raise RuntimeError("bug in record closing")

    monkeypatch.setattr(lifecycle, "close_record", broken)
    chain = RunnableLambda(lambda x: (m.work(1.0), x)[1]) | RunnableLambda(lambda x: x)
    for i in range(3):
        assert chain.invoke(i, config={"callbacks": [m.handler]}) == i
    assert len(got) == 9  # every tree delivered
    assert all("bug in record closing" in r["handler_error"] for r in got)
    assert all(r["energy_reason"] and r["status"] == "ok" for r in got)
    assert m.handler.dropped_roots == 2  # the cap still drops finished trees
    assert m.handler._open == {} and m.handler._ledger.innermost_count == 0


def test_non_numeric_reading_at_an_end_leaves_no_phantom_open_run(metered):
    h = metered.handler
    root, child = uuid4(), uuid4()
    _start(h, root, name="bad")
    _start(h, child, root)
    metered.work(1.0)
    metered.meter.set_raw("gpu:0", "n/a")
    _end(h, child)
    metered.meter.recover("gpu:0")
    _end(h, root)
    assert h._open == {} and h._ledger.innermost_count == 0
    bad = metered.records(name="bad")
    assert bad[0]["status"] == "ok" and bad[0]["energy_reason"]
    for _ in range(100):
        r = uuid4()
        _start(h, r, name="later")
        metered.work(2.0)
        _end(h, r)
    later = metered.records(name="later")
    assert [x["attributed_inclusive_j"] for x in later] == pytest.approx([2.0] * 100)


# ------------------------------------------------------------------ item 3
def _hanging_handler(**kwargs):
    meter = FakeMeterBackend(["gpu:0"], blocking=True)
    monitor = EnergyMonitor([meter], read_timeout_s=0.1)
    return meter, EnergyCallbackHandler(monitor, estimators=None, **kwargs)


def test_a_hung_meter_times_out_and_never_blocks_other_chains_or_records():
    meter, h = _hanging_handler()
    meter.hang()
    chain = RunnableLambda(lambda x: x + 1)
    results: list[int] = []
    worker = threading.Thread(
        target=lambda: results.append(chain.invoke(1, config={"callbacks": [h]}))
    )
    worker.start()
    time.sleep(0.02)  # the worker's first read is now hung
    t0 = time.perf_counter()
    h.records()  # the handler's lock is not held during reads (the read hangs until released)
    assert time.perf_counter() - t0 < 0.5
    worker.join(timeout=5)
    assert results == [2]
    rec = h.records()[0]
    assert rec["energy_j"] is None and "timed out" in rec["energy_reason"]
    meter.release()


@pytest.mark.parametrize("blocking", [True, False])
async def test_slow_reads_do_not_stall_the_event_loop(blocking):
    # a backend declared blocking is timed from the start; any other after one slow read
    meter = FakeMeterBackend(["gpu:0"], blocking=blocking, delay_s=0.05)
    h = EnergyCallbackHandler(EnergyMonitor([meter]), estimators=None)
    model = ScriptedChatModel(responses=[ai_message("ok")], cycle=True)
    gaps: list[float] = []
    stop = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.gather(*(model.ainvoke("hi", config={"callbacks": [h]}) for _ in range(20)))
    stop = True
    await tick
    assert max(gaps) < 0.5  # 20 concurrent calls stalled the loop for 1.1-2.1 s before
    recs = h.records()
    assert len(recs) == 20
    assert all(r["energy_j"] is not None or "timed out" in r["energy_reason"] for r in recs)


# ------------------------------------------------------------------ item 4
def test_one_nan_reading_never_poisons_later_figures(metered):
    h = metered.handler
    first = uuid4()
    _start(h, first, name="first")
    metered.work(1.0)
    metered.meter.set_raw("gpu:0", math.nan)
    _end(h, first)
    metered.meter.recover("gpu:0")
    for _ in range(3):
        r = uuid4()
        _start(h, r, name="later")
        metered.work(2.0)
        _end(h, r)
    first_rec = metered.records(name="first")[0]
    assert first_rec["energy_j"] is None and "invalid energy reading" in first_rec["energy_reason"]
    for rec in metered.records(name="later"):
        assert rec["energy_j"] == pytest.approx(2.0)
        assert rec["attributed_inclusive_j"] == pytest.approx(2.0)
    assert math.isfinite(h.device_energy_j)


def test_nan_cpu_power_from_the_environment_gives_no_nan(monkeypatch):
    monkeypatch.setenv("GREEN_CHAIN_CPU_W_PER_CORE", "nan")
    from green_chain.energy.backends.estimate import CPUTimeEstimateBackend
    from green_chain.energy.probe import detect_backends

    assert not any(isinstance(b, CPUTimeEstimateBackend) for b in detect_backends())
    with pytest.raises(ValueError, match="GREEN_CHAIN_CPU_W_PER_CORE"):
        CPUTimeEstimateBackend()


# ------------------------------------------------------------------ item 7
@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("nvml",), {}, "monitor must be an EnergyMonitor"),
        ((), {"idle_baseline": "x"}, "idle_baseline must be an IdleBaseline or a mapping"),
        ((), {"idle_baseline": {"gpu:0": -5.0}}, "idle_baseline.*finite number of watts >= 0"),
        ((), {"idle_baseline": {"gpu:0": math.nan}}, "idle_baseline.*finite number of watts"),
        ((), {"max_runs": 1.5}, "max_runs must be a whole number >= 1 or None"),
        ((), {"max_runs": True}, "max_runs must be a whole number >= 1 or None"),
    ],
)
def test_bad_handler_arguments_get_one_line_errors(args, kwargs, match):
    if not args:
        args = (EnergyMonitor([FakeMeterBackend(["gpu:0"])]),)
    with pytest.raises((TypeError, ValueError), match=match) as info:
        EnergyCallbackHandler(*args, estimators=None, **kwargs)
    assert "\n" not in str(info.value)


def test_negative_idle_baseline_of_an_idle_baseline_object_is_rejected():
    from green_chain.energy.idle import IdleBaseline

    baseline = IdleBaseline.__new__(IdleBaseline)
    object.__setattr__(baseline, "power_w", {"gpu:0": math.nan})
    with pytest.raises(ValueError, match=r"idle_baseline.power_w\['gpu:0'\]"):
        EnergyCallbackHandler(EnergyMonitor([]), idle_baseline=baseline, estimators=None)


def test_score_that_looks_like_a_fraction_warns(metered):
    RunnableLambda(lambda x: x).invoke(1, config={"callbacks": [metered.handler]})
    with pytest.warns(UserWarning, match="scores are 0-100"):
        metered.handler.record_score(0.8)
    assert metered.handler.records()[0]["score"] == 0.8
