"""``selective`` backend (experimental): question relevance in nats from a small causal LM.

Selective Context (Li et al., 2023) keeps the words a language model finds most
surprising. Scored that way (``scoring="surprisal"``, the first version of this
backend), it lost to plain truncation on held-out SQuAD and NQ at every rate, for
three reasons measured on 25 SQuAD + 25 NQ ``tune`` items (``green_chain.compression.qa_items``)
at rates 0.5 and 0.33, answer survival against keep-the-head (``python -m
green_chain.experiments.compression --parts selective-why --diag-items 25``):

1. surprisal is not relevance: conditioning on the question makes the words it
   predicts *less* surprising, so the words that answer it rank low;
2. years, figures and names are predictable continuations for the LM, so they were
   dropped first (now ranked first by default, see ``priority``);
3. deleting single words breaks answers: 34 of those 50 gold answers span several
   words, and one dropped word inside an answer loses it, which truncation never does.

The default scoring is therefore **contrastive and pooled by sentence**
(``scoring="contrast"``, the question-aware signal of LongLLMLingua): a word's
relevance is the surprisal its tokens lose when the question is prepended
(``surprisal(no question) - surprisal(question)``, nats), and every word scores the
mean relevance of its sentence (plus a small share of its own), so whole relevant
sentences are kept. That takes two LM passes. Without a question there is no contrast
and words score their unconditioned surprisal. The text is tokenized once, cut into
chunks of ``chunk_tokens`` and scored in batched forward passes (``batch_size``
chunks at a time), never token by token, so memory stays bounded for any length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from green_chain.compression.backends.base import CompressionBackend
from green_chain.compression.units import split_sentences


class SelectiveBackend(CompressionBackend):
    """Word keep priority from a causal LM's surprisal (nats); see the module doc.

    Args:
        lm: A packaged model name / local path (loaded with
            ``green_chain.models.load_causal_lm``) or an object with ``.model`` (a
            transformers causal LM) and ``.tokenizer``.
        chunk_tokens: Context tokens per chunk.
        batch_size: Chunks per forward pass.
        reduce: For ``scoring="surprisal"``: ``"mean"`` (surprisal per token, the
            default: the fitter then ranks by information density) or ``"sum"`` (the
            unit's total self-information).
        scoring: ``"contrast"`` (default: question relevance pooled by sentence) or
            ``"surprisal"`` (question-conditioned self-information per word, the
            Selective Context scoring that loses to truncation; kept to compare).
        sentence_share: In ``"contrast"``, weight of the word's own relevance next to
            its sentence's mean (ties between sentences break by word).
        max_question_tokens: The question prefix is cut to this many tokens.
        priority: Built-in patterns ranked first (default numbers and entities: see
            :class:`CompressionBackend`); ``()`` ranks by the model alone.
    """

    priority = ("numbers", "entities")
    name = "selective"
    granularity = "word"

    def __init__(
        self,
        lm: Any = "smollm2-135m-instruct",
        *,
        chunk_tokens: int = 256,
        batch_size: int = 4,
        reduce: Literal["mean", "sum"] = "mean",
        max_question_tokens: int = 64,
        scoring: Literal["contrast", "surprisal"] = "contrast",
        sentence_share: float = 1e-3,
        priority: Sequence[str] | None = None,
    ) -> None:
        if chunk_tokens < 8:
            raise ValueError(f"chunk_tokens must be >= 8, got {chunk_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if reduce not in ("mean", "sum"):
            raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
        if scoring not in ("contrast", "surprisal"):
            raise ValueError(f"scoring must be 'contrast' or 'surprisal', got {scoring!r}")
        if not 0.0 <= sentence_share <= 1.0:
            raise ValueError(f"sentence_share must be in [0, 1], got {sentence_share}")
        self.scoring = scoring
        self.sentence_share = sentence_share
        self._lm_spec = lm
        self._lm: Any = None if isinstance(lm, str) else lm
        self.chunk_tokens = chunk_tokens
        self.batch_size = batch_size
        self.reduce = reduce
        self.max_question_tokens = max_question_tokens
        self.set_priority(priority)

    @property
    def lm(self) -> Any:
        if self._lm is None:
            from green_chain.models import load_causal_lm

            self._lm = load_causal_lm(self._lm_spec)
        return self._lm

    def _prefix_ids(self, question: str | None) -> list[int]:
        tok = self.lm.tokenizer
        ids: list[int] = []
        bos = getattr(tok, "bos_token_id", None)
        if bos is not None:
            ids.append(int(bos))
        if question and question.strip():
            q = tok(f"Question: {question.strip()}\nContext:", add_special_tokens=False)
            ids.extend(list(q["input_ids"])[: self.max_question_tokens])
        if not ids:  # something must predict the first context token
            ids = list(tok("\n", add_special_tokens=False)["input_ids"])[:1] or [0]
        return ids

    def token_surprisals(self, ids: Sequence[int], question: str | None) -> list[float]:
        """Surprisal (nats) of every id given the question prefix and earlier ids of its chunk."""
        import torch

        model = self.lm.model
        tok = self.lm.tokenizer
        pad = getattr(tok, "pad_token_id", None)
        if pad is None:
            pad = getattr(tok, "eos_token_id", None) or 0
        prefix = self._prefix_ids(question)
        chunks = [
            list(ids[s : s + self.chunk_tokens]) for s in range(0, len(ids), self.chunk_tokens)
        ]
        out: list[float] = []
        device = next(model.parameters()).device
        for b in range(0, len(chunks), self.batch_size):
            batch = [prefix + c for c in chunks[b : b + self.batch_size]]
            width = max(len(x) for x in batch)
            input_ids = torch.full((len(batch), width), int(pad), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, row in enumerate(batch):
                input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
                mask[r, : len(row)] = 1
            with torch.inference_mode():
                logits = model(
                    input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False
                ).logits
                logp = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
                target = input_ids[:, 1:].to(device)
                nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).cpu()
            for r, row in enumerate(batch):
                n_ctx = len(row) - len(prefix)
                # position p of the shifted array predicts token p+1
                out.extend(nll[r, len(prefix) - 1 : len(prefix) - 1 + n_ctx].tolist())
            del logits, logp
        return out

    def _word_totals(
        self, units: Sequence[str], question: str | None
    ) -> tuple[list[float], list[int], list[int], list[float]]:
        """Per unit: summed finite surprisal given the question, token count, and the
        flat token ids' owners; plus the per-token surprisals."""
        tok = self.lm.tokenizer
        enc = tok(list(units), add_special_tokens=False)["input_ids"]
        flat: list[int] = []
        owner: list[int] = []
        for i, ids in enumerate(enc):
            flat.extend(int(t) for t in ids)
            owner.extend([i] * len(ids))
        surprisal = self.token_surprisals(flat, question) if flat else []
        total = [0.0] * len(units)
        count = [0] * len(units)
        for i, v in zip(owner, surprisal, strict=True):
            if math.isfinite(v):
                total[i] += v
                count[i] += 1
        return total, count, flat, surprisal

    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        if not units:
            return []
        has_q = bool(question and question.strip())
        if self.scoring == "contrast" and has_q:
            return self._contrast_scores(units, question)
        total, count, _, _ = self._word_totals(units, question if has_q else None)
        scores: list[float] = []
        for i, u in enumerate(units):
            if not u.strip() or count[i] == 0:
                scores.append(-1.0)
            elif self.reduce == "mean":
                scores.append(total[i] / count[i])
            else:
                scores.append(total[i])
        return scores

    def _contrast_scores(self, units: Sequence[str], question: str | None) -> list[float]:
        with_q, count, _, _ = self._word_totals(units, question)
        without_q, _, _, _ = self._word_totals(units, None)
        gain = [a - b for a, b in zip(without_q, with_q, strict=True)]  # nats saved
        sentence = _sentence_of(units)
        sums: dict[int, list[float]] = {}
        for i, u in enumerate(units):
            if u.strip() and count[i]:
                sums.setdefault(sentence[i], []).append(gain[i])
        means = {k: sum(v) / len(v) for k, v in sums.items()}
        lowest = min(means.values(), default=0.0) - 1.0
        return [
            means[sentence[i]] + self.sentence_share * gain[i] if u.strip() and count[i] else lowest
            for i, u in enumerate(units)
        ]


def _sentence_of(units: Sequence[str]) -> list[int]:
    """Index of the sentence (``split_sentences`` of the joined units) each unit starts in."""
    bounds: list[int] = []
    pos = 0
    for s in split_sentences("".join(units)):
        pos += len(s)
        bounds.append(pos)
    out: list[int] = []
    pos = 0
    k = 0
    for u in units:
        while k < len(bounds) - 1 and pos >= bounds[k]:
            k += 1
        out.append(k)
        pos += len(u)
    return out
