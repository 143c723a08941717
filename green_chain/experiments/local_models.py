"""Benchmark of the packaged local models on this machine.

``python -m green_chain.experiments.local_models [--models ...] [--max-new-tokens N]``

For each packaged causal LM it prints: first load (GGUF dequantization, in a subprocess
with an empty cache folder) and cached load time (subprocess, safetensors cache), prompt
processing and generation tokens/s, the speed-up of ``ChatLocal.batch`` of 8 over 8
sequential calls, and joules per generated token at concurrency 1, 4 and 16 with and
without the energy-aware batching window. Energy comes from
:class:`~green_chain.energy.monitor.EnergyMonitor` over the detected meters; each figure
is labelled with its kind (measured / estimated) and source. All ratios are from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

QUESTIONS = [
    "What is the capital of France?",
    "Name three colors.",
    "What is 12 times 3?",
    "Write one sentence about the sea.",
    "What do bees make?",
    "Who wrote Hamlet?",
    "What is the boiling point of water?",
    "Give a synonym for happy.",
]

_LOAD_SNIPPET = (
    "import time,sys,warnings; warnings.simplefilter('ignore');"
    "from green_chain.models import load_causal_lm; t=time.perf_counter();"
    "load_causal_lm(sys.argv[1]); print(time.perf_counter()-t)"
)


def _load_time_s(name: str, cache: str | None) -> float:
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error", HF_HUB_OFFLINE="1")
    if cache:
        env["GREEN_CHAIN_CACHE"] = cache
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_SNIPPET, name], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"loading {name} failed: {out.stderr[-500:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _throughput(name: str, prompt_tokens: int, gen_tokens: int) -> tuple[float, float]:
    """(prompt tokens/s, generated tokens/s) at batch 1."""
    import torch

    from green_chain.models import load_causal_lm
    from green_chain.models.generation import GenParams, generate_batch

    lm = load_causal_lm(name)
    ids = lm.tokenizer(" ".join(["energy"] * prompt_tokens), add_special_tokens=False)["input_ids"][
        :prompt_tokens
    ]
    with torch.inference_mode():
        lm.model(input_ids=torch.tensor([ids[:16]]))  # warm-up
        t0 = time.perf_counter()
        lm.model(input_ids=torch.tensor([ids]))
        prefill_s = time.perf_counter() - t0
    short = ids[:8]
    t0 = time.perf_counter()
    out = generate_batch(lm, [short], GenParams(gen_tokens))[0]
    gen_s = time.perf_counter() - t0
    return len(ids) / prefill_s, out.output_tokens / gen_s


def _batch_speedup(name: str, max_new_tokens: int) -> dict[str, float]:
    from green_chain.models import ChatLocal

    chat = ChatLocal(model=name, max_new_tokens=max_new_tokens)
    chat.invoke("warm up")
    t0 = time.perf_counter()
    seq = [chat.invoke(q) for q in QUESTIONS]
    seq_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bat = chat.batch(list[Any](QUESTIONS))
    batch_s = time.perf_counter() - t0
    same = [m.content for m in seq] == [m.content for m in bat]
    return {
        "sequential_s": seq_s,
        "batch_s": batch_s,
        "speedup": seq_s / batch_s,
        "identical_outputs": float(same),
    }


def _energy_per_token(
    name: str, monitor: Any, concurrency: int, batching: bool, max_new_tokens: int
) -> dict[str, Any]:
    from green_chain.models import ChatLocal

    chat = ChatLocal(
        model=name,
        max_new_tokens=max_new_tokens,
        batching=batching,
        batch_window_ms=20,
        max_batch_size=16,
    )
    results: list[Any] = [None] * concurrency

    def call(i: int) -> None:
        results[i] = chat.invoke(QUESTIONS[i % len(QUESTIONS)])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(concurrency)]
    key = ("bench", name, concurrency, batching)
    t0 = time.perf_counter()
    monitor.begin(key)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = monitor.end(key)
    wall_s = time.perf_counter() - t0
    out_tokens = sum(r.usage_metadata["output_tokens"] for r in results)
    total_j = m.total_j
    return {
        "concurrency": concurrency,
        "batching": batching,
        "wall_s": wall_s,
        "output_tokens": out_tokens,
        "energy_j": total_j,
        "j_per_token": (total_j / out_tokens) if total_j is not None and out_tokens else None,
        "energy_kind": m.kind,
        "energy_sources": m.sources,
        "batch_sizes": sorted({r.response_metadata["batch_size"] for r in results}),
    }


def run(
    models: list[str], max_new_tokens: int, concurrencies: list[int], first_load: bool
) -> dict[str, Any]:
    from green_chain.energy.monitor import EnergyMonitor

    monitor = EnergyMonitor()
    report: dict[str, Any] = {"meters": sorted({d.source for d in monitor.domains.values()})}
    for name in models:
        row: dict[str, Any] = {}
        if first_load:
            with tempfile.TemporaryDirectory() as tmp:
                row["first_load_s"] = _load_time_s(name, tmp)
        row["cached_load_s"] = _load_time_s(name, None)
        row["prompt_tokens_per_s"], row["gen_tokens_per_s"] = _throughput(name, 256, 32)
        row["batch8"] = _batch_speedup(name, max_new_tokens)
        row["energy"] = [
            _energy_per_token(name, monitor, c, b, max_new_tokens)
            for c in concurrencies
            for b in (False, True)
        ]
        report[name] = row
        print(_format(name, row), flush=True)
    monitor.close()
    return report


def _format(name: str, row: dict[str, Any]) -> str:
    lines = [f"== {name}"]
    if "first_load_s" in row:
        lines.append(f"first load (GGUF dequantize + cache build): {row['first_load_s']:.1f} s")
    lines.append(f"cached load (safetensors):                  {row['cached_load_s']:.1f} s")
    lines.append(
        f"prompt processing: {row['prompt_tokens_per_s']:.0f} tokens/s (batch 1, 256 tokens)"
    )
    lines.append(f"generation:        {row['gen_tokens_per_s']:.1f} tokens/s (batch 1)")
    b = row["batch8"]
    lines.append(
        f"batch of 8 vs 8 sequential: {b['batch_s']:.1f} s vs {b['sequential_s']:.1f} s "
        f"-> speed-up x{b['speedup']:.2f} (identical outputs: {bool(b['identical_outputs'])})"
    )
    base = {e["concurrency"]: e["j_per_token"] for e in row["energy"] if not e["batching"]}
    for e in row["energy"]:
        jpt = e["j_per_token"]
        ratio = (
            f" (off/on = x{base[e['concurrency']] / jpt:.2f})"
            if e["batching"] and jpt and base.get(e["concurrency"])
            else ""
        )
        lines.append(
            f"concurrency {e['concurrency']:>2} batching {'on ' if e['batching'] else 'off'}: "
            f"{jpt if jpt is None else round(jpt, 3)} J/token{ratio} "
            f"[{e['energy_kind']} via {','.join(e['energy_sources'])}], wall {e['wall_s']:.1f} s, "
            f"batch sizes {e['batch_sizes']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from green_chain.models.registry import CAUSAL_LM_NAMES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--models", nargs="+", default=list(CAUSAL_LM_NAMES))
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--concurrency", nargs="+", type=int, default=[1, 4, 16])
    p.add_argument("--no-first-load", action="store_true", help="skip the slow GGUF first load")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    report = run(args.models, args.max_new_tokens, args.concurrency, not args.no_first_load)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
