"""Log-likelihood of given continuations after prompts (teacher forcing, batched).

A quality signal that works even for tiny models: a model that ranks the right answer
above a wrong one "knows" it, whether or not it could generate it.

Tokenization boundary: the prompt is tokenized as is (with the tokenizer's special
tokens, e.g. Gemma's ``<bos>``) and so is ``prompt + continuation``; the continuation's
tokens are those after the longest common prefix of the two. A token that merges the end
of the prompt with the start of the continuation therefore counts as continuation. Only
continuation tokens are scored; prompt tokens never are. Sequences are right-padded with
an attention mask, so padding never changes a score.

``shared_prompt=True`` (the multiple choice: several candidates after one prompt) runs the
prompt's common token prefix once with ``use_cache=True``, repeats its KV cache over the
candidates and runs only their remaining tokens: one prefill instead of one per candidate,
the same scores up to float rounding (tested). Models whose cache cannot be repeated, and
calls with different prompts, take the batched path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ContinuationScore:
    """Score of one continuation.

    Attributes:
        logprob_sum: Sum of the natural-log probabilities of the continuation tokens (nats).
        n_tokens: Number of continuation tokens scored.
        mean_logprob: ``logprob_sum / n_tokens`` (nats per token).
    """

    logprob_sum: float
    n_tokens: int
    mean_logprob: float


def _split_ids(tokenizer: Any, prompt: str, continuation: str) -> tuple[list[int], int]:
    """Token ids of ``prompt + continuation`` and the index of the first scored token."""
    p_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    f_ids = list(tokenizer(prompt + continuation, add_special_tokens=True)["input_ids"])
    k = 0
    for a, b in zip(p_ids, f_ids, strict=False):
        if a != b:
            break
        k += 1
    if k == 0:  # nothing to condition the first token on
        bos = getattr(tokenizer, "bos_token_id", None)
        if bos is not None:
            f_ids = [bos, *f_ids]
            k = 1
        else:
            k = 1  # the first token cannot be predicted: it is left out of the score
    return f_ids, k


def _logits_at(model: Any, input_ids: Any, mask: Any, lo: int, hi: int) -> Any:
    """Logits for sequence positions ``lo..hi-1`` (all rows), computing the head only there."""
    import torch

    keep = torch.arange(lo, hi, device=input_ids.device)
    try:
        out = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep)
        logits = out.logits
        if logits.shape[1] == hi - lo:
            return logits
    except TypeError:  # a model without ``logits_to_keep``
        pass
    return model(input_ids=input_ids, attention_mask=mask).logits[:, lo:hi]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _forward_with_cache(
    model: Any, input_ids: Any, mask: Any, cache: Any, keep: int | None = None
) -> Any:
    """Logits of ``input_ids`` after a KV ``cache`` (transformers names the argument either way).

    ``keep``: compute the LM head only for positions ``0..keep-1`` of ``input_ids`` (the
    head over a large vocabulary costs more than the body for short continuations); the
    result then has ``keep`` positions. ``None``: every position.
    """
    import warnings

    import torch

    extra: dict[str, Any] = {}
    if keep is not None and keep < input_ids.shape[1]:
        extra["logits_to_keep"] = torch.arange(keep, device=input_ids.device)
    try:  # transformers >= 5.2x names it ``cache``; older ones ``past_key_values``
        logits = model(
            input_ids=input_ids, attention_mask=mask, cache=cache, use_cache=True, **extra
        ).logits
    except TypeError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            logits = model(
                input_ids=input_ids,
                attention_mask=mask,
                past_key_values=cache,
                use_cache=True,
                **extra,
            ).logits
    if keep is not None and logits.shape[1] > keep:  # a model that ignored ``logits_to_keep``
        logits = logits[:, :keep]
    return logits


def _prefill(
    model: Any, ids: list[int], device: Any, prefix_cache: Any, *, store: bool = True
) -> Any:
    """The forward output over ``ids`` (one row, ``use_cache=True``); with a
    :class:`~green_chain.models.prefix_cache.PrefixCache`, its longest cached prefix of
    ``ids`` is reused (only the rest is prefilled) and the states of ``ids`` are stored.

    ``store=False`` only reads the cache: nothing is stored, and the blocks' recency and
    the cache's counters are left as they were (``lookup(touch=False)``)."""
    import torch

    hit = prefix_cache.lookup(ids, touch=store) if prefix_cache is not None else None
    if hit is None or hit.cache is None or hit.tokens == 0:
        tensor = torch.tensor([ids], dtype=torch.long, device=device)
        out = model(input_ids=tensor, use_cache=True, logits_to_keep=1)
    else:
        rest = torch.tensor([ids[hit.tokens :]], dtype=torch.long, device=device)
        mask = torch.ones((1, len(ids)), dtype=torch.long, device=device)
        try:
            out = model(
                input_ids=rest,
                attention_mask=mask,
                cache=hit.cache,
                use_cache=True,
                logits_to_keep=1,
            )
        except TypeError:
            out = model(
                input_ids=rest,
                attention_mask=mask,
                past_key_values=hit.cache,
                use_cache=True,
                logits_to_keep=1,
            )
    if prefix_cache is not None and store:
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        if cache is not None:
            prefix_cache.store(ids, cache)
    return out


def _score_shared_prompt(
    model: Any,
    tokenizer: Any,
    items: Sequence[tuple[list[int], int]],
    prefix_cache: Any = None,
    *,
    store: bool = True,
) -> list[ContinuationScore] | None:
    """Scores of ``items`` (ids, first scored index) sharing one prompt, prefilled once
    (reusing and, unless ``store=False``, filling ``prefix_cache``, a :class:`PrefixCache`,
    when given).

    ``None`` when the shortcut does not apply (a continuation scored from position 0, or
    a model whose cache cannot be repeated over rows); the caller then uses the batched path.
    """
    import torch

    if any(k < 1 for _, k in items):
        return None
    # shared prefix: common to every row, and ending before the first scored position
    m = min(k for _, k in items) - 1
    first = items[0][0]
    for ids, _ in items[1:]:
        m = min(m, _common_prefix(first, ids))
    m = max(m, 1)
    if any(k - 1 < m for _, k in items):  # the prefix must not reach a scored position
        return None
    device = next(model.parameters()).device
    n = len(items)
    with torch.inference_mode():
        out = _prefill(model, first[:m], device, prefix_cache, store=store)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        if cache is None or not hasattr(cache, "batch_repeat_interleave"):
            return None
        cache.batch_repeat_interleave(n)
        width = max(len(ids) for ids, _ in items) - m
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rest = torch.full((n, width), pad, dtype=torch.long, device=device)
        mask = torch.zeros((n, m + width), dtype=torch.long, device=device)
        mask[:, :m] = 1
        for row, (ids, _) in enumerate(items):
            tail = ids[m:]
            rest[row, : len(tail)] = torch.tensor(tail, dtype=torch.long)
            mask[row, m : m + len(tail)] = 1
        # the last position of the longest row predicts past every continuation: no head
        logits = _forward_with_cache(model, rest, mask, cache, keep=width - 1)
        # logits[:, j] predicts the token at absolute position m + j + 1
        results = []
        for row, (ids, k) in enumerate(items):
            pred = logits[row, k - 1 - m : len(ids) - 1 - m].float().log_softmax(-1)
            target = torch.tensor(ids[k:], dtype=torch.long, device=device)
            total = float(pred.gather(-1, target.unsqueeze(-1)).squeeze(-1).sum())
            count = len(ids) - k
            results.append(ContinuationScore(total, count, total / count))
    return results


def score_with(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str] | str,
    continuations: Sequence[str],
    *,
    batch_size: int = 8,
    shared_prompt: bool = False,
) -> list[ContinuationScore]:
    """:func:`score_continuations` for an already loaded ``model``/``tokenizer``."""

    if isinstance(continuations, str):
        raise TypeError("continuations must be a list of strings, not a single string")
    if isinstance(prompts, str):
        prompts = [prompts] * len(continuations)
    if len(prompts) != len(continuations):
        raise ValueError(
            f"got {len(prompts)} prompts but {len(continuations)} continuations; "
            "pass one prompt per continuation (or a single prompt string)"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    items: list[tuple[list[int], int]] = []
    for i, (p, c) in enumerate(zip(prompts, continuations, strict=True)):
        if not isinstance(p, str) or not isinstance(c, str):
            raise TypeError(f"item {i}: prompts and continuations must be strings")
        ids, k = _split_ids(tokenizer, p, c)
        if len(ids) - k < 1:
            raise ValueError(f"item {i}: the continuation {c!r} has no tokens to score")
        items.append((ids, k))
    if shared_prompt and items and all(p == prompts[0] for p in prompts):
        try:
            shared = _score_shared_prompt(model, tokenizer, items)
        except (AttributeError, TypeError):  # a model without KV-cache/``logits_to_keep`` API
            shared = None
        if shared is not None:
            return shared

    return _score_batched(model, tokenizer, items, batch_size)


def _score_batched(
    model: Any, tokenizer: Any, items: Sequence[tuple[list[int], int]], batch_size: int
) -> list[ContinuationScore]:
    """Scores of ``items`` (ids, first scored index), right-padded batches of ``batch_size``."""
    import torch

    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id or 0
    device = next(model.parameters()).device
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    results: list[ContinuationScore | None] = [None] * len(items)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(items[i][0]) for i in idx)
            input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids = items[i][0]
                input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                mask[row, : len(ids)] = 1
            # Only the positions that predict continuation tokens need the LM head; for
            # large vocabularies (Gemma 3: 262k) the head costs more than the body.
            lo = min(items[i][1] for i in idx) - 1
            hi = max(len(items[i][0]) for i in idx) - 1
            logits = _logits_at(model, input_ids.to(device), mask.to(device), lo, hi)
            for row, i in enumerate(idx):
                ids, k = items[i]
                pred = logits[row, k - 1 - lo : len(ids) - 1 - lo].float().log_softmax(-1)
                target = torch.tensor(ids[k:], dtype=torch.long, device=pred.device)
                lp = pred.gather(-1, target.unsqueeze(-1)).squeeze(-1)
                total = float(lp.sum())
                n = len(ids) - k
                results[i] = ContinuationScore(total, n, total / n if n else math.nan)
    return [r for r in results if r is not None]


def score_continuations(
    prompts: Sequence[str] | str,
    continuations: Sequence[str],
    model: Any = "smollm2-135m-instruct",
    batch_size: int = 8,
    shared_prompt: bool = False,
) -> list[ContinuationScore]:
    """Log-likelihood of each continuation after its prompt (teacher forcing, batched).

    Args:
        prompts: One plain-text prompt per continuation, scored as is (no chat template),
            or one string shared by all continuations.
        continuations: The texts to score.
        model: A model name or path (loaded via :func:`load_causal_lm`) or a ``LoadedModel``.
        batch_size: Sequences per forward pass.
        shared_prompt: When every continuation follows the same prompt, run the prompt
            once and reuse its KV cache for all of them (see the module doc).

    Returns:
        One :class:`ContinuationScore` per continuation, in input order.
    """
    from green_chain.models.loading import LoadedModel, load_causal_lm

    loaded = model if isinstance(model, LoadedModel) else load_causal_lm(model)
    return score_with(
        loaded.model,
        loaded.tokenizer,
        prompts,
        continuations,
        batch_size=batch_size,
        shared_prompt=shared_prompt,
    )


def score_choices(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[int],
    prompt_text: str,
    choices: Sequence[str],
    *,
    add_special_tokens: bool,
    prefix_cache: Any = None,
    store: bool = True,
) -> list[ContinuationScore]:
    """Log-likelihood of each of ``choices`` right after an already rendered prompt.

    The prompt is prefilled once for all choices (``shared_prompt``), reusing and filling
    ``prefix_cache`` (a :class:`~green_chain.models.prefix_cache.PrefixCache`) when given.
    With ``store=False`` the cache is only read: no block is stored and the blocks'
    recency and the counters stay as they were, so scoring cannot change what a later
    call finds in (or evicts from) the cache.
    A choice's tokens are those of ``prompt_text + choice`` (tokenized with
    ``add_special_tokens``, as the prompt was) after their common prefix with
    ``prompt_ids`` (the module doc's boundary rule).

    Raises:
        ValueError: no choices, or a choice with no tokens to score.
    """
    if not choices:
        raise ValueError("guided_choice needs at least one choice")
    base = list(prompt_ids)
    items: list[tuple[list[int], int]] = []
    for choice in choices:
        full = list(
            tokenizer(prompt_text + choice, add_special_tokens=add_special_tokens)["input_ids"]
        )
        k = max(1, _common_prefix(base, full))
        if len(full) - k < 1:
            raise ValueError(f"guided_choice {choice!r} has no tokens to score")
        items.append((full, k))
    try:
        shared = _score_shared_prompt(model, tokenizer, items, prefix_cache, store=store)
    except (AttributeError, TypeError):
        shared = None
    if shared is not None:
        return shared
    return _score_batched(model, tokenizer, items, batch_size=8)
