"""SelectiveBackend on a tiny random Llama (real batching code, fake weights)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import make_text

from green_chain.compression import PromptCompressor, tolerance
from green_chain.compression.backends.selective import SelectiveBackend
from green_chain.compression.units import split_words

torch = pytest.importorskip("torch")


def _reference(lm: Any, ids: list[int], prefix: list[int], chunk: int) -> list[float]:
    """Token-by-token surprisal, one unpadded chunk at a time (slow reference)."""
    out: list[float] = []
    for s in range(0, len(ids), chunk):
        row = prefix + ids[s : s + chunk]
        with torch.no_grad():
            logits = lm.model(torch.tensor([row])).logits[0]
        logp = torch.log_softmax(logits.float(), -1)
        for p in range(len(prefix), len(row)):
            out.append(-float(logp[p - 1, row[p]]))
    return out


def test_batched_pass_equals_reference(tiny_lm: Any) -> None:
    b = SelectiveBackend(tiny_lm, chunk_tokens=16, batch_size=3)
    ids = tiny_lm.tokenizer(make_text(70, 2), add_special_tokens=False)["input_ids"]
    got = b.token_surprisals(ids, "paris tower")
    ref = _reference(tiny_lm, ids, b._prefix_ids("paris tower"), 16)
    assert len(got) == len(ids)
    assert got == pytest.approx(ref, abs=1e-4)


def test_question_conditions_scores(tiny_lm: Any) -> None:
    b = SelectiveBackend(tiny_lm, chunk_tokens=32)
    units = split_words(make_text(40, 3))
    assert b.score_units(units, "paris") != b.score_units(units, None)


def test_scores_reduce_mean_vs_sum(tiny_lm: Any) -> None:
    units = ["paris france ", "the "]
    mean = SelectiveBackend(tiny_lm, reduce="mean").score_units(units)
    total = SelectiveBackend(tiny_lm, reduce="sum").score_units(units)
    for u, m, t in zip(units, mean, total, strict=True):
        n = len(tiny_lm.tokenizer(u, add_special_tokens=False)["input_ids"])
        assert t == pytest.approx(m * n)


def test_bad_arguments(tiny_lm: Any) -> None:
    with pytest.raises(ValueError, match="chunk_tokens"):
        SelectiveBackend(tiny_lm, chunk_tokens=1)
    with pytest.raises(ValueError, match="batch_size"):
        SelectiveBackend(tiny_lm, batch_size=0)
    with pytest.raises(ValueError, match="reduce"):
        SelectiveBackend(tiny_lm, reduce="max")  # type: ignore[arg-type]


def test_compressor_with_selective_hits_budget(tiny_lm: Any) -> None:
    tok = tiny_lm.tokenizer
    c = PromptCompressor(
        SelectiveBackend(tiny_lm, chunk_tokens=64, batch_size=2),
        rate=0.33,
        token_counter=tok,
        protect=["numbers"],
    )
    text = make_text(3000, 4)
    out = c.invoke({"context": text, "question": "when was the tower built"})["context"]
    before = len(tok.encode(text, add_special_tokens=False))
    target = round(0.33 * before)
    assert abs(len(tok.encode(out, add_special_tokens=False)) - target) <= tolerance(target)
    assert out.count("1889") == text.count("1889")  # protected numbers all survive


def test_contrast_scores_pool_by_sentence(tiny_lm: Any) -> None:
    from green_chain.compression.backends.selective import _sentence_of

    text = "paris is the capital of france . the river seine is in paris . it was built in 1889 ."
    units = split_words(text)
    sent = _sentence_of(units)
    assert sent[0] == 0 and sent[-1] == 2 and sorted(sent) == sent
    b = SelectiveBackend(tiny_lm, sentence_share=0.0)
    scores = b.score_units(units, "where is the seine")
    for k in set(sent):  # every word of a sentence scores its sentence's mean
        assert len({round(s, 9) for s, j in zip(scores, sent, strict=True) if j == k}) == 1
    with_q, count, _, _ = b._word_totals(units, "where is the seine")
    without_q, _, _, _ = b._word_totals(units, None)
    first = [i for i, j in enumerate(sent) if j == 0]
    gains = [without_q[i] - with_q[i] for i in first if count[i]]
    assert scores[0] == pytest.approx(sum(gains) / len(gains))


def test_surprisal_scoring_is_kept_for_comparison(tiny_lm: Any) -> None:
    units = split_words(make_text(40, 3))
    old = SelectiveBackend(tiny_lm, scoring="surprisal").score_units(units, "paris")
    new = SelectiveBackend(tiny_lm).score_units(units, "paris")
    assert old != new
    total, count, _, _ = SelectiveBackend(tiny_lm)._word_totals(units, "paris")
    assert old[0] == pytest.approx(total[0] / count[0])
    with pytest.raises(ValueError, match="scoring"):
        SelectiveBackend(tiny_lm, scoring="bm25")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sentence_share"):
        SelectiveBackend(tiny_lm, sentence_share=2.0)
