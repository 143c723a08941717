"""Prefix KV reuse in ChatLocal, on tiny random models (a Llama, and a Gemma 3 with a
sliding window of 8 tokens so that prompts leave the window)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from green_chain.models import ChatLocal
from green_chain.models.prefix_cache import PrefixCache, shared_prefix_cache
from tests.conftest import save_tiny_gemma

QUESTION = "Tell me about the history of the cat and the dog, in detail please. " * 2


def _dialogue(chat: ChatLocal, turns: int) -> list[AIMessage]:
    history: list[BaseMessage] = [HumanMessage(QUESTION)]
    replies = []
    for turn in range(turns):
        reply = chat.invoke(history)
        replies.append(reply)
        history += [AIMessage(reply.content), HumanMessage(f"and then, on day {turn}?")]
    return replies


def _cache_read(msg: Any) -> int:
    return int(msg.usage_metadata["input_token_details"]["cache_read"])


@pytest.fixture()
def tiny_gemma_folder(tmp_path: Path, tiny_folder: Path) -> Path:
    pytest.importorskip("torch")
    return save_tiny_gemma(tmp_path, tiny_folder)


@pytest.mark.parametrize("folder", ["tiny_folder", "tiny_gemma_folder"])
def test_greedy_dialogue_identical_with_and_without_cache(
    folder: str, request: pytest.FixtureRequest
) -> None:
    path = str(request.getfixturevalue(folder))
    off = _dialogue(ChatLocal(model=path, max_new_tokens=10), 4)
    chat = ChatLocal(model=path, max_new_tokens=10, prefix_cache=True)
    chat.kv_cache.clear()  # type: ignore[union-attr]
    on = _dialogue(chat, 4)
    assert [m.content for m in on] == [m.content for m in off]
    assert [m.usage_metadata for m in off] == [
        {k: v for k, v in m.usage_metadata.items() if k != "input_token_details"}  # type: ignore[union-attr]
        for m in on
    ]
    reads = [_cache_read(m) for m in on]
    assert reads[0] == 0
    assert all(r > 0 for r in reads[2:]), reads  # the earlier turns are a prefix
    for m, r in zip(on, reads, strict=True):
        assert r % 16 == 0 and r < m.usage_metadata["input_tokens"]  # type: ignore[index]
    # the usage field only exists with the cache on
    assert all("input_token_details" not in m.usage_metadata for m in off)  # type: ignore[operator]


def test_stream_reads_and_matches_invoke(tiny_folder: Path) -> None:
    chat = ChatLocal(model=str(tiny_folder), max_new_tokens=8, prefix_cache=True)
    chat.kv_cache.clear()  # type: ignore[union-attr]
    first = chat.invoke(QUESTION)
    chunks = list(chat.stream(QUESTION))
    assert "".join(str(c.content) for c in chunks) == first.content
    last = chunks[-1].usage_metadata
    assert last is not None and last["input_token_details"]["cache_read"] > 0


def test_cache_shared_by_instances_of_one_model(tiny_folder: Path) -> None:
    a = ChatLocal(model=str(tiny_folder), prefix_cache=True, max_new_tokens=4)
    b = ChatLocal(model=str(tiny_folder), prefix_cache=True, max_new_tokens=2)
    assert a.kv_cache is b.kv_cache is not None
    a.kv_cache.clear()  # type: ignore[union-attr]
    a.invoke(QUESTION)
    assert _cache_read(b.invoke(QUESTION)) > 0
    assert ChatLocal(model=str(tiny_folder)).kv_cache is None


def test_batched_generation_neither_reads_nor_writes(tiny_folder: Path) -> None:
    chat = ChatLocal(model=str(tiny_folder), max_new_tokens=6, prefix_cache=True)
    cache = chat.kv_cache
    assert cache is not None
    cache.clear()
    chat.invoke(QUESTION)
    before = cache.stats()
    replies = chat.batch([QUESTION, QUESTION + " and the bird"])
    assert [_cache_read(m) for m in replies] == [0, 0]
    assert {m.response_metadata["batch_size"] for m in replies} == {2}
    after = cache.stats()
    assert (after.blocks, after.bytes) == (before.blocks, before.bytes)


def test_memory_bound_holds_under_concurrent_load(tiny_folder: Path, tiny_lm: Any) -> None:
    cache = PrefixCache(tiny_lm.model, max_bytes=0)
    one_block = _block_bytes(tiny_lm, cache.block_tokens)
    bound = 12 * one_block
    chat = ChatLocal(
        model=str(tiny_folder), max_new_tokens=6, prefix_cache=True, prefix_cache_bytes=bound
    )
    shared = chat.kv_cache
    assert shared is not None
    shared.clear()
    shared.resize(bound)
    seen: list[int] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(4):
                chat.invoke(f"user {i} asks question {j}: " + QUESTION)
                seen.append(shared.nbytes)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen and max(seen) <= bound
    stats = shared.stats()
    assert stats.evicted_blocks > 0 and stats.bytes <= bound
    _assert_reachable(shared)


def _block_bytes(lm: Any, block: int) -> int:
    cfg = lm.model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    return 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * block * head_dim * 4


def _assert_reachable(cache: PrefixCache) -> None:
    blocks = cache._by_id  # every cached block's parent is cached (no orphan memory)
    assert all(b.parent == 0 or b.parent in blocks for b in blocks.values())
    for b in blocks.values():
        assert b.children == sum(1 for c in blocks.values() if c.parent == b.id)


def test_eviction_keeps_recent_prefixes_and_exact_bound(tiny_lm: Any) -> None:
    import torch

    cache = PrefixCache(tiny_lm.model, max_bytes=4 * _block_bytes(tiny_lm, 16))
    model = tiny_lm.model

    def run(ids: list[int]) -> None:
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids]), use_cache=True)
        cache.store(ids, out["cache"] if "cache" in out else out["past_key_values"])

    a = [10 + i % 40 for i in range(33)]  # two whole blocks stored (32 of 33 tokens)
    b = [60 + i % 40 for i in range(49)]  # three blocks
    run(a)
    assert cache.stats().blocks == 2 and cache.lookup(a).tokens == 32
    run(b)  # 5 blocks > bound of 4: a's leaf (least recently used) goes first
    assert cache.stats().blocks == 4 and cache.nbytes <= cache.max_bytes
    assert cache.lookup(b).tokens == 48 and cache.lookup(a).tokens == 16
    _assert_reachable(cache)
    big = [110 + i % 100 for i in range(200)]  # more than the bound on its own: front blocks kept
    run(big)
    assert cache.nbytes <= cache.max_bytes
    assert cache.lookup(big).tokens == 64
    _assert_reachable(cache)


def test_bad_arguments(tiny_lm: Any, tiny_folder: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        PrefixCache(tiny_lm.model, max_bytes=-1)
    with pytest.raises(ValueError, match="block_tokens"):
        PrefixCache(tiny_lm.model, block_tokens=0)
    with pytest.raises(ValueError, match="prefix_cache_bytes"):
        ChatLocal(model=str(tiny_folder), prefix_cache=True, prefix_cache_bytes=-5)
    assert shared_prefix_cache(tiny_lm.model) is shared_prefix_cache(tiny_lm.model)


def test_cache_salt_isolates_prefix_caches(tiny_folder: Path) -> None:
    common = ChatLocal(model=str(tiny_folder), max_new_tokens=4, prefix_cache=True)
    salted = common.model_copy(update={"cache_salt": "green"})
    assert common.kv_cache is not salted.kv_cache
    assert salted.kv_cache is common.model_copy(update={"cache_salt": "green"}).kv_cache
    first = common.invoke(QUESTION)
    assert _cache_read(common.invoke(QUESTION)) > 0  # its own earlier call
    other = salted.invoke(QUESTION)
    assert _cache_read(other) == 0  # never the other salt's states
    assert other.content == first.content
