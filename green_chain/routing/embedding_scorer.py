"""A learned scorer on sentence embeddings of the whole conversation.

Features are the packaged MiniLM embeddings (``LocalEmbeddings``, 384 dims) of
:func:`~green_chain.routing.scorers.conversation_text` — every turn, not only the
last one. Two classifiers, both plain numpy:

* ``"logistic"``: L2-regularised logistic regression fitted by Newton's method; the
  default penalty scales with the training set (``l2 = min(1, 0.01 * n)``) so that a
  handful of examples is not flattened to the prior;
* ``"knn"``: the (distance-weighted, Laplace-smoothed) share of good-enough labels
  among the ``k`` nearest training requests by cosine similarity.

Labels may have one column (cheapest model good enough) or one column per cheaper
model (``labels[:, i]`` = model ``i`` good enough); see
:mod:`green_chain.routing.scorers` for how routers use them. The fitted scorer
saves to a small ``.npz`` file of plain arrays (no pickle).

After fitting, the scorer checks that it separates its own training data: when the
mean probability of the good-enough requests is less than ``SEPARATION_MIN`` above that
of the others (or one class is missing), it warns with :class:`ScorerFitWarning`, since
any threshold would then route all requests or none.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.messages import BaseMessage

from green_chain.routing.scorers import RouteScorer, as_messages, conversation_text, ladder

_FORMAT = "green-chain/embedding-scorer/1"

#: Least gap between the mean training probability of good-enough requests and of the
#: others for a fitted scorer to count as separating its training data.
SEPARATION_MIN = 0.1


class ScorerFitWarning(UserWarning):
    """A fitted scorer cannot separate its own training data."""


def auto_l2(n: int) -> float:
    """The default L2 penalty for ``n`` training requests: ``min(1, 0.01 * n)``."""
    return min(1.0, 0.01 * n)


def _default_embeddings() -> Embeddings:
    from green_chain.models import LocalEmbeddings  # heavy; only when needed

    emb: Embeddings = LocalEmbeddings()
    return emb


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 50) -> np.ndarray:
    """Weights (d+1,) of an L2 logistic regression, last entry the intercept."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0  # no penalty on the intercept
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return w


class EmbeddingScorer(RouteScorer):
    """Logistic-regression or kNN scorer on embeddings of the whole conversation.

    Args:
        embeddings: A LangChain ``Embeddings``; default the packaged MiniLM
            (``green_chain.models.LocalEmbeddings``), created on first use.
        method: ``"logistic"`` or ``"knn"``.
        l2: L2 penalty of the logistic regression (on embeddings of unit norm);
            ``None`` (default): :func:`auto_l2` of the training set size.
        k: Neighbours for ``"knn"``.
    """

    name = "embedding"

    def __init__(
        self,
        embeddings: Embeddings | None = None,
        *,
        method: Literal["logistic", "knn"] = "logistic",
        l2: float | None = None,
        k: int = 15,
    ) -> None:
        if method not in ("logistic", "knn"):
            raise ValueError(f"method must be 'logistic' or 'knn', got {method!r}")
        if l2 is not None and l2 < 0:
            raise ValueError(f"l2 must be >= 0 or None, got {l2}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self._embeddings = embeddings
        self.method = method
        self.l2 = l2
        self.k = k
        self.weights: np.ndarray | None = None  # (columns, d+1) for logistic
        self.train_x: np.ndarray | None = None  # (n, d) for knn
        self.train_y: np.ndarray | None = None  # (n, columns) for knn
        self.name = f"embedding:{method}"

    @property
    def embeddings(self) -> Embeddings:
        if self._embeddings is None:
            self._embeddings = _default_embeddings()
        return self._embeddings

    @property
    def fitted(self) -> bool:
        return self.weights is not None or self.train_x is not None

    @property
    def n_columns(self) -> int:
        """Number of label columns (cheaper models) the scorer was fitted on."""
        if self.weights is not None:
            return int(self.weights.shape[0])
        if self.train_y is not None:
            return int(self.train_y.shape[1])
        raise RuntimeError("EmbeddingScorer is not fitted: call fit() or load() first")

    def embed(self, requests: Sequence[Any]) -> np.ndarray:
        """Unit-norm embeddings (n, d) of the requests' whole conversation text."""
        texts = [conversation_text(as_messages(r)) for r in requests]
        x = np.asarray(self.embeddings.embed_documents(texts), dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != len(texts):
            raise ValueError(f"embeddings returned shape {x.shape} for {len(texts)} texts")
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms == 0, 1.0, norms)

    def fit(self, requests: Sequence[Any], labels: Sequence[Any]) -> EmbeddingScorer:
        """Fit on requests and labels (1 = cheaper model good enough).

        ``labels`` is a sequence of 0/1, or of rows with one 0/1 per cheaper model.
        """
        if len(requests) == 0:
            raise ValueError("fit() needs at least one request")
        y = np.asarray(labels, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] != len(requests):
            raise ValueError(f"got {len(requests)} requests but labels of shape {np.shape(labels)}")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("labels must be 0 or 1")
        x = self.embed(requests)
        self.fit_embedded(x, y)
        self._check_separation(self.predict_embedded(x), y)
        return self

    def fit_embedded(self, x: np.ndarray, y: np.ndarray) -> EmbeddingScorer:
        """Fit on precomputed unit-norm embeddings ``x`` (n, d) and labels ``y`` (n, cols)."""
        y = y[:, None] if y.ndim == 1 else y
        if self.method == "knn":
            self.train_x, self.train_y, self.weights = x, y, None
            return self
        rows = []
        for col in range(y.shape[1]):
            yc = y[:, col]
            if yc.min() == yc.max():  # one class only: constant (smoothed) prior
                prior = (yc.sum() + 1) / (len(yc) + 2)
                w = np.zeros(x.shape[1] + 1)
                w[-1] = np.log(prior / (1 - prior))
            else:
                w = _fit_logistic(x, yc, auto_l2(len(yc)) if self.l2 is None else self.l2)
            rows.append(w)
        self.weights, self.train_x, self.train_y = np.vstack(rows), None, None
        return self

    def _check_separation(self, p: np.ndarray, y: np.ndarray) -> None:
        for col in range(y.shape[1]):
            good, bad = p[y[:, col] == 1, col], p[y[:, col] == 0, col]
            which = f" (column {col})" if y.shape[1] > 1 else ""
            if len(good) == 0 or len(bad) == 0:
                warnings.warn(
                    f"EmbeddingScorer{which}: every training label is {int(y[0, col])}, so it "
                    "predicts a constant and a threshold routes all requests or none; label "
                    "requests of both kinds",
                    ScorerFitWarning,
                    stacklevel=3,
                )
            elif float(good.mean() - bad.mean()) < SEPARATION_MIN:
                warnings.warn(
                    f"EmbeddingScorer{which} cannot separate its own training data: mean "
                    f"probability {good.mean():.3f} for good-enough requests vs {bad.mean():.3f} "
                    f"for the others (n={len(y)}); a threshold routes all requests or none. Add "
                    "labelled requests, lower l2, or use HeuristicScorer",
                    ScorerFitWarning,
                    stacklevel=3,
                )

    def predict_embedded(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (n, cols) for precomputed unit-norm embeddings."""
        if self.weights is not None:
            z = np.hstack([x, np.ones((x.shape[0], 1))]) @ self.weights.T
            return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))
        if self.train_x is None or self.train_y is None:
            raise RuntimeError("EmbeddingScorer is not fitted: call fit() or load() first")
        sims = x @ self.train_x.T
        k = min(self.k, self.train_x.shape[0])
        idx = np.argsort(-sims, axis=1)[:, :k]
        out = np.empty((x.shape[0], self.train_y.shape[1]))
        for row in range(x.shape[0]):
            w = np.clip(sims[row, idx[row]], 0.0, None) + 1e-6
            out[row] = (w @ self.train_y[idx[row]] + 1.0) / (w.sum() + 2.0)
        return out

    def _matrix(self, requests: Sequence[Any]) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("EmbeddingScorer is not fitted: call fit() or load() first")
        return self.predict_embedded(self.embed(requests))

    def score(self, messages: Sequence[BaseMessage]) -> float:
        return float(self._matrix([messages])[0, 0])

    def score_batch(self, requests: Sequence[Sequence[BaseMessage]]) -> list[float]:
        if len(requests) == 0:
            return []
        return [float(v) for v in self._matrix(requests)[:, 0]]

    def probabilities(self, messages: Sequence[BaseMessage], n_cheaper: int) -> list[float]:
        row = self._matrix([messages])[0]
        if len(row) == 1:
            return ladder(float(row[0]), n_cheaper)
        if len(row) != n_cheaper:
            raise ValueError(
                f"scorer was fitted on {len(row)} cheaper models but the router has {n_cheaper}"
            )
        return [float(v) for v in row]

    def save(self, path: str | Path) -> Path:
        """Save the fitted classifier to ``path`` (``.npz``, plain arrays, no pickle)."""
        if not self.fitted:
            raise RuntimeError("cannot save an unfitted EmbeddingScorer")
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        meta = {"format": _FORMAT, "method": self.method, "l2": self.l2, "k": self.k}
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
        if self.weights is not None:
            arrays["weights"] = self.weights
        else:
            assert self.train_x is not None and self.train_y is not None
            arrays["train_x"] = self.train_x.astype(np.float32)
            arrays["train_y"] = self.train_y.astype(np.int8)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: str | Path, embeddings: Embeddings | None = None) -> EmbeddingScorer:
        """Load a scorer saved by :meth:`save`; use the same embeddings as for fitting."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no EmbeddingScorer file at {path}")
        with np.load(path, allow_pickle=False) as data:
            try:
                meta = json.loads(str(data["meta"]))
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path} is not an EmbeddingScorer file") from exc
            if meta.get("format") != _FORMAT:
                raise ValueError(f"{path} has format {meta.get('format')!r}, expected {_FORMAT}")
            scorer = cls(embeddings, method=meta["method"], l2=meta["l2"], k=meta["k"])
            if "weights" in data:
                scorer.weights = np.asarray(data["weights"], dtype=np.float64)
            else:
                scorer.train_x = np.asarray(data["train_x"], dtype=np.float64)
                scorer.train_y = np.asarray(data["train_y"], dtype=np.float64)
        return scorer
