"""``ChatLocal(guided_choice=[...])``: the answer is the most likely choice, scored in the call."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from green_chain.models import ChatLocal, load_causal_lm
from green_chain.models.prompting import render
from green_chain.models.scoring import score_choices, score_with

PROMPT = "Review: the best film of the year.\nSentiment:"
CHOICES = ["positive", "negative", "neutral thing"]


def _expected(folder: Path) -> dict[str, float]:
    """Summed log-probs of each choice, scored independently on the plain prompt (no cache)."""
    lm = load_causal_lm(folder)
    text = render(lm, [HumanMessage(PROMPT)], base_prompt="completion").text
    scores = score_with(lm.model, lm.tokenizer, text, [" " + c for c in CHOICES])
    return {c: s.logprob_sum for c, s in zip(CHOICES, scores, strict=True)}


def test_answers_the_choice_of_highest_summed_logprob(tiny_base_folder: Path) -> None:
    chat = ChatLocal(model=str(tiny_base_folder), base_prompt="completion")
    reply = chat.bind(guided_choice=CHOICES).invoke(PROMPT)
    expected = _expected(tiny_base_folder)
    assert reply.content == max(expected, key=lambda c: expected[c])
    meta = reply.response_metadata
    assert meta["guided_choice"] == CHOICES
    for choice in CHOICES:
        assert meta["choice_logprobs"][choice] == pytest.approx(expected[choice], abs=1e-4)


def test_field_and_call_option_agree_and_usage_counts_prompt_once(tiny_base_folder: Path) -> None:
    lm = load_causal_lm(tiny_base_folder)
    chat = ChatLocal(model=str(tiny_base_folder), base_prompt="completion", guided_choice=CHOICES)
    reply = chat.invoke(PROMPT)
    assert reply.content == chat.bind(guided_choice=CHOICES).invoke(PROMPT).content
    n_prompt = len(lm.tokenizer(PROMPT, add_special_tokens=True)["input_ids"])
    choice_tokens = sum(
        len(lm.tokenizer(PROMPT + " " + c, add_special_tokens=True)["input_ids"]) - n_prompt
        for c in CHOICES
    )
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == n_prompt
    assert reply.usage_metadata["output_tokens"] == choice_tokens
    assert reply.usage_metadata["total_tokens"] == n_prompt + choice_tokens


def test_one_choice_wins_whatever_is_listed_first(tiny_base_folder: Path) -> None:
    chat = ChatLocal(model=str(tiny_base_folder), base_prompt="completion")
    a = chat.invoke(PROMPT, guided_choice=CHOICES).content
    b = chat.invoke(PROMPT, guided_choice=list(reversed(CHOICES))).content
    assert a == b


def test_stream_yields_the_chosen_label_once(tiny_base_folder: Path) -> None:
    chat = ChatLocal(model=str(tiny_base_folder), base_prompt="completion")
    bound = chat.bind(guided_choice=CHOICES)
    chunks = list(bound.stream(PROMPT))
    assert [c.content for c in chunks] == [bound.invoke(PROMPT).content]
    assert chunks[0].usage_metadata is not None


async def test_async_matches_sync(tiny_base_folder: Path) -> None:
    bound = ChatLocal(model=str(tiny_base_folder), base_prompt="completion").bind(
        guided_choice=CHOICES
    )
    assert (await bound.ainvoke(PROMPT)).content == bound.invoke(PROMPT).content
    streamed = [c.content async for c in bound.astream(PROMPT)]
    assert streamed == [bound.invoke(PROMPT).content]


def test_chat_template_model_scores_after_its_assistant_turn(tiny_folder: Path) -> None:
    lm = load_causal_lm(tiny_folder)
    chat = ChatLocal(model=str(tiny_folder), guided_choice=CHOICES)
    reply = chat.invoke(PROMPT)
    text = render(lm, [HumanMessage(PROMPT)]).text
    scores = score_with(lm.model, lm.tokenizer, text, CHOICES)
    # the chat template's ids are tokenized without special tokens; the tiny tokenizer adds none
    best = max(range(len(CHOICES)), key=lambda i: scores[i].logprob_sum)
    assert reply.content == CHOICES[best]


def test_prefix_cache_gives_the_same_scores_and_reads_the_prompt(tiny_base_folder: Path) -> None:
    long = "Review: " + "the cat sat on the mat and it was fine. " * 6 + "\nSentiment:"
    plain = ChatLocal(model=str(tiny_base_folder), base_prompt="completion")
    cached = ChatLocal(model=str(tiny_base_folder), base_prompt="completion", prefix_cache=True)
    cached.kv_cache.clear()  # type: ignore[union-attr]
    want = plain.invoke(long, guided_choice=CHOICES).response_metadata["choice_logprobs"]
    first = cached.invoke(long, guided_choice=CHOICES)
    second = cached.invoke(long, guided_choice=CHOICES)
    for reply in (first, second):
        got = reply.response_metadata["choice_logprobs"]
        assert got == pytest.approx(want, abs=1e-4)
    details = (second.usage_metadata or {}).get("input_token_details", {})
    assert details.get("cache_read", 0) >= 16
    # a generation after the choice reuses the states the choice stored
    gen = cached.invoke(long, max_tokens=2)
    assert (gen.usage_metadata or {}).get("input_token_details", {}).get("cache_read", 0) >= 16


def test_score_choices_matches_the_batched_path(tiny_base_folder: Path) -> None:
    lm = load_causal_lm(tiny_base_folder)
    ids = list(lm.tokenizer(PROMPT, add_special_tokens=True)["input_ids"])
    shared = score_choices(
        lm.model, lm.tokenizer, ids, PROMPT, [" a", " bc"], add_special_tokens=True
    )
    batched = score_with(lm.model, lm.tokenizer, PROMPT, [" a", " bc"])
    assert [s.logprob_sum for s in shared] == pytest.approx(
        [s.logprob_sum for s in batched], abs=1e-4
    )
    with pytest.raises(ValueError, match="at least one"):
        score_choices(lm.model, lm.tokenizer, ids, PROMPT, [], add_special_tokens=True)


@pytest.mark.parametrize("bad", ["positive", [], ["ok", ""], ["ok", 3]])
def test_bad_guided_choice_is_rejected(tiny_base_folder: Path, bad: object) -> None:
    chat = ChatLocal(model=str(tiny_base_folder))
    with pytest.raises((ValueError, TypeError), match="guided_choice"):
        chat.invoke(PROMPT, guided_choice=bad)


def test_guided_choice_with_tools_is_rejected(tiny_base_folder: Path) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    bound = ChatLocal(model=str(tiny_base_folder)).bind_tools([tool]).bind(guided_choice=["a"])
    with pytest.raises(ValueError, match="guided_choice"):
        bound.invoke(PROMPT)
