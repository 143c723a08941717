"""profile_model with a fake model: exact prompt lengths, measured windows, fitted curve."""

from __future__ import annotations

import pytest

from green_chain.energy.monitor import EnergyMonitor
from green_chain.energy.profiling import parse_lengths, profile_model, prompt_ids
from green_chain.testing import FakeClock, FakeMeterBackend


class WordTokenizer:
    def encode(self, text, add_special_tokens=True):
        assert add_special_tokens is False
        return [hash(w) % 1000 for w in text.split()]


def test_profile_fits_the_fake_models_energy():
    clock = FakeClock()
    meter = FakeMeterBackend(["cpu:0"], kind="estimated", source="estimate")
    monitor = EnergyMonitor([meter], clock=clock)
    seen: list[int] = []

    def run(ids):  # a fake model: E(n) = 1e-5 n^2 + 0.01 n + 2 joules
        n = len(ids)
        seen.append(n)
        meter.add("cpu:0", 1e-5 * n * n + 0.01 * n + 2.0)
        clock.advance(0.001 * n)

    result = profile_model(
        run,
        WordTokenizer(),
        [64, 128, 256, 512],
        monitor,
        text="the quick brown fox jumps over the lazy dog",
        repeats=2,
        model_name="fake",
    )
    assert seen == [64, 64, 64, 128, 128, 256, 256, 512, 512]  # warm-up first
    c = result.curve
    assert (c.a, c.b, c.c) == pytest.approx((1e-5, 0.01, 2.0))
    assert c.kind == "estimated" and c.source == "estimate" and c.n_points == 8
    rows = result.table()
    assert [r["tokens"] for r in rows] == [64, 128, 256, 512]
    assert rows[0]["duration_s"] == pytest.approx(0.064)
    assert rows[-1]["predicted_j"] == pytest.approx(1e-5 * 512**2 + 0.01 * 512 + 2)
    assert monitor.open_keys == []


def test_profile_uses_net_energy_with_idle_baseline():
    clock = FakeClock()
    meter = FakeMeterBackend(["cpu:0"], power_w=10.0, clock=clock)
    monitor = EnergyMonitor([meter], clock=clock, idle_power_w={"cpu:0": 10.0})

    def run(ids):
        meter.add("cpu:0", 0.5 * len(ids))
        clock.advance(1.0)

    result = profile_model(run, WordTokenizer(), [1, 2, 3], monitor, text="a b", repeats=1)
    assert result.net_of_idle
    assert [p.energy_j for p in result.points] == pytest.approx([0.5, 1.0, 1.5])


def test_profile_without_meter_raises_clearly():
    meter = FakeMeterBackend(["gpu:0"])
    meter.fail("gpu:0", "no GPU")
    with pytest.raises(RuntimeError, match=r"no meter available.*no GPU"):
        profile_model(
            lambda ids: None,
            WordTokenizer(),
            [1, 2, 3],
            EnergyMonitor([meter]),
            text="a b c",
            repeats=1,
        )


def test_failing_run_cancels_its_window():
    monitor = EnergyMonitor([FakeMeterBackend()])

    def run(ids):
        if len(ids) == 2:
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        profile_model(run, WordTokenizer(), [1, 2, 3], monitor, text="a", warmup=False)
    assert monitor.open_keys == []


def test_prompt_ids_and_lengths():
    assert prompt_ids([1, 2, 3], 7) == [1, 2, 3, 1, 2, 3, 1]
    assert prompt_ids([1, 2, 3], 2) == [1, 2]
    with pytest.raises(ValueError, match="zero tokens"):
        prompt_ids([], 3)
    assert parse_lengths("256, 64,128,64") == [64, 128, 256]
    with pytest.raises(ValueError, match="comma-separated integers"):
        parse_lengths("64,abc,128")
    with pytest.raises(ValueError, match="at least 3"):
        parse_lengths("64,128")
