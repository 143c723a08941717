"""The response-budget demonstration: parsing, arguments, and a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from green_chain.experiments import response_budget as exp


def test_label_parsing() -> None:
    assert exp._label_of("Positive.") == "positive"
    assert exp._label_of("negative, not positive") == "negative"
    assert exp._label_of("I think it is good") is None


def test_rejects_non_positive_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert exp.main(["--n-test", "0"]) == 2
    assert "--n-test must be >= 1" in capsys.readouterr().err


@pytest.mark.integration
def test_tiny_real_run(tmp_path: Path, shared_data_dir: Path) -> None:
    out = tmp_path / "rb.json"
    argv = ["--n-fit", "40", "--n-test", "3", "--n-turns", "3", "--max-new-tokens", "8"]
    assert exp.main([*argv, "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    tier = data["first_tier"]
    assert tier["n_test"] == 3 and 0.0 <= tier["with_first_tier"]["coverage"] <= 1.0
    assert tier["llm_only"]["llm_calls"] == 3
    assert tier["with_first_tier"]["llm_calls"] == 3 - tier["with_first_tier"]["answered"]
    budget = data["response_budget"]
    assert len(budget["baseline"]["per_turn"]) == 3
    assert all(n <= 8 for n in budget["response_budget"]["per_turn"])
    assert budget["baseline"]["energy_kind"] in ("estimated", "measured")
