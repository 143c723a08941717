"""Each folder of ``green_chain`` imports only what docs/architecture.md's table allows.

Built on the import graph of ``test_no_import_cycles`` (every import, lazy ones included).
When a change needs a new edge, update the table in docs/architecture.md and here together.
"""

from __future__ import annotations

from test_no_import_cycles import import_graph, module_names

#: Top-level modules every folder may use; they import no folder themselves.
LEAVES = frozenset({"events", "tokens", "paths", "lru", "checks"})

#: Folder -> the folders it may import (docs/architecture.md, "Folders").
MAY_IMPORT: dict[str, frozenset[str]] = {
    "energy": frozenset(),
    "callbacks": frozenset({"energy"}),
    "models": frozenset(),
    "compression": frozenset({"models"}),
    "memory": frozenset({"models"}),
    "selection": frozenset({"memory", "models"}),
    "routing": frozenset({"models", "energy"}),
    "response": frozenset({"models", "routing"}),
    "middleware": frozenset({"memory", "routing", "response"}),
    "bench": frozenset(
        {
            "energy",
            "callbacks",
            "models",
            "compression",
            "memory",
            "selection",
            "routing",
            "response",
        }
    ),
    "cli": frozenset({"bench", "energy", "models"}),
    "experiments": frozenset(
        {
            "energy",
            "callbacks",
            "models",
            "compression",
            "memory",
            "selection",
            "routing",
            "response",
            "middleware",
            "bench",
            "testing",
        }
    ),
    "testing": frozenset({"energy", "bench"}),
}


def _part(module: str) -> str:
    """The folder (or top-level module) of a ``green_chain`` module; ``""`` for the package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_folder_is_in_the_table() -> None:
    folders = {_part(m) for m, path in module_names().items() if path.parent.name != "green_chain"}
    assert folders == set(MAY_IMPORT), "add the new folder to docs/architecture.md and MAY_IMPORT"


def test_leaves_import_no_folder() -> None:
    graph = import_graph()
    bad = [
        f"{a} -> {b}"
        for a, deps in graph.items()
        if _part(a) in LEAVES
        for b in deps
        if _part(b) not in LEAVES
    ]
    assert bad == []


def test_folders_import_only_what_the_table_allows() -> None:
    graph = import_graph()
    bad = []
    for a, deps in graph.items():
        src = _part(a)
        if src not in MAY_IMPORT:
            continue  # the package root (lazy re-exports) and the leaves
        for b in deps:
            dst = _part(b)
            if dst in (src, "") or dst in LEAVES or dst in MAY_IMPORT[src]:
                continue
            bad.append(f"{a} -> {b}")
    assert bad == [], "imports outside docs/architecture.md's table:\n" + "\n".join(bad)
