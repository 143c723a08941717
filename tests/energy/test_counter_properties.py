"""Property tests: wrap-around accumulation equals the true sum of increments."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from green_chain.energy.backends.rapl import wrap_delta_uj
from green_chain.testing import FakePowercapTree


@given(
    max_range=st.integers(2, 10**12),
    data=st.data(),
)
def test_wrap_delta_accumulates_true_sum(max_range, data):
    start = data.draw(st.integers(0, max_range - 1))
    increments = data.draw(st.lists(st.integers(0, max_range - 1), max_size=50))
    raw, total = start, 0
    for inc in increments:
        new_raw = (raw + inc) % max_range
        total += wrap_delta_uj(raw, new_raw, max_range)
        raw = new_raw
    assert total == sum(increments)


@settings(max_examples=30, deadline=None)
@given(
    start=st.integers(0, 999),
    increments=st.lists(st.integers(0, 999), min_size=1, max_size=20),
)
def test_rapl_backend_readings_equal_true_energy(tmp_path_factory, start, increments):
    tree = FakePowercapTree(tmp_path_factory.mktemp("powercap"))
    zone = tree.add_zone("package-0", energy_uj=start, max_energy_range_uj=1000)
    backend = tree.backend()
    first = backend.read()["cpu:package-0"].energy_j
    previous = first
    for inc in increments:
        zone.add_energy_uj(inc)
        now = backend.read()["cpu:package-0"].energy_j
        assert now >= previous  # readings go forward
        previous = now
    assert round((previous - first) * 1e6) == sum(increments)
