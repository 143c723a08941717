"""Added time of the energy handler per model call, with a fake meter.

Run: ``python -m green_chain.experiments.handler_overhead [--calls 2000]``

Each scenario runs the same runnable with and without an
:class:`~green_chain.callbacks.EnergyCallbackHandler` (reading a scripted
:class:`~green_chain.testing.meters.FakeMeterBackend`), interleaved call by call
in one process, and reports the median wall time of each (microseconds), the
added time per call and per step (run), and the ratio. ``handler only`` times
the handler's own start+end work for one run, without LangChain around it;
``no-op handler`` is LangChain's own cost of dispatching to any inline handler.
Target: under 100 microseconds added per step.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from uuid import uuid4

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig


class _NoOpHandler(BaseCallbackHandler):
    """LangChain's own cost of dispatching events to one inline handler."""

    run_inline = True


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def _pair(
    bare: Callable[[], object], metered: Callable[[], object], calls: int
) -> tuple[float, float]:
    a: list[float] = []
    b: list[float] = []
    for _ in range(max(50, calls // 10)):  # warm-up
        bare()
        metered()
    for _ in range(calls):
        t0 = time.perf_counter()
        bare()
        t1 = time.perf_counter()
        metered()
        t2 = time.perf_counter()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return _median_us(a), _median_us(b)


def _apair(
    bare: Callable[[], object], metered: Callable[[], object], calls: int
) -> tuple[float, float]:
    async def go() -> tuple[float, float]:
        a: list[float] = []
        b: list[float] = []
        for i in range(calls + max(50, calls // 10)):
            t0 = time.perf_counter()
            await bare()  # type: ignore[misc]
            t1 = time.perf_counter()
            await metered()  # type: ignore[misc]
            t2 = time.perf_counter()
            if i >= max(50, calls // 10):
                a.append(t1 - t0)
                b.append(t2 - t1)
        return _median_us(a), _median_us(b)

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
    rows: list[dict[str, float | str | int]] = []

    def add(name: str, steps: int, base: float, with_h: float) -> None:
        rows.append(
            {
                "scenario": name,
                "steps": steps,
                "no_handler_us": base,
                "handler_us": with_h,
                "added_us_per_call": with_h - base,
                "added_us_per_step": (with_h - base) / steps,
                "ratio": with_h / base if base > 0 else float("nan"),
            }
        )

    add(
        "model.invoke",
        1,
        *_pair(lambda: model.invoke("hi"), lambda: model.invoke("hi", config=config), calls),
    )
    add(
        "prompt|model|parser .invoke",
        4,
        *_pair(
            lambda: chain.invoke({"name": "Ada"}),
            lambda: chain.invoke({"name": "Ada"}, config=config),
            calls,
        ),
    )
    noop = RunnableConfig(callbacks=[_NoOpHandler()])
    add(
        "model.invoke, no-op handler",
        1,
        *_pair(lambda: model.invoke("hi"), lambda: model.invoke("hi", config=noop), calls),
    )
    add(
        "model.ainvoke",
        1,
        *_apair(lambda: model.ainvoke("hi"), lambda: model.ainvoke("hi", config=config), calls),
    )

    add(
        "model.ainvoke, no-op handler",
        1,
        *_apair(lambda: model.ainvoke("hi"), lambda: model.ainvoke("hi", config=noop), calls),
    )

    def handler_only() -> None:
        run_id = uuid4()
        handler.on_chain_start({}, {}, run_id=run_id, name="step")
        handler.on_chain_end({}, run_id=run_id)

    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        handler_only()
        samples.append(time.perf_counter() - t0)
    own = _median_us(samples)
    rows.append(
        {
            "scenario": "handler only (start+end)",
            "steps": 1,
            "no_handler_us": 0.0,
            "handler_us": own,
            "added_us_per_call": own,
            "added_us_per_step": own,
            "ratio": float("nan"),
        }
    )
    return rows


def format_rows(rows: list[dict[str, float | str | int]]) -> str:
    head = (
        f"{'scenario':<30} {'steps':>5} {'no handler µs':>14} {'handler µs':>11} "
        f"{'added µs/call':>14} {'added µs/step':>14} {'ratio':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['scenario']!s:<30} {r['steps']:>5} {r['no_handler_us']:>14.1f} "
            f"{r['handler_us']:>11.1f} {r['added_us_per_call']:>14.1f} "
            f"{r['added_us_per_step']:>14.1f} {r['ratio']:>6.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per scenario")
    args = parser.parse_args(argv)
    if args.calls < 10:
        parser.error("--calls must be >= 10")
    rows = run_benchmark(args.calls)
    print(f"energy handler overhead, fake meter, median of {args.calls} interleaved calls")
    print(format_rows(rows))
    worst = max(float(r["added_us_per_step"]) for r in rows)
    print(f"target: < 100 µs added per step; worst here: {worst:.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
