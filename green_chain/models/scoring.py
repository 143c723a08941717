"""Log-likelihood of given continuations after prompts (teacher forcing, batched).

A quality signal that works even for tiny models: a model that ranks the right answer
above a wrong one "knows" it, whether or not it could generate it.

Tokenization boundary: the prompt is tokenized as is (with the tokenizer's special
tokens, e.g. Gemma's ``<bos>``) and so is ``prompt + continuation``; the continuation's
tokens are those after the longest common prefix of the two. A token that merges the end
of the prompt with the start of the continuation therefore counts as continuation. Only
continuation tokens are scored; prompt tokens never are. Sequences are right-padded with
an attention mask, so padding never changes a score.
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


def score_with(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str] | str,
    continuations: Sequence[str],
    *,
    batch_size: int = 8,
) -> list[ContinuationScore]:
    """:func:`score_continuations` for an already loaded ``model``/``tokenizer``."""
    import torch

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
) -> list[ContinuationScore]:
    """Log-likelihood of each continuation after its prompt (teacher forcing, batched).

    Args:
        prompts: One plain-text prompt per continuation, scored as is (no chat template),
            or one string shared by all continuations.
        continuations: The texts to score.
        model: A model name or path (loaded via :func:`load_causal_lm`) or a ``LoadedModel``.
        batch_size: Sequences per forward pass.

    Returns:
        One :class:`ContinuationScore` per continuation, in input order.
    """
    from green_chain.models.loading import LoadedModel, load_causal_lm

    loaded = model if isinstance(model, LoadedModel) else load_causal_lm(model)
    return score_with(loaded.model, loaded.tokenizer, prompts, continuations, batch_size=batch_size)
