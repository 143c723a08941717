"""``learned`` backend: sentence relevance from one MiniLM pass and a trained word head.

The small bidirectional encoder (the packaged MiniLM) reads ``[CLS] question [SEP]
context [SEP]`` once (as a BERT sentence pair), a linear head gives every word a
probability of belonging to the sentence that answers the question, and a sentence
scores the mean probability of its words. The budget fitter then keeps the best
sentences. One encoder pass over the context replaces the ``embedding`` backend's
separate pass per sentence plus one for the question.

The head is a logistic regression trained on **question-answer evidence**: a word is
labelled 1 when it lies in the sentence holding the gold answer, on the ``tune``
split of ``green_chain.compression.qa_items`` only (SQuAD articles and NQ lines that
the compression experiment never tests on). Train it with::

    python -m green_chain.compression.train_learned --items 400 --seed 0 \\
        --out green_chain/compression/data/learned_head.npz

Per-word features: the mean hidden state of the word's tokens at the head's
``layers``, the cosine between the word's last-layer state and the mean question
state, :func:`surface_features` (position, tokens, digit, capital, the word's stem in
the question) and two features of the word's sentence (share of the question's
content stems in it; cosine of its mean word state to the question state). The
"last" state of the cosines is the deepest of ``layers``; the encoder is loaded with
only that many layers. Without a question the context is encoded alone and the
question features are 0 (scores stay usable but are less sharp).

Long texts: words are packed into windows that fit the encoder (``max_tokens``,
256 by default, MiniLM's trained length, question included); each window carries up
to ``context_tokens`` tokens of neighbouring words on each side as context, and only
its core words take their features from it, so every word is scored once with
context on both sides. Windows are encoded ``batch_size`` at a time.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from green_chain.compression.backends.base import CompressionBackend
from green_chain.compression.backends.words import stems
from green_chain.compression.units import split_sentences, split_words

TRAIN_COMMAND = (
    "python -m green_chain.compression.train_learned --items 400 --seed 0 "
    "--out green_chain/compression/data/learned_head.npz"
)
N_SURFACE = 5  # per-word surface features, see ``surface_features``
N_SENTENCE = 2  # features of the word's sentence: question-stem share, cosine to the question
N_EXTRA = N_SURFACE + N_SENTENCE  # features after the hidden states and the word cosine
_REQUIRED = ("coef", "intercept", "mean", "scale", "layers", "meta")
_lock = threading.Lock()
_encoders: dict[str, tuple[Any, Any]] = {}


def default_head_path() -> Path:
    """The committed head: ``green_chain/compression/data/learned_head.npz``."""
    return Path(__file__).resolve().parent.parent / "data" / "learned_head.npz"


def surface_features(
    word: str, position: int, n_tokens: int, question_stems: frozenset[str] = frozenset()
) -> list[float]:
    """Cheap per-word features: position (log of the word index, capped at 200), encoder
    tokens, has a digit, capitalized, and 1.0 when the word's content stem occurs in the
    question (``question_stems``, from ``backends.words.stems``)."""
    own = stems(word)
    return [
        math.log1p(min(position, 200)),
        float(n_tokens),
        float(any(c.isdigit() for c in word)),
        float(word[:1].isupper()),
        float(bool(own) and own[0] in question_stems),
    ]


class HeadFileError(ValueError):
    """The head file is missing or unreadable; the message names it and the training command."""


@dataclass
class LearnedHead:
    """A logistic-regression keep head over standardized per-word features.

    ``p(keep) = sigmoid(((x - mean) / scale) @ coef + intercept)``.

    Attributes:
        coef: Weights, one per feature.
        intercept: Bias.
        mean: Feature means (standardization).
        scale: Feature standard deviations (standardization).
        layers: Encoder hidden-state layers whose word vectors are concatenated
            (0 = embeddings, ``n`` = last layer); the question similarity comes last.
        meta: Training metadata (command, items, seed, teacher, encoder, date, metrics).
    """

    coef: Any
    intercept: float
    mean: Any
    scale: Any
    layers: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[0])

    def predict_proba(self, features: Any) -> Any:
        """Keep probability per row of ``features`` (shape ``(n, n_features)``)."""
        import numpy as np

        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        z = x @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))

    def save(self, path: str | Path) -> Path:
        """Write the head as ``.npz`` (float32 weights, metadata as a JSON string)."""
        import numpy as np

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez_compressed(
                f,
                coef=np.asarray(self.coef, dtype=np.float32),
                intercept=np.asarray([self.intercept], dtype=np.float32),
                mean=np.asarray(self.mean, dtype=np.float32),
                scale=np.asarray(self.scale, dtype=np.float32),
                layers=np.asarray(self.layers, dtype=np.int64),
                meta=np.asarray(json.dumps(self.meta, sort_keys=True)),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> LearnedHead:
        """Read a head written by :meth:`save`; raise :class:`HeadFileError` naming the file."""
        import numpy as np

        path = Path(path)
        hint = f"train one with: {TRAIN_COMMAND}"
        if not path.is_file():
            raise HeadFileError(f"learned compression head not found: {path}; {hint}")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in _REQUIRED if k not in z.files]
                if missing:
                    raise HeadFileError(
                        f"learned compression head {path} lacks arrays {missing}; {hint}"
                    )
                coef = z["coef"].astype(np.float64).ravel()
                mean = z["mean"].astype(np.float64).ravel()
                scale = z["scale"].astype(np.float64).ravel()
                intercept = float(z["intercept"].ravel()[0])
                layers = tuple(int(v) for v in z["layers"].ravel())
                meta = json.loads(str(z["meta"]))
        except HeadFileError:
            raise
        except Exception as exc:  # zip/npy/json errors of a corrupt file
            raise HeadFileError(
                f"learned compression head {path} is corrupt ({type(exc).__name__}: {exc}); {hint}"
            ) from exc
        if not (len(coef) == len(mean) == len(scale)) or len(coef) == 0 or not layers:
            raise HeadFileError(
                f"learned compression head {path} has inconsistent shapes "
                f"(coef {len(coef)}, mean {len(mean)}, scale {len(scale)}, layers {layers}); {hint}"
            )
        if not (np.all(np.isfinite(coef)) and np.all(scale > 0)):
            raise HeadFileError(f"learned compression head {path} has invalid values; {hint}")
        return cls(coef, intercept, mean, scale, layers, meta if isinstance(meta, dict) else {})


def _load_encoder(spec: str, depth: int | None = None) -> tuple[Any, Any]:
    """(tokenizer, BertModel) of a packaged sentence-transformers name or a local folder.

    ``depth`` loads only the first ``depth`` transformer layers (the head never reads
    deeper ones, so they would be computed for nothing).
    """
    key = f"{spec}@{depth}"
    with _lock:
        if key not in _encoders:
            from transformers import AutoModel, AutoTokenizer

            from green_chain.models.registry import ensure_offline, resolve_model

            ensure_offline()
            path = str(resolve_model(spec).path)
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModel.from_pretrained(path, local_files_only=True).eval()
            if depth is not None and depth < len(model.encoder.layer):
                model.encoder.layer = model.encoder.layer[:depth]
                model.config.num_hidden_layers = depth
            _encoders[key] = (tok, model)
        return _encoders[key]


@dataclass
class _Window:
    core: list[int]  # unit indices whose features come from this window
    ids: list[int]  # context ids (left context + core + right context)
    spans: dict[int, tuple[int, int]]  # core unit -> [start, end) in ids


class LearnedBackend(CompressionBackend):
    """Sentence score = mean evidence probability of its words (one MiniLM pass, a linear head).

    Args:
        head_path: The ``.npz`` head (default: the committed
            ``green_chain/compression/data/learned_head.npz``) or a :class:`LearnedHead`.
        encoder: Packaged encoder name or local folder of a BERT-like model, or a
            ``(tokenizer, model)`` pair (tests pass fakes).
        batch_size: Encoder windows per forward pass.
        max_tokens: Window length in tokens, special tokens and question included.
        context_tokens: Tokens of neighbouring words on each side of a window's core.
        max_question_tokens: The question is cut to this many tokens.
    """

    name = "learned"
    granularity = "sentence"

    def __init__(
        self,
        head_path: str | Path | LearnedHead | None = None,
        *,
        encoder: str | tuple[Any, Any] = "all-minilm-l6-v2",
        batch_size: int = 16,
        max_tokens: int = 256,
        context_tokens: int = 32,
        max_question_tokens: int = 48,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_tokens < 3 + max_question_tokens + 2 * context_tokens + 16:
            raise ValueError(
                f"max_tokens={max_tokens} leaves fewer than 16 core tokens after the question "
                f"({max_question_tokens}) and context ({context_tokens} per side)"
            )
        if context_tokens < 0 or max_question_tokens < 0:
            raise ValueError("context_tokens and max_question_tokens must be >= 0")
        if isinstance(head_path, LearnedHead):
            self.head: LearnedHead | None = head_path
            self.head_path: Path | None = None
        else:
            self.head = None
            self.head_path = Path(head_path) if head_path is not None else default_head_path()
            self.get_head()  # fail early with a clear message
        self._encoder_spec = encoder
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.context_tokens = context_tokens
        self.max_question_tokens = max_question_tokens
        self._stats: dict[str, Any] = {}

    def get_head(self) -> LearnedHead:
        """The head (loaded from ``head_path`` on first use)."""
        if self.head is None:
            assert self.head_path is not None
            self.head = LearnedHead.load(self.head_path)
        return self.head

    @property
    def encoder(self) -> tuple[Any, Any]:
        """``(tokenizer, model)``; loaded once per process for a name or folder."""
        if isinstance(self._encoder_spec, tuple):
            return self._encoder_spec
        depth = max(self.get_head().layers)
        return _load_encoder(self._encoder_spec, depth or None)

    # -- features -------------------------------------------------------------
    def _windows(self, word_ids: list[list[int]], budget: int) -> list[_Window]:
        core_max = budget - 2 * self.context_tokens
        windows: list[_Window] = []
        n = len(word_ids)
        i = 0
        while i < n:
            core: list[int] = []
            used = 0
            while i < n and (not core or used + len(word_ids[i]) <= core_max):
                if word_ids[i]:
                    core.append(i)
                    used += len(word_ids[i])
                i += 1
            if not core:
                continue
            left: list[int] = []
            lt = 0
            j = core[0] - 1
            while j >= 0 and lt + len(word_ids[j]) <= self.context_tokens:
                lt += len(word_ids[j])
                left.insert(0, j)
                j -= 1
            right: list[int] = []
            rt = 0
            j = core[-1] + 1
            while j < n and rt + len(word_ids[j]) <= self.context_tokens:
                rt += len(word_ids[j])
                right.append(j)
                j += 1
            ids: list[int] = []
            spans: dict[int, tuple[int, int]] = {}
            core_set = set(core)
            for u in left + core + right:
                start = len(ids)
                ids.extend(word_ids[u])
                if u in core_set:
                    spans[u] = (start, len(ids))
            windows.append(_Window(core, ids, spans))
        return windows

    def word_features(self, units: Sequence[str], question: str | None = None) -> tuple[Any, Any]:
        """Per-unit features and a mask of the units that have any (non-blank words).

        Returns:
            ``(features, mask)``: ``features`` has shape ``(len(units), n_features)``
            (zeros where ``mask`` is False): mean hidden state of the word's tokens for
            each of the head's ``layers``, cosine to the question, :func:`surface_features`,
            then two features of the word's sentence (``split_sentences`` of the joined
            units): the share of the question's content stems it contains and the cosine
            between its mean last-layer word state and the question state.
        """
        import numpy as np
        import torch

        head = self.get_head()
        tok, model = self.encoder
        layers = head.layers
        words = [u.strip() for u in units]
        nonblank = [i for i, w in enumerate(words) if w]
        q_stems = frozenset(stems(question)) if question else frozenset()
        q_ids: list[int] = []
        if question and question.strip():
            q_ids = [int(t) for t in tok(question.strip(), add_special_tokens=False)["input_ids"]]
            q_ids = q_ids[: self.max_question_tokens]
        cls_id, sep_id = int(tok.cls_token_id), int(tok.sep_token_id)
        pad_id = int(tok.pad_token_id or 0)
        prefix = [cls_id, *q_ids, sep_id] if q_ids else [cls_id]
        budget = self.max_tokens - len(prefix) - 1
        cap = max(1, min(self.max_tokens // 4, budget - 2 * self.context_tokens))
        word_ids: list[list[int]] = [[] for _ in units]
        if nonblank:
            enc = tok([words[i] for i in nonblank], add_special_tokens=False)["input_ids"]
            for i, ids in zip(nonblank, enc, strict=True):
                word_ids[i] = [int(t) for t in ids][:cap]  # very long "words" are cut
        windows = self._windows(word_ids, budget)
        rank = {i: k for k, i in enumerate(nonblank)}
        dim = head.n_features
        feats = np.zeros((len(units), dim), dtype=np.float64)
        mask = np.zeros(len(units), dtype=bool)
        device = next(model.parameters()).device
        word_last: dict[int, Any] = {}
        q_first: Any = None
        for b in range(0, len(windows), self.batch_size):
            batch = windows[b : b + self.batch_size]
            rows = [[*prefix, *w.ids, sep_id] for w in batch]
            width = max(len(r) for r in rows)
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attn = torch.zeros((len(rows), width), dtype=torch.long)
            types = torch.zeros((len(rows), width), dtype=torch.long)
            for r, row in enumerate(rows):
                input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
                attn[r, : len(row)] = 1
                if q_ids:
                    types[r, len(prefix) : len(row)] = 1
            with torch.inference_mode():
                out = model(
                    input_ids=input_ids.to(device),
                    attention_mask=attn.to(device),
                    token_type_ids=types.to(device),
                    output_hidden_states=True,
                )
                hidden = torch.cat([out.hidden_states[k] for k in layers], dim=-1).float().cpu()
                last = out.hidden_states[max(layers)].float().cpu()
            hidden_np = hidden.numpy()
            last_np = last.numpy()
            for r, w in enumerate(batch):
                qvec = last_np[r, 1 : 1 + len(q_ids)].mean(axis=0) if q_ids else None
                if q_first is None:
                    q_first = qvec
                off = len(prefix)
                for u in w.core:
                    s, e = w.spans[u]
                    vec = hidden_np[r, off + s : off + e].mean(axis=0)
                    sim = 0.0
                    wv = last_np[r, off + s : off + e].mean(axis=0)
                    word_last[u] = wv
                    if qvec is not None:
                        denom = float(np.linalg.norm(wv) * np.linalg.norm(qvec))
                        sim = float(wv @ qvec) / denom if denom > 0 else 0.0
                    if vec.shape[0] + 1 + N_EXTRA != dim:
                        raise HeadFileError(
                            f"head expects {dim} features but the encoder gives "
                            f"{vec.shape[0] + 1 + N_EXTRA} (layers {layers}); "
                            f"retrain with: {TRAIN_COMMAND}"
                        )
                    h = vec.shape[0]
                    feats[u, :h] = vec
                    feats[u, h] = sim
                    feats[u, h + 1 : h + 1 + N_SURFACE] = surface_features(
                        words[u], rank[u], len(word_ids[u]), q_stems
                    )
                    mask[u] = True
        if word_last:
            self._sentence_features(units, feats, word_last, q_stems, q_first)
        self._stats = {
            "windows": len(windows),
            "encoder_tokens": sum(len(prefix) + len(w.ids) + 1 for w in windows),
        }
        return feats, mask

    @staticmethod
    def _sentence_features(
        units: Sequence[str],
        feats: Any,
        word_last: dict[int, Any],
        q_stems: frozenset[str],
        qvec: Any,
    ) -> None:
        """Fill the last ``N_SENTENCE`` columns of ``feats`` for the units in ``word_last``."""
        import numpy as np

        bounds: list[int] = []
        pos = 0
        for sent in split_sentences("".join(units)):
            pos += len(sent)
            bounds.append(pos)
        members: dict[int, list[int]] = {}
        pos = 0
        k = 0
        for u, text in enumerate(units):
            while k < len(bounds) - 1 and pos >= bounds[k]:
                k += 1
            if u in word_last:
                members.setdefault(k, []).append(u)
            pos += len(text)
        for group in members.values():
            own = {t for u in group for t in stems(units[u])}
            overlap = len(q_stems & own) / len(q_stems) if q_stems else 0.0
            cos = 0.0
            if qvec is not None:
                svec = np.mean([word_last[u] for u in group], axis=0)
                denom = float(np.linalg.norm(svec) * np.linalg.norm(qvec))
                cos = float(svec @ qvec) / denom if denom > 0 else 0.0
            feats[group, -N_SENTENCE] = overlap
            feats[group, -N_SENTENCE + 1] = cos

    def word_scores(self, words: Sequence[str], question: str | None = None) -> list[float]:
        """Evidence probability in [0, 1] per word unit; blank units (no tokens) get 0."""
        if not words:
            return []
        feats, mask = self.word_features(words, question)
        probs = self.get_head().predict_proba(feats)
        return [
            float(p) if m and math.isfinite(float(p)) else 0.0
            for p, m in zip(probs, mask, strict=True)
        ]

    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        """Per unit (a sentence, or a single word): the mean evidence probability of its words.

        Units without words (blank) score 0. All units are encoded in one pass.
        """
        if not units:
            return []
        words: list[str] = []
        owner: list[int] = []
        for i, u in enumerate(units):
            for w in split_words(u):
                words.append(w)
                owner.append(i)
        probs = self.word_scores(words, question)
        total = [0.0] * len(units)
        n = [0] * len(units)
        for i, w, p in zip(owner, words, probs, strict=True):
            if w.strip():
                total[i] += p
                n[i] += 1
        return [t / k if k else 0.0 for t, k in zip(total, n, strict=True)]

    def last_stats(self) -> dict[str, Any]:
        return dict(self._stats)
