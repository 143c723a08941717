"""The shared-prompt scorer equals the packaged per-pair scorer (tiny random model)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from green_chain.bench.prefix_scoring import score_shared_prompt  # noqa: E402
from green_chain.models.scoring import score_with  # noqa: E402


class CharTokenizer:
    """Character-level ids with a BOS token (enough for both scorers)."""

    pad_token_id = 0
    bos_token_id = 1
    eos_token_id = 2

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = [3 + (ord(ch) % 250) for ch in text]
        return {"input_ids": ([self.bos_token_id] if add_special_tokens else []) + ids}


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=260,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    return transformers.LlamaForCausalLM(config).eval()


def test_same_scores_as_per_pair_scoring(tiny_model):
    tok = CharTokenizer()
    prompt = "Context: the tower was finished in 1889 in Paris.\nQuestion: when?\nAnswer:"
    conts = [" 1889", " in Paris", " never, it was not built at all", " 1"]
    shared = score_shared_prompt(tiny_model, tok, prompt, conts)
    ref = score_with(tiny_model, tok, [prompt] * len(conts), conts)
    assert [n for _, n in shared] == [r.n_tokens for r in ref] == [len(c) for c in conts]
    for (s, _), r in zip(shared, ref, strict=True):
        assert s == pytest.approx(r.logprob_sum, abs=1e-3)
    # a different prompt changes the scores (the cache really carries the prompt)
    other = score_shared_prompt(tiny_model, tok, "Something else entirely:", conts)
    assert any(abs(a[0] - b[0]) > 1e-3 for a, b in zip(shared, other, strict=True))


def test_rejects_empty_continuations(tiny_model):
    assert score_shared_prompt(tiny_model, CharTokenizer(), "x", []) == []
    with pytest.raises(ValueError, match="no scorable token"):
        score_shared_prompt(tiny_model, CharTokenizer(), "abc", ["", " d"])
