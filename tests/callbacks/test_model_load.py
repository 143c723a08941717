"""Loading a model inside a call is its own ``load`` run (issue 16 item 4).

A chat model that loads its weights inside a call opens a child run around the
load with :func:`green_chain.events.model_load_run`; the handler records it as
``run_type="load"``. The joules are shown (the load's record, its own report rows,
the enclosing runs' gross and inclusive figures) but not charged to the call's
tokens/J, PER or per-model joules.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from green_chain.events import amodel_load_run, model_load_run
from green_chain.testing.models import ai_message

LOAD_J, CALL_J = 100.0, 20.0


class LazyModel(BaseChatModel):
    """Loads (``load_j`` joules) on its first call, then answers with ``call_j``."""

    metered: Any
    load_fails: bool = False
    _loaded: bool = PrivateAttr(default=False)

    @property
    def _llm_type(self) -> str:
        return "lazy"

    def _load(self) -> None:
        self.metered.work(LOAD_J, 2.0)
        if self.load_fails:
            raise OSError("weights missing")
        self._loaded = True

    def _answer(self) -> ChatResult:
        self.metered.work(CALL_J, 0.5)
        reply = ai_message("ok", input_tokens=8, output_tokens=2)
        reply.response_metadata["model_name"] = "lazy-model"
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if not self._loaded:
            with model_load_run(run_manager, "lazy-model"):
                self._load()
        return self._answer()

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if not self._loaded:
            async with amodel_load_run(run_manager, "lazy-model"):
                self._load()
        return self._answer()


def _two_calls(metered, *, score: bool = False) -> None:
    chain = LazyModel(metered=metered) | StrOutputParser()
    for _ in range(2):
        chain.invoke("hi", config={"callbacks": [metered.handler]})
        if score:
            metered.handler.record_score(80)


def test_load_is_its_own_record_under_the_call(metered):
    _two_calls(metered)
    (load,) = metered.records(run_type="load")
    first, second = metered.records(run_type="chat_model")
    assert load["name"] == "load lazy-model" and load["model_name"] == "lazy-model"
    assert load["parent_run_id"] == first["run_id"]
    assert load["attributed_energy_j"] == pytest.approx(LOAD_J)
    assert load["energy_kind"] == "measured"
    # the call's window saw the load (gross), but its efficiency basis excludes it
    assert first["energy_j"] == pytest.approx(LOAD_J + CALL_J)
    assert first["load_energy_j"] == pytest.approx(LOAD_J)
    assert first["basis_energy_j"] == pytest.approx(CALL_J)
    assert first["energy_basis"] == "attributed_inclusive_j - load_energy_j"
    assert first["tokens_per_j"] == pytest.approx(10 / CALL_J)  # was 10 / 120
    assert first["tokens_per_j"] == pytest.approx(second["tokens_per_j"])
    assert second["load_energy_j"] is None


def test_report_rows_keep_the_load_apart_and_conserve(metered):
    _two_calls(metered)
    report = metered.handler.report()
    steps = {r["group"]: r for r in report.by_step_type()}
    assert steps["load"]["energy_j"] == pytest.approx(LOAD_J)
    assert steps["chat_model"]["energy_j"] == pytest.approx(2 * CALL_J)
    assert sum(r["energy_j"] for r in steps.values()) == pytest.approx(
        metered.handler.device_energy_j
    )
    models = {r["group"]: r for r in report.by_model()}
    assert models["lazy-model"]["calls"] == 2
    assert models["lazy-model"]["energy_j"] == pytest.approx(2 * CALL_J)
    assert models["lazy-model"]["tokens_per_j"] == pytest.approx(20 / (2 * CALL_J))
    assert models["lazy-model (load)"]["energy_j"] == pytest.approx(LOAD_J)
    assert models["lazy-model (load)"]["tokens"] is None
    assert "load = loading model weights" in report.summary()


def test_per_excludes_the_load_and_carbon_includes_it(metered):
    _two_calls(metered, score=True)
    roots = [r for r in metered.handler.records() if r["parent_run_id"] is None]
    assert [r["per"] for r in roots] == pytest.approx([80 / CALL_J, 80 / CALL_J])
    assert roots[0]["attributed_inclusive_j"] == pytest.approx(LOAD_J + CALL_J)  # conserved
    carbon = metered.handler.carbon
    assert roots[0]["carbon_kg"] == pytest.approx(carbon.carbon_kg(LOAD_J + CALL_J))
    assert metered.handler.report()._per(roots) == pytest.approx(160 / (2 * CALL_J))


async def test_async_load_is_its_own_record(metered):
    model = LazyModel(metered=metered)
    await model.ainvoke("hi", config={"callbacks": [metered.handler]})
    (load,) = metered.records(run_type="load")
    (call,) = metered.records(run_type="chat_model")
    assert load["parent_run_id"] == call["run_id"]
    assert call["basis_energy_j"] == pytest.approx(CALL_J)


def test_a_failed_load_is_recorded_and_raised(metered):
    model = LazyModel(metered=metered, load_fails=True)
    with pytest.raises(OSError, match="weights missing"):
        model.invoke("hi", config={"callbacks": [metered.handler]})
    (load,) = metered.records(run_type="load")
    assert load["status"] == "error" and "weights missing" in load["error"]
    assert metered.handler._open == {}


def test_load_run_without_a_run_manager_just_runs():
    done = []
    with model_load_run(None, "m"):
        done.append(1)
    assert done == [1]
