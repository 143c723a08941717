"""The ``lexical`` backend: BM25 within the context, no model."""

from __future__ import annotations

import math

import pytest

from green_chain.compression import PromptCompressor
from green_chain.compression.backends.lexical import LexicalBackend, stems

UNITS = [
    "The weather in Lisbon was mild all week. ",
    "Marie Curie won the Nobel Prize in Physics in 1903. ",
    "Lunch was served at noon. ",
    "",
    "She later won a second Nobel Prize, in Chemistry. ",
]


def test_question_terms_rank_the_answer_sentence_first() -> None:
    scores = LexicalBackend().score_units(UNITS, "Which prize did Curie win in Physics?")
    assert max(range(len(UNITS)), key=scores.__getitem__) == 1
    assert scores[3] == -1.0  # blank unit: last
    assert scores[0] == 0.0 and scores[2] == 0.0  # no question term
    assert scores[4] > 0  # shares "nobel prize"


def test_bm25_values_by_hand() -> None:
    units = ["alpha beta", "alpha gamma gamma gamma"]
    b = LexicalBackend(k1=1.2, b=0.0)  # no length normalisation: plain saturation
    s = b.score_units(units, "gamma")
    idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    assert s[0] == 0.0
    assert s[1] == pytest.approx(idf * 3 * 2.2 / (3 + 1.2))


def test_rare_terms_weigh_more_than_common_ones() -> None:
    units = ["river bank loan", "river water", "river fish", "river boat"]
    s = LexicalBackend().score_units(units, "river loan")
    assert s[0] > max(s[1:])  # "loan" occurs once; "river" everywhere


def test_without_question_dense_sentences_first() -> None:
    units = ["the and of the it.", "Photosynthesis converts light into chemical energy."]
    s = LexicalBackend().score_units(units)
    assert s[1] > s[0]


def test_stems_and_bad_parameters() -> None:
    assert stems("The Photosynthesis of plants") == ["photos", "plants"]
    with pytest.raises(ValueError, match="k1"):
        LexicalBackend(k1=-1)
    with pytest.raises(ValueError, match="b must be"):
        LexicalBackend(b=1.5)


def test_by_name_in_the_compressor() -> None:
    text = "".join(UNITS) * 3
    out = PromptCompressor("lexical", rate=0.4).invoke(
        {"context": text, "question": "When did Curie win the Physics prize?"}
    )
    assert "1903" in out["context"]
    assert len(out["context"]) < len(text)
