"""``selective`` backend: self-information of words from a small causal LM.

Selective Context (Li et al., 2023) keeps the lexical units a language model finds
most surprising. Following LongLLMLingua, the surprisal is conditioned on the
question (the question is a prefix of every chunk), so words relevant to it become
less surprising *only* where the question already predicts them, while facts stay
informative. The text is tokenized once, cut into chunks of ``chunk_tokens`` and
scored in batched forward passes (``batch_size`` chunks at a time), never token by
token, so memory stays bounded for any length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from green_chain.compression.backends.base import CompressionBackend


class SelectiveBackend(CompressionBackend):
    """Word-level keep priority = surprisal (nats) of the word's tokens under a causal LM.

    Args:
        lm: A packaged model name / local path (loaded with
            ``green_chain.models.load_causal_lm``) or an object with ``.model`` (a
            transformers causal LM) and ``.tokenizer``.
        chunk_tokens: Context tokens per chunk.
        batch_size: Chunks per forward pass.
        reduce: ``"mean"`` (surprisal per token, the default: the fitter then ranks
            by information density) or ``"sum"`` (the unit's total self-information).
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
        priority: Sequence[str] | None = None,
    ) -> None:
        if chunk_tokens < 8:
            raise ValueError(f"chunk_tokens must be >= 8, got {chunk_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if reduce not in ("mean", "sum"):
            raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
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

    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        if not units:
            return []
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
        for i, s in zip(owner, surprisal, strict=True):
            if math.isfinite(s):
                total[i] += s
                count[i] += 1
        scores: list[float] = []
        for i, u in enumerate(units):
            if not u.strip() or count[i] == 0:
                scores.append(-1.0)
            elif self.reduce == "mean":
                scores.append(total[i] / count[i])
            else:
                scores.append(total[i])
        return scores
