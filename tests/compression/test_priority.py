"""Numbers, dates and names are ranked first by the backends that score words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from conftest import word_count

from green_chain.compression import CompressionBackend, PromptCompressor
from green_chain.compression.backends.lexical import LexicalBackend
from green_chain.compression.core import rank_first

PARAGRAPH = " ".join(
    f"in {1900 + 7 * i} the city of the river had {120 + 13 * i} people and it was the year ."
    for i in range(12)
)
NUMBERS = re.findall(r"\d+", PARAGRAPH)


class NumbersLast(CompressionBackend):
    """A word scorer that finds figures least informative (as an LM that predicts them)."""

    name = "numbers-last"
    granularity = "word"
    priority = ("numbers", "entities")

    def __init__(self, priority: Sequence[str] | None = None) -> None:
        self.set_priority(priority)

    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        return [-1.0 if any(c.isdigit() for c in u) else float(len(u)) for u in units]


def _compress(backend: CompressionBackend, text: str = PARAGRAPH, rate: float = 0.5) -> str:
    c = PromptCompressor(backend, rate=rate, token_counter=word_count, min_tokens=0)
    return c.invoke(text)


def test_numbers_survive_by_default() -> None:
    out = _compress(NumbersLast())
    assert set(re.findall(r"\d+", out)) == set(NUMBERS)


def test_priority_off_ranks_by_the_backend_alone() -> None:
    out = _compress(NumbersLast(priority=()))
    assert not re.findall(r"\d+", out)


def test_names_survive_by_default() -> None:
    text = "the man said that " * 20 + "he met Ada Lovelace in London . " + "and then " * 20
    out = _compress(NumbersLast(), text, rate=0.3)
    assert "Ada Lovelace" in out and "London" in out


def test_priority_stays_within_budget() -> None:
    text = " ".join(str(1000 + i) for i in range(200))  # only numbers: budget still holds
    out = _compress(NumbersLast(), text, rate=0.25)
    assert abs(word_count(out) - 50) <= 8


def test_bad_priority_name() -> None:
    with pytest.raises(ValueError, match="priority takes built-in pattern names"):
        NumbersLast(priority=("years",))


def test_sentence_backends_have_no_priority() -> None:
    assert LexicalBackend().priority == ()


def test_rank_first_keeps_order_within_groups() -> None:
    assert rank_first([3.0, 1.0, 2.0], [False, True, False]) == [3.0, 4.0, 2.0]
    assert rank_first([1.0, 2.0], [False, False]) == [1.0, 2.0]


def test_selective_keeps_every_year_and_number(tiny_lm: Any) -> None:
    pytest.importorskip("torch")
    from green_chain.compression.backends.selective import SelectiveBackend

    out = _compress(SelectiveBackend(tiny_lm))
    assert set(re.findall(r"\d+", out)) == set(NUMBERS)
