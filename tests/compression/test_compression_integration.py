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


@pytest.mark.parametrize("backend", ["lexical", "embedding", "learned", "selective"])
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


def test_qa_items_split_is_disjoint_and_stable() -> None:
    from green_chain.compression.qa_items import nq_items, squad_items

    sq_test, sq_tune = squad_items("test"), squad_items("tune")
    assert not {r["title"] for r in sq_test} & {r["title"] for r in sq_tune}
    assert [r["id"] for r in squad_items("test", 5)] == [r["id"] for r in sq_test[:5]]
    nq_test = nq_items("test", 40)
    assert all(int(r["id"].rsplit("-", 1)[1]) % 2 == 0 for r in nq_test)
    assert not {r["id"] for r in nq_test} & {r["id"] for r in nq_items("tune")}
    with pytest.raises(ValueError, match="split"):
        squad_items("train")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["lexical", "learned"])
def test_whitespace_free_text_with_real_tokenizer(backend: str) -> None:
    from green_chain.models.token_counters import resolve_token_counter

    text = json.dumps(
        [{"id": i, "name": f"item{i}", "v": i * 1.5} for i in range(700)], separators=(",", ":")
    )
    count = resolve_token_counter("smollm2-135m-instruct")
    for rate in (0.5, 0.9):
        c = PromptCompressor(backend, rate=rate, token_counter="smollm2-135m-instruct")
        res = c.compress_text(text, "What is the name of item 7?")
        assert res.text and res.target_tokens is not None
        assert abs(count(res.text) - res.target_tokens) <= tolerance(res.target_tokens)


def test_experiment_prints_table_with_truncation_row(capsys: pytest.CaptureFixture[str]) -> None:
    from green_chain.experiments.compression import main

    args = "--parts squad,nq --no-score --backends lexical --squad-items 4 --nq-items 4"
    assert main(args.split()) == 0
    out = capsys.readouterr().out
    assert "| backend | SQuAD 0.5 | NQ 0.5 | SQuAD 0.33 | NQ 0.33 | tokens/s |" in out
    assert "| `lexical` |" in out and "| keep the head |" in out
    assert '"split": "test (green_chain.compression.qa_items)"' in out
