"""Fakes for the compression tests: counters, embeddings, a tiny random causal LM."""

from __future__ import annotations

import hashlib
import math
import re
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "was",
    "it",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "this",
    "be",
    "are",
    "or",
    "an",
    "have",
    "he",
    "she",
    "they",
    "we",
    "you",
    "i",
    "not",
    "but",
    "paris",
    "france",
    "capital",
    "city",
    "river",
    "seine",
    "tower",
    "museum",
    "1889",
    "eiffel",
    "built",
    "year",
    "people",
    "live",
    "north",
    "south",
    "water",
]


def word_count(text: str) -> int:
    """Fake token counter: one token per whitespace word."""
    return len(text.split())


def char_count(text: str) -> int:
    """Fake token counter that is NOT additive over units: ceil(chars / 4)."""
    return math.ceil(len(text.strip()) / 4)


class FakeEmbeddings(Embeddings):
    """Deterministic bag-of-words embeddings (hashed words, 64 dims)."""

    dim = 64

    def __init__(self) -> None:
        self.calls: list[int] = []

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for w in re.findall(r"\w+", text.lower()):
            h = int(hashlib.md5(w.encode()).hexdigest(), 16)
            v[h % self.dim] += 1.0
        return v

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


@pytest.fixture
def fake_embeddings() -> FakeEmbeddings:
    return FakeEmbeddings()


def _tiny_tokenizer() -> Any:
    """A byte-level BPE tokenizer trained on the fake vocabulary (decode round-trips)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [make_text(200, i) for i in range(20)] + ["Question: Context:\n\n"]
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )


@pytest.fixture(scope="session")
def tiny_lm() -> Any:
    """A randomly initialised 2-layer Llama with a word-level tokenizer (a fake LoadedModel)."""
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = _tiny_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
    )
    model = LlamaForCausalLM(cfg).eval()
    return SimpleNamespace(model=model, tokenizer=tok, name="tiny-llama")


def make_text(n_words: int, seed: int = 0) -> str:
    """Sentences of vocabulary words, ``n_words`` words in all."""
    import random

    rnd = random.Random(seed)
    out: list[str] = []
    sent: list[str] = []
    for _ in range(n_words):
        sent.append(rnd.choice(WORDS))
        if len(sent) >= rnd.randint(6, 14):
            out.append(" ".join(sent) + " .")
            sent = []
    if sent:
        out.append(" ".join(sent) + " .")
    return " ".join(out)
