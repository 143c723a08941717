"""``shared_prompt=True``: the prompt prefilled once gives the per-pair scores (tiny Llama)."""

from __future__ import annotations

from typing import Any

import pytest

from green_chain.models.scoring import score_with

PROMPT = "Context: the tower was finished in 1889 in Paris.\nQuestion: when?\nAnswer:"
CONTS = [" 1889", " in Paris", " never, it was not built at all", " 1"]


def test_same_scores_as_per_pair_scoring(tiny_lm: Any) -> None:
    model, tok = tiny_lm.model, tiny_lm.tokenizer
    shared = score_with(model, tok, PROMPT, CONTS, shared_prompt=True)
    ref = score_with(model, tok, [PROMPT] * len(CONTS), CONTS)
    assert [s.n_tokens for s in shared] == [r.n_tokens for r in ref]
    assert all(r.n_tokens >= 1 for r in ref)
    for s, r in zip(shared, ref, strict=True):
        assert s.logprob_sum == pytest.approx(r.logprob_sum, abs=1e-3)
        assert s.mean_logprob == pytest.approx(r.mean_logprob, abs=1e-3)
    # a different prompt changes the scores (the cache really carries the prompt)
    other = score_with(model, tok, "Something else entirely:", CONTS, shared_prompt=True)
    assert any(
        abs(a.logprob_sum - b.logprob_sum) > 1e-3 for a, b in zip(shared, other, strict=True)
    )


def test_shared_prompt_runs_the_prompt_once(tiny_lm: Any) -> None:
    """One prefill of the prompt, then one forward over the candidates' tails."""
    calls: list[int] = []
    model = tiny_lm.model
    handle = model.register_forward_pre_hook(
        lambda _m, args, kwargs: calls.append(int(kwargs["input_ids"].numel())), with_kwargs=True
    )
    try:
        score_with(model, tiny_lm.tokenizer, PROMPT, CONTS, shared_prompt=True)
        shared_tokens = sum(calls)
        calls.clear()
        score_with(model, tiny_lm.tokenizer, PROMPT, CONTS, batch_size=len(CONTS))
        batched_tokens = sum(calls)
    finally:
        handle.remove()
    n_prompt = len(tiny_lm.tokenizer(PROMPT)["input_ids"])
    assert batched_tokens >= len(CONTS) * n_prompt
    assert shared_tokens < batched_tokens - (len(CONTS) - 2) * n_prompt


def test_different_prompts_take_the_batched_path(tiny_lm: Any) -> None:
    prompts = ["the cat", "a dog"]
    conts = [" sat", " ran"]
    model, tok = tiny_lm.model, tiny_lm.tokenizer
    a = score_with(model, tok, prompts, conts, shared_prompt=True)
    b = score_with(model, tok, prompts, conts)
    assert [x.logprob_sum for x in a] == pytest.approx([x.logprob_sum for x in b], abs=1e-5)


def test_empty_continuations(tiny_lm: Any) -> None:
    assert score_with(tiny_lm.model, tiny_lm.tokenizer, "x", [], shared_prompt=True) == []
    with pytest.raises(ValueError, match="no tokens to score"):
        score_with(tiny_lm.model, tiny_lm.tokenizer, "abc", ["", " d"], shared_prompt=True)
