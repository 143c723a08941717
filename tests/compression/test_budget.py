"""Units, protect and the shared budget fitter."""

from __future__ import annotations

import random

import pytest
from conftest import char_count, make_text, word_count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from green_chain.compression.budget import fit_budget, tolerance
from green_chain.compression.protect import compile_protect, protected_mask
from green_chain.compression.units import split_sentences, split_units, split_words


def test_units_join_back_to_text() -> None:
    text = "  First one. Second? Third!\n\nFourth line  here.  "
    for g in ("sentence", "word"):
        assert "".join(split_units(text, g)) == text  # type: ignore[arg-type]
    assert len(split_sentences(text)) == 4


def test_cjk_and_cyrillic_words() -> None:
    assert split_words("巴黎是法国的首都。") == list("巴黎是法国的首都。")
    assert split_words("Париж столица Франции.") == ["Париж ", "столица ", "Франции."]
    assert split_sentences("巴黎是首都。它很大。") == ["巴黎是首都。", "它很大。"]


def test_unknown_granularity() -> None:
    with pytest.raises(ValueError, match="granularity"):
        split_units("x", "paragraph")  # type: ignore[arg-type]


def test_overlong_sentence_is_cut() -> None:
    text = " ".join(["word"] * 2000)
    parts = split_sentences(text, max_chars=500)
    assert "".join(parts) == text
    assert max(len(p) for p in parts) <= 505


def _minified_json(n_chars: int = 26_000) -> str:
    import json

    rows, i = [], 0
    while len(json.dumps(rows, separators=(",", ":"))) < n_chars:
        rows.append({"id": i, "name": f"item{i}", "tags": ["a", "b"], "v": i * 1.5})
        i += 1
    return json.dumps(rows, separators=(",", ":"))


def _base64(n_bytes: int = 15_000) -> str:
    import base64

    rnd = random.Random(0)
    return base64.b64encode(bytes(rnd.randrange(256) for _ in range(n_bytes))).decode()


@pytest.mark.parametrize("make", [_minified_json, _base64])
def test_whitespace_free_text_has_cuttable_units(make) -> None:
    text = make()
    for g in ("word", "sentence"):
        units = split_units(text, g)  # type: ignore[arg-type]
        assert "".join(units) == text
        assert len(units) > 10
    assert max(len(w) for w in split_words(text)) <= 64
    assert len(split_words("a" * 130)) == 3  # no punctuation: cut at the length


def test_long_word_cut_after_punctuation() -> None:
    w = split_words('{"key":"value","other":[1,2,3]}' * 3, max_chars=20)
    assert all(len(x) <= 20 for x in w)
    assert w[0].endswith((",", ":", "]", "}"))
    with pytest.raises(ValueError, match="max_chars"):
        split_words("x", max_chars=0)


@pytest.mark.parametrize("make", [_minified_json, _base64])
@pytest.mark.parametrize("granularity", ["word", "sentence"])
@pytest.mark.parametrize("rate", [0.5, 0.9])
def test_whitespace_free_text_meets_budget(make, granularity: str, rate: float) -> None:
    text = make()
    _, _, target, fit = _fit(text, rate, char_count, granularity)
    assert fit.text
    assert abs(fit.tokens - target) <= tolerance(target)


def _fit(text: str, rate: float, count, granularity: str = "word", seed: int = 0):
    units = split_units(text, granularity)  # type: ignore[arg-type]
    rnd = random.Random(seed)
    scores = [rnd.random() for _ in units]
    target = max(1, round(rate * count(text)))
    return units, scores, target, fit_budget(units, scores, count, target)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_words=st.integers(min_value=150, max_value=4000),
    rate=st.floats(min_value=0.05, max_value=0.95),
    granularity=st.sampled_from(["word", "sentence"]),
    additive=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_fitter_hits_budget_within_tolerance(
    n_words: int, rate: float, granularity: str, additive: bool, seed: int
) -> None:
    count = word_count if additive else char_count
    text = make_text(n_words, seed)
    _, _, target, fit = _fit(text, rate, count, granularity, seed)
    assert abs(fit.tokens - target) <= tolerance(target), (fit.tokens, target)
    assert fit.tokens == count(fit.text)  # reported count is the exact count of the output


def test_fitter_keeps_order_and_highest_scores() -> None:
    units = [f"w{i} " for i in range(100)]
    scores = [float(i % 10) for i in range(100)]  # units ending in 9 score highest
    fit = fit_budget(units, scores, word_count, 10)
    kept = fit.text.split()
    assert kept == [f"w{i}" for i in range(9, 100, 10)]  # original order, best scores


def test_fitter_protect_wins_and_is_reported() -> None:
    units = [f"w{i} " for i in range(50)]
    prot = [i < 30 for i in range(50)]
    fit = fit_budget(units, [1.0] * 50, word_count, 10, protected=prot)
    assert fit.text.split() == [f"w{i}" for i in range(30)]
    assert fit.protected_overflow


def test_fitter_partial_sentence_fill() -> None:
    units = ["one two three four five six seven eight nine ten eleven twelve . "] * 3
    fit = fit_budget(units, [3.0, 2.0, 1.0], word_count, 20)
    assert abs(fit.tokens - 20) <= tolerance(20)
    assert fit.text.startswith(units[0].strip())


def test_fitter_passes_over_a_unit_too_large_for_the_gap() -> None:
    # one token per character; the second-best unit is one 50-character word, which no
    # partial fill can cut: smaller, lower-ranked units must fill the gap instead
    def chars(text: str) -> int:
        return len(text.replace(" ", ""))

    units = ["a" * 20 + " ", "b" * 50 + " "] + ["cc "] * 12
    scores = [10.0, 9.0] + [1.0 - 0.01 * i for i in range(12)]
    fit = fit_budget(units, scores, chars, 40)
    assert abs(fit.tokens - 40) <= tolerance(40), fit.text
    assert fit.kept[0] and not fit.kept[1]
    # the smaller units were taken best-ranked first
    small = fit.kept[2:]
    k = sum(small)
    assert k >= 1 and small == [True] * k + [False] * (12 - k)


def test_fitter_bad_arguments() -> None:
    with pytest.raises(ValueError, match="scores"):
        fit_budget(["a "], [1.0, 2.0], word_count, 1)
    with pytest.raises(ValueError, match="target_tokens"):
        fit_budget(["a "], [1.0], word_count, 0)


def test_protect_patterns_and_mask() -> None:
    pats = compile_protect(["numbers", "Eiffel", "a+b("])  # last: invalid regex -> literal
    text = "The tower was built in 1889 by Eiffel and a+b( stays."
    units = split_words(text)
    mask = protected_mask(text, units, pats)
    kept = {u.strip() for u, m in zip(units, mask, strict=True) if m}
    assert kept == {"1889", "Eiffel", "a+b("}
    with pytest.raises(TypeError):
        compile_protect([3])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        compile_protect([""])


def test_protect_code_and_entities() -> None:
    text = "use `pip install x` then ask Marie Curie about it."
    units = split_words(text)
    mask = protected_mask(text, units, compile_protect(["code", "entities"]))
    kept = " ".join(u.strip() for u, m in zip(units, mask, strict=True) if m)
    assert kept == "`pip install x` Marie Curie"


def test_embedding_backend_lexical_overlap_breaks_dense_ties() -> None:
    from green_chain.compression.backends.embedding import EmbeddingBackend, lexical_overlap

    class Flat:
        """Every text embeds to the same vector: dense relevance cannot tell them apart."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[1.0, 0.0] for _ in texts]

        def embed_query(self, text: str) -> list[float]:
            return [1.0, 0.0]

    units = ["The weather was mild.", "Tesla was born in Smiljan in 1856."]
    question = "Where was Tesla born?"
    assert lexical_overlap(units[1], question) == 1.0
    assert lexical_overlap(units[0], question) == 0.0
    scores = EmbeddingBackend(Flat()).score_units(units, question)
    assert scores[1] > scores[0]
    flat = EmbeddingBackend(Flat(), lexical_weight=0.0).score_units(units, question)
    assert flat[0] == flat[1]
    with pytest.raises(ValueError, match="lexical_weight"):
        EmbeddingBackend(Flat(), lexical_weight=-1)
