"""Added time of the energy handler per model call, with a fake meter.

Run: ``python -m green_chain.experiments.handler_overhead [--calls 2000]``

Each scenario runs the same runnable three ways, interleaved call by call in
one process: with no handler, with a no-op inline handler (LangChain's own cost
of dispatching events to any handler) and with an
:class:`~green_chain.callbacks.EnergyCallbackHandler` reading a scripted
:class:`~green_chain.testing.meters.FakeMeterBackend`. It reports the median
time of each in microseconds, the energy handler's added time per step (run)
against the no-op handler, and the ratio energy handler / no-op handler.
``handler only`` times the handler's own start+end work for one run, without
LangChain around it. Times are this thread's CPU time (``--clock cpu``, the
default: robust on a shared machine) or wall time (``--clock wall``).
Target: under 100 microseconds added per step.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import uuid4

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig


class _NoOpHandler(BaseCallbackHandler):
    """LangChain's own cost of dispatching events to one inline handler."""

    run_inline = True


#: Clock used for every timing (set by ``--clock``).
_clock: Callable[[], float] = time.thread_time


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def _triple(fns: Sequence[Callable[[], object]], calls: int) -> tuple[float, ...]:
    """Median time (us) of each of ``fns``, called in turn ``calls`` times after a warm-up."""
    samples: list[list[float]] = [[] for _ in fns]
    warm = max(50, calls // 10)
    for i in range(warm + calls):
        for k, fn in enumerate(fns):
            t0 = _clock()
            fn()
            if i >= warm:
                samples[k].append(_clock() - t0)
    return tuple(_median_us(s) for s in samples)


def _atriple(fns: Sequence[Callable[[], Any]], calls: int) -> tuple[float, ...]:
    async def go() -> tuple[float, ...]:
        samples: list[list[float]] = [[] for _ in fns]
        warm = max(50, calls // 10)
        for i in range(warm + calls):
            for k, fn in enumerate(fns):
                t0 = _clock()
                await fn()
                if i >= warm:
                    samples[k].append(_clock() - t0)
        return tuple(_median_us(s) for s in samples)

    return asyncio.run(go())


def run_benchmark(calls: int = 2000) -> list[dict[str, float | str | int]]:
    """Measure every scenario; returns one row per scenario (times in microseconds)."""
    from green_chain.callbacks import EnergyCallbackHandler
    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.testing.meters import FakeMeterBackend
    from green_chain.testing.models import ScriptedChatModel, ai_message

    handler = EnergyCallbackHandler(
        EnergyMonitor([FakeMeterBackend(["gpu:0"])]), estimators=None, max_runs=2000
    )
    config = RunnableConfig(callbacks=[handler])
    model = ScriptedChatModel(
        responses=[ai_message("fine, thanks", input_tokens=12, output_tokens=3)], cycle=True
    )
    prompt = ChatPromptTemplate.from_messages([("human", "How are you, {name}?")])
    chain = prompt | model | StrOutputParser()
    noop = RunnableConfig(callbacks=[_NoOpHandler()])
    rows: list[dict[str, float | str | int]] = []

    def add(name: str, steps: int, times: tuple[float, ...]) -> None:
        base, no_op, with_h = times
        rows.append(
            {
                "scenario": name,
                "steps": steps,
                "no_handler_us": base,
                "noop_handler_us": no_op,
                "handler_us": with_h,
                "added_us_per_step": (with_h - no_op) / steps,
                "ratio_vs_noop": with_h / no_op if no_op > 0 else float("nan"),
            }
        )

    add(
        "model.invoke",
        1,
        _triple(
            [
                lambda: model.invoke("hi"),
                lambda: model.invoke("hi", config=noop),
                lambda: model.invoke("hi", config=config),
            ],
            calls,
        ),
    )
    add(
        "prompt|model|parser .invoke",
        4,
        _triple(
            [
                lambda: chain.invoke({"name": "Ada"}),
                lambda: chain.invoke({"name": "Ada"}, config=noop),
                lambda: chain.invoke({"name": "Ada"}, config=config),
            ],
            calls,
        ),
    )
    add(
        "model.ainvoke",
        1,
        _atriple(
            [
                lambda: model.ainvoke("hi"),
                lambda: model.ainvoke("hi", config=noop),
                lambda: model.ainvoke("hi", config=config),
            ],
            calls,
        ),
    )

    def handler_only() -> None:
        run_id = uuid4()
        handler.on_chain_start({}, {}, run_id=run_id, name="step")
        handler.on_chain_end({}, run_id=run_id)

    samples = []
    for _ in range(calls):
        t0 = _clock()
        handler_only()
        samples.append(_clock() - t0)
    own = _median_us(samples)
    rows.append(
        {
            "scenario": "handler only (start+end)",
            "steps": 1,
            "no_handler_us": 0.0,
            "noop_handler_us": 0.0,
            "handler_us": own,
            "added_us_per_step": own,
            "ratio_vs_noop": float("nan"),
        }
    )
    return rows


def format_rows(rows: list[dict[str, float | str | int]]) -> str:
    head = (
        f"{'scenario':<30} {'steps':>5} {'no handler µs':>14} {'no-op µs':>9} "
        f"{'handler µs':>11} {'added µs/step vs no-op':>23} {'ratio vs no-op':>15}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['scenario']!s:<30} {r['steps']:>5} {r['no_handler_us']:>14.1f} "
            f"{r['noop_handler_us']:>9.1f} {r['handler_us']:>11.1f} "
            f"{r['added_us_per_step']:>23.1f} {r['ratio_vs_noop']:>15.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per scenario")
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu", help="thread CPU time or wall time"
    )
    args = parser.parse_args(argv)
    if args.calls < 10:
        parser.error("--calls must be >= 10")
    global _clock
    _clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    rows = run_benchmark(args.calls)
    print(
        f"energy handler overhead, fake meter, {args.clock} time, "
        f"median of {args.calls} interleaved calls"
    )
    print(format_rows(rows))
    worst = max(float(r["added_us_per_step"]) for r in rows)
    print(f"target: < 100 µs added per step; worst here: {worst:.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
