"""Read and check a ``gpu_calibration.json`` (``green-chain bench --projection-calibration``).

The file is written by :mod:`green_chain.experiments.gpu_calibration` on a GPU. Only a
file of kind ``measured`` prices a projection (a ``--tiny`` file is ``simulated``). A
model is usable when it ran (``status: ok``) and has a positive prefill joules per
prompt token and at least one positive decode joules per generated token.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

#: The file format (written by the experiment, read here): schema name and version.
SCHEMA = "green-chain/gpu-calibration"
SCHEMA_VERSION = 1

OPTION = "--projection-calibration"


@dataclass(frozen=True)
class CalibratedModel:
    """One model's measured figures: joules per prompt token, per generated token by batch size."""

    name: str
    params: float
    prefill_j_per_token: float
    decode_j_per_token: dict[int, float]


@dataclass(frozen=True)
class GPUCalibration:
    """A checked calibration file: the device it ran on and its usable models."""

    path: str
    sha256: str
    created: str
    device: str
    driver: str | None
    models: dict[str, CalibratedModel]
    idle_w: float | None


def _positive(value: Any) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _model(name: str, m: Any) -> CalibratedModel | None:
    if not isinstance(m, dict) or m.get("status") != "ok":
        return None
    params = m.get("params") or m.get("published_params")
    pre = ((m.get("prefill") or {}).get("fit") or {}).get("j_per_prompt_token")
    dec_raw = (m.get("decode") or {}).get("j_per_generated_token") or {}
    if not _positive(params) or not _positive(pre) or not isinstance(dec_raw, dict):
        return None
    dec: dict[int, float] = {}
    for batch, value in dec_raw.items():
        if str(batch).isdigit() and _positive(value):
            dec[int(batch)] = float(value)
    if not dec:
        return None
    return CalibratedModel(name, float(params), float(pre), dec)


def load_gpu_calibration(path: str | os.PathLike[str]) -> GPUCalibration:
    """Read ``path``; a one-line ``ValueError`` naming ``--projection-calibration`` when unusable."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{OPTION}: file {p} not found")
    raw = p.read_bytes()
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{OPTION}: {p} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(
            f"{OPTION}: {p} is not a gpu_calibration.json (schema {SCHEMA!r} missing); "
            "write one with `make gpu-check`"
        )
    if doc.get("kind") != "measured":
        raise ValueError(
            f"{OPTION}: {p} has kind {doc.get('kind')!r}, not 'measured' (a --tiny run on "
            "FakeNVML is 'simulated'); price the projection from a run on a real GPU"
        )
    device = (doc.get("device") or {}).get("name") if isinstance(doc.get("device"), dict) else None
    if not isinstance(device, str) or not device:
        raise ValueError(f"{OPTION}: {p} names no device (device.name)")
    models_raw = doc.get("models")
    if not isinstance(models_raw, dict):
        raise ValueError(f"{OPTION}: {p} has no 'models' object")
    models = {n: m for n, raw_m in models_raw.items() if (m := _model(n, raw_m)) is not None}
    if len(models) < 2:
        raise ValueError(
            f"{OPTION}: {p} has {len(models)} usable model(s) (status ok, positive prefill and "
            f"decode joules per token); a projection needs two"
        )
    idle = (doc.get("idle") or {}).get("power_w")
    return GPUCalibration(
        path=str(p),
        sha256=hashlib.sha256(raw).hexdigest(),
        created=str(doc.get("created", "")),
        device=device,
        driver=(doc.get("device") or {}).get("driver"),
        models=models,
        idle_w=float(idle) if _positive(idle) else None,
    )
