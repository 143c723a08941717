"""Energy curves: joules of one model call as a function of its token count.

``E(n) = a * n**2 + b * n + c`` with ``a, b, c >= 0`` fitted by non-negative
least squares: the quadratic term is attention's cost growing with the
sequence, the linear term the per-token work, the constant the fixed cost of a
call. Non-negative coefficients keep predictions physical (energy never falls
as the prompt grows). Predictions are ``projected`` energy: priced by a curve,
not observed; the curve keeps the ``kind`` of the energies it was fitted on.

``n`` counts the tokens a call *computes*: prompt tokens it prefilled plus tokens it
generated. Prompt tokens read from a prefix (KV) cache (LangChain's
``input_token_details["cache_read"]``) are not computed again, so
:meth:`EnergyCurve.predict_call` leaves them out.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt

FORMAT = "green-chain-energy-curve/1"


def nnls_small(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Non-negative least squares for a few columns, exactly, by enumerating supports.

    The NNLS optimum is the ordinary least-squares solution on its own support
    (set of non-zero coefficients); trying every support and keeping the best
    feasible (all coefficients >= 0) one finds it. ``2**k`` solves: fine for k=3.
    """
    k = x.shape[1]
    scale = np.linalg.norm(x, axis=0)
    scale[scale == 0] = 1.0
    xs = x / scale
    best = np.zeros(k)
    best_rss = float(np.sum(y**2))
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            cols = list(support)
            coef, *_ = np.linalg.lstsq(xs[:, cols], y, rcond=None)
            if np.any(coef < 0):
                continue
            rss = float(np.sum((y - xs[:, cols] @ coef) ** 2))
            if rss < best_rss - 1e-12 * max(1.0, best_rss):
                best_rss = rss
                best = np.zeros(k)
                best[cols] = coef
    return best / scale


@dataclass(frozen=True)
class EnergyCurve:
    """A fitted ``E(n) = a n^2 + b n + c`` (joules, ``n`` tokens) for one model on one device.

    Attributes:
        a: Joules per token squared (>= 0).
        b: Joules per token (>= 0).
        c: Joules per call (>= 0).
        r2: Coefficient of determination of the fit on its points.
        model_name: Model the curve describes.
        device: Device it ran on (``cpu``, ``cuda:0``, a GPU name...).
        kind: Kind of the energies it was fitted on (``measured``/``estimated``).
        n_points: Number of points fitted.
        min_tokens: Smallest token count fitted (predictions outside
            ``[min_tokens, max_tokens]`` are extrapolations).
        max_tokens: Largest token count fitted.
        source: Meter sources of the fitted energies (e.g. ``nvml``, ``estimate``).
    """

    a: float
    b: float
    c: float
    r2: float
    model_name: str = ""
    device: str = ""
    kind: str = "measured"
    n_points: int = 0
    min_tokens: float = 0.0
    max_tokens: float = 0.0
    source: str = ""

    @classmethod
    def fit(
        cls,
        tokens: Sequence[float] | npt.ArrayLike,
        energies_j: Sequence[float] | npt.ArrayLike,
        *,
        model_name: str = "",
        device: str = "",
        kind: str = "measured",
        source: str = "",
    ) -> EnergyCurve:
        """Fit the curve to ``(tokens[i], energies_j[i])`` points.

        Raises:
            ValueError: lengths differ, fewer than 3 points or fewer than 3
                distinct token counts, or a value is negative or not finite.
        """
        n = np.asarray(tokens, dtype=float).ravel()
        e = np.asarray(energies_j, dtype=float).ravel()
        if n.shape != e.shape:
            raise ValueError(
                f"tokens and energies_j must have the same length ({n.size} != {e.size})"
            )
        if n.size < 3:
            raise ValueError(f"fitting E(n)=a*n^2+b*n+c needs at least 3 points, got {n.size}")
        if not (np.all(np.isfinite(n)) and np.all(np.isfinite(e))):
            raise ValueError("tokens and energies_j must be finite numbers")
        if np.any(n < 0) or np.any(e < 0):
            raise ValueError("tokens and energies_j must be >= 0")
        if np.unique(n).size < 3:
            raise ValueError(
                f"need at least 3 distinct token counts to fit a quadratic, got {np.unique(n).size}"
            )
        x = np.column_stack([n**2, n, np.ones_like(n)])
        a, b, c = (float(v) for v in nnls_small(x, e))
        pred = x @ np.array([a, b, c])
        ss_res = float(np.sum((e - pred) ** 2))
        ss_tot = float(np.sum((e - e.mean()) ** 2))
        if ss_tot > 0:
            r2 = 1.0 - ss_res / ss_tot
        else:
            r2 = 1.0 if ss_res <= 1e-12 * max(1.0, float(np.sum(e**2))) else 0.0
        return cls(
            a=a,
            b=b,
            c=c,
            r2=r2,
            model_name=model_name,
            device=device,
            kind=kind,
            n_points=int(n.size),
            min_tokens=float(n.min()),
            max_tokens=float(n.max()),
            source=source,
        )

    @overload
    def predict(self, n: float) -> float: ...

    @overload
    def predict(self, n: Sequence[float] | npt.NDArray[Any]) -> npt.NDArray[np.float64]: ...

    def predict(self, n: Any) -> Any:
        """Predicted joules for ``n`` tokens (a number -> float, an array -> array)."""
        arr = np.asarray(n, dtype=float)
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"token counts must be finite and >= 0, got {n!r}")
        out = self.a * arr**2 + self.b * arr + self.c
        return float(out) if arr.ndim == 0 else out

    def predict_call(
        self, prompt_tokens: int, completion_tokens: int = 0, cached_tokens: int = 0
    ) -> float:
        """Predicted joules of one call: ``predict(prompt - cached + completion)``.

        Args:
            prompt_tokens: Tokens of the whole prompt.
            completion_tokens: Tokens generated.
            cached_tokens: Prompt tokens read from a prefix cache (not prefilled).
        """
        if min(prompt_tokens, completion_tokens, cached_tokens) < 0:
            raise ValueError(
                "prompt_tokens, completion_tokens and cached_tokens must be >= 0, got "
                f"{prompt_tokens}, {completion_tokens}, {cached_tokens}"
            )
        if cached_tokens > prompt_tokens:
            raise ValueError(
                f"cached_tokens ({cached_tokens}) cannot exceed prompt_tokens ({prompt_tokens})"
            )
        return self.predict(prompt_tokens - cached_tokens + completion_tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "formula": "energy_j = a * n**2 + b * n + c",
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "r2": self.r2,
            "model_name": self.model_name,
            "device": self.device,
            "kind": self.kind,
            "n_points": self.n_points,
            "min_tokens": self.min_tokens,
            "max_tokens": self.max_tokens,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnergyCurve:
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise ValueError(f"not an energy curve of format {FORMAT!r}: {fmt!r}")
        missing = [k for k in ("a", "b", "c") if k not in data]
        if missing:
            raise ValueError(f"energy curve is missing coefficient(s) {missing}")
        coef = {k: float(data[k]) for k in ("a", "b", "c")}
        bad = {k: v for k, v in coef.items() if not math.isfinite(v) or v < 0}
        if bad:
            raise ValueError(f"energy curve coefficients must be finite and >= 0: {bad}")
        return cls(
            **coef,
            r2=float(data.get("r2", float("nan"))),
            model_name=str(data.get("model_name", "")),
            device=str(data.get("device", "")),
            kind=str(data.get("kind", "measured")),
            n_points=int(data.get("n_points", 0)),
            min_tokens=float(data.get("min_tokens", 0.0)),
            max_tokens=float(data.get("max_tokens", 0.0)),
            source=str(data.get("source", "")),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the curve as JSON; returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EnergyCurve:
        """Read a curve written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no energy curve file at {p}")
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)
