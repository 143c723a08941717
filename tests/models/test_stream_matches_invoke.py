"""``ChatLocal.stream`` gives the text of ``invoke`` (cache off), on a tiny random Gemma 3
with a sliding window of 8 tokens (prompts far over the window, as gemma3-270m's 512),
with and without a chat template (a base model's reply is stripped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from green_chain.models import ChatLocal
from green_chain.models.generation import StrippedPieces
from tests.conftest import save_tiny_gemma

PROMPTS = [
    "hi",
    "Tell me about the history of the cat and the dog, in detail please. " * 3,
    "Why is the sky blue? Answer at length, with examples and numbers. " * 6,
]


@pytest.mark.parametrize("tokenizer", ["tiny_folder", "tiny_base_folder"], ids=["chat", "base"])
def test_stream_text_equals_invoke_text_past_the_sliding_window(
    tmp_path: Path, tokenizer: str, request: pytest.FixtureRequest
) -> None:
    path = str(save_tiny_gemma(tmp_path, request.getfixturevalue(tokenizer), seed=3))
    chat = ChatLocal(model=path, max_new_tokens=24)
    assert chat.loaded.model.config.sliding_window == 8
    for prompt in PROMPTS:
        reply = chat.invoke(prompt)
        chunks = list(chat.stream(prompt))
        assert "".join(str(c.content) for c in chunks) == reply.content, prompt
        last = chunks[-1]
        assert last.usage_metadata == reply.usage_metadata
    long_reply = chat.invoke(PROMPTS[-1])
    assert long_reply.usage_metadata is not None
    assert long_reply.usage_metadata["input_tokens"] > 8 * 20  # far past the window


@pytest.mark.parametrize(
    "pieces",
    [
        [" ", " Yes", ", we", " can.", "\n"],
        ["\n\n", "a", " ", " ", "b ", "\n"],
        ["  ", " "],
        ["x"],
    ],
)
def test_stripped_pieces_concatenate_to_the_stripped_text(pieces: list[str]) -> None:
    strip = StrippedPieces()
    out = [strip.feed(p) for p in pieces]
    assert "".join(out) == "".join(pieces).strip()


def test_base_model_stream_is_stripped_like_invoke(
    tmp_path: Path, tiny_base_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base model's transcript reply (" Yes ...\\n"): invoke strips it, so must stream."""
    import green_chain.models.chat_local as chat_local
    from green_chain.models.generation import GenOut

    pieces = [" ", " Yes", ", we", " can", ".\n", "\n"]

    def fake_stream(lm: object, ids: object, params: object, cache: object = None) -> object:
        yield from pieces
        yield GenOut("".join(pieces), 5, len(pieces), -1.0, "stop")

    def fake_batch(
        lm: object, prompts: list[object], params: object, cache: object = None
    ) -> object:
        return [GenOut("".join(pieces), 5, len(pieces), -1.0, "stop")]

    monkeypatch.setattr(chat_local, "stream_one", fake_stream)
    monkeypatch.setattr(chat_local, "generate_batch", fake_batch)
    chat = ChatLocal(
        model=str(save_tiny_gemma(tmp_path, tiny_base_folder, seed=3)), max_new_tokens=8
    )
    streamed = "".join(str(c.content) for c in chat.stream("hi"))
    assert streamed == chat.invoke("hi").content == "Yes, we can."


@pytest.mark.integration
def test_gemma3_270m_stream_equals_invoke_over_512_tokens() -> None:
    """The real gemma3-270m (sliding window 512, a base model), a prompt of > 512 tokens."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    try:
        chat = ChatLocal(model="gemma3-270m", max_new_tokens=12)
        chat.loaded  # noqa: B018 - load now, skip if the package is absent
    except (ImportError, FileNotFoundError) as exc:
        pytest.skip(f"gemma3-270m not installed: {exc}")
    window = chat.loaded.model.config.sliding_window
    text = "The tall man met the short woman near the old red barn on Sunday. " * 60
    reply = chat.invoke(text)
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > window
    assert "".join(str(c.content) for c in chat.stream(text)) == reply.content
