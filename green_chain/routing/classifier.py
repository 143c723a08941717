"""``ExampleClassifier``: a first tier that answers classification requests with no LLM.

A head over sentence embeddings (the packaged MiniLM by default, any LangChain
``Embeddings``; unit-normalised) of labelled examples:

* ``head="logistic"`` (the default): multinomial logistic regression
  (:mod:`green_chain.routing.softmax`), L2 strength ``l2`` or, by default, chosen by a
  ``cv_folds``-fold cross-validation on the training part only; raw confidence = the
  top class probability;
* ``head="knn"``: the label with the largest vote among the ``k`` most similar
  examples (cosine similarity; ties go to the larger summed similarity); raw
  confidence = that label's vote share.

On the benchmark's SST-2, AG News and TREC calibration items the logistic head
answered more items at the same accuracy (MiniLM neighbours are topical; a linear head
reads sentiment and question type); see
:mod:`green_chain.experiments.first_tier_settings`.

For a request it returns the head's label and a calibrated confidence, and answers
only when that confidence clears a threshold chosen for a quality floor; otherwise it
declines and the router's LLM tiers answer.

Fitting (:meth:`ExampleClassifier.fit`) holds part of the examples aside:

1. the head is fitted on the training part only (the held-aside items are never
   its training examples, so the calibration is honest);
2. raw confidence on each held-aside item (above);
3. calibration: isotonic regression (pool-adjacent-violators) of "the label was
   right" on the raw confidence of the held-aside items gives ``confidence`` =
   estimated P(right | raw confidence), non-decreasing in the raw confidence;
4. threshold: the lowest calibrated confidence ``t`` such that the held-aside
   items with ``confidence >= t`` are right at a rate ``>= quality_floor`` (the
   point estimate, or its one-sided Wilson lower bound with
   ``confidence_level``), i.e. the largest coverage meeting the floor; when no
   ``t`` meets it the classifier never answers (``threshold = inf``);
5. out-of-domain guard: a request whose nearest example is less similar than
   every held-aside item's nearest example (``min_similarity``) is declined.

The held-aside figures are in :attr:`ExampleClassifier.calibration`;
:meth:`ExampleClassifier.with_floor` re-runs steps 3-5 for another floor without
refitting the head.
"""

from __future__ import annotations

import copy
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.embeddings import Embeddings
from langchain_core.runnables import Runnable, RunnableConfig

from green_chain.routing.softmax import (
    DEFAULT_L2_GRID,
    SoftmaxRegression,
    fit_softmax_regression,
)
from green_chain.routing.tier import TierAnswer, request_text

#: The heads :class:`ExampleClassifier` takes.
HEADS = ("knn", "logistic")


def isotonic_fit(x: Sequence[float], y: Sequence[float]) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators: a non-decreasing step fit of ``y`` on ``x``.

    Returns ``(xs, ys)``: the distinct ``x`` values ascending and the fitted value at each.
    """
    if len(x) != len(y) or not x:
        raise ValueError("isotonic_fit needs equally long, non-empty x and y")
    groups: dict[float, list[float]] = {}
    for xi, yi in zip(x, y, strict=True):
        groups.setdefault(float(xi), []).append(float(yi))
    xs = sorted(groups)
    blocks: list[list[float]] = []  # [sum, count, first index, last index]
    for i, xv in enumerate(xs):
        blocks.append([sum(groups[xv]), float(len(groups[xv])), i, i])
        while len(blocks) > 1 and (blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]):
            s, c, lo, _ = blocks.pop(-2)
            blocks[-1] = [blocks[-1][0] + s, blocks[-1][1] + c, lo, blocks[-1][3]]
    ys = [0.0] * len(xs)
    for s, c, lo, hi in blocks:
        for i in range(int(lo), int(hi) + 1):
            ys[i] = s / c
    return xs, ys


def isotonic_predict(xs: Sequence[float], ys: Sequence[float], value: float) -> float:
    """The step fit at ``value`` (the fitted value of the largest ``xs <= value``; clipped)."""
    i = int(np.searchsorted(np.asarray(xs), value, side="right")) - 1
    return float(ys[max(0, min(i, len(ys) - 1))])


def wilson_lower(successes: int, n: int, level: float) -> float:
    """One-sided Wilson lower bound of a success rate at confidence ``level``."""
    from statistics import NormalDist

    if n == 0:
        return 0.0
    z = NormalDist().inv_cdf(level)
    p = successes / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / denom


def _check_floor(quality_floor: float, confidence_level: float | None) -> None:
    if not 0.0 < quality_floor <= 1.0:
        raise ValueError(f"quality_floor must be in (0, 1], got {quality_floor}")
    if confidence_level is not None and not 0.5 <= confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in [0.5, 1), got {confidence_level}")


@dataclass
class ClassifierCalibration:
    """Held-aside figures of a fitted :class:`ExampleClassifier`.

    ``coverage`` is the share of held-aside items it would answer and
    ``answered_accuracy`` the share of those it got right (``None`` when it
    answers none); ``accuracy`` is the head's accuracy on all of them. ``head`` is
    ``"knn"`` or ``"logistic"``; for the logistic head ``l2`` is the L2 strength used and
    ``cv_log_loss`` the cross-validated cross-entropy per strength tried (keys as text).
    """

    n_train: int
    n_holdout: int
    quality_floor: float
    confidence_level: float | None
    threshold: float
    min_similarity: float
    coverage: float
    answered_accuracy: float | None
    accuracy: float
    calibration_x: list[float] = field(default_factory=list)
    calibration_y: list[float] = field(default_factory=list)
    head: str = "knn"
    k: int | None = None
    l2: float | None = None
    cv_log_loss: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExampleClassifier(Runnable[Any, TierAnswer]):
    """A calibrated example classifier (k-NN or logistic head) for a router's first tier.

    Args:
        embeddings: Any LangChain ``Embeddings`` (default: the packaged MiniLM).
        head: ``"logistic"`` (multinomial logistic regression, the default) or
            ``"knn"`` (vote of the ``k`` nearest examples); see the module doc.
        k: Neighbours voting (``head="knn"``).
        l2: L2 strength of the logistic head (on the mean cross-entropy); ``None``:
            chosen from ``l2_grid`` by cross-validation on the training part.
        l2_grid: Strengths the cross-validation tries.
        cv_folds: Folds of that cross-validation (>= 2).
        input_to_text: Reads the request text from an input (default: the last
            human message of the input read as chat messages).
        answer_format: Turns a label into the answer returned (default: the label).
    """

    name: str | None = "ExampleClassifier"

    def __init__(
        self,
        embeddings: Embeddings | None = None,
        *,
        head: str = "logistic",
        k: int = 10,
        l2: float | None = None,
        l2_grid: Sequence[float] = DEFAULT_L2_GRID,
        cv_folds: int = 5,
        input_to_text: Callable[[Any], str] | None = None,
        answer_format: Callable[[str], Any] | None = None,
    ) -> None:
        if head not in HEADS:
            raise ValueError(f"head must be one of {list(HEADS)}, got {head!r}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if l2 is not None and not l2 > 0:
            raise ValueError(f"l2 must be > 0 (or None: chosen by cross-validation), got {l2}")
        if not l2_grid or any(not s > 0 for s in l2_grid):
            raise ValueError(f"l2_grid must hold strengths > 0, got {list(l2_grid)}")
        if cv_folds < 2:
            raise ValueError(f"cv_folds must be >= 2, got {cv_folds}")
        self._embeddings = embeddings
        self.head = head
        self.k = k
        self.l2 = l2
        self.l2_grid = tuple(float(s) for s in l2_grid)
        self.cv_folds = cv_folds
        self._model: SoftmaxRegression | None = None
        self.input_to_text = input_to_text or request_text
        self.answer_format = answer_format
        self._vectors: np.ndarray | None = None
        self._labels: list[str] = []
        self._cal_x: list[float] = []
        self._cal_y: list[float] = []
        #: held-aside outcomes of the fitted head: raw confidence, right (1/0), nearest
        #: similarity, and the number of training examples
        self._held: tuple[list[float], list[float], list[float], int] = ([], [], [], 0)
        self.calibration: ClassifierCalibration | None = None

    @property
    def embeddings(self) -> Embeddings:
        if self._embeddings is None:
            from green_chain.models import LocalEmbeddings

            self._embeddings = LocalEmbeddings()
        return self._embeddings

    @property
    def fitted(self) -> bool:
        return self.calibration is not None

    @property
    def threshold(self) -> float:
        """The calibrated confidence needed to answer (``inf``: never answers)."""
        if self.calibration is None:
            raise RuntimeError("ExampleClassifier is not fitted; call fit(texts, labels) first")
        return self.calibration.threshold

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        x = np.asarray(self.embeddings.embed_documents(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms > 0, norms, 1.0)  # type: ignore[no-any-return]

    def _vote(self, sims: np.ndarray, labels: Sequence[str]) -> tuple[str, float, float]:
        """(label, raw vote share, nearest similarity) from one row of similarities."""
        k = min(self.k, len(labels))
        nearest = np.argsort(-sims, kind="stable")[:k]
        votes: Counter[str] = Counter()
        weight: dict[str, float] = {}
        for i in nearest:
            votes[labels[i]] += 1
            weight[labels[i]] = weight.get(labels[i], 0.0) + float(sims[i])
        label = max(votes, key=lambda lab: (votes[lab], weight[lab]))
        return label, votes[label] / k, float(sims[nearest[0]])

    def _predict(self, v: np.ndarray) -> list[tuple[str, float, float]]:
        """(label, raw confidence, nearest similarity) per row of unit vectors ``v``."""
        assert self._vectors is not None
        sims = v @ self._vectors.T
        if self._model is None:
            return [self._vote(row, self._labels) for row in sims]
        proba = self._model.predict_proba(v)
        top = proba.argmax(axis=1)
        return [
            (self._model.classes[int(c)], float(proba[i, c]), float(sims[i].max()))
            for i, c in enumerate(top)
        ]

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        quality_floor: float = 0.95,
        holdout: float | tuple[Sequence[str], Sequence[str]] = 0.3,
        confidence_level: float | None = None,
        seed: int = 0,
    ) -> ExampleClassifier:
        """Fit the head and calibrate confidence and threshold (see module doc).

        Args:
            texts, labels: Labelled examples (two or more distinct labels).
            quality_floor: Accuracy the answered held-aside items must reach (0-1].
            holdout: Share of ``texts`` held aside (0-1, a random split with
                ``seed``), or explicit held-aside ``(texts, labels)``.
            confidence_level: Use the one-sided Wilson lower bound at this level
                (e.g. 0.9) instead of the point estimate of the accuracy.
            seed: Seed of the random split.
        """
        texts, labels = list(texts), [str(lab) for lab in labels]
        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts and {len(labels)} labels")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be strings")
        _check_floor(quality_floor, confidence_level)
        if isinstance(holdout, tuple):
            hold_texts, hold_labels = list(holdout[0]), [str(lab) for lab in holdout[1]]
            if len(hold_texts) != len(hold_labels):
                raise ValueError(
                    f"holdout has {len(hold_texts)} texts and {len(hold_labels)} labels"
                )
            train_texts, train_labels = texts, labels
        else:
            if not 0.0 < float(holdout) < 1.0:
                raise ValueError(
                    f"holdout must be a share in (0, 1) or (texts, labels), got {holdout}"
                )
            order = list(range(len(texts)))
            random.Random(seed).shuffle(order)
            n_hold = round(float(holdout) * len(texts))
            hold, train = order[:n_hold], order[n_hold:]
            hold_texts, hold_labels = [texts[i] for i in hold], [labels[i] for i in hold]
            train_texts, train_labels = [texts[i] for i in train], [labels[i] for i in train]
        if not hold_texts or not train_texts:
            raise ValueError(
                f"holdout leaves {len(train_texts)} training and {len(hold_texts)} held-aside "
                "examples; both must be non-empty"
            )
        if len(set(train_labels)) < 2:
            raise ValueError("labels: the training examples need two or more distinct labels")

        vectors = self._embed(train_texts + hold_texts)
        train_v, hold_v = vectors[: len(train_texts)], vectors[len(train_texts) :]
        self.calibration = None  # a failed refit leaves no stale calibration
        self._vectors, self._labels = train_v, train_labels
        self._model = None
        if self.head == "logistic":
            self._model = fit_softmax_regression(
                train_v,
                train_labels,
                l2=self.l2,
                l2_grid=self.l2_grid,
                folds=self.cv_folds,
                seed=seed,
            )
        raw, right, nearest = [], [], []
        for (label, share, top), truth in zip(self._predict(hold_v), hold_labels, strict=True):
            raw.append(share)
            right.append(1.0 if label == truth else 0.0)
            nearest.append(top)
        self._held = (raw, right, nearest, len(train_texts))
        return self._calibrate(quality_floor, confidence_level)

    def with_floor(
        self, quality_floor: float, confidence_level: float | None = None
    ) -> ExampleClassifier:
        """A copy whose threshold is chosen for another floor (or level) on the same
        held-aside items; the head is not refitted and nothing is embedded again."""
        if self.calibration is None:
            raise RuntimeError("ExampleClassifier is not fitted; call fit(texts, labels) first")
        _check_floor(quality_floor, confidence_level)
        return copy.copy(self)._calibrate(quality_floor, confidence_level)

    def _calibrate(self, quality_floor: float, confidence_level: float | None) -> ExampleClassifier:
        """Steps 3-5 of the module doc on the held-aside outcomes of the fitted head."""
        raw, right, nearest, n_train = self._held
        xs, ys = isotonic_fit(raw, right)
        calibrated = np.asarray([isotonic_predict(xs, ys, r) for r in raw])
        correct = np.asarray(right)
        threshold = math.inf
        for t in sorted(set(calibrated.tolist())):
            answered = calibrated >= t
            n, hits = int(answered.sum()), int(correct[answered].sum())
            rate = wilson_lower(hits, n, confidence_level) if confidence_level else hits / n
            if rate >= quality_floor:
                threshold = float(t)
                break
        answered = calibrated >= threshold
        self._cal_x, self._cal_y = xs, ys
        self.calibration = ClassifierCalibration(
            n_train=n_train,
            n_holdout=len(raw),
            quality_floor=quality_floor,
            confidence_level=confidence_level,
            threshold=threshold,
            min_similarity=float(min(nearest)),
            coverage=float(answered.mean()),
            answered_accuracy=float(correct[answered].mean()) if answered.any() else None,
            accuracy=float(correct.mean()),
            calibration_x=list(xs),
            calibration_y=list(ys),
            head=self.head,
            k=self.k if self.head == "knn" else None,
            l2=self._model.l2 if self._model is not None else None,
            cv_log_loss=(
                {f"{s:g}": v for s, v in self._model.cv_log_loss.items()}
                if self._model is not None
                else {}
            ),
        )
        return self

    def classify(self, texts: Sequence[str]) -> list[TierAnswer]:
        """A :class:`TierAnswer` per text (``answer`` set only when confident)."""
        if self.calibration is None or self._vectors is None:
            raise RuntimeError("ExampleClassifier is not fitted; call fit(texts, labels) first")
        cal = self.calibration
        out = []
        for label, share, top in self._predict(self._embed(texts)):
            confidence = isotonic_predict(self._cal_x, self._cal_y, share)
            if top < cal.min_similarity:
                reason = f"nearest example similarity {top:.3f} < {cal.min_similarity:.3f}"
                answer = None
            elif confidence >= cal.threshold:
                reason = f"confidence {confidence:.3f} >= threshold {cal.threshold:.3f}"
                answer = self.answer_format(label) if self.answer_format else label
            else:
                reason = f"confidence {confidence:.3f} < threshold {cal.threshold:.3f}"
                answer = None
            out.append(
                TierAnswer(
                    answer=answer,
                    confidence=confidence,
                    threshold=cal.threshold,
                    label=label,
                    reason=reason,
                )
            )
        return out

    def _run(self, input: Any, run_manager: CallbackManagerForChainRun) -> TierAnswer:
        return self.classify([self.input_to_text(input)])[0]

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> TierAnswer:
        """Classify one request (a string, messages, a prompt value ...)."""
        return self._call_with_config(
            self._run, input, config, run_type="chain", serialized={"name": "ExampleClassifier"}
        )


__all__ = [
    "HEADS",
    "ClassifierCalibration",
    "ExampleClassifier",
    "isotonic_fit",
    "isotonic_predict",
    "wilson_lower",
]
