"""``llmlingua`` backend: LLMLingua / LongLLMLingua / LLMLingua-2 through our adapter.

llmlingua decides which tokens to keep at its own rate, which often misses the
budget. We align its output back onto the original words (kept words score 1, the
others 0) and let the shared budget fitter hit the budget exactly; llmlingua's raw
output is reported in :meth:`LLMLinguaBackend.last_stats` so the raw deviation is
visible. Long texts are compressed in chunks of ``chunk_words`` words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from green_chain.compression.backends.base import CompressionBackend

Mode = Literal["llmlingua", "longllmlingua", "llmlingua2"]

#: How to get an LLMLingua-2 checkpoint: none ships with green-chain or its packaged models.
LLMLINGUA2_HOWTO = (
    "no LLMLingua-2 checkpoint ships with green-chain or its packaged models, so 'llmlingua2' "
    "cannot run offline as installed; on a machine with network run `huggingface-cli download "
    "microsoft/llmlingua-2-bert-base-multilingual-cased-meetingbank --local-dir DIR` (or the "
    "xlm-roberta-large variant), copy DIR here and pass "
    "PromptCompressor('llmlingua2', backend_kwargs={'model_path': DIR})"
)


def check_llmlingua2_path(model_path: str | None) -> None:
    """Raise a one-line error unless ``model_path`` is a local model folder (has config.json)."""
    from pathlib import Path

    if not model_path:
        raise ValueError(f"llmlingua2 needs model_path=: {LLMLINGUA2_HOWTO}")
    if not (Path(model_path) / "config.json").is_file():
        raise FileNotFoundError(
            f"llmlingua2 model_path={model_path!r} is not a model folder (no config.json): "
            f"{LLMLINGUA2_HOWTO}"
        )


def align_kept(units: Sequence[str], compressed: str, *, window: int = 64) -> list[bool]:
    """Which word units survive in ``compressed`` (a subsequence of the words, in order).

    Each output word is matched to the next equal unit within ``window`` units;
    words llmlingua cut inside (a sub-word token dropped) count as dropped.
    """
    keep = [False] * len(units)
    j = 0
    for w in compressed.split():
        k = j
        limit = min(len(units), j + window)
        while k < limit and units[k].strip() != w:
            k += 1
        if k < limit:
            keep[k] = True
            j = k + 1
    return keep


class LLMLinguaBackend(CompressionBackend):
    """LLMLingua-family keep decisions as unit scores.

    Args:
        mode: ``"llmlingua"`` (perplexity, question-agnostic), ``"longllmlingua"``
            (question-conditioned contrastive perplexity; needs a question, else it
            falls back to ``llmlingua``), ``"llmlingua2"`` (token classifier).
        model: For LLMLingua/LongLLMLingua: a packaged causal-LM name / path (loaded
            with ``green_chain.models.load_causal_lm``) or an object with ``.model``
            and ``.tokenizer``. Default: the packaged SmolLM2.
        model_path: For LLMLingua-2: a local folder with a token-classification model
            (e.g. a downloaded ``microsoft/llmlingua-2-*`` checkpoint). Required there and
            checked at construction: none ships, see :data:`LLMLINGUA2_HOWTO`.
        chunk_words: Words per llmlingua call (bounds memory and time on long texts).
        compress_kwargs: Extra keyword arguments for ``compress_prompt``.
        priority: Built-in patterns ranked first (default numbers and entities: see
            :class:`CompressionBackend`); ``()`` ranks by the model alone.
    """

    priority = ("numbers", "entities")
    name = "llmlingua"
    granularity = "word"

    def __init__(
        self,
        mode: Mode = "llmlingua",
        *,
        model: Any = "smollm2-135m-instruct",
        model_path: str | None = None,
        chunk_words: int = 1500,
        compress_kwargs: dict[str, Any] | None = None,
        priority: Sequence[str] | None = None,
    ) -> None:
        if mode not in ("llmlingua", "longllmlingua", "llmlingua2"):
            raise ValueError(f"mode must be llmlingua, longllmlingua or llmlingua2, got {mode!r}")
        if mode == "llmlingua2":
            check_llmlingua2_path(model_path)
        self.mode = mode
        self.name = "llmlingua2" if mode == "llmlingua2" else mode
        self._model_spec = model
        self.model_path = model_path
        self.chunk_words = chunk_words
        self.compress_kwargs = dict(compress_kwargs or {})
        self._compressor: Any = None
        self._stats: dict[str, Any] = {}
        self.set_priority(priority)

    @property
    def compressor(self) -> Any:
        """The :class:`OfflineLLMLingua` instance (built on first use)."""
        if self._compressor is None:
            try:
                from green_chain.compression.llmlingua_adapter import OfflineLLMLingua
            except ImportError as exc:
                raise ImportError(
                    f"the llmlingua backend needs the llmlingua package ({exc}): "
                    'pip install "green-chain[llmlingua]"'
                ) from exc

            if self.mode == "llmlingua2":
                assert self.model_path is not None
                self._compressor = OfflineLLMLingua.from_llmlingua2_path(self.model_path)
            else:
                lm = self._model_spec
                if isinstance(lm, str):
                    from green_chain.models import load_causal_lm

                    lm = load_causal_lm(lm)
                self._compressor = OfflineLLMLingua(lm.model, lm.tokenizer)
        return self._compressor

    def _compress_chunk(self, text: str, question: str | None, rate: float) -> str:
        c = self.compressor
        if self.mode == "llmlingua2":
            res = c.compress_prompt([text], rate=rate, **self.compress_kwargs)
        elif self.mode == "longllmlingua" and question and question.strip():
            kwargs: dict[str, Any] = {
                "question": question.strip(),
                "rank_method": "longllmlingua",
                "condition_in_question": "after",
                "condition_compare": True,
                "concate_question": False,
                "use_context_level_filter": False,
            }
            kwargs.update(self.compress_kwargs)
            res = c.compress_prompt([text], rate=rate, **kwargs)
        else:
            kwargs = {"use_context_level_filter": False, "concate_question": False}
            kwargs.update(self.compress_kwargs)
            res = c.compress_prompt([text], rate=rate, **kwargs)
        return str(res["compressed_prompt"])

    def score_units(
        self, units: Sequence[str], question: str | None = None, *, keep_ratio: float = 0.5
    ) -> list[float]:
        rate = min(1.0, max(0.01, keep_ratio))
        keep: list[bool] = []
        raw_parts: list[str] = []
        for s in range(0, len(units), self.chunk_words):
            chunk = list(units[s : s + self.chunk_words])
            text = "".join(chunk)
            out = self._compress_chunk(text, question, rate) if text.strip() else ""
            raw_parts.append(out.strip())
            keep.extend(align_kept(chunk, out))
        self._stats = {"raw_text": " ".join(p for p in raw_parts if p), "llmlingua_rate": rate}
        return [1.0 if k else 0.0 for k in keep]

    def last_stats(self) -> dict[str, Any]:
        return dict(self._stats)
