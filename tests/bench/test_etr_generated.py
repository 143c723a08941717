"""The compression-rate sweep judged on generated answers, on calibration items."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from green_chain.bench.etr_generated import generated_sweep
from green_chain.bench.scenarios import get_scenarios
from green_chain.bench.scenarios.base import ScenarioEnv

ANSWERS = ("Atlantic ocean", "1903", "Gustave Eiffel")


class Extractor(BaseChatModel):
    """Answers with the first known answer its prompt still contains (else "no idea"):
    a reader whose answer is right exactly while compression keeps the evidence."""

    max_tokens: int | None = None
    stop: list[str] | None = None

    @property
    def _llm_type(self) -> str:
        return "extractor"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any):
        text = "\n".join(str(m.content) for m in messages)
        answer = next((a for a in ANSWERS if a in text), "no idea")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])


def _env(fake_components, tiny_data):
    (squad,) = get_scenarios(["squad"])
    split = squad.split(tiny_data, 4, 0)
    comps = fake_components
    comps.models = {"cheap": Extractor(), "large": Extractor()}
    return squad, ScenarioEnv(comps, split.calibration, stop=squad.stop), split


def test_the_sweep_scores_generated_answers_per_rate(fake_components, tiny_data, meter_env) -> None:
    squad, env, split = _env(fake_components, tiny_data)
    items = split.calibration[:6]
    out = generated_sweep(squad, env, items, (0.5, 0.1), monitor=meter_env[2], n_resamples=1000)
    assert out["items_from"] == "calibration" and out["item_ids"] == [it.id for it in items]
    assert not set(out["item_ids"]) & {it.id for it in split.test}
    rates = [p["rate"] for p in out["sweep"]]
    assert rates == [1.0, 0.5, 0.1]
    full, half, tenth = out["sweep"]
    # uncompressed, the reader finds every answer; a tenth of the context loses the late ones
    assert full["quality"] == pytest.approx(1.0)
    assert tenth["quality"] < full["quality"]
    assert tenth["prompt_tokens"] < half["prompt_tokens"] < full["prompt_tokens"]
    assert full["token_share"] == 1.0 and 0 < tenth["token_share"] < 1
    assert full["quality_delta_pts"] == 0.0
    assert tenth["quality_delta_pts"] == pytest.approx(100 * (tenth["quality"] - 1.0))
    lo, hi = tenth["quality_delta_ci95"]
    assert lo <= tenth["quality_delta_pts"] <= hi
    assert all(len(v) == len(items) for v in out["per_item"].values())
    assert all(p["failed"] == 0 for p in out["sweep"])
    # the mean rule: the smallest rate within 5 % of the uncompressed quality
    kept = [p["rate"] for p in out["sweep"] if p["quality"] >= 0.95 * full["quality"]]
    assert out["validated_rate"] == min(kept)
    assert out["validated_rate_ci"] is not None and out["validated_rate_ci"] <= 1.0


def test_bad_sweeps_fail_at_the_boundary(fake_components, tiny_data) -> None:
    squad, env, split = _env(fake_components, tiny_data)
    with pytest.raises(ValueError, match=r"rates must be in \(0, 1\]"):
        generated_sweep(squad, env, split.calibration[:2], (0.0,))
    with pytest.raises(ValueError, match="needs calibration items"):
        generated_sweep(squad, env, [], (0.5,))
    (sst2,) = get_scenarios(["sst2"])
    with pytest.raises(ValueError, match="sst2 has no compression to sweep"):
        generated_sweep(sst2, env, split.calibration[:2], (0.5,))


def test_the_experiment_reports_frozen_and_generated_rates(
    fake_components, tiny_data, monkeypatch, tmp_path, capsys
) -> None:
    import json

    import green_chain.bench.components as components_module
    from green_chain.experiments import compression_generated

    fake_components.models = {"cheap": Extractor(), "large": Extractor()}
    import green_chain.bench.threads as threads_module

    monkeypatch.setattr(components_module, "default_components", lambda **_: fake_components)
    monkeypatch.setattr(threads_module, "limit_threads", lambda n: {})  # keep pytest's pools
    out = tmp_path / "sweep.json"
    argv = ["--data", str(tiny_data), "--scenarios", "squad,sst2", "--items", "4"]
    assert compression_generated.main([*argv, "--rates", "0.5", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    squad = doc["generated"]["scenarios"]["squad"]
    assert "sst2" not in doc["generated"]["scenarios"]  # nothing to compress there
    assert doc["seed"] == 0 and set(squad["item_ids"]) <= set(doc["calibration_ids"]["squad"])
    assert squad["frozen_rate"] == 0.25  # docs/results/tuning/compression.json
    assert [p["rate"] for p in squad["sweep"]] == [1.0, 0.5] and len(squad["item_ids"]) == 4
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["scenario"] == "squad" and line["validated_rate"] == squad["validated_rate"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--items", "1"], "--items must be >= 2"),
        (["--rates", "0.5,x"], "--rates must be comma-separated numbers"),
        (["--rates", "1.5"], r"--rates must be in \(0, 1\]"),
        (["--scenarios", "nope"], "--scenarios"),
    ],
)
def test_the_experiment_names_a_bad_argument(argv, message, capsys) -> None:
    from green_chain.experiments import compression_generated

    with pytest.raises(SystemExit) as exc:
        compression_generated.main(argv)
    assert exc.value.code == 2
    import re

    assert re.search(message, capsys.readouterr().err)
