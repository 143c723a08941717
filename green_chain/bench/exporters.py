"""Benchmark exporters found through the entry-point group :data:`ENTRY_POINT_GROUP`.

The core never imports an integration: a distribution such as ``green-chain-mlflow``
declares, in its ``pyproject.toml``::

    [project.entry-points."green_chain.exporters"]
    mlflow = "green_chain_mlflow:log_benchmark"

and ``green-chain bench --mlflow`` loads it by name. An exporter is a callable taking the
path of a ``results.json`` as its first argument (plus keyword options of its own) and
returning where the run went (for MLflow, the run id).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

#: Entry-point group of benchmark exporters (name -> callable).
ENTRY_POINT_GROUP = "green_chain.exporters"

#: Where each known exporter comes from, for the "not installed" message.
KNOWN_DISTRIBUTIONS: dict[str, str] = {"mlflow": "integrations/mlflow"}


class ExporterUnavailableError(RuntimeError):
    """No installed distribution registers the requested exporter."""


def load_exporter(name: str) -> Callable[..., Any]:
    """The exporter registered as ``name`` under :data:`ENTRY_POINT_GROUP`.

    Raises:
        ExporterUnavailableError: no installed distribution registers ``name`` (the
            message says what to install), or its entry point fails to load.
        TypeError: the entry point is not callable.
    """
    found = [
        ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name
    ]
    if not found:
        where = KNOWN_DISTRIBUTIONS.get(name)
        hint = (
            f"install it with `pip install -e {where}` (or `pip install green-chain-{name}`)"
            if where
            else f"install a package registering {name!r} under {ENTRY_POINT_GROUP!r}"
        )
        raise ExporterUnavailableError(
            f"no {name!r} exporter is installed (entry-point group {ENTRY_POINT_GROUP!r}); {hint}"
        )
    try:
        exporter = found[0].load()
    except Exception as exc:
        raise ExporterUnavailableError(
            f"the {name!r} exporter ({found[0].value}) failed to load: {exc}"
        ) from exc
    if not callable(exporter):
        raise TypeError(
            f"entry point {name!r} of {ENTRY_POINT_GROUP!r} is not callable: {found[0].value}"
        )
    return exporter
