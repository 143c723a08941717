"""On-disk cache of dequantized GGUF models as safetensors.

transformers dequantizes a GGUF file on every load (15-30 s for the packaged models).
The first load therefore saves the dequantized model and its tokenizer with
``save_pretrained`` into::

    <green_chain.paths.cache_dir()>/models/<name>-tf<transformers major>/

(for user GGUF files ``gguf-<stem>-<hash of path, size and mtime>-tf<major>``), and
writes a completion marker ``green_chain_cache.json`` *last*, recording the source
file's size and mtime and the size of every saved file. A folder without a valid
marker, with a file whose size differs (e.g. a truncated ``model.safetensors``), or one
that fails to load is treated as corrupt: a warning is issued and it is rebuilt from
the GGUF. Builds go to a temporary sibling folder that is renamed into place, so a
crash mid-write never leaves a folder that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "green_chain_cache.json"
_FORMAT = 1


class CorruptCacheWarning(UserWarning):
    """A cached model folder was incomplete or unreadable and is being rebuilt."""


def transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


def _source_stamp(gguf: Path) -> dict[str, Any]:
    st = gguf.stat()
    return {"source": str(gguf), "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns}


def cache_folder(name: str, gguf: Path, *, packaged: bool) -> Path:
    """The cache folder for a GGUF model (see the module docstring for the layout)."""
    from green_chain.paths import cache_dir

    major = transformers_major()
    if packaged:
        key = f"{name}-tf{major}"
    else:
        st = gguf.stat()
        digest = hashlib.sha256(
            f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
        ).hexdigest()[:16]
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in gguf.stem)[:48]
        key = f"gguf-{stem}-{digest}-tf{major}"
    return cache_dir() / "models" / key


@dataclass(frozen=True)
class CacheCheck:
    """Result of :func:`check_cache`: ``ok`` or the ``reason`` it is not usable."""

    ok: bool
    reason: str
    exists: bool


def check_cache(folder: Path, gguf: Path) -> CacheCheck:
    """Whether ``folder`` holds a complete cache built from ``gguf`` (cheap: sizes only)."""
    marker = folder / MARKER
    if not folder.is_dir():
        return CacheCheck(False, "not built yet", False)
    if not marker.is_file():
        return CacheCheck(False, f"{marker.name} completion marker missing", True)
    try:
        meta = json.loads(marker.read_text())
        files: dict[str, int] = meta["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return CacheCheck(False, f"unreadable marker ({exc})", True)
    stamp = _source_stamp(gguf)
    if meta.get("format") != _FORMAT or meta.get("source_size") != stamp["source_size"]:
        return CacheCheck(False, "built from a different source file or format", True)
    for rel, size in files.items():
        p = folder / rel
        if not p.is_file():
            return CacheCheck(False, f"{rel} missing", True)
        if p.stat().st_size != size:
            return CacheCheck(False, f"{rel} has {p.stat().st_size} bytes, expected {size}", True)
    return CacheCheck(True, "ok", True)


def warn_corrupt(folder: Path, reason: str) -> None:
    warnings.warn(
        f"green-chain model cache {folder} is corrupt ({reason}); rebuilding it from the GGUF",
        CorruptCacheWarning,
        stacklevel=3,
    )


def load_gguf(gguf: Path, dtype: Any) -> tuple[Any, Any]:
    """Load (model, tokenizer) from a GGUF file, dequantizing it (slow: 15-30 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, fname = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=fname, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=fname, dtype=dtype, local_files_only=True
    )
    return model, tokenizer


def build_cache(folder: Path, gguf: Path, model: Any, tokenizer: Any) -> None:
    """Save a GGUF-loaded ``model``/``tokenizer`` as safetensors into ``folder`` atomically."""
    # save_pretrained refuses a quantizer-backed model; the weights are already dequantized.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        files = {
            str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        meta = {"format": _FORMAT, **_source_stamp(gguf), "files": files}
        (tmp / MARKER).write_text(json.dumps(meta, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_folder(folder: Path, dtype: Any) -> tuple[Any, Any]:
    """Load (model, tokenizer) from a Hugging Face folder, offline."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    return model, tokenizer


def load_cached_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def load_gguf_tokenizer(gguf: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, local_files_only=True
    )


def load_gguf_cached(name: str, gguf: Path, *, packaged: bool, dtype: Any) -> tuple[Any, Any, Path]:
    """(model, tokenizer, cache folder) for a GGUF, building/rebuilding the cache as needed."""
    folder = cache_folder(name, gguf, packaged=packaged)
    check = check_cache(folder, gguf)
    if check.ok:
        try:
            model, tokenizer = load_folder(folder, dtype)
            return model, tokenizer, folder
        except Exception as exc:  # unreadable safetensors etc.: rebuild below
            warn_corrupt(folder, f"load failed: {type(exc).__name__}: {exc}")
    elif check.exists:
        warn_corrupt(folder, check.reason)
    import torch

    model, tokenizer = load_gguf(gguf, torch.float32)
    try:
        build_cache(folder, gguf, model, tokenizer)
    except OSError as exc:  # read-only cache: still usable, just slow next time
        warnings.warn(f"could not write the model cache {folder}: {exc}", stacklevel=2)
    if dtype is not None and dtype != torch.float32:
        model = model.to(dtype)
    return model, tokenizer, folder
