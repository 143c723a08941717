"""GPU calibration: measured joules of real architectures (random bf16 weights) on one GPU.

Run: ``python -m green_chain.experiments.gpu_calibration [--out FILE] [--budget-s S] [--tiny]``
(``make gpu-check`` on the GPU machine writes ``docs/results/gpu_calibration.json``).

Energy does not depend on the values of the weights, so a model built from a real
architecture's configuration with random weights costs what the real model costs.
On CUDA this builds Llama-3.1-8B, Qwen2.5-32B (dense, 32.8 B parameters: fits one
141 GB GPU in bf16) and the packaged tiny models' architectures (SmolLM2-135M, a
Llama; Gemma-3-270M) with ``AutoModelForCausalLM.from_config`` (no hub access) and
reads NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ)
around each window to measure:

* idle power (W): the counter over ``--idle-s`` seconds of an idle GPU;
* prefill (J per prompt token): one forward pass over a random prompt of each length
  (128 .. 32k tokens, batch 1, KV cache written, logits of the last position only),
  repeated inside the window until it lasts ``--min-window-s``; the slope of a
  least-squares line of joules per pass against prompt tokens, over lengths up to
  ``--fit-max-prompt-tokens`` (attention's quadratic share grows beyond; the joules per
  token at every length are kept too);
* decode (J per generated token, per batch size 1 .. 64): after a 128-token prompt
  (outside the window), greedy steps with the KV cache; two windows of ``n`` and ``2n``
  steps, and the slope of joules against steps divided by the batch size.

Decode and prefill figures include the GPU's idle power while it works (the whole
board's energy in the window), as published per-token figures do.

One steady window (decode at batch 16 of the cross-check model) is cross-checked
against ``nvidia-smi --query-gpu=power.draw`` samples integrated over the same window
(NVML power samples when ``nvidia-smi`` is missing; the JSON says which).

``--tiny`` is the CPU path used by the tests: tiny configurations of the same
architectures run on the CPU and the counter is a :class:`FakeNVML` whose energy
grows at a constant simulated power; its file has kind ``simulated``, never
``measured``. Only the standard library is imported at module level; torch,
transformers and pynvml load when a run starts, and nothing here imports
langchain-core or pydantic (the GPU machine has neither).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from green_chain.bench.gpu_calibration_file import SCHEMA, SCHEMA_VERSION
from green_chain.experiments._gpu_models import (
    ARCHITECTURES,
    DEFAULT_MODELS,
    TINY_OVERRIDES,
    Architecture,
    TorchWorkload,
    Workload,
    model_config,
)
from green_chain.experiments._gpu_power import (
    EnergyCounter,
    PowerSampler,
    integrate_power,
    wall_clock_nvml,
)

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_MODELS",
    "TINY_OVERRIDES",
    "Architecture",
    "EnergyCounter",
    "PowerSampler",
    "Settings",
    "TorchWorkload",
    "Workload",
    "fit_line",
    "format_summary",
    "integrate_power",
    "main",
    "measure_window",
    "model_config",
    "run_calibration",
    "wall_clock_nvml",
]

DEFAULT_OUT = "gpu_calibration.json"
#: The whole run must end within 8 minutes on an H200: 7 for measuring, 1 for imports/slack.
DEFAULT_BUDGET_S = 420.0
#: Simulated board power of the ``--tiny`` fake counter (watts).
TINY_POWER_W = 100.0


@dataclass(frozen=True)
class Settings:
    """What one run measures. Token counts are per sequence; times in seconds."""

    models: tuple[str, ...] = DEFAULT_MODELS
    prompt_lengths: tuple[int, ...] = (128, 512, 2048, 8192, 32768)
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64)
    decode_prompt_tokens: int = 128
    fit_max_prompt_tokens: int = 8192
    min_window_s: float = 1.0
    decode_max_steps: int = 256
    idle_s: float = 5.0
    settle_s: float = 1.0
    cross_check_model: str = "llama-3.1-8b"
    cross_check_batch: int = 16
    cross_check_s: float = 8.0
    sample_interval_ms: int = 50
    budget_s: float = DEFAULT_BUDGET_S
    tiny: bool = False

    @classmethod
    def for_tiny(cls, **overrides: Any) -> Settings:
        """The CPU path: tiny shapes and short windows (a few seconds in all)."""
        base = cls(
            prompt_lengths=(16, 32, 64, 128),
            batch_sizes=(1, 2, 4),
            decode_prompt_tokens=8,
            fit_max_prompt_tokens=128,
            min_window_s=0.02,
            decode_max_steps=16,
            idle_s=0.05,
            settle_s=0.0,
            cross_check_model="smollm2-135m",
            cross_check_batch=2,
            cross_check_s=0.2,
            sample_interval_ms=10,
            budget_s=120.0,
            tiny=True,
        )
        return replace(base, **overrides)

    def validate(self) -> None:
        unknown = [m for m in self.models if m not in ARCHITECTURES]
        if unknown or not self.models:
            raise ValueError(
                f"--models: unknown {', '.join(unknown) or '(none given)'}; known: "
                f"{', '.join(ARCHITECTURES)}"
            )
        for name, values in (
            ("--prompt-lengths", self.prompt_lengths),
            ("--batch-sizes", self.batch_sizes),
        ):
            if not values or any(v < 1 for v in values):
                raise ValueError(f"{name} must be positive integers, got {list(values)}")
        if self.budget_s <= 0:
            raise ValueError(f"--budget-s must be > 0, got {self.budget_s}")
        if self.min_window_s < 0 or self.idle_s < 0 or self.cross_check_s < 0:
            raise ValueError("--min-window-s, --idle-s and --cross-check-s must be >= 0")


# ----- windows --------------------------------------------------------------------


def measure_window(
    counter: EnergyCounter,
    work: Callable[[], None],
    sync: Callable[[], None],
    origin_s: float,
    **labels: Any,
) -> dict[str, Any]:
    """Run ``work`` between two counter readings (after a device sync at each end).

    Returns the raw readings (counter in mJ, times in s since the run started) and
    ``energy_j`` / ``duration_s`` / ``power_w`` of the window.
    """
    sync()
    t0, e0 = time.perf_counter(), counter.read_mj()
    work()
    sync()
    t1, e1 = time.perf_counter(), counter.read_mj()
    duration = t1 - t0
    energy = (e1 - e0) / 1000.0
    return {
        **labels,
        "t_start_s": round(t0 - origin_s, 6),
        "t_end_s": round(t1 - origin_s, 6),
        "counter_start_mj": e0,
        "counter_end_mj": e1,
        "duration_s": duration,
        "energy_j": energy,
        "power_w": energy / duration if duration > 0 else None,
    }


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> dict[str, Any]:
    """Least-squares ``y = intercept + slope * x``; with one point, the ratio ``y / x``."""
    n = len(xs)
    if n == 0 or n != len(ys):
        raise ValueError(f"fit_line needs matching non-empty points, got {n} and {len(ys)}")
    if n == 1 or len(set(xs)) == 1:
        return {"slope": ys[0] / xs[0], "intercept": 0.0, "r2": None, "points": n,
                "method": "ratio"}  # fmt: skip
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"slope": slope, "intercept": intercept, "r2": r2, "points": n,
            "method": "least squares"}  # fmt: skip


# ----- the run --------------------------------------------------------------------


class _Budget:
    def __init__(self, budget_s: float) -> None:
        self.end = time.perf_counter() + budget_s

    def left(self) -> float:
        return self.end - time.perf_counter()


def _skipped(reason: str, **labels: Any) -> dict[str, Any]:
    return {**labels, "skipped": reason}


def _measure_prefill(
    w: Workload, counter: EnergyCounter, s: Settings, origin: float, slice_end: float
) -> dict[str, Any]:
    windows: list[dict[str, Any]] = []
    per_call_s: tuple[int, float] | None = None  # (tokens, seconds) of the last measured length
    for length in s.prompt_lengths:
        labels = {"phase": "prefill", "batch": 1, "prompt_tokens": length}
        if length > w.max_prompt_tokens:
            windows.append(_skipped("longer than the model's context", **labels))
            continue
        estimate = 0.0 if per_call_s is None else per_call_s[1] * length / per_call_s[0]
        if time.perf_counter() + max(estimate, s.min_window_s) > slice_end:
            windows.append(_skipped("time budget", **labels))
            continue
        reps = 1
        if estimate < s.min_window_s:  # time one call (also warms this shape up)
            t = time.perf_counter()
            w.prefill(1, length)
            w.sync()
            one = time.perf_counter() - t
            reps = max(1, math.ceil(s.min_window_s / one)) if one > 0 else 1

        def work(length: int = length, reps: int = reps) -> None:
            for _ in range(reps):
                w.prefill(1, length)

        win = measure_window(counter, work, w.sync, origin, **labels, reps=reps)
        win["energy_per_call_j"] = win["energy_j"] / reps
        win["j_per_prompt_token"] = win["energy_per_call_j"] / length
        windows.append(win)
        per_call_s = (length, win["duration_s"] / reps)
    done = [x for x in windows if "skipped" not in x]
    used = [x for x in done if x["prompt_tokens"] <= s.fit_max_prompt_tokens] or done[:1]
    out: dict[str, Any] = {"windows": windows}
    if used:
        fit = fit_line(
            [float(x["prompt_tokens"]) for x in used], [x["energy_per_call_j"] for x in used]
        )
        out["fit"] = {
            "j_per_prompt_token": fit["slope"],
            "intercept_j": fit["intercept"],
            "r2": fit["r2"],
            "method": fit["method"],
            "prompt_tokens_used": [x["prompt_tokens"] for x in used],
        }
        out["j_per_prompt_token_by_length"] = {
            str(x["prompt_tokens"]): x["j_per_prompt_token"] for x in done
        }
    return out


def _decode_steps(w: Workload, batch: int, s: Settings) -> tuple[int, float]:
    """Steps per short window at ``batch`` and the seconds one step took (warm-up run)."""
    state = w.start_decode(batch, s.decode_prompt_tokens)
    w.sync()
    t = time.perf_counter()
    w.decode(state, 2)
    w.sync()
    step_s = (time.perf_counter() - t) / 2
    want = math.ceil(s.min_window_s / step_s) if step_s > 0 else 1
    return max(4, min(s.decode_max_steps, want)), step_s


def _measure_decode(
    w: Workload, counter: EnergyCounter, s: Settings, origin: float, slice_end: float
) -> dict[str, Any]:
    windows: list[dict[str, Any]] = []
    per_token: dict[str, float] = {}
    fits: dict[str, Any] = {}
    for batch in s.batch_sizes:
        labels = {"phase": "decode", "batch": batch, "prompt_tokens": s.decode_prompt_tokens}
        if time.perf_counter() + 3 * s.min_window_s > slice_end:
            windows.append(_skipped("time budget", **labels))
            continue
        steps, step_s = _decode_steps(w, batch, s)
        if time.perf_counter() + 3 * steps * step_s > slice_end:
            windows.append(_skipped("time budget", **labels))
            continue
        mine = []
        for n in (steps, 2 * steps):
            state = w.start_decode(batch, s.decode_prompt_tokens)
            win = measure_window(
                counter,
                functools.partial(w.decode, state, n),
                w.sync,
                origin,
                **labels,
                steps=n,
                generated_tokens=n * batch,
            )
            del state
            mine.append(win)
        windows += mine
        fit = fit_line([float(x["steps"]) for x in mine], [x["energy_j"] for x in mine])
        fits[str(batch)] = {**fit, "j_per_step": fit["slope"]}
        per_token[str(batch)] = fit["slope"] / batch
    return {"windows": windows, "j_per_generated_token": per_token, "fits": fits}


def _cross_check(w: Workload, counter: EnergyCounter, s: Settings, origin: float) -> dict[str, Any]:
    """One steady decode window: the counter's joules vs power samples integrated over it."""
    batch = s.cross_check_batch
    steps, step_s = _decode_steps(w, batch, s)
    n = max(1, math.ceil(s.cross_check_s / step_s)) if step_s > 0 else steps
    state = w.start_decode(batch, s.decode_prompt_tokens)
    sampler = PowerSampler(counter, s.sample_interval_ms, origin)
    sampler.start()
    lead = max(0.3, 3 * s.sample_interval_ms / 1000.0)
    time.sleep(lead + (1.0 if sampler.smi_command else 0.0))  # nvidia-smi takes a moment
    try:
        win = measure_window(
            counter, lambda: w.decode(state, n), w.sync, origin,
            phase="cross_check", batch=batch, steps=n, prompt_tokens=s.decode_prompt_tokens,
        )  # fmt: skip
        time.sleep(lead + (1.0 if sampler.smi_command else 0.0))
    finally:
        sampler.stop()
    refs: dict[str, Any] = {}
    sources = [
        (
            "nvml_power",
            f"NVML power samples (nvmlDeviceGetPowerUsage every {s.sample_interval_ms} ms)",
            sampler.nvml_samples,
        )
    ]
    if sampler.smi_command:
        sources.insert(0, ("nvidia-smi", " ".join(sampler.smi_command), sampler.smi_samples))
    for key, source, samples in sources:
        joules = integrate_power(samples, win["t_start_s"], win["t_end_s"])
        refs[key] = {
            "source": source,
            "samples": [[round(t, 4), p] for t, p in samples],
            "sampled_j": joules,
            "ratio_counter_to_sampled": win["energy_j"] / joules if joules else None,
        }
    # the reference reported first: nvidia-smi when it gave a usable integral, else NVML
    primary = next((k for k, _, _ in sources if refs[k]["sampled_j"]), sources[-1][0])
    return {
        "window": win,
        "counter_j": win["energy_j"],
        "reference": primary,
        "power_source": refs[primary]["source"]
        + ("" if primary == "nvidia-smi" else "; nvidia-smi not found or gave no samples"),
        "sampled_j": refs[primary]["sampled_j"],
        "ratio_counter_to_sampled": refs[primary]["ratio_counter_to_sampled"],
        "references": refs,
        "sample_errors": sampler.errors[:10],
    }


def _versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "nvidia-ml-py", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        import torch

        out["cuda"] = torch.version.cuda
    except ImportError:
        out["cuda"] = None
    return out


def run_calibration(
    settings: Settings,
    *,
    counter: EnergyCounter,
    workload: Callable[[Architecture], Workload],
    simulated: bool,
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """Measure idle power, then each model's prefill and decode, and one cross-check.

    ``workload`` builds one model (called once per model, closed after it);
    ``simulated`` marks a fake counter (the document's kind is then ``simulated``).
    A model that fails to build or run is recorded with its error; the run goes on.
    """
    settings.validate()
    budget = _Budget(settings.budget_s)
    origin = time.perf_counter()
    started = _dt.datetime.now(_dt.UTC)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "kind": "simulated" if simulated else "measured",
        "created": started.isoformat(timespec="seconds"),
        "command": list(sys.argv),
        "device": counter.describe(),
        "versions": _versions(),
        "meter": {
            "source": "FakeNVML: counter grows at a constant simulated power (no real GPU)"
            if simulated
            else "NVML nvmlDeviceGetTotalEnergyConsumption (mJ since driver load)",
            "counter_update_period_s": 0.1,
        },
        "settings": asdict(settings),
        "definitions": {
            "energy_j": "whole-board energy of the window (counter end - start), idle power included",
            "j_per_prompt_token": "slope of joules per prefill pass vs prompt tokens (batch 1)",
            "j_per_generated_token": "slope of window joules vs decode steps, / batch size",
        },
    }
    log(f"device: {doc['device'].get('name')} ({doc['kind']})")
    time.sleep(settings.settle_s)

    def rest() -> None:
        time.sleep(settings.idle_s)

    idle = measure_window(counter, rest, lambda: None, origin, phase="idle")
    doc["idle"] = {"power_w": idle["power_w"], "window": idle}
    log(f"idle: {idle['power_w']:.1f} W over {idle['duration_s']:.1f} s")
    doc["models"] = {}
    for i, name in enumerate(settings.models):
        arch = ARCHITECTURES[name]
        slice_end = time.perf_counter() + budget.left() / (len(settings.models) - i)
        entry: dict[str, Any] = {
            "architecture": arch.model_type,
            "source": arch.source,
            "published_params": arch.params,
            "config": model_config(arch, tiny=settings.tiny),
        }
        doc["models"][name] = entry
        if budget.left() <= 0:
            entry["status"] = "skipped: time budget"
            continue
        t = time.perf_counter()
        w: Workload | None = None
        try:
            w = workload(arch)
            entry["params"] = w.params
            entry["build_s"] = time.perf_counter() - t
            log(f"{name}: built ({w.params / 1e9:.3f} B parameters) in {entry['build_s']:.1f} s")
            w.start_decode(1, settings.decode_prompt_tokens)  # warm-up
            w.sync()
            entry["prefill"] = _measure_prefill(w, counter, settings, origin, slice_end)
            entry["decode"] = _measure_decode(w, counter, settings, origin, slice_end)
            if name == settings.cross_check_model and "cross_check" not in doc:
                try:
                    cc = _cross_check(w, counter, settings, origin)
                    doc["cross_check"] = {"model": name, **cc}
                except Exception as exc:  # the model's own figures stand
                    doc["cross_check"] = {"model": name, "skipped": f"{type(exc).__name__}: {exc}"}
            entry["status"] = "ok"
        except Exception as exc:  # one model's failure (e.g. out of memory) is recorded
            entry["status"] = "error"
            entry["error"] = f"{type(exc).__name__}: {exc}"
            log(f"{name}: {entry['error']}")
        finally:
            if w is not None:
                w.close()
        entry["elapsed_s"] = time.perf_counter() - t
    if "cross_check" not in doc:
        doc["cross_check"] = {
            "skipped": f"cross-check model {settings.cross_check_model} did not run"
        }
    doc["elapsed_s"] = time.perf_counter() - origin
    return doc


# ----- output ---------------------------------------------------------------------


def _f(x: Any, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def format_summary(doc: Mapping[str, Any]) -> str:
    """One page: J per prompt token, J per generated token at each batch size, idle W, cross-check."""
    dev = doc.get("device", {})
    batches = [str(b) for b in doc.get("settings", {}).get("batch_sizes", [])]
    lines = [
        f"GPU calibration ({doc.get('kind')}): {dev.get('name')}, driver {dev.get('driver')}, "
        f"torch {doc['versions'].get('torch')}, transformers {doc['versions'].get('transformers')}",
        f"idle power: {_f(doc.get('idle', {}).get('power_w'), '.1f')} W",
        "",
        "model            J/prompt tok   " + "".join(f"J/gen tok b={b:<5}" for b in batches),
    ]
    for name, m in doc.get("models", {}).items():
        if m.get("status") != "ok":
            lines.append(f"{name:<16} {m.get('status')} {m.get('error', '')}".rstrip())
            continue
        pre = m.get("prefill", {}).get("fit", {}).get("j_per_prompt_token")
        dec = m.get("decode", {}).get("j_per_generated_token", {})
        lines.append(
            f"{name:<16} {_f(pre):<14} " + "".join(f"{_f(dec.get(b)):<16}" for b in batches)
        )
    lines.append("")
    for name, m in doc.get("models", {}).items():
        by_len = m.get("prefill", {}).get("j_per_prompt_token_by_length")
        if by_len:
            lines.append(
                f"{name} prefill J/token by prompt length: "
                + ", ".join(f"{k}: {_f(v, '.3g')}" for k, v in by_len.items())
            )
    cc = doc.get("cross_check", {})
    if "skipped" in cc:
        lines.append(f"cross-check: skipped ({cc['skipped']})")
    else:
        w = cc["window"]
        lines.append(
            f"cross-check ({cc['model']}, decode batch {w['batch']}, {w['duration_s']:.1f} s): "
            f"NVML counter {_f(cc['counter_j'], '.1f')} J vs {_f(cc['sampled_j'], '.1f')} J from "
            f"{'NVML' if cc['reference'] == 'nvml_power' else cc['reference']} power samples (ratio {_f(cc['ratio_counter_to_sampled'], '.3f')})"
        )
    lines.append(f"run took {doc.get('elapsed_s', 0):.0f} s; figures are {doc.get('kind')}")
    return "\n".join(lines)


def _ints(raw: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in raw.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{name} must be comma-separated integers, got {raw!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m green_chain.experiments.gpu_calibration",
        description="Measure prefill/decode joules per token and idle power of real "
        "architectures (random bf16 weights) with NVML's energy counter.",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON file to write (default {DEFAULT_OUT})")
    p.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help=f"seconds for all measurements (default {DEFAULT_BUDGET_S:.0f}: the whole run "
        "stays within 8 minutes on an H200); models left when it runs out are skipped",
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="CPU path: tiny configurations on the CPU and a simulated FakeNVML counter",
    )
    p.add_argument(
        "--models", default=None, help=f"comma-separated (default {','.join(DEFAULT_MODELS)})"
    )
    p.add_argument("--prompt-lengths", default=None, help="comma-separated prompt tokens")
    p.add_argument("--batch-sizes", default=None, help="comma-separated decode batch sizes")
    p.add_argument("--min-window-s", type=float, default=None, help="shortest window (s)")
    p.add_argument("--idle-s", type=float, default=None, help="idle window (s)")
    p.add_argument("--cross-check-s", type=float, default=None, help="cross-check window (s)")
    p.add_argument("--cuda-device", type=int, default=0, help="torch CUDA index (default 0)")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    over: dict[str, Any] = {}
    if args.models:
        over["models"] = tuple(m.strip() for m in args.models.split(",") if m.strip())
    if args.prompt_lengths:
        over["prompt_lengths"] = _ints(args.prompt_lengths, "--prompt-lengths")
    if args.batch_sizes:
        over["batch_sizes"] = _ints(args.batch_sizes, "--batch-sizes")
    for key in ("budget_s", "min_window_s", "idle_s", "cross_check_s"):
        if getattr(args, key) is not None:
            over[key] = getattr(args, key)
    s = Settings.for_tiny(**over) if args.tiny else Settings(**over)
    if s.cross_check_model not in s.models:
        s = replace(s, cross_check_model=s.models[0])
    s.validate()
    return s


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"gpu_calibration: error: {exc}", file=sys.stderr)
        return 2
    import torch

    if args.tiny:
        torch.set_num_threads(1)
        counter, device = EnergyCounter(wall_clock_nvml(TINY_POWER_W), 0), "cpu"
    else:
        if not torch.cuda.is_available():
            print(
                "gpu_calibration: error: no CUDA device; use --tiny for the CPU path",
                file=sys.stderr,
            )
            return 2
        import pynvml

        from green_chain.energy.backends.nvml import parse_visible_devices

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        raw = [pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)]
        uuids = [u.decode() if isinstance(u, bytes) else str(u) for u in raw]
        visible = parse_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"), count, uuids)
        counter = EnergyCounter(pynvml, visible[args.cuda_device])
        device = f"cuda:{args.cuda_device}"
    doc = run_calibration(
        settings,
        counter=counter,
        workload=lambda arch: TorchWorkload(arch, device=device, tiny=settings.tiny),
        simulated=args.tiny,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(format_summary(doc))
    print(f"wrote {out}")
    return 0 if any(m.get("status") == "ok" for m in doc["models"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
