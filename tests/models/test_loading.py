from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from green_chain.models import cache, load_causal_lm, load_tokenizer
from green_chain.models.loading import clear_process_cache
from green_chain.models.token_counters import resolve_token_counter


def test_local_folder_loads_once_per_process(tiny_folder: Path) -> None:
    a = load_causal_lm(tiny_folder)
    b = load_causal_lm(str(tiny_folder))
    assert a is b
    assert a.chat_template and a.path == tiny_folder.resolve()
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(load_causal_lm(tiny_folder)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is a for r in results)


def test_base_folder_has_no_chat_template(tiny_base_folder: Path) -> None:
    assert not load_causal_lm(tiny_base_folder).chat_template


def test_load_tokenizer_is_shared(tiny_folder: Path) -> None:
    # loaded here, not the session fixture: another test may have cleared the process cache
    lm = load_causal_lm(tiny_folder)
    assert load_tokenizer(tiny_folder) is lm.tokenizer


def test_token_counter_specs(tiny_folder: Path, tiny_lm: Any) -> None:
    text = "the cat sat"
    expected = len(tiny_lm.tokenizer.encode(text, add_special_tokens=False))
    assert resolve_token_counter(tiny_folder)(text) == expected
    assert resolve_token_counter(str(tiny_folder))(text) == expected
    assert resolve_token_counter(tiny_lm.tokenizer)(text) == expected
    assert resolve_token_counter(tiny_folder).method == f"tokenizer:{tiny_folder}"


def test_prompt_count_includes_chat_template_and_tools(tiny_folder: Path, tiny_lm: Any) -> None:
    from langchain_core.messages import HumanMessage

    from green_chain.models.prompting import render

    counter = resolve_token_counter(tiny_folder)
    msgs = [HumanMessage("the cat sat")]
    tool = {
        "type": "function",
        "function": {
            "name": "look",
            "description": "look up",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    plain = counter.count_prompt(msgs)
    with_tools = counter.count_prompt(msgs, [tool])
    assert plain == len(render(tiny_lm, msgs).ids) > counter("the cat sat")
    assert with_tools == len(render(tiny_lm, msgs, [tool]).ids) > plain


# ---------------------------------------------------------------- GGUF cache machinery
@pytest.fixture()
def fake_gguf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_tiny: Any
) -> Iterator[tuple[Path, list[int]]]:
    """A fake .gguf whose 'dequantizing' load returns a fresh tiny model; counts loads."""
    monkeypatch.setenv("GREEN_CHAIN_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF fake")
    calls: list[int] = []

    def load_gguf(path: Path, dtype: Any) -> tuple[Any, Any]:
        assert path == gguf.resolve()
        calls.append(1)
        return fresh_tiny()

    monkeypatch.setattr(cache, "load_gguf", load_gguf)
    monkeypatch.setattr(cache, "load_gguf_tokenizer", lambda p: fresh_tiny()[1])
    clear_process_cache()
    yield gguf, calls
    clear_process_cache()


def _folder(gguf: Path) -> Path:
    return cache.cache_folder(str(gguf), gguf.resolve(), packaged=False)


def test_gguf_cache_built_then_reused(fake_gguf: tuple[Path, list[int]]) -> None:
    fake_gguf, calls = fake_gguf
    lm = load_causal_lm(fake_gguf)
    folder = _folder(fake_gguf)
    assert len(calls) == 1 and lm.path == folder
    meta = json.loads((folder / cache.MARKER).read_text())
    assert meta["source_size"] == fake_gguf.stat().st_size
    assert "model.safetensors" in meta["files"]
    assert folder.name.endswith(f"-tf{cache.transformers_major()}")
    clear_process_cache()
    tok = load_tokenizer(fake_gguf)  # from the cache folder, no GGUF parse
    assert tok.chat_template
    again = load_causal_lm(fake_gguf)
    assert len(calls) == 1  # served from the safetensors cache
    assert again is not lm


def test_truncated_safetensors_is_rebuilt(fake_gguf: tuple[Path, list[int]]) -> None:
    fake_gguf, calls = fake_gguf
    load_causal_lm(fake_gguf)
    folder = _folder(fake_gguf)
    st = folder / "model.safetensors"
    st.write_bytes(st.read_bytes()[:100])
    assert not cache.check_cache(folder, fake_gguf.resolve()).ok
    clear_process_cache()
    with pytest.warns(cache.CorruptCacheWarning, match="model.safetensors"):
        load_causal_lm(fake_gguf)
    assert len(calls) == 2
    assert cache.check_cache(folder, fake_gguf.resolve()).ok


def test_garbage_of_right_size_is_rebuilt(fake_gguf: tuple[Path, list[int]]) -> None:
    fake_gguf, calls = fake_gguf
    load_causal_lm(fake_gguf)
    folder = _folder(fake_gguf)
    st = folder / "model.safetensors"
    st.write_bytes(b"\xff" * st.stat().st_size)
    clear_process_cache()
    with pytest.warns(cache.CorruptCacheWarning, match="load failed"):
        lm = load_causal_lm(fake_gguf)
    assert len(calls) == 2 and lm.model is not None


def test_missing_marker_is_rebuilt(fake_gguf: tuple[Path, list[int]]) -> None:
    fake_gguf, _calls = fake_gguf
    load_causal_lm(fake_gguf)
    folder = _folder(fake_gguf)
    (folder / cache.MARKER).unlink()
    clear_process_cache()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        load_causal_lm(fake_gguf)
    assert any(issubclass(w.category, cache.CorruptCacheWarning) for w in rec)
    assert (folder / cache.MARKER).is_file()
