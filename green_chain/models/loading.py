"""Loading local causal LMs and tokenizers, one copy per process.

:func:`load_causal_lm` accepts a registry name (:data:`~green_chain.models.registry.PACKAGED_MODELS`),
a local Hugging Face folder or a ``.gguf`` file. GGUF models go through the safetensors
cache of :mod:`green_chain.models.cache` (first load 15-30 s, later loads 1-2 s).
Loaded models are kept in a process-wide, thread-safe cache keyed by path and dtype:
concurrent callers asking for the same model wait for one load and share the object.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from green_chain.models.registry import ResolvedModel, ensure_offline, resolve_model


@dataclass
class LoadedModel:
    """A loaded causal LM.

    Attributes:
        model: The ``transformers`` model (eval mode).
        tokenizer: Its tokenizer.
        name: Registry name, or the path string for user models.
        path: The weights actually loaded (cache folder for GGUF models).
        chat_template: Whether the tokenizer has a chat template (``False`` for base models).
        source: The original GGUF file or folder.
    """

    model: Any
    tokenizer: Any
    name: str
    path: Path
    chat_template: bool
    source: Path = field(default_factory=Path)


_lock = threading.Lock()
_key_locks: dict[tuple[str, str], threading.Lock] = {}
_models: dict[tuple[str, str], LoadedModel] = {}
_keys: dict[tuple[str, str], tuple[str, str]] = {}  # (name as asked, dtype) -> _models key
_tokenizers: dict[str, Any] = {}


def _key_lock(key: tuple[str, str]) -> threading.Lock:
    with _lock:
        return _key_locks.setdefault(key, threading.Lock())


def _gguf_in_folder(resolved: ResolvedModel) -> ResolvedModel:
    """A folder without ``config.json`` but with exactly one ``.gguf``: use that file."""
    if resolved.path.is_dir() and not (resolved.path / "config.json").is_file():
        ggufs = sorted(resolved.path.glob("*.gguf"))
        if len(ggufs) != 1:
            raise ValueError(
                f"{resolved.path} holds {len(ggufs)} .gguf files and no config.json; "
                "pass the path of one .gguf file"
            )
        return ResolvedModel(resolved.name, ggufs[0], resolved.kind, resolved.packaged)
    return resolved


def _resolve_causal(name_or_path: str | os.PathLike[str]) -> ResolvedModel:
    resolved = resolve_model(name_or_path)
    if resolved.kind == "embedding":
        raise ValueError(
            f"{resolved.name!r} is an embedding model, not a causal LM; use LocalEmbeddings"
        )
    return _gguf_in_folder(resolved)


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _prepare_tokenizer(tokenizer: Any, kind: str | None) -> Any:
    if kind == "base" and _has_chat_template(tokenizer):
        tokenizer.chat_template = None  # a base model: plain-text prompts (documented)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def is_loaded(name_or_path: str | os.PathLike[str], *, dtype: Any = None) -> bool:
    """Whether :func:`load_causal_lm` would return a model already loaded in this process.

    Cheap (resolves the name, loads nothing); ``False`` for a name it cannot resolve.
    """
    dtype_name = _dtype_name(dtype) if dtype is not None else "float32"
    key = _keys.get((str(name_or_path), dtype_name))
    if key is not None and key in _models:
        return True  # fast path: no resolution on every call
    try:
        resolved = _resolve_causal(name_or_path)
    except Exception:
        return False
    return (str(resolved.path), dtype_name) in _models


def load_causal_lm(name_or_path: str | os.PathLike[str], *, dtype: Any = None) -> LoadedModel:
    """Load a causal LM by registry name, local HF folder or ``.gguf`` path (cached per process).

    Args:
        name_or_path: ``smollm2-135m-instruct``, ``gemma3-270m``, a folder or a ``.gguf`` file.
        dtype: torch dtype of the weights (default ``torch.float32``).

    Raises:
        ValueError: unknown name / unusable path (the message lists the known names).
        ModelNotAvailableError: the model's package is missing (the message names the pip line).
    """
    ensure_offline()
    import torch

    dtype = torch.float32 if dtype is None else dtype
    resolved = _resolve_causal(name_or_path)
    key = (str(resolved.path), _dtype_name(dtype))
    _keys[(str(name_or_path), key[1])] = key
    cached = _models.get(key)
    if cached is not None:
        return cached
    with _key_lock(key):
        cached = _models.get(key)
        if cached is not None:
            return cached
        loaded = _load_uncached(resolved, dtype)
        with _lock:
            _models[key] = loaded
            # the model's own tokenizer from now on, even if one was loaded alone before
            _tokenizers[str(resolved.path)] = loaded.tokenizer
        return loaded


def _load_uncached(resolved: ResolvedModel, dtype: Any) -> LoadedModel:
    from green_chain.models import cache

    if resolved.is_gguf:
        model, tokenizer, path = cache.load_gguf_cached(
            resolved.name, resolved.path, packaged=resolved.packaged, dtype=dtype
        )
    else:
        model, tokenizer = cache.load_folder(resolved.path, dtype)
        path = resolved.path
    model.eval()
    tokenizer = _prepare_tokenizer(tokenizer, resolved.kind)
    if getattr(model.generation_config, "pad_token_id", None) is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=resolved.name,
        path=path,
        chat_template=_has_chat_template(tokenizer),
        source=resolved.path,
    )


def load_tokenizer(name_or_path: str | os.PathLike[str]) -> Any:
    """The tokenizer of a model, without loading its weights (cached per process).

    For GGUF models with a complete safetensors cache the tokenizer comes from the cache
    folder (fast); otherwise it is read from the GGUF file (a few seconds). Embedding model
    names (``all-minilm-l6-v2``) are accepted too.
    """
    ensure_offline()
    resolved = resolve_model(name_or_path)
    if resolved.kind != "embedding":
        resolved = _gguf_in_folder(resolved)
    key = str(resolved.path)
    tok = _tokenizers.get(key)
    if tok is not None:
        return tok
    with _key_lock((key, "tokenizer")):
        tok = _tokenizers.get(key)
        if tok is not None:
            return tok
        tok = _load_tokenizer_uncached(resolved)
        with _lock:
            _tokenizers.setdefault(key, tok)
            return _tokenizers[key]


def _load_tokenizer_uncached(resolved: ResolvedModel) -> Any:
    from green_chain.models import cache

    if resolved.is_gguf:
        folder = cache.cache_folder(resolved.name, resolved.path, packaged=resolved.packaged)
        tok = None
        if cache.check_cache(folder, resolved.path).ok:
            try:
                tok = cache.load_cached_tokenizer(folder)
            except Exception:
                tok = None  # corrupt: fall back to the GGUF (load_causal_lm rebuilds)
        if tok is None:
            tok = cache.load_gguf_tokenizer(resolved.path)
    else:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True)
    return _prepare_tokenizer(tok, resolved.kind)


def clear_process_cache() -> None:
    """Forget every loaded model and tokenizer (tests; frees memory once unreferenced)."""
    with _lock:
        _models.clear()
        _keys.clear()
        _tokenizers.clear()
