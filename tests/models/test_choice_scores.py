"""``ChatLocal.choice_scores``: choices scored after the prompt a call reads, through the
prefix cache, and (``store=False``) without changing the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from green_chain.models import ChatLocal, load_causal_lm
from green_chain.models.prompting import render
from green_chain.models.scoring import score_with
from tests.conftest import save_tiny_gemma

#: Long enough for several 16-token blocks (and past the tiny Gemma's 8-token window).
PROMPT = (
    "Context: the committee met in the old hall on a rainy Tuesday and voted on the budget "
    "of the town library, which had asked for new shelves.\nQuestion: where did they meet?\n"
    "Answer:"
)
CHOICES = [" the old hall", " a rainy Tuesday", " the town library", " new shelves"]


@pytest.fixture()
def tiny_gemma_folder(tmp_path: Path, tiny_base_folder: Path) -> Path:
    pytest.importorskip("torch")
    return save_tiny_gemma(tmp_path, tiny_base_folder, seed=5)


def _state(chat: ChatLocal) -> tuple[Any, list[int]]:
    kv = chat.kv_cache
    assert kv is not None
    return kv.stats(), kv.lru_order()


class _Spy:
    """Counts the tokens each forward pass of a model computes (rows x width)."""

    def __init__(self, model: Any) -> None:
        self.calls: list[tuple[int, int]] = []
        self._handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.calls.append(tuple(ids.shape))

    def close(self) -> None:
        self._handle.remove()


@pytest.mark.parametrize("folder", ["tiny_base_folder", "tiny_gemma_folder"])
def test_probe_after_a_call_reads_the_prompt_and_leaves_the_cache_unchanged(
    folder: str, request: pytest.FixtureRequest
) -> None:
    path = str(request.getfixturevalue(folder))
    lm = load_causal_lm(path)
    chat = ChatLocal(
        model=path, base_prompt="completion", prefix_cache=True, max_tokens=6, cache_salt=folder
    )
    chat.kv_cache.clear()  # type: ignore[union-attr]
    messages = [HumanMessage(PROMPT)]
    chat.invoke(messages)  # the metered call: stores the prompt's (and reply's) states
    before = _state(chat)
    prompt_ids = render(lm, messages, base_prompt="completion").ids
    spy = _Spy(lm.model)
    try:
        scores = chat.choice_scores(messages, CHOICES, store=False)
    finally:
        spy.close()
    assert _state(chat) == before  # blocks, bytes, counters and LRU order untouched
    # one prefill of the prompt's uncached tail (less than a block), then the choices
    (prefill_rows, prefill_width), (rows, width) = spy.calls
    assert prefill_rows == 1 and prefill_width < 16 < len(prompt_ids)
    assert rows == len(CHOICES)
    n_choice = [s.n_tokens for s in scores]
    assert width <= max(n_choice) + 1
    # the same scores as scoring the rendered prompt from scratch (no cache)
    text = render(lm, messages, base_prompt="completion").text
    expected = score_with(lm.model, lm.tokenizer, text, CHOICES)
    for got, want in zip(scores, expected, strict=True):
        assert got.n_tokens == want.n_tokens
        assert got.logprob_sum == pytest.approx(want.logprob_sum, abs=1e-4)


def test_a_read_only_probe_does_not_change_the_next_call(tiny_base_folder: Path) -> None:
    path = str(tiny_base_folder)

    def run(probe: bool) -> list[Any]:
        # a tight bound (about one and a half prompts): whatever a probe stored, touched or
        # counted would show in the next calls' usage or in the cache's statistics
        chat = ChatLocal(
            model=path,
            base_prompt="completion",
            prefix_cache=True,
            max_tokens=4,
            cache_salt=f"next-{probe}",
            prefix_cache_bytes=60_000,
        )
        chat.kv_cache.clear()  # type: ignore[union-attr]
        out = []
        for i in range(3):
            msgs = [HumanMessage(f"{PROMPT} {i}")]
            reply = chat.invoke(msgs)
            out.append((reply.content, reply.usage_metadata))
            if probe:
                chat.choice_scores(msgs, CHOICES, store=False)
        out.append(_state(chat)[0])
        return out

    assert run(probe=True) == run(probe=False)


def test_store_true_counts_as_a_read(tiny_base_folder: Path) -> None:
    chat = ChatLocal(
        model=str(tiny_base_folder), base_prompt="completion", prefix_cache=True, cache_salt="st"
    )
    chat.kv_cache.clear()  # type: ignore[union-attr]
    chat.choice_scores(PROMPT, CHOICES)
    stats = chat.kv_cache.stats()  # type: ignore[union-attr]
    assert stats.lookups == 1 and stats.blocks > 0


def test_chat_template_prompt_is_the_calls_prompt(tiny_folder: Path) -> None:
    lm = load_causal_lm(tiny_folder)
    chat = ChatLocal(model=str(tiny_folder))
    scores = chat.choice_scores([HumanMessage(PROMPT)], CHOICES)
    text = render(lm, [HumanMessage(PROMPT)]).text
    assert text.endswith("<|assistant|>")
    expected = score_with(lm.model, lm.tokenizer, text, CHOICES)
    assert [s.logprob_sum for s in scores] == pytest.approx(
        [e.logprob_sum for e in expected], abs=1e-4
    )


@pytest.mark.parametrize("bad", [[], "yes", ["ok", ""], [1]])
def test_bad_choices_are_rejected(tiny_base_folder: Path, bad: Any) -> None:
    chat = ChatLocal(model=str(tiny_base_folder))
    with pytest.raises(ValueError, match="choices"):
        chat.choice_scores(PROMPT, bad)
