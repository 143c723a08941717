"""Projected energy of a real deployment pair, priced from the benchmark's token counts.

The packaged models are tiny and nearly equal in compute, so routing savings
measured on them are small by construction. This module prices the *same* token
counts and routing decisions with a documented model of a real deployment
(``--projection cheap:large@gpu``, default ``llama-3.1-8b:llama-3.1-70b@h100``):

    E = prefill_j_per_token x prefilled_tokens + decode_j_per_token x completion_tokens

(``prefilled_tokens`` = prompt tokens less those the model read from its prefix cache,
``cached_tokens``: a deployed server with prefix caching does not prefill them either.)

* decode J/token: published ML.ENERGY measurements where we have them (see
  ``docs/energy_projection.md``; figures that are assumptions say so);
* prefill J/token: ``2 x params`` FLOPs per token at a stated efficiency of the GPU's
  dense BF16 peak, times its board power.
* optimizers: tokens they read (``tokens_before`` of their events) priced as prefill
  of the packaged MiniLM encoder (22.7 M parameters) on the same GPU.

``--projection-calibration FILE`` prices the same tokens from a measured
``gpu_calibration.json`` instead (:class:`CalibratedProjection`, labelled
``projected (calibrated on <device>)``).

Every figure from here is labelled ``projected``; it is never added to measured joules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from green_chain.bench.gpu_calibration_file import (
    CalibratedModel,
    GPUCalibration,
    load_gpu_calibration,
)
from green_chain.bench.records import ItemRecord, as_record

DEFAULT_PROJECTION = "llama-3.1-8b:llama-3.1-70b@h100"


@dataclass(frozen=True)
class GPUSpec:
    """Accelerator figures (peak dense BF16 FLOP/s, board power in watts, assumed prefill efficiency)."""

    name: str
    peak_flops: float
    power_w: float
    prefill_efficiency: float
    source: str


@dataclass(frozen=True)
class ModelSpec:
    """A deployable model: parameters and measured decode energy per output token on a GPU."""

    name: str
    params: float
    decode_j_per_token: Mapping[str, float]
    decode_source: str
    decode_is_assumption: bool = False


GPUS: dict[str, GPUSpec] = {
    "h100": GPUSpec(
        "NVIDIA H100 SXM 80GB",
        989e12,
        700.0,
        0.5,
        "NVIDIA H100 datasheet: 989 TFLOP/s dense BF16, 700 W max board power; 50% prefill MFU assumed",
    ),
}

MODELS: dict[str, ModelSpec] = {
    "llama-3.1-8b": ModelSpec(
        "Llama-3.1-8B-Instruct",
        8.03e9,
        {"h100": 0.12},
        "ML.ENERGY Leaderboard v3.0 (Dec 2025), H100, vLLM 0.11.1, batch 64: 0.12 J/token "
        "(0.20 J/token in v2.0) - ml.energy blog 'LLM Inference Energy: A Longitudinal Analysis'",
    ),
    "llama-3.1-70b": ModelSpec(
        "Llama-3.1-70B-Instruct",
        70.6e9,
        {"h100": 0.12 * 70.6 / 8.03},
        "ASSUMPTION: the 8B measured figure scaled by parameter count (70.6/8.03); replace with "
        "the ML.ENERGY leaderboard's 70B figure for your batch size",
        decode_is_assumption=True,
    ),
}

#: The packaged sentence encoder used by the optimizers (all-MiniLM-L6-v2).
ENCODER_PARAMS = 22.7e6


@dataclass(frozen=True)
class Projection:
    """A priced deployment pair."""

    cheap: ModelSpec
    large: ModelSpec
    gpu: GPUSpec

    @classmethod
    def parse(cls, spec: str = DEFAULT_PROJECTION) -> Projection:
        """Parse ``cheap:large@gpu`` (e.g. ``llama-3.1-8b:llama-3.1-70b@h100``)."""
        pair, _, gpu = spec.partition("@")
        cheap, _, large = pair.partition(":")
        gpu = gpu or "h100"
        if not cheap or not large:
            raise ValueError(
                f"bad --projection {spec!r}: expected CHEAP:LARGE@GPU, e.g. {DEFAULT_PROJECTION}"
            )
        for name in (cheap, large):
            if name not in MODELS:
                raise ValueError(
                    f"unknown projection model {name!r}; known: {', '.join(sorted(MODELS))}"
                )
        if gpu not in GPUS:
            raise ValueError(f"unknown projection GPU {gpu!r}; known: {', '.join(sorted(GPUS))}")
        for name in (cheap, large):
            if gpu not in MODELS[name].decode_j_per_token:
                raise ValueError(f"no decode figure for {name} on {gpu}")
        return cls(MODELS[cheap], MODELS[large], GPUS[gpu])

    @property
    def gpu_key(self) -> str:
        return next(k for k, v in GPUS.items() if v == self.gpu)

    def prefill_j_per_token(self, params: float) -> float:
        """Joules per prompt token: 2 x params FLOPs at the assumed efficiency and board power."""
        return 2.0 * params / (self.gpu.peak_flops * self.gpu.prefill_efficiency) * self.gpu.power_w

    def call_j(self, role: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Projected joules of one model call by ``role`` (``cheap`` or ``large``)."""
        spec = self.cheap if role == "cheap" else self.large
        return (
            self.prefill_j_per_token(spec.params) * prompt_tokens
            + spec.decode_j_per_token[self.gpu_key] * completion_tokens
        )

    def record_j(self, record: ItemRecord | Mapping[str, Any], cheap_names: set[str]) -> float:
        """Projected joules of one benchmark record (its answering calls plus its optimizers)."""
        return price_record(
            self.call_j,
            self.prefill_j_per_token(ENCODER_PARAMS),
            self.prefill_j_per_token(self.cheap.params),
            record,
            cheap_names,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "projected",
            "label": "projected (published figures)",
            "cheap": {
                **asdict(self.cheap),
                "prefill_j_per_token": self.prefill_j_per_token(self.cheap.params),
            },
            "large": {
                **asdict(self.large),
                "prefill_j_per_token": self.prefill_j_per_token(self.large.params),
            },
            "gpu": asdict(self.gpu),
            "encoder_params": ENCODER_PARAMS,
            "docs": "docs/energy_projection.md",
        }


def price_record(
    call_j: Callable[[str, int, int], float],
    encoder_j_per_token: float,
    cheap_prefill_j_per_token: float,
    record: ItemRecord | Mapping[str, Any],
    cheap_names: set[str],
) -> float:
    """Joules of one benchmark record: its answering calls plus what its optimizers read.

    ``call_j(role, prompt_tokens, completion_tokens)`` prices a call by ``cheap`` or
    ``large`` on its prefilled prompt tokens (those read from a prefix cache,
    ``cached_tokens``, are not prefilled); tokens the optimizers read (``tokens_before``) are priced at
    ``encoder_j_per_token``, tokens of model calls inside an optimizer at the cheap
    model's prefill joules per token.
    """
    rec = as_record(record)
    total = 0.0
    for call in rec.calls:
        role = "cheap" if call.model_name in cheap_names else "large"
        prefilled = (call.prompt_tokens or 0) - (call.cached_tokens or 0)
        total += call_j(role, max(prefilled, 0), call.completion_tokens or 0)
    read = sum(int(e.get("tokens_before", 0)) for e in rec.optimizer_events)
    total += encoder_j_per_token * read
    total += cheap_prefill_j_per_token * rec.optimizer_model_tokens
    return total


@dataclass(frozen=True)
class CalibratedProjection:
    """A deployment pair priced from a measured ``gpu_calibration.json``.

    Prefill and decode joules per token are the file's fitted figures; decode is
    taken at ``decode_batch``, the largest batch size measured for both models
    (published per-token figures are for batched servers too). The optimizers'
    encoder is priced as the smallest calibrated model's prefill joules per token
    scaled by parameter count (an assumption: the encoder itself is not measured).
    """

    cheap: CalibratedModel
    large: CalibratedModel
    calibration: GPUCalibration
    decode_batch: int

    @property
    def label(self) -> str:
        return f"projected (calibrated on {self.calibration.device})"

    @property
    def spec(self) -> str:
        return f"{self.cheap.name}:{self.large.name}@calibrated:{self.calibration.device}"

    @property
    def encoder_j_per_token(self) -> float:
        small = min(self.calibration.models.values(), key=lambda m: m.params)
        return small.prefill_j_per_token * ENCODER_PARAMS / small.params

    def call_j(self, role: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Projected joules of one model call by ``role`` (``cheap`` or ``large``)."""
        m = self.cheap if role == "cheap" else self.large
        return (
            m.prefill_j_per_token * prompt_tokens
            + m.decode_j_per_token[self.decode_batch] * completion_tokens
        )

    def record_j(self, record: ItemRecord | Mapping[str, Any], cheap_names: set[str]) -> float:
        """Projected joules of one benchmark record (its answering calls plus its optimizers)."""
        return price_record(
            self.call_j,
            self.encoder_j_per_token,
            self.cheap.prefill_j_per_token,
            record,
            cheap_names,
        )

    def describe(self) -> dict[str, Any]:
        c = self.calibration
        return {
            "kind": "projected",
            "label": self.label,
            "cheap": asdict(self.cheap),
            "large": asdict(self.large),
            "decode_batch": self.decode_batch,
            "encoder_params": ENCODER_PARAMS,
            "encoder_prefill_j_per_token": self.encoder_j_per_token,
            "encoder_source": "ASSUMPTION: the smallest calibrated model's prefill J/token "
            "scaled by parameter count",
            "calibration": {
                "path": c.path,
                "sha256": c.sha256,
                "created": c.created,
                "device": c.device,
                "driver": c.driver,
                "idle_w": c.idle_w,
            },
            "docs": "docs/energy_projection.md",
        }


def calibrated_projection(path: str, pair: str | None = None) -> CalibratedProjection:
    """Price a projection from a measured ``gpu_calibration.json``.

    ``pair`` is ``CHEAP:LARGE`` naming two models of the file (default: its two
    largest). A clear ``ValueError`` naming the option when the file or pair is unusable.
    """
    cal = load_gpu_calibration(path)
    if pair:
        if "@" in pair:
            raise ValueError(
                f"--projection {pair!r}: with --projection-calibration give CHEAP:LARGE only "
                "(the GPU is the calibration's)"
            )
        cheap_name, _, large_name = pair.partition(":")
        for name in (cheap_name, large_name):
            if name not in cal.models:
                raise ValueError(
                    f"--projection: model {name!r} is not a usable model of {path} "
                    f"(has: {', '.join(sorted(cal.models))})"
                )
        cheap, large = cal.models[cheap_name], cal.models[large_name]
    else:
        cheap, large = sorted(cal.models.values(), key=lambda m: m.params)[-2:]
    common = set(cheap.decode_j_per_token) & set(large.decode_j_per_token)
    if not common:
        raise ValueError(
            f"--projection-calibration: {path} measured {cheap.name} and {large.name} "
            "decode at no common batch size"
        )
    return CalibratedProjection(cheap, large, cal, max(common))


def prefill_curve(spec: str) -> Any:
    """A linear ``EnergyCurve`` (kind ``projected``) of one model's prefill on a GPU.

    ``spec`` is ``MODEL@GPU`` (e.g. ``llama-3.1-70b@h100``): ``E(n) = b n`` with ``b`` the
    prefill joules per prompt token of :meth:`Projection.prefill_j_per_token`. Used to
    price what a prompt compressor saves a large target model (decode is unchanged by
    compressing the prompt, so it is left out).
    """
    from green_chain.energy.model import EnergyCurve

    model, _, gpu = spec.partition("@")
    gpu = gpu or "h100"
    if model not in MODELS:
        raise ValueError(f"unknown projection model {model!r}; known: {', '.join(sorted(MODELS))}")
    proj = Projection.parse(f"{model}:{model}@{gpu}")
    return EnergyCurve(
        a=0.0,
        b=proj.prefill_j_per_token(proj.large.params),
        c=0.0,
        r2=float("nan"),
        model_name=proj.large.name,
        device=proj.gpu.name,
        kind="projected",
        source=f"projection {model}@{gpu} (docs/energy_projection.md): {proj.gpu.source}",
    )
