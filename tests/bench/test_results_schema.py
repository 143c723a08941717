"""The results.json shape check and the list of invalid figures."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from green_chain.bench.results import format_table, load_results
from green_chain.bench.results_schema import (
    ResultsFileError,
    check_results,
    invalid_figures,
    is_valid_energy,
)


def _doc(**scenario: Any) -> dict[str, Any]:
    entry = {
        "status": "ok",
        "n_items": 2,
        "energy_source": "estimated (fake)",
        "energy_baseline_j": 10.0,
        "energy_green_j": 4.0,
        "energy_saved_pct": 60.0,
        "quality_retained_pct": 100.0,
        "optimizer_energy_j": 0.5,
        "records": [{"energy_j": 2.0, "calls": [{"prompt_tokens": 12, "model_name": "m"}]}],
        **scenario,
    }
    overall = {k: entry[k] for k in ("energy_baseline_j", "energy_green_j", "energy_saved_pct")}
    overall.update(quality_retained_pct=100.0, energy_source="estimated (fake)")
    return {"overall": overall, "scenarios": {"squad": entry}}


def test_a_results_document_passes_and_extra_fields_are_kept() -> None:
    doc = _doc(new_field={"any": "thing"})
    assert check_results(doc, "r.json") is doc
    failed = {"overall": _doc()["overall"], "scenarios": {"x": {"status": "failed"}}}
    assert check_results(failed) is failed  # a failed scenario needs no figures


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (None, "r.json is not a green-chain results.json"),
        ({"overall": {}}, "r.json is not a green-chain results.json"),
        (_doc(n_items=True), "r.json: scenarios.squad.n_items must be a number, got bool True"),
        (_doc(error=3), "scenarios.squad.error must be a string or null"),
        (_doc(records=[{"calls": [7]}]), "scenarios.squad.records[0].calls[0] must be an object"),
        (
            _doc(energy_saved_pct_projected=50.0),
            "scenarios.squad.energy_baseline_j_projected is missing (a number)",
        ),
    ],
)
def test_wrong_shapes_name_the_field(doc: Any, message: str) -> None:
    with pytest.raises(ResultsFileError) as info:
        check_results(doc, "r.json")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_load_results_checks_the_shape(tmp_path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_doc(energy_green_j="4")))
    with pytest.raises(ResultsFileError, match="energy_green_j must be a number"):
        load_results(path)
    path.write_text("[" * 100_000)
    with pytest.raises(ResultsFileError, match=str(path)):
        load_results(path)


def test_invalid_figures_lists_non_finite_numbers_and_negative_energies() -> None:
    doc = _doc(energy_green_j=-1.0, quality_retained_pct=math.nan)
    doc["scenarios"]["squad"]["records"][0]["energy_j"] = math.inf
    assert invalid_figures(doc) == [
        "overall.energy_green_j = -1.0",
        "scenarios.squad.energy_green_j = -1.0",
        "scenarios.squad.quality_retained_pct = nan",
        "scenarios.squad.records[0].energy_j = inf",
    ]
    assert invalid_figures(_doc(energy_saved_pct=-20.0)) == []  # a loss, not an invalid figure
    assert [is_valid_energy(v) for v in (0.0, 3, -1e-9, math.nan, None, "1")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_table_shows_invalid_not_numbers() -> None:
    table = format_table(_doc(energy_baseline_j=math.nan, quality_retained_pct=math.inf))
    row = next(line for line in table.splitlines() if line.startswith("squad"))
    assert row.split()[2:6] == ["invalid", "4.00", "invalid", "invalid"]
