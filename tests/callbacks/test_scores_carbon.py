"""PER from record_score / evaluator, carbon per run, idle-net energy."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda

from green_chain.energy.carbon import CarbonIntensity
from green_chain.energy.idle import IdleBaseline


def _step(metered, joules: float, seconds: float = 1.0):
    return RunnableLambda(lambda x: (metered.work(joules, seconds), x)[1]).with_config(
        run_name="step"
    )


def test_record_score_defaults_to_latest_root(metered):
    chain = _step(metered, 20.0)
    chain.invoke(1, config={"callbacks": [metered.handler]})
    chain.invoke(2, config={"callbacks": [metered.handler]})
    metered.handler.record_score(80)
    first, second = metered.handler.records()
    assert first["score"] is None and first["per"] is None
    assert second["score"] == 80 and second["per"] == pytest.approx(80 / 20.0)
    metered.handler.record_score(50, run_id=first["run_id"])
    assert metered.handler.records()[0]["per"] == pytest.approx(2.5)
    report = metered.handler.report()
    assert report.by_step_type()[0]["per"] == pytest.approx((80 + 50) / 40.0)


def test_record_score_validates(metered):
    with pytest.raises(ValueError, match="no run recorded"):
        metered.handler.record_score(10)
    _step(metered, 1.0).invoke(1, config={"callbacks": [metered.handler]})
    with pytest.raises(ValueError, match="0-100"):
        metered.handler.record_score(101)
    with pytest.raises(KeyError, match="no kept run"):
        metered.handler.record_score(10, run_id="00000000-0000-0000-0000-000000000000")


def test_evaluator_scores_roots(metered_factory):
    seen = []

    def evaluator(inputs, outputs):
        seen.append((inputs, outputs))
        return 100.0 if outputs == 4 else 0.0

    m = metered_factory(evaluator=evaluator)
    chain = RunnableLambda(lambda x: (m.work(8.0), x * 2)[1])
    chain.invoke(2, config={"callbacks": [m.handler]})
    chain.invoke(3, config={"callbacks": [m.handler]})
    a, b = m.handler.records()
    assert seen == [(2, 4), (3, 6)]
    assert a["score"] == 100.0 and a["per"] == pytest.approx(100 / 8.0)
    assert b["score"] == 0.0 and b["per"] == 0.0


def test_failing_evaluator_is_logged_not_raised(metered_factory, caplog):
    m = metered_factory(evaluator=lambda i, o: 1 / 0)
    assert RunnableLambda(lambda x: x).invoke(5, config={"callbacks": [m.handler]}) == 5
    assert m.handler.records()[0]["score"] is None
    assert "evaluator failed" in caplog.text


def test_carbon_per_run(metered_factory):
    m = metered_factory(carbon=CarbonIntensity(intensity_g_per_kwh=400.0, pue=1.5))
    RunnableLambda(lambda x: (m.work(3.6e6), x)[1]).invoke(1, config={"callbacks": [m.handler]})
    rec = m.handler.records()[0]
    assert rec["carbon_kg"] == pytest.approx(1.0 * 1.5 * 400.0 / 1000.0)


def test_default_carbon_is_world_average(metered):
    _step(metered, 3.6e6).invoke(1, config={"callbacks": [metered.handler]})
    assert metered.handler.records()[0]["carbon_kg"] == pytest.approx(0.48)


def test_idle_baseline_gives_net_energy(metered_factory):
    m = metered_factory(idle_baseline=IdleBaseline(power_w={"gpu:0": 2.0}))
    RunnableLambda(lambda x: (m.work(10.0, 3.0), x)[1]).invoke(1, config={"callbacks": [m.handler]})
    rec = m.handler.records()[0]
    assert rec["energy_j"] == pytest.approx(10.0)
    assert rec["net_energy_j"] == pytest.approx(10.0 - 2.0 * 3.0)
    assert rec["domains"]["gpu:0"]["net_energy_j"] == pytest.approx(4.0)


def test_net_energy_none_without_baseline(metered):
    _step(metered, 1.0).invoke(1, config={"callbacks": [metered.handler]})
    assert metered.handler.records()[0]["net_energy_j"] is None
