"""The handler-overhead benchmark runs and reports the ratio against a no-op handler."""

from __future__ import annotations

import math

from green_chain.experiments import handler_overhead


def test_rows_compare_against_a_no_op_handler_in_the_same_run(capsys):
    rows = handler_overhead.run_benchmark(calls=10)
    names = [r["scenario"] for r in rows]
    assert names[:3] == ["model.invoke", "prompt|model|parser .invoke", "model.ainvoke"]
    for r in rows[:3]:
        assert r["noop_handler_us"] > 0 and r["handler_us"] > 0
        assert math.isclose(r["ratio_vs_noop"], r["handler_us"] / r["noop_handler_us"])
    assert handler_overhead.main(["--calls", "10", "--clock", "wall"]) == 0
    assert "ratio vs no-op" in capsys.readouterr().out
