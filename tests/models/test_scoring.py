from __future__ import annotations

import math
from typing import Any

import pytest

from green_chain.models.scoring import _split_ids, score_with


def _manual(lm: Any, prompt: str, cont: str) -> tuple[float, int]:
    """Unbatched reference: one forward per item, no padding."""
    import torch

    ids, k = _split_ids(lm.tokenizer, prompt, cont)
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0]
    lp = logits.log_softmax(-1)
    return sum(float(lp[j - 1, ids[j]]) for j in range(k, len(ids))), len(ids) - k


def test_batched_scores_match_unbatched_reference(tiny_lm: Any) -> None:
    prompts = ["the cat", "a much longer prompt about the weather today", "x"]
    conts = [" sat on the mat", " is sunny", " y z"]
    scores = score_with(tiny_lm.model, tiny_lm.tokenizer, prompts, conts, batch_size=2)
    for s, p, c in zip(scores, prompts, conts, strict=True):
        ref, n = _manual(tiny_lm, p, c)
        assert s.n_tokens == n
        assert s.logprob_sum == pytest.approx(ref, abs=1e-3)
        assert s.mean_logprob == pytest.approx(ref / n, abs=1e-3)
        assert s.logprob_sum < 0


def test_prompt_tokens_are_not_scored(tiny_lm: Any) -> None:
    tok = tiny_lm.tokenizer
    n_cont = len(tok(" sat", add_special_tokens=False)["input_ids"])
    (s,) = score_with(tiny_lm.model, tok, ["the cat"], [" sat"])
    assert s.n_tokens == n_cont
    long_prompt = score_with(tiny_lm.model, tok, ["blah " * 20 + "the cat"], [" sat"])[0]
    assert long_prompt.n_tokens == n_cont


def test_boundary_merge_counts_as_continuation(tiny_lm: Any) -> None:
    # "Ġt" + "he" merge into "Ġthe" in the tiny BPE: the merged token is continuation.
    ids, k = _split_ids(tiny_lm.tokenizer, "say t", "he end")
    full = tiny_lm.tokenizer("say the end", add_special_tokens=True)["input_ids"]
    assert ids == full and 0 < k < len(ids)


def test_single_prompt_broadcast_and_errors(tiny_lm: Any) -> None:
    m, t = tiny_lm.model, tiny_lm.tokenizer
    a = score_with(m, t, "the cat", [" sat", " ran"])
    b = score_with(m, t, ["the cat", "the cat"], [" sat", " ran"])
    assert [x.logprob_sum for x in a] == pytest.approx([x.logprob_sum for x in b])
    with pytest.raises(ValueError, match="2 prompts but 1"):
        score_with(m, t, ["a", "b"], [" c"])
    with pytest.raises(ValueError, match="no tokens"):
        score_with(m, t, ["a"], [""])
    with pytest.raises(TypeError):
        score_with(m, t, ["a"], " c")


def test_module_function_accepts_loaded_model(tiny_lm: Any) -> None:
    from green_chain.models import score_continuations

    (s,) = score_continuations(["the cat"], [" sat"], model=tiny_lm)
    assert s.n_tokens >= 1 and not math.isnan(s.mean_logprob)
