"""Multiple-choice log-likelihoods with the prompt computed once (a shared KV cache).

The benchmark scores every item as gold vs three distractors after the *same* prompt;
:func:`green_chain.models.score_continuations` re-reads the prompt for each candidate,
so on long contexts (HotpotQA, QMSum) the quality metric cost four prefills per item.
Here the prompt's common token prefix runs once with ``use_cache=True``; its cache is
repeated over the candidates and only their remaining tokens run. Tokenization follows
``green_chain.models.scoring`` (``prompt + continuation`` tokenized whole; the scored
tokens are those after the longest common prefix with the prompt's own tokens), so the
scores equal ``score_continuations``' up to float rounding (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=True)["input_ids"])


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def score_shared_prompt(
    model: Any, tokenizer: Any, prompt: str, continuations: Sequence[str]
) -> list[tuple[float, int]]:
    """``(logprob_sum, n_tokens)`` of each continuation after ``prompt`` (nats)."""
    import warnings

    import torch

    if not continuations:
        return []
    p_ids = _ids(tokenizer, prompt)
    full = [_ids(tokenizer, prompt + c) for c in continuations]
    starts = [_common(p_ids, f) for f in full]
    if min(starts) < 1 or any(len(f) - k < 1 for f, k in zip(full, starts, strict=True)):
        raise ValueError("a continuation has no scorable token (or the prompt is empty)")
    # shared prefix: common to every row, and ending before the first scored position
    m = min(starts) - 1
    for f in full[1:]:
        m = min(m, _common(full[0], f))
    m = max(m, 1)
    device = next(model.parameters()).device
    with torch.inference_mode():
        prefix = torch.tensor([full[0][:m]], dtype=torch.long, device=device)
        out = model(input_ids=prefix, use_cache=True, logits_to_keep=1)
        cache = getattr(out, "cache", None) or out.past_key_values
        n = len(full)
        cache.batch_repeat_interleave(n)
        width = max(len(f) for f in full) - m
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rest = torch.full((n, width), pad, dtype=torch.long, device=device)
        mask = torch.zeros((n, m + width), dtype=torch.long, device=device)
        mask[:, :m] = 1
        for row, f in enumerate(full):
            tail = f[m:]
            rest[row, : len(tail)] = torch.tensor(tail, dtype=torch.long)
            mask[row, m : m + len(tail)] = 1
        try:  # transformers >= 5.2x names it ``cache``; older ones ``past_key_values``
            logits = model(input_ids=rest, attention_mask=mask, cache=cache, use_cache=True).logits
        except TypeError:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                logits = model(
                    input_ids=rest, attention_mask=mask, past_key_values=cache, use_cache=True
                ).logits
        # logits[:, j] predicts token at absolute position m + j + 1
        results = []
        for row, (f, k) in enumerate(zip(full, starts, strict=True)):
            pred = logits[row, k - 1 - m : len(f) - 1 - m].float().log_softmax(-1)
            target = torch.tensor(f[k:], dtype=torch.long, device=device)
            lp = pred.gather(-1, target.unsqueeze(-1)).squeeze(-1)
            results.append((float(lp.sum()), len(f) - k))
    return results


def prefix_scorer(normalize: bool = False) -> Any:
    """A :data:`~green_chain.bench.metrics.LikelihoodScorer` over the packaged models.

    Calls sharing one prompt (the multiple choice) use :func:`score_shared_prompt`;
    anything else, or a model whose cache cannot be repeated, falls back to
    :func:`green_chain.models.score_continuations`.
    """

    def score(model_name: str, prompts: list[str], continuations: list[str]) -> list[float]:
        from green_chain.models import load_causal_lm, score_continuations

        if prompts and all(p == prompts[0] for p in prompts):
            loaded = load_causal_lm(model_name)
            try:
                pairs = score_shared_prompt(
                    loaded.model, loaded.tokenizer, prompts[0], continuations
                )
                return [s / k if normalize else s for s, k in pairs]
            except (AttributeError, TypeError, ValueError, RuntimeError):
                pass
        results = score_continuations(prompts, continuations, model=model_name)
        return [r.mean_logprob if normalize else r.logprob_sum for r in results]

    return score
