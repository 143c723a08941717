"""The ``learned`` backend: head file, sliding-window features, scoring, training pieces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from green_chain.compression import PromptCompressor, make_backend, tolerance
from green_chain.compression.backends.learned import (
    N_EXTRA,
    HeadFileError,
    LearnedBackend,
    LearnedHead,
    default_head_path,
)
from green_chain.compression.train_learned import evidence_labels, fit_head, metrics
from green_chain.compression.units import split_sentences, split_words

HIDDEN = 8
LAYERS = (1, 2)
DIM = HIDDEN * len(LAYERS) + 1 + N_EXTRA


class FakeTokenizer:
    """Word-piece-like fake: every 3 characters of a word are one id (ids 10..99)."""

    cls_token_id = 1
    sep_token_id = 2
    pad_token_id = 0

    def _ids(self, text: str) -> list[int]:
        out: list[int] = []
        for w in text.split():
            for s in range(0, len(w), 3):
                out.append(10 + sum(ord(c) for c in w[s : s + 3]) % 90)
        return out

    def __call__(self, text: Any, add_special_tokens: bool = False) -> dict[str, Any]:
        if isinstance(text, list):
            return {"input_ids": [self._ids(t) for t in text]}
        return {"input_ids": self._ids(text)}


@pytest.fixture(scope="module")
def tiny_encoder() -> tuple[Any, Any]:
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=100,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=512,
    )
    return FakeTokenizer(), BertModel(cfg).eval()


def _head(seed: int = 0, dim: int = DIM) -> LearnedHead:
    rng = np.random.default_rng(seed)
    return LearnedHead(
        rng.normal(size=dim), 0.1, rng.normal(size=dim), rng.uniform(0.5, 2, size=dim), LAYERS
    )


TEXT = (
    "The Eiffel tower in Paris was built in 1889 for the World Fair. "
    "It is 330 metres tall and   was the tallest structure until 1930.\n"
)


# -- head file -------------------------------------------------------------------
def test_head_roundtrip_and_probabilities(tmp_path: Path) -> None:
    head = _head()
    head.meta = {"seed": 0, "metrics": {"f1": 0.5}}
    path = head.save(tmp_path / "h.npz")
    assert path.stat().st_size < 20_000
    back = LearnedHead.load(path)
    assert back.layers == LAYERS and back.meta == head.meta
    x = np.random.default_rng(1).normal(size=(5, DIM))
    z = ((x - head.mean) / head.scale) @ head.coef + head.intercept
    np.testing.assert_allclose(back.predict_proba(x), 1 / (1 + np.exp(-z)), rtol=1e-5)


def test_missing_head_names_file_and_command(tmp_path: Path) -> None:
    with pytest.raises(HeadFileError, match=r"nope\.npz.*train_learned"):
        LearnedBackend(tmp_path / "nope.npz")


def test_corrupt_head_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(HeadFileError, match=r"bad\.npz is corrupt.*train_learned"):
        LearnedHead.load(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, coef=np.ones(3))
    with pytest.raises(HeadFileError, match="lacks arrays"):
        LearnedHead.load(partial)
    shapes = tmp_path / "shapes.npz"
    h = _head()
    np.savez(
        shapes,
        coef=h.coef,
        intercept=np.zeros(1),
        mean=np.zeros(3),
        scale=h.scale,
        layers=np.array(LAYERS),
        meta=np.asarray("{}"),
    )
    with pytest.raises(HeadFileError, match="inconsistent shapes"):
        LearnedHead.load(shapes)


def test_head_encoder_mismatch_is_clear(tiny_encoder: tuple[Any, Any]) -> None:
    b = LearnedBackend(_head(dim=DIM + 3), encoder=tiny_encoder)
    with pytest.raises(HeadFileError, match="expects"):
        b.score_units(split_words(TEXT), "When?")


# -- scoring ----------------------------------------------------------------------
def test_scores_are_probabilities_per_word(tiny_encoder: tuple[Any, Any]) -> None:
    b = LearnedBackend(_head(), encoder=tiny_encoder)
    units = [*split_words(TEXT), "   "]
    scores = b.score_units(units, "When was the tower built?")
    assert len(scores) == len(units)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[-1] == 0.0  # blank unit
    assert len(set(scores[:-1])) > 5  # words differ
    assert b.score_units(units, "When was the tower built?") == scores  # deterministic
    assert b.score_units(units, "How tall is it?") != scores  # question-aware
    assert len(b.score_units(units, None)) == len(units)
    assert b.score_units([], "q") == []


def test_sliding_windows_cover_long_text_within_length(tiny_encoder: tuple[Any, Any]) -> None:
    tok, model = tiny_encoder
    widths: list[int] = []

    class Spy:
        def parameters(self) -> Any:
            return model.parameters()

        def __call__(self, **kw: Any) -> Any:
            widths.append(int(kw["input_ids"].shape[1]))
            return model(**kw)

    b = LearnedBackend(
        _head(),
        encoder=(tok, Spy()),
        max_tokens=96,
        context_tokens=8,
        max_question_tokens=8,
        batch_size=3,
    )
    units = split_words(TEXT * 40)
    feats, mask = b.word_features(units, "When was the Eiffel tower built in Paris?")
    nonblank = [bool(u.strip()) for u in units]
    assert mask.tolist() == nonblank
    assert np.isfinite(feats).all() and not feats[~mask].any()
    assert (np.abs(feats[mask]).sum(axis=1) > 0).all()
    assert b.last_stats()["windows"] > 10
    assert max(widths) <= 96
    # every word is the core of exactly one window; inner windows carry context both sides
    word_ids = [tok._ids(u) for u in units]
    windows = b._windows(word_ids, budget=60)
    cores = [u for w in windows for u in w.core]
    assert cores == [i for i, ok in enumerate(nonblank) if ok]
    for w in windows:
        assert len(w.ids) <= 60
    for w in windows[1:-1]:
        first, last = w.spans[w.core[0]][0], w.spans[w.core[-1]][1]
        assert first > 0 and last < len(w.ids)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        LearnedBackend(_head(), batch_size=0)
    with pytest.raises(ValueError, match="max_tokens"):
        LearnedBackend(_head(), max_tokens=40)


def test_registered_and_hits_budget(tmp_path: Path, tiny_encoder: tuple[Any, Any]) -> None:
    path = _head().save(tmp_path / "h.npz")
    b = make_backend("learned", head_path=path, encoder=tiny_encoder)
    assert isinstance(b, LearnedBackend) and b.granularity == "sentence"
    c = PromptCompressor(b, rate=0.5, token_counter=lambda t: len(t.split()), min_tokens=0)
    text = TEXT * 6
    res = c.compress_text(text, "When was it built?")
    target = round(0.5 * len(text.split()))
    assert abs(res.tokens_after - target) <= tolerance(target)
    kept = res.text.split()
    it = iter(text.split())
    assert all(w in it for w in kept)  # original order


# -- training pieces ----------------------------------------------------------------
def test_metrics() -> None:
    m = metrics(np.array([1, 1, 0, 0], bool), np.array([1, 0, 0, 1], bool))
    assert m == {"accuracy": 0.5, "f1_kept": 0.5}


def test_fit_head_learns_separable_labels_deterministically() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)) * [1, 10, 1, 1, 0]
    y = (x[:, 0] + 0.1 * x[:, 1]) > 0
    h1 = fit_head(x, y, layers=(6,), seed=0, c=1.0)
    h2 = fit_head(x, y, layers=(6,), seed=0, c=1.0)
    np.testing.assert_array_equal(h1.coef, h2.coef)
    assert metrics(h1.predict_proba(x) >= 0.5, y)["accuracy"] > 0.95


def test_evidence_labels_mark_the_answer_sentence() -> None:
    text = "Paris is big. The tower was built in 1889 by Eiffel. It is tall. In 1889 again."
    words = split_words(text)
    kept = [
        w.strip() for w, k in zip(words, evidence_labels(text, ["1889", "nope"]), strict=True) if k
    ]
    assert kept == ["The", "tower", "was", "built", "in", "1889", "by", "Eiffel."]
    assert not any(evidence_labels(text, ["absent"]))
    assert len(evidence_labels(text, ["BUILT"])) == len(words)


def test_sentence_score_is_mean_of_word_scores(tiny_encoder: tuple[Any, Any]) -> None:
    b = LearnedBackend(_head(), encoder=tiny_encoder)
    sents = [*split_sentences(TEXT), "  "]
    words = [w for s in sents for w in split_words(s)]
    probs = b.word_scores(words, "When was the tower built?")
    scores = b.score_units(sents, "When was the tower built?")
    pos = 0
    for s, score in zip(sents, scores, strict=True):
        n = len(split_words(s))
        mine = [
            p for w, p in zip(words[pos : pos + n], probs[pos : pos + n], strict=True) if w.strip()
        ]
        assert score == pytest.approx(sum(mine) / len(mine) if mine else 0.0)
        pos += n
    assert scores[-1] == 0.0


def test_sentence_features_share_of_question_stems(tiny_encoder: tuple[Any, Any]) -> None:
    b = LearnedBackend(_head(), encoder=tiny_encoder)
    units = split_words("Paris has a tower. Rivers flow north.")
    feats, _ = b.word_features(units, "Which tower is in Paris?")
    overlap = feats[:, -2]
    assert overlap[0] == overlap[3] == pytest.approx(1.0)  # tower + paris in sentence one
    assert overlap[4] == overlap[6] == 0.0


# -- the committed head on real data -------------------------------------------------
@pytest.mark.integration
def test_committed_head_on_tune_items(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from green_chain.compression.qa_items import squad_items
    from green_chain.compression.train_learned import load_items, top_sentence_accuracy
    from green_chain.models.token_counters import resolve_token_counter

    head = LearnedHead.load(default_head_path())
    assert default_head_path().stat().st_size < 50_000
    assert "tune split" in head.meta["data"]
    test_ids = {r["id"] for r in squad_items("test")}
    train, val = load_items(int(head.meta["items_train"]), int(head.meta["items_validation"]))
    assert not test_ids & {r["id"] for r in train + val}
    backend = LearnedBackend()
    items = val[:12]
    acc = top_sentence_accuracy(backend, items)
    print(json.dumps({"top_sentence_accuracy": acc}))
    assert acc >= 0.5  # the evidence sentence ranks first far more often than by chance
    count = resolve_token_counter("smollm2-135m-instruct")
    c = PromptCompressor("learned", rate=0.5, token_counter="smollm2-135m-instruct")
    for r in items[:3]:
        out = c.invoke({"context": r["context"], "question": r["question"]})["context"]
        target = round(0.5 * count(r["context"]))
        assert abs(count(out) - target) <= tolerance(target)
