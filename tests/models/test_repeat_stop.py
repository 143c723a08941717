"""``stop_on_repeat``: a reply that loops ends at its first repeated line (generation
stops there, not only the text), on the batched and the streaming paths alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from green_chain.models import ChatLocal
from green_chain.models.generation import GenParams, cut_reply, repeat_cut
from tests.conftest import LOOP_LINE


def test_repeat_cut_finds_the_first_complete_repeated_line() -> None:
    line = "The answer is 14 apples."
    assert repeat_cut(f"{line}\nSo we add.\n{line}\n{line}\n") == len(f"{line}\nSo we add.\n")
    assert repeat_cut(f"{line}\n  {line}  \n") == len(f"{line}\n")  # blanks around ignored
    assert repeat_cut(f"{line}\n{line}") == -1  # the second line is not complete yet
    assert repeat_cut("}\n}\n}\n") == -1  # short lines repeat in well-formed answers
    assert repeat_cut("\n\n\n") == -1
    assert repeat_cut("first line here!\nsecond line here\n") == -1


def test_cut_reply_names_the_reason() -> None:
    looping = f"{LOOP_LINE}\n{LOOP_LINE}\n"
    assert cut_reply(looping, GenParams(8)) == (looping, None)
    assert cut_reply(looping, GenParams(8, stop_on_repeat=True)) == (LOOP_LINE, "repeat")
    assert cut_reply(looping, GenParams(8, stop=("cd",), stop_on_repeat=True)) == ("ab", "stop")


@pytest.fixture(scope="module")
def looping(looping_folder: Path) -> ChatLocal:
    return ChatLocal(model=str(looping_folder), max_tokens=60)


def test_without_the_option_the_loop_runs_to_the_cap(looping: ChatLocal) -> None:
    out = looping.invoke("hello")
    assert str(out.content).startswith(f"{LOOP_LINE}\n{LOOP_LINE}\n{LOOP_LINE}\n")
    assert out.response_metadata["finish_reason"] == "length"
    assert out.usage_metadata is not None and out.usage_metadata["output_tokens"] == 60


def test_stop_on_repeat_ends_generation_at_the_repeat(looping: ChatLocal) -> None:
    out = looping.invoke("hello", stop_on_repeat=True)
    assert out.content == LOOP_LINE
    assert out.response_metadata["finish_reason"] == "repeat"
    # generated: the line and its break, then the repeat and the break that completed it
    assert out.usage_metadata is not None
    assert out.usage_metadata["output_tokens"] == 2 * (len(LOOP_LINE) + 1)


def test_stream_and_batch_match_invoke(looping: ChatLocal) -> None:
    model = looping.model_copy(update={"stop_on_repeat": True})
    chunks = list(model.stream("hello"))
    assert "".join(str(c.content) for c in chunks) == LOOP_LINE
    assert all("\n" not in str(c.content) for c in chunks)  # the held-back break never leaks
    outs = model.batch(["hi", "hello there"])
    assert [o.content for o in outs] == [LOOP_LINE, LOOP_LINE]
    assert {o.response_metadata["finish_reason"] for o in outs} == {"repeat"}


def test_bad_value_names_the_argument(looping: ChatLocal) -> None:
    with pytest.raises(ValueError, match="stop_on_repeat"):
        looping.invoke("hello", stop_on_repeat="yes")
    with pytest.raises(ValueError, match="stop_on_repeat"):
        ChatLocal(model=looping.model, stop_on_repeat="yes")
