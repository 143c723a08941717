"""The llmlingua adapter: each upstream failure reproduced first, then fixed by ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import make_text

from green_chain.compression import PromptCompressor, tolerance
from green_chain.compression.backends.llmlingua import LLMLinguaBackend, align_kept
from green_chain.compression.units import split_words

pytest.importorskip("llmlingua")
torch = pytest.importorskip("torch")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """tiktoken cannot download and has no cached files."""
    import requests
    import tiktoken.registry

    def offline(*a: Any, **k: Any) -> Any:
        raise requests.ConnectionError("network disabled in this test")

    monkeypatch.setattr(requests, "get", offline)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})


def test_upstream_init_needs_network(no_network: None) -> None:
    import requests
    from llmlingua import PromptCompressor as Upstream

    with pytest.raises(requests.ConnectionError):
        Upstream(model_name="does-not-matter", device_map="cpu")


def test_offline_encoding(no_network: None) -> None:
    from green_chain.compression.llmlingua_adapter import offline_cl100k

    enc = offline_cl100k()
    assert enc.encode("hello world") == [15339, 1917]  # cl100k_base ids


def _upstream_with(lm: Any) -> Any:
    """The stock llmlingua compressor with our model set directly (bypassing its init)."""
    from llmlingua import PromptCompressor as Upstream

    from green_chain.compression.llmlingua_adapter import offline_cl100k

    c = object.__new__(Upstream)
    c.__dict__.update(
        model=lm.model, tokenizer=lm.tokenizer, device="cpu", max_position_embeddings=512,
        cache_bos_num=10, prefix_bos_num=100, use_llmlingua2=False, retrieval_model=None,
        retrieval_model_name=None, open_api_config={}, oai_tokenizer=offline_cl100k(),
    )  # fmt: skip
    return c


def test_upstream_breaks_on_transformers5_cache(tiny_lm: Any) -> None:
    c = _upstream_with(tiny_lm)
    with pytest.raises((ValueError, TypeError)):
        c.compress_prompt([make_text(600, 1)], rate=0.5, use_context_level_filter=False)


def test_adapter_llmlingua_works(tiny_lm: Any, no_network: None) -> None:
    from green_chain.compression.llmlingua_adapter import OfflineLLMLingua

    c = OfflineLLMLingua(tiny_lm.model, tiny_lm.tokenizer)
    text = make_text(600, 1)
    res = c.compress_prompt([text], rate=0.5, use_context_level_filter=False)
    assert 0 < res["compressed_tokens"] < res["origin_tokens"]


def test_adapter_longllmlingua_works(tiny_lm: Any) -> None:
    from green_chain.compression.llmlingua_adapter import OfflineLLMLingua

    c = OfflineLLMLingua(tiny_lm.model, tiny_lm.tokenizer)
    res = c.compress_prompt(
        [make_text(300, 2), make_text(300, 3)], question="paris tower", rate=0.4,
        rank_method="longllmlingua", condition_in_question="after", condition_compare=True,
        concate_question=False,
    )  # fmt: skip
    assert 0 < res["compressed_tokens"] < res["origin_tokens"]


def test_cache_round_trip(tiny_lm: Any) -> None:
    from green_chain.compression.llmlingua_adapter import from_legacy_cache, to_legacy_cache

    out = tiny_lm.model(torch.tensor([[2, 8, 9, 10]]), use_cache=True)
    legacy = to_legacy_cache(out.past_key_values)
    assert len(legacy) == 2 and legacy[0][0].shape[2] == 4
    again = to_legacy_cache(from_legacy_cache(legacy))
    assert torch.equal(again[1][1], legacy[1][1])


def test_align_kept() -> None:
    units = split_words("the tower was built in 1889 by the engineer")
    assert align_kept(units, "tower built 1889 engin") == [
        False, True, False, True, False, True, False, False, False,
    ]  # fmt: skip


def test_backend_budget_and_raw_deviation(tiny_lm: Any) -> None:
    tok = tiny_lm.tokenizer
    c = PromptCompressor(
        LLMLinguaBackend("llmlingua", model=tiny_lm, chunk_words=400), rate=0.5,
        token_counter=tok,
    )  # fmt: skip
    text = make_text(900, 5)
    res = c.compress_text(text)
    assert abs(res.tokens_after - res.target_tokens) <= tolerance(res.target_tokens)  # type: ignore[arg-type]
    assert "raw_relative_error" in res.stats and isinstance(res.stats["raw_tokens"], int)


def test_llmlingua2_requires_path() -> None:
    with pytest.raises(ValueError, match=r"model_path=.*no LLMLingua-2 checkpoint ships.*DIR"):
        LLMLinguaBackend("llmlingua2")
    with pytest.raises(ValueError, match="huggingface-cli download microsoft/llmlingua-2"):
        PromptCompressor("llmlingua2")
    with pytest.raises(FileNotFoundError, match=r"not a model folder.*cannot run offline"):
        PromptCompressor("llmlingua2", backend_kwargs={"model_path": "/nonexistent/llmlingua2"})
    with pytest.raises(FileNotFoundError, match="LLMLingua-2 model folder"):
        from green_chain.compression.llmlingua_adapter import OfflineLLMLingua

        OfflineLLMLingua.from_llmlingua2_path("/nonexistent/llmlingua2")


@pytest.fixture
def tiny_bert_path(tmp_path: Path) -> str:
    """A randomly initialised BERT token classifier (2 labels) saved to tmp_path.

    No real LLMLingua-2 weights are available offline; this checks the code path only.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    words = sorted({w for w in make_text(400, 0).split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "##s", "##ing"]
    wp = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.decoder = decoders.WordPiece()
    tok = BertTokenizerFast(
        tokenizer_object=wp, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    )  # fmt: skip
    assert "[UNK]" not in tok.tokenize("paris towers")
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, num_labels=2, max_position_embeddings=512,
    )  # fmt: skip
    torch.manual_seed(0)
    BertForTokenClassification(cfg).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    return str(tmp_path / "m")


def test_llmlingua2_with_user_model_path(tiny_bert_path: str, no_network: None) -> None:
    c = PromptCompressor(
        "llmlingua2", rate=0.4, backend_kwargs={"model_path": tiny_bert_path},
        token_counter=lambda t: len(t.split()),
    )  # fmt: skip
    text = make_text(800, 6)
    res = c.compress_text(text)
    assert res.backend == "llmlingua2"
    target = round(0.4 * len(text.split()))
    assert abs(res.tokens_after - target) <= tolerance(target)
    assert "raw_tokens" in res.stats
