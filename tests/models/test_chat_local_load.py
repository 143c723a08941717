"""``ChatLocal`` loads its model in a ``load`` run of its own (issue 16 item 4).

A tiny random model saved to a fresh folder, so the first call really loads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.output_parsers import StrOutputParser

from green_chain.models import ChatLocal
from green_chain.models.loading import is_loaded
from tests.callbacks.conftest import make_metered
from tests.conftest import save_tiny


@pytest.fixture
def fresh_folder(tmp_path: Path) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    folder = save_tiny(tmp_path / "tiny")
    assert not is_loaded(folder)
    return folder


def test_invoke_loads_in_a_child_load_run(fresh_folder: Path) -> None:
    m = make_metered()
    chat = ChatLocal(model=str(fresh_folder), max_new_tokens=2)
    chat.invoke("hi", config={"callbacks": [m.handler]})
    chat.invoke("hi", config={"callbacks": [m.handler]})
    assert is_loaded(fresh_folder)
    (load,) = m.records(run_type="load")
    first, second = m.records(run_type="chat_model")
    assert load["parent_run_id"] == first["run_id"]
    assert load["name"] == f"load {fresh_folder}" and load["model_name"] == str(fresh_folder)
    assert first["load_energy_j"] is not None and second["load_energy_j"] is None


async def test_astream_loads_in_a_run_before_the_call(fresh_folder: Path) -> None:
    m = make_metered()
    chain = ChatLocal(model=str(fresh_folder), max_new_tokens=2) | StrOutputParser()
    [c async for c in chain.astream("hi", config={"callbacks": [m.handler]})]
    (load,) = m.records(run_type="load")
    (call,) = m.records(run_type="chat_model")
    (root,) = [r for r in m.handler.records() if r["parent_run_id"] is None]
    assert load["parent_run_id"] == call["parent_run_id"] == root["run_id"]
    assert load["end_s"] <= call["start_s"]
    assert root["load_energy_j"] is not None


def test_no_load_run_when_already_loaded(tiny_folder: Path, tiny_lm: object) -> None:
    m = make_metered()
    list(
        ChatLocal(model=str(tiny_folder), max_new_tokens=2).stream(
            "hi", config={"callbacks": [m.handler]}
        )
    )
    assert m.records(run_type="load") == []
