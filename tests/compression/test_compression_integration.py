"""Real packaged models on a few real SQuAD items (offline)."""

from __future__ import annotations

import json
import os

import pytest

from green_chain.compression import PromptCompressor, tolerance

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def squad() -> list[dict]:
    from green_chain.paths import data_file

    path = data_file("qa/squad_v1.1_dev.jsonl", what="SQuAD v1.1 dev records")
    items = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if len(r["context"]) > 900:
                items.append(r)
            if len(items) == 3:
                break
    return items


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.parametrize("backend", ["embedding", "selective"])
def test_real_backends_hit_budget(backend: str, squad: list[dict]) -> None:
    from green_chain.models.token_counters import resolve_token_counter

    count = resolve_token_counter("smollm2-135m-instruct")
    c = PromptCompressor(backend, rate=0.5, token_counter="smollm2-135m-instruct")
    for item in squad:
        out = c.invoke({"context": item["context"], "question": item["question"]})["context"]
        target = round(0.5 * count(item["context"]))
        assert abs(count(out) - target) <= tolerance(target)
        assert out.strip()


@pytest.mark.parametrize("mode", ["llmlingua", "longllmlingua"])
def test_llmlingua_adapter_on_smollm2_offline(mode: str, squad: list[dict]) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    item = squad[0]
    c = PromptCompressor(mode, rate=0.5, token_counter="smollm2-135m-instruct")
    res = c.compress_text(item["context"], item["question"])
    assert res.target_tokens is not None
    assert abs(res.tokens_after - res.target_tokens) <= tolerance(res.target_tokens)
    assert "raw_relative_error" in res.stats
