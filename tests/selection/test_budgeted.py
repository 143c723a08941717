"""BudgetedExampleSelector: budget, relevance, diversity, templates, events, bad input."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import numpy as np
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.prompts import (
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    FewShotPromptTemplate,
    PromptTemplate,
)
from langchain_core.vectorstores import InMemoryVectorStore

from green_chain.events import OPTIMIZER_TOKENS_EVENT
from green_chain.selection import BudgetedExampleSelector, ExampleKeyError, budgeted_mmr
from green_chain.testing.embeddings import BagOfWordsEmbeddings

EXAMPLE_PROMPT = PromptTemplate.from_template("Input: {text}\nLabel: {label}")

EXAMPLES = [
    {"text": "the football match ended in a draw", "label": "sports"},
    {"text": "the football team won the cup final", "label": "sports"},
    {"text": "the football team won the cup final again", "label": "sports"},
    {"text": "stocks fell as markets feared inflation", "label": "business"},
    {"text": "the central bank raised interest rates", "label": "business"},
    {"text": "a new phone chip doubles battery life", "label": "tech"},
    {"text": "scientists released an open source language model", "label": "tech"},
    {"text": "elections were held across the country", "label": "world"},
]


def words(text: str) -> int:
    return len(text.split())


def make(
    max_tokens: int = 40, examples: list[dict[str, str]] | None = None, **kw: Any
) -> BudgetedExampleSelector:
    kw.setdefault("embeddings", BagOfWordsEmbeddings())
    kw.setdefault("token_counter", words)
    kw.setdefault("example_prompt", EXAMPLE_PROMPT)
    kw.setdefault("input_keys", ["text"])
    kw.setdefault("min_relevance", -1.0)
    return BudgetedExampleSelector(
        EXAMPLES if examples is None else examples, max_tokens=max_tokens, **kw
    )


def tokens(examples: list[dict[str, str]]) -> int:
    return sum(words(EXAMPLE_PROMPT.format(**ex)) + 2 for ex in examples)


class Events(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, UUID]] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append((name, data, run_id))


def test_most_relevant_first_and_budget_respected() -> None:
    sel = make(40)
    picked = sel.select_examples({"text": "who won the football final?"})
    assert picked[0]["label"] == "sports"
    assert tokens(picked) <= 40
    for budget in range(5, 120, 7):
        assert tokens(make(budget).select_examples({"text": "football rates chip"})) <= budget


def test_diversity_skips_near_duplicates() -> None:
    picked = make(60, lambda_mult=0.5).select_examples({"text": "football team cup final"})
    texts = [p["text"] for p in picked]
    assert not (EXAMPLES[1]["text"] in texts and EXAMPLES[2]["text"] in texts)
    relevance_only = make(60, lambda_mult=1.0).select_examples({"text": "football team cup final"})
    assert [p["text"] for p in relevance_only][:2] == [
        EXAMPLES[2]["text"],
        EXAMPLES[1]["text"],
    ] or [p["text"] for p in relevance_only][:2] == [EXAMPLES[1]["text"], EXAMPLES[2]["text"]]


def test_adaptive_k_stops_on_low_marginal_relevance() -> None:
    query = {"text": "football cup"}
    lenient = make(500, min_relevance=-1.0).select_examples(query)
    strict = make(500, min_relevance=0.1).select_examples(query)
    assert len(lenient) == len(EXAMPLES)
    assert 1 <= len(strict) < len(lenient)
    assert strict[0]["label"] == "sports"


def test_deterministic_with_ties() -> None:
    same = [{"text": "same words", "label": str(i)} for i in range(6)]
    a = make(30, examples=same).select_examples({"text": "same"})
    b = make(30, examples=same).select_examples({"text": "same"})
    assert a == b and a[0]["label"] == "0"


def test_add_example_after_construction() -> None:
    sel = make(20, examples=EXAMPLES[:2])
    assert sel.select_examples({"text": "quantum computer chip"})[0]["label"] == "sports"
    sel.add_example({"text": "a quantum computer chip was unveiled", "label": "tech"})
    assert sel.select_examples({"text": "quantum computer chip"})[0]["label"] == "tech"


async def test_async_add_and_select() -> None:
    sel = make(20, examples=EXAMPLES[:2])
    await sel.aadd_example({"text": "a quantum computer chip was unveiled", "label": "tech"})
    picked = await sel.aselect_examples({"text": "quantum computer chip"})
    assert picked[0]["label"] == "tech"
    assert picked == sel.select_examples({"text": "quantum computer chip"})


def test_missing_keys_named() -> None:
    with pytest.raises(ExampleKeyError, match="'label'"):
        make(examples=[{"text": "no label here"}])
    sel = make()
    with pytest.raises(ExampleKeyError, match="'label'"):
        sel.add_example({"text": "x"})
    with pytest.raises(ExampleKeyError, match="'text'"):
        sel.select_examples({"question": "x"})
    with pytest.raises(TypeError, match="dict"):
        sel.add_example(["text", "label"])  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        make(0)
    with pytest.raises(ValueError, match="lambda_mult"):
        make(10, lambda_mult=1.5)
    with pytest.raises(TypeError, match="VectorStore"):
        make(10, vectorstore=object())


def test_empty_pool_selects_nothing() -> None:
    assert make(examples=[]).select_examples({"text": "anything"}) == []


def few_shot_string(sel: BudgetedExampleSelector) -> FewShotPromptTemplate:
    return FewShotPromptTemplate(
        example_selector=sel,
        example_prompt=EXAMPLE_PROMPT,
        suffix="Input: {text}\nLabel:",
        input_variables=["text"],
    )


def few_shot_chat(sel: BudgetedExampleSelector) -> ChatPromptTemplate:
    example_prompt = ChatPromptTemplate.from_messages([("human", "{text}"), ("ai", "{label}")])
    few = FewShotChatMessagePromptTemplate(
        example_selector=sel, example_prompt=example_prompt, input_variables=["text"]
    )
    return ChatPromptTemplate.from_messages([("system", "Classify."), few, ("human", "{text}")])


def test_inside_few_shot_prompt_template_publishes_event() -> None:
    rec = Events()
    prompt = few_shot_string(make(30))
    text = prompt.invoke({"text": "football final"}, config={"callbacks": [rec]}).to_string()
    assert "Label: sports" in text and text.endswith("Input: football final\nLabel:")
    [(name, data, _)] = rec.events
    assert name == OPTIMIZER_TOKENS_EVENT and data["optimizer"] == "examples"
    assert 0 < data["tokens_after"] <= 30 < data["tokens_before"]
    assert data["examples_offered"] == len(EXAMPLES)


async def test_inside_few_shot_prompt_template_async() -> None:
    rec = Events()
    prompt = few_shot_string(make(30))
    value = await prompt.ainvoke({"text": "football final"}, config={"callbacks": [rec]})
    assert "Label: sports" in value.to_string()
    assert [e[1]["optimizer"] for e in rec.events] == ["examples"]


def test_inside_few_shot_chat_template_sync_and_event() -> None:
    rec = Events()
    sel = make(
        30,
        example_prompt=ChatPromptTemplate.from_messages([("human", "{text}"), ("ai", "{label}")]),
    )
    messages = (
        few_shot_chat(sel)
        .invoke({"text": "interest rates"}, config={"callbacks": [rec]})
        .to_messages()
    )
    assert messages[0].type == "system" and messages[-1].text == "interest rates"
    assert any(m.type == "ai" and m.text == "business" for m in messages)
    assert len(rec.events) == 1


async def test_inside_few_shot_chat_template_async() -> None:
    sel = make(
        30,
        example_prompt=ChatPromptTemplate.from_messages([("human", "{text}"), ("ai", "{label}")]),
    )
    value = await few_shot_chat(sel).ainvoke({"text": "interest rates"})
    assert any(m.type == "ai" and m.text == "business" for m in value.to_messages())


def test_plain_call_outside_a_run_still_works() -> None:
    assert make(30).select_examples({"text": "phone battery"})[0]["label"] == "tech"


def test_vectorstore_backend_matches_in_memory() -> None:
    emb = BagOfWordsEmbeddings()
    store = InMemoryVectorStore(embedding=emb)
    sel = make(40, vectorstore=store, embeddings=None)
    assert len(store.store) == len(EXAMPLES)
    query = {"text": "football final rates"}
    assert sel.select_examples(query) == make(40).select_examples(query)
    sel.add_example({"text": "a quantum computer chip was unveiled", "label": "tech"})
    assert len(store.store) == len(EXAMPLES) + 1
    assert sel.select_examples({"text": "quantum computer"})[0]["text"].startswith("a quantum")


async def test_vectorstore_async() -> None:
    store = InMemoryVectorStore(embedding=BagOfWordsEmbeddings())
    sel = make(40, vectorstore=store)
    await sel.aadd_example({"text": "a quantum computer chip was unveiled", "label": "tech"})
    picked = await sel.aselect_examples({"text": "quantum computer"})
    assert picked[0]["text"].startswith("a quantum")


def test_formatter_callable_and_default() -> None:
    sel = make(12, example_prompt=lambda ex: ex["text"], input_keys=None)
    picked = sel.select_examples({"text": "football final"})
    assert sum(words(p["text"]) + 2 for p in picked) <= 12
    default = BudgetedExampleSelector(
        EXAMPLES, max_tokens=15, embeddings=BagOfWordsEmbeddings(), token_counter=words
    )
    assert default.select_examples({"text": "football"})[0]["label"] == "sports"


def test_budgeted_mmr_unit() -> None:
    rel = np.array([0.9, 0.89, 0.5])
    sim = np.array([[1.0, 0.99, 0.1], [0.99, 1.0, 0.1], [0.1, 0.1, 1.0]])
    assert budgeted_mmr(rel, sim, [1, 1, 1], 2, lambda_mult=0.5, min_score=-1) == [0, 2]
    assert budgeted_mmr(rel, sim, [1, 1, 1], 2, lambda_mult=1.0, min_score=-1) == [0, 1]
    assert budgeted_mmr(rel, sim, [5, 1, 1], 2, lambda_mult=1.0, min_score=-1) == [1, 2]
    assert budgeted_mmr(rel, sim, [1, 1, 1], 10, lambda_mult=0.5, min_score=0.3) == [0]
    assert budgeted_mmr(rel, sim, [1, 1, 1], 10, max_count=1, min_score=-1) == [0]
    with pytest.raises(ValueError, match="shape"):
        budgeted_mmr(rel, sim, [1, 1], 3)


def _selection_event(sel: BudgetedExampleSelector, text: str) -> dict[str, Any]:
    rec = Events()
    few_shot_string(sel).invoke({"text": text}, config={"callbacks": [rec]})
    [(_, data, _)] = rec.events
    return dict(data)


def _by_similarity(text: str) -> list[dict[str, str]]:
    emb = BagOfWordsEmbeddings()
    q = np.asarray(emb.embed_query(text))
    vecs = np.asarray(emb.embed_documents([ex["text"] for ex in EXAMPLES]))
    sims = vecs @ q / np.maximum(np.linalg.norm(vecs, axis=1) * np.linalg.norm(q), 1e-12)
    return [EXAMPLES[i] for i in np.argsort(-sims, kind="stable")]


def test_etr_reference_is_a_fixed_k_prompt_not_every_candidate() -> None:
    text = "football final"
    data = _selection_event(make(30), text)
    assert data["tokens_before"] == tokens(_by_similarity(text)[:4]) < tokens(EXAMPLES)
    assert data["reference"] == "top-4 by similarity"
    wide = _selection_event(make(30, reference_k=len(EXAMPLES)), text)
    assert wide["tokens_before"] == tokens(EXAMPLES)  # the old reference, on request
    one = _selection_event(make(30, reference_k=1), text)
    assert one["tokens_before"] == tokens(_by_similarity(text)[:1])
    with pytest.raises(ValueError, match="reference_k"):
        make(30, reference_k=0)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("max_tokens", True),
        ("max_tokens", 2.5),
        ("min_relevance", float("nan")),
        ("min_relevance", "0.1"),
        ("lambda_mult", float("nan")),
        ("fetch_k", 1.5),
        ("reference_k", True),
        ("separator_tokens", True),
        ("max_examples", 0),
    ],
)
def test_bad_argument_is_one_line_naming_it(argument: str, value: Any) -> None:
    kw: dict[str, Any] = {"max_tokens": 40, argument: value}
    with pytest.raises(ValueError, match=argument) as info:
        make(**kw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("examples", ["abc", b"abc", {"text": "a", "label": "b"}, 3])
def test_examples_must_be_a_list_of_dicts(examples: Any) -> None:
    with pytest.raises(ValueError, match="examples must be a list of dicts"):
        BudgetedExampleSelector(examples, max_tokens=40, embeddings=BagOfWordsEmbeddings())


def test_an_example_that_is_not_a_dict_is_named() -> None:
    with pytest.raises(TypeError, match="example 1 must be a dict"):
        make(examples=[EXAMPLES[0], "text: label"])  # type: ignore[list-item]


def test_select_examples_needs_input_variables() -> None:
    sel = make(input_keys=None)
    with pytest.raises(ValueError, match="select_examples\\(\\) got no input variables"):
        sel.select_examples({})
    assert sel.select_examples({"text": "football cup"})  # a real input still selects
