"""Multinomial logistic regression on sentence embeddings (plain numpy).

The logistic head of :class:`~green_chain.routing.classifier.ExampleClassifier`.
:func:`fit_softmax_regression` fits ``P(label | x) = softmax(W^T (x - mean) + b)`` by
minimising the mean cross-entropy plus ``l2 / 2 * ||W||^2`` (the intercept ``b`` is not
penalised) with accelerated gradient descent (Nesterov momentum with adaptive restart,
step ``1 / L`` from the data's Lipschitz bound); the features are centred on the training
mean first, which conditions the problem and decouples the intercept.

With ``l2=None`` the penalty is chosen on the training data alone: a seeded, label-
stratified ``folds``-fold cross-validation over ``l2_grid`` keeps the strength with the
smallest mean held-out cross-entropy (ties to the stronger penalty), then the model is
refitted on all the training data with it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: L2 strengths tried by the cross-validation (penalty on the *mean* cross-entropy).
DEFAULT_L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits ``z`` (n, classes)."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


@dataclass
class SoftmaxRegression:
    """A fitted multinomial logistic regression.

    Attributes:
        classes: The labels, in the column order of :meth:`predict_proba`.
        weights: (d, classes) weights on centred features.
        bias: (classes,) intercepts.
        mean: (d,) training mean subtracted from every input.
        l2: The L2 strength used.
        cv_log_loss: Mean held-out cross-entropy per tried strength (empty when ``l2``
            was given).
    """

    classes: list[str]
    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    l2: float
    cv_log_loss: dict[float, float] = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes) of the rows of ``x`` (n, d)."""
        return softmax((np.asarray(x, dtype=np.float64) - self.mean) @ self.weights + self.bias)


def _solve(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    l2: float,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    tol: float = 1e-6,
    max_iter: int = 5000,
) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) minimising mean cross-entropy + l2/2 ||W||^2 on centred ``x`` and labels ``y``."""
    n, d = x.shape
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    aug = np.hstack([x, np.ones((n, 1))])
    # Hessian of the mean softmax cross-entropy <= 0.5 * aug^T aug / n (per class block)
    lipschitz = 0.5 * float(np.linalg.eigvalsh(aug.T @ aug / n)[-1]) + l2
    step = 1.0 / lipschitz
    w = np.zeros((d, n_classes)) if start is None else start[0].copy()
    b = np.zeros(n_classes) if start is None else start[1].copy()
    w_prev, b_prev = w, b
    momentum = 1.0
    for _ in range(max_iter):
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * momentum * momentum)) / 2.0
        beta = (momentum - 1.0) / t_next
        vw, vb = w + beta * (w - w_prev), b + beta * (b - b_prev)
        residual = (softmax(x @ vw + vb) - onehot) / n
        gw, gb = x.T @ residual + l2 * vw, residual.sum(axis=0)
        w_prev, b_prev = w, b
        w, b = vw - step * gw, vb - step * gb
        if float(max(np.abs(gw).max(), np.abs(gb).max())) < tol:
            break
        # adaptive restart: drop the momentum when it points uphill
        if float((gw * (w - w_prev)).sum() + (gb * (b - b_prev)).sum()) > 0:
            momentum = 1.0
        else:
            momentum = t_next
    return w, b


def stratified_folds(labels: Sequence[int], folds: int, seed: int) -> list[np.ndarray]:
    """``folds`` index arrays: each label's items, in seeded order, dealt round robin."""
    by_label: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(int(lab), []).append(i)
    rng = random.Random(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    turn = 0
    for lab in sorted(by_label):
        members = by_label[lab]
        rng.shuffle(members)
        for i in members:
            parts[turn % folds].append(i)
            turn += 1
    return [np.asarray(sorted(p), dtype=np.int64) for p in parts]


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_softmax_regression(
    x: np.ndarray,
    labels: Sequence[str],
    *,
    l2: float | None = None,
    l2_grid: Sequence[float] = DEFAULT_L2_GRID,
    folds: int = 5,
    seed: int = 0,
) -> SoftmaxRegression:
    """Fit on rows ``x`` (n, d) and their ``labels``; ``l2=None`` chooses it by CV (module doc).

    Raises:
        ValueError: ``x`` and ``labels`` differ in length, fewer than two labels, a
            non-positive ``l2`` or grid strength, or ``folds < 2``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(labels):
        raise ValueError(f"x has shape {x.shape} for {len(labels)} labels")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("labels: need two or more distinct labels")
    if l2 is not None and not l2 > 0:
        raise ValueError(f"l2 must be > 0, got {l2}")
    if l2 is None and (not l2_grid or any(not s > 0 for s in l2_grid)):
        raise ValueError(f"l2_grid must hold strengths > 0, got {list(l2_grid)}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[lab] for lab in labels], dtype=np.int64)
    losses: dict[float, float] = {}
    if l2 is None:
        parts = [p for p in stratified_folds(y.tolist(), min(folds, len(y)), seed) if len(p)]
        fold_losses: dict[float, list[float]] = {float(s): [] for s in l2_grid}
        for part in parts:
            keep = np.ones(len(y), dtype=bool)
            keep[part] = False
            mean = x[keep].mean(axis=0)
            start = None
            for strength in sorted(fold_losses, reverse=True):  # warm start down the path
                start = _solve(x[keep] - mean, y[keep], len(classes), strength, start)
                proba = softmax((x[part] - mean) @ start[0] + start[1])
                fold_losses[strength].append(_log_loss(proba, y[part]))
        losses = {s: float(np.mean(v)) for s, v in fold_losses.items()}
        l2 = min(losses, key=lambda s: (round(losses[s], 9), -s))
    mean = x.mean(axis=0)
    w, b = _solve(x - mean, y, len(classes), float(l2))
    return SoftmaxRegression(classes, w, b, mean, float(l2), losses)


__all__ = [
    "DEFAULT_L2_GRID",
    "SoftmaxRegression",
    "fit_softmax_regression",
    "softmax",
    "stratified_folds",
]
