"""A stream consumer does not take its producer's energy (issue 16 item 4).

The rule (``green_chain.callbacks.attribution``): a ``RunnableSequence`` step waits
while an earlier step of the same sequence is open, and so does everything inside
it; waiting runs are never innermost, so the producer takes those intervals.
"""

from __future__ import annotations

from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda, RunnableParallel

from green_chain.testing.models import ScriptedChatModel, ai_message
from tests.callbacks.conftest import make_metered


def _model(metered, joules: float = 2.0) -> ScriptedChatModel:
    return ScriptedChatModel(
        responses=[ai_message("one two three four five", input_tokens=6, output_tokens=5)],
        cycle=True,
        on_call=lambda _m: metered.work(joules),
    )


def _by_name(metered) -> dict[str, dict]:
    return {r["name"]: r for r in metered.handler.records()}


def _assert_conserved(metered) -> None:
    recs = metered.handler.records()
    (root,) = [r for r in recs if r["parent_run_id"] is None]
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(root["energy_j"])
    assert root["attributed_inclusive_j"] == pytest.approx(root["energy_j"])
    assert metered.handler._ledger.innermost_count == 0


def test_stream_parser_takes_none_of_the_model_energy(metered):
    chain = _model(metered) | StrOutputParser()
    for _chunk in chain.stream("hi", config={"callbacks": [metered.handler]}):
        metered.work(1.0)  # the device keeps working while the chunks flow
    recs = _by_name(metered)
    model, parser = recs["ScriptedChatModel"], recs["StrOutputParser"]
    assert parser["energy_j"] > 0  # its window overlapped the model's chunks...
    assert parser["attributed_energy_j"] == pytest.approx(0.0)  # ...but it only consumed them
    assert parser["exclusive_energy_j"] == pytest.approx(0.0)
    assert model["attributed_energy_j"] == pytest.approx(model["energy_j"])  # was ~half
    assert model["tokens_per_j"] == pytest.approx(11 / model["energy_j"])
    _assert_conserved(metered)


async def test_astream_parser_takes_none_of_the_model_energy(metered):
    chain = _model(metered) | StrOutputParser()
    async for _chunk in chain.astream("hi", config={"callbacks": [metered.handler]}):
        metered.work(1.0)
    recs = _by_name(metered)
    assert recs["StrOutputParser"]["attributed_energy_j"] == pytest.approx(0.0)
    model = recs["ScriptedChatModel"]
    assert model["attributed_energy_j"] == pytest.approx(model["energy_j"])
    _assert_conserved(metered)


def test_consumer_is_charged_its_work_after_the_producer_ended(metered):
    def finish(chunks):  # a streaming transform that works once its input is done
        text = "".join(chunks)
        metered.work(3.0)
        yield text.upper()

    chain = (
        _model(metered) | StrOutputParser() | RunnableLambda(finish).with_config(run_name="finish")
    )
    assert list(chain.stream("hi", config={"callbacks": [metered.handler]})) == [
        "ONE TWO THREE FOUR FIVE"
    ]
    recs = _by_name(metered)
    assert recs["finish"]["attributed_energy_j"] == pytest.approx(3.0)
    assert recs["StrOutputParser"]["attributed_energy_j"] == pytest.approx(0.0)
    assert recs["ScriptedChatModel"]["attributed_energy_j"] == pytest.approx(2.0)
    _assert_conserved(metered)


def test_a_nested_consumer_sequence_waits_with_all_its_steps(metered):
    post = (StrOutputParser() | StrOutputParser()).with_config(run_name="post")
    chain = _model(metered) | post
    for _chunk in chain.stream("hi", config={"callbacks": [metered.handler]}):
        metered.work(1.0)
    recs = metered.handler.records()
    model = next(r for r in recs if r["run_type"] == "chat_model")
    inside_post = [r for r in recs if r["run_type"] != "chat_model" and r["parent_run_id"]]
    assert len(inside_post) == 3  # post and its two streaming steps
    assert all(r["attributed_energy_j"] == pytest.approx(0.0) for r in inside_post)
    assert model["attributed_energy_j"] == pytest.approx(model["energy_j"])
    _assert_conserved(metered)


def test_invoke_path_is_unchanged(metered):
    def parse(message):
        metered.work(1.5)  # the parser's own work, after the model returned
        return message.content

    chain = _model(metered) | RunnableLambda(parse).with_config(run_name="parse")
    chain.invoke("hi", config={"callbacks": [metered.handler]})
    recs = _by_name(metered)
    assert recs["ScriptedChatModel"]["attributed_energy_j"] == pytest.approx(2.0)
    assert recs["parse"]["attributed_energy_j"] == pytest.approx(1.5)
    _assert_conserved(metered)


def test_parallel_branches_still_split_equally(metered):
    h, root, a, b = metered.handler, uuid4(), uuid4(), uuid4()
    h.on_chain_start({}, {}, run_id=root, name="RunnableParallel")
    h.on_chain_start({}, {}, run_id=a, parent_run_id=root, name="a", tags=["map:key:a"])
    h.on_chain_start({}, {}, run_id=b, parent_run_id=root, name="b", tags=["map:key:b"])
    metered.work(4.0)
    for run_id in (a, b, root):
        h.on_chain_end({}, run_id=run_id)
    recs = _by_name(metered)
    assert recs["a"]["attributed_energy_j"] == pytest.approx(2.0)
    assert recs["b"]["attributed_energy_j"] == pytest.approx(2.0)


def test_streamed_parallel_of_sequences_conserves(metered):
    branches = RunnableParallel(x=_model(metered) | StrOutputParser(), y=_model(metered))
    list(branches.stream("hi", config={"callbacks": [metered.handler]}))
    _assert_conserved(metered)


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(st.integers(1, 4), min_size=1, max_size=6),
    order=st.randoms(use_true_random=False),
    nested=st.booleans(),
)
def test_random_overlapping_steps_conserve(steps, order, nested):
    """Sequence steps opened and closed in any order: shares sum to the root's energy."""
    m = make_metered()
    h, root = m.handler, uuid4()
    h.on_chain_start({}, {}, run_id=root, name="root")
    events: list[tuple[str, int]] = [("start", i) for i in range(len(steps))]
    events += [("end", i) for i in range(len(steps))]
    order.shuffle(events)
    ids = [uuid4() for _ in steps]
    started: set[int] = set()
    pending_ends: list[int] = []
    for kind, i in events:
        m.work(1.0)
        if kind == "end" and i not in started:
            pending_ends.append(i)
            continue
        if kind == "start":
            parent = ids[i - 1] if nested and i and (i - 1) in started else root
            h.on_chain_start(
                {}, {}, run_id=ids[i], parent_run_id=parent, name=f"s{i}",
                tags=[f"seq:step:{steps[i]}"],
            )  # fmt: skip
            started.add(i)
            for j in [j for j in pending_ends if j == i]:
                pending_ends.remove(j)
                m.work(0.5)
                h.on_chain_end({}, run_id=ids[j])
        else:
            h.on_chain_end({}, run_id=ids[i])
    m.work(1.0)
    h.on_chain_end({}, run_id=root)
    recs = h.records()
    total = next(r for r in recs if r["name"] == "root")["energy_j"]
    assert sum(r["attributed_energy_j"] for r in recs) == pytest.approx(total)
    assert h._ledger.innermost_count == 0
