"""The numpy multinomial logistic regression behind ExampleClassifier(head="logistic")."""

from __future__ import annotations

import numpy as np
import pytest

from green_chain.routing.softmax import (
    fit_softmax_regression,
    softmax,
    stratified_folds,
)


def blobs(n: int = 120, d: int = 8, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d))
    y = rng.integers(0, 3, n)
    x = centres[y] + rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, ["abc"[i] for i in y]


def gradient(model, x: np.ndarray, labels: list[str]) -> float:
    """Largest entry of the objective's gradient at the fitted model."""
    y = np.asarray([model.classes.index(lab) for lab in labels])
    onehot = np.eye(len(model.classes))[y]
    residual = (model.predict_proba(x) - onehot) / len(y)
    gw = (x - model.mean).T @ residual + model.l2 * model.weights
    return float(max(np.abs(gw).max(), np.abs(residual.sum(axis=0)).max()))


@pytest.mark.parametrize("l2", [1e-3, 1e-1])
def test_fit_reaches_the_optimum(l2: float) -> None:
    x, labels = blobs()
    model = fit_softmax_regression(x, labels, l2=l2)
    assert model.classes == ["a", "b", "c"] and model.l2 == l2
    assert gradient(model, x, labels) < 1e-5
    proba = model.predict_proba(x)
    assert proba.shape == (120, 3) and np.allclose(proba.sum(axis=1), 1.0)
    right = np.mean(
        [model.classes[i] == lab for i, lab in zip(proba.argmax(1), labels, strict=True)]
    )
    assert right > 0.8


def test_cross_validation_prefers_a_strong_penalty_on_random_labels() -> None:
    x, _ = blobs(seed=1)
    noise = ["ab"[i] for i in np.random.default_rng(2).integers(0, 2, len(x))]
    model = fit_softmax_regression(x, noise, l2_grid=(1e-4, 1.0), folds=4)
    assert model.l2 == 1.0  # nothing to learn: the flattest model predicts best
    assert set(model.cv_log_loss) == {1e-4, 1.0}
    assert model.cv_log_loss[1.0] < model.cv_log_loss[1e-4]
    x, labels = blobs(seed=3)
    assert fit_softmax_regression(x, labels, l2_grid=(1e-3, 10.0)).l2 == 1e-3


def test_folds_are_stratified_and_cover_every_item() -> None:
    labels = [0] * 10 + [1] * 5
    parts = stratified_folds(labels, 5, seed=0)
    assert sorted(int(i) for p in parts for i in p) == list(range(15))
    for p in parts:
        assert sum(labels[i] == 1 for i in p) == 1 and len(p) == 3


def test_softmax_is_stable_for_large_logits() -> None:
    p = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    assert np.allclose(p, [[1.0, 0.0], [0.5, 0.5]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"l2": -1.0}, "l2 must"),
        ({"l2_grid": ()}, "l2_grid"),
        ({"folds": 1}, "folds"),
    ],
)
def test_bad_arguments(kwargs, match: str) -> None:
    x, labels = blobs()
    with pytest.raises(ValueError, match=match):
        fit_softmax_regression(x, labels, **kwargs)
    with pytest.raises(ValueError, match="labels"):
        fit_softmax_regression(x, ["a"] * len(x))
    with pytest.raises(ValueError, match="shape"):
        fit_softmax_regression(x, labels[:-1])
