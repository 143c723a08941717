"""Exporters load through the ``green_chain.exporters`` entry-point group, by name."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

from green_chain.bench.exporters import (
    ENTRY_POINT_GROUP,
    ExporterUnavailableError,
    load_exporter,
)


def _register(monkeypatch, *eps: importlib.metadata.EntryPoint) -> None:
    real = importlib.metadata.entry_points

    def fake(**kwargs):
        if kwargs.get("group") == ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(eps)
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)


def _ep(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_loads_the_named_exporter(monkeypatch) -> None:
    module = types.ModuleType("exporter_pkg")
    module.export = lambda path, **kw: f"sent {path}"  # type: ignore[attr-defined]
    module.other = lambda path, **kw: "other"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "exporter_pkg", module)
    _register(monkeypatch, _ep("other", "exporter_pkg:other"), _ep("mlflow", "exporter_pkg:export"))
    assert load_exporter("mlflow")("r.json") == "sent r.json"


def test_missing_exporter_names_what_to_install(monkeypatch) -> None:
    _register(monkeypatch)
    with pytest.raises(ExporterUnavailableError, match="pip install -e integrations/mlflow"):
        load_exporter("mlflow")
    with pytest.raises(ExporterUnavailableError, match=r"'nope'.*green_chain\.exporters"):
        load_exporter("nope")


def test_broken_or_uncallable_entry_points_are_clear_errors(monkeypatch) -> None:
    module = types.ModuleType("exporter_pkg2")
    module.VALUE = 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "exporter_pkg2", module)
    _register(
        monkeypatch, _ep("broken", "no_such_module_xyz:f"), _ep("flat", "exporter_pkg2:VALUE")
    )
    with pytest.raises(ExporterUnavailableError, match=r"'broken' exporter .* failed to load"):
        load_exporter("broken")
    with pytest.raises(TypeError, match="not callable"):
        load_exporter("flat")


def test_the_mlflow_integration_declares_its_entry_point() -> None:
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "integrations" / "mlflow" / "pyproject.toml"
    eps = tomllib.loads(pyproject.read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert eps == {"mlflow": "green_chain_mlflow:log_benchmark"}
