"""PromptCompressor with fake embeddings and a fake token counter."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from conftest import FakeEmbeddings, make_text, word_count
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue
from langchain_core.runnables import RunnableLambda

from green_chain.compression import CompressionBackend, PromptCompressor, tolerance
from green_chain.compression.backends.embedding import EmbeddingBackend
from green_chain.events import OPTIMIZER_TOKENS_EVENT


def make(
    rate: float | None = 0.5, fake: FakeEmbeddings | None = None, **kw: Any
) -> PromptCompressor:
    backend = EmbeddingBackend(fake or FakeEmbeddings())
    kw.setdefault("token_counter", word_count)
    return PromptCompressor(backend, rate=rate, min_tokens=20, **kw)


TEXT = make_text(400, seed=1)


def assert_rate(before: str, after: str, rate: float) -> None:
    target = round(rate * word_count(before))
    assert abs(word_count(after) - target) <= tolerance(target)


def test_str_in_str_out() -> None:
    out = make().invoke(TEXT)
    assert isinstance(out, str)
    assert_rate(TEXT, out, 0.5)


def test_kept_sentences_in_original_order() -> None:
    sents = [f"Sentence number {i} talks about topic{i} ." for i in range(40)]
    text = " ".join(sents)
    out = make(question="topic7 topic30 topic12").invoke(text)
    idx = [int(s.split()[2]) for s in out.split(" .") if s.strip() and "number" in s]
    assert idx == sorted(idx)
    assert {7, 12, 30} <= set(idx)  # question-relevant sentences survive


def test_target_tokens_budget() -> None:
    out = make(rate=None, target_tokens=100).invoke(TEXT)
    assert abs(word_count(out) - 100) <= tolerance(100)


def test_min_tokens_passes_unchanged() -> None:
    short = "just a few words here ."
    c = PromptCompressor(EmbeddingBackend(FakeEmbeddings()), token_counter=word_count)
    assert c.invoke(short) == short


def test_empty_text_unchanged() -> None:
    assert make().invoke("") == ""
    assert make().invoke({"context": "", "question": "q"}) == {"context": "", "question": "q"}


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5, float("nan"), True])
def test_bad_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        make(rate=rate)


@pytest.mark.parametrize("tt", [0, -5, 2.5])
def test_bad_target_tokens(tt: Any) -> None:
    with pytest.raises(ValueError, match="target_tokens"):
        make(rate=None, target_tokens=tt)


def test_rate_and_target_together_rejected() -> None:
    with pytest.raises(ValueError, match="either"):
        make(rate=0.5, target_tokens=10)


def test_unknown_backend_and_bad_input_type() -> None:
    with pytest.raises(ValueError, match="unknown compression backend"):
        PromptCompressor("magic")
    with pytest.raises(TypeError, match="PromptCompressor takes"):
        make().invoke(42)


def test_string_prompt_value() -> None:
    out = make().invoke(StringPromptValue(text=TEXT))
    assert isinstance(out, StringPromptValue)
    assert_rate(TEXT, out.text, 0.5)


def test_messages_compress_only_older_messages() -> None:
    system = SystemMessage(content=make_text(100, 5))
    old_h = HumanMessage(content=make_text(200, 6))
    old_ai = AIMessage(content=make_text(200, 7))
    last = HumanMessage(content=make_text(60, 8))
    msgs = [system, old_h, old_ai, last]
    out = make().invoke(msgs)
    assert isinstance(out, list) and len(out) == 4
    assert out[0].content == system.content and out[3].content == last.content
    assert type(out[2]) is AIMessage
    assert_rate(old_h.content + " " + old_ai.content, out[1].content + " " + out[2].content, 0.5)
    cpv = make().invoke(ChatPromptValue(messages=msgs))
    assert isinstance(cpv, ChatPromptValue) and cpv.messages[3].content == last.content


def test_custom_message_filter() -> None:
    msgs = [SystemMessage(content=TEXT), HumanMessage(content="q?")]
    out = make(messages=lambda i, m, ms: isinstance(m, SystemMessage)).invoke(msgs)
    assert_rate(TEXT, out[0].content, 0.5)


def test_image_parts_pass_untouched() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    msg = HumanMessage(content=[{"type": "text", "text": TEXT}, image])
    out = make().invoke([msg, HumanMessage(content="what?")])
    assert out[0].content[1] == image
    assert_rate(TEXT, out[0].content[0]["text"], 0.5)


def test_dict_keys_and_question() -> None:
    fake = FakeEmbeddings()
    inp = {"context": TEXT, "question": "paris tower", "other": TEXT}
    out = make(fake=fake).invoke(inp)
    assert out["question"] == "paris tower" and out["other"] == TEXT
    assert_rate(TEXT, out["context"], 0.5)


def test_dict_with_documents() -> None:
    docs = [Document(page_content=make_text(200, i), metadata={"i": i}) for i in range(3)]
    out = make().invoke({"context": docs, "question": "x"})
    assert [d.metadata["i"] for d in out["context"]] == [0, 1, 2]
    total_before = sum(word_count(d.page_content) for d in docs)
    total_after = sum(word_count(d.page_content) for d in out["context"])
    assert abs(total_after - total_before * 0.5) <= tolerance(round(total_before * 0.5)) + 3


def test_non_latin_text() -> None:
    zh = "巴黎是法国的首都。" * 40 + "埃菲尔铁塔建于1889年。" * 10
    out = make(token_counter=len).invoke(zh)
    target = round(0.5 * len(zh))
    assert abs(len(out) - target) <= tolerance(target)
    ru = " ".join(["Париж — столица Франции."] * 60)
    out_ru = make().invoke(ru)
    assert_rate(ru, out_ru, 0.5)


def test_protect_keeps_terms() -> None:
    text = make_text(300, 3) + " The code is XK-42 ok . " + make_text(300, 4)
    out = make(rate=0.2, protect=[r"XK-\d+"], question="paris").invoke(text)
    assert "XK-42" in out


class Catcher(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, UUID]] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append((name, data, run_id))


class ACatcher(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append((name, data))


def test_event_published_in_chain() -> None:
    h = Catcher()
    chain = make() | RunnableLambda(lambda s: s)
    out = chain.invoke(TEXT, config={"callbacks": [h]})
    ((name, data, _),) = h.events
    assert name == OPTIMIZER_TOKENS_EVENT
    assert data["optimizer"] == "compression:embedding"
    assert data["tokens_before"] == word_count(TEXT)
    assert data["tokens_after"] == word_count(out)
    assert data["rate"] == 0.5


def test_no_event_outside_run_is_fine() -> None:
    c = make()
    assert c.compress_text(TEXT).tokens_before == word_count(TEXT)


async def test_ainvoke_publishes_event() -> None:
    h = ACatcher()
    out = await make().ainvoke({"context": TEXT, "question": "q"}, config={"callbacks": [h]})
    assert_rate(TEXT, out["context"], 0.5)
    assert len(h.events) == 1 and h.events[0][1]["tokens_after"] == word_count(out["context"])


def test_long_input_embedded_in_batches() -> None:
    fake = FakeEmbeddings()
    c = PromptCompressor(EmbeddingBackend(fake, batch_size=64), rate=0.3, token_counter=word_count)
    text = make_text(50_000, 9)
    out = c.invoke(text)
    assert max(fake.calls) <= 64 and len(fake.calls) > 10
    assert_rate(text, out, 0.3)


def test_custom_backend_instance() -> None:
    class LastWins(CompressionBackend):
        name = "lastwins"
        granularity = "word"

        def score_units(self, units, question=None, *, keep_ratio=0.5):  # type: ignore[no-untyped-def]
            return [float(i) for i in range(len(units))]

    words = [f"w{i}" for i in range(100)]
    out = PromptCompressor(LastWins(), rate=0.1, token_counter=word_count).invoke(" ".join(words))
    assert out.split() == words[90:]


def test_dict_without_context_key_says_so() -> None:
    with pytest.raises(KeyError, match=r"no key 'context'.*'question'"):
        make().invoke({"question": "q", "ctx": TEXT})


@pytest.mark.parametrize("value", [None, 42, {"text": "x"}, [1, 2]])
def test_dict_context_not_text_says_so(value: Any) -> None:
    with pytest.raises(TypeError, match=r"input\['context'\] must be str"):
        make().invoke({"question": "q", "context": value})


def test_dict_context_empty_list_passes() -> None:
    assert make().invoke({"question": "q", "context": []}) == {"question": "q", "context": []}


@pytest.mark.parametrize("rate", [0.5, 0.9])
def test_minified_json_is_compressed_not_emptied(rate: float) -> None:
    import json

    from conftest import char_count

    text = json.dumps(
        [{"id": i, "name": f"item{i}", "v": i * 1.5} for i in range(700)], separators=(",", ":")
    )
    assert " " not in text and len(text) > 25_000
    c = make(rate=rate, token_counter=char_count)
    out = c.invoke(text)
    target = round(rate * char_count(text))
    assert out and abs(char_count(out) - target) <= tolerance(target)
