"""No import cycles among ``green_chain`` modules, lazy (function-level) imports included.

Every module of the package is parsed with :mod:`ast` (nothing is imported). An edge
``a -> b`` is any ``import``/``from ... import`` in ``a`` -- at module level, inside a
function or class, or under ``if TYPE_CHECKING`` -- that names ``b``; relative imports are
resolved against ``a``'s package, and ``from pkg import name`` points at ``pkg.name`` when
that is a module, else at ``pkg``. A cycle is a strongly connected component of more than
one module (or a module importing itself).
"""

from __future__ import annotations

import ast
from pathlib import Path

import green_chain

PACKAGE = "green_chain"
ROOT = Path(green_chain.__file__).resolve().parent

#: Known edges, skipped while building the graph, each with the issue that removes it.
#: An entry names one edge exactly ("importer", "imported"); every other cycle fails.
ALLOWED_EDGES: frozenset[tuple[str, str]] = frozenset()


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``root``."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """The ``green_chain`` modules ``module`` imports anywhere in its body."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = _package_of(module, path).split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    return {name for name in found if name in modules and name != module} | (
        {module} if module in found and module in modules else set()
    )


def import_graph() -> dict[str, set[str]]:
    files = module_names()
    modules = set(files)
    return {
        name: {dep for dep in imports_of(name, path, modules) if (name, dep) not in ALLOWED_EDGES}
        for name, path in files.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan), each as a sorted module list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in members]
    return "cycle among " + ", ".join(component) + ":\n    " + "\n    ".join(edges)


def test_the_parser_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "green_chain"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from ..b import g\n    return g\n")
    (pkg / "b.py").write_text("from green_chain.sub import a\n")
    files = module_names(pkg)
    graph = {name: imports_of(name, path, set(files)) for name, path in files.items()}
    assert graph["green_chain.sub"] == {"green_chain.sub.a"}
    assert graph["green_chain.sub.a"] == {"green_chain.b"}
    assert graph["green_chain.b"] == {"green_chain.sub.a"}
    assert cycles(graph) == [["green_chain.b", "green_chain.sub.a"]]


def test_allowed_edges_still_exist() -> None:
    files = module_names()
    for importer, imported in ALLOWED_EDGES:
        assert imported in imports_of(importer, files[importer], set(files)), (
            f"allow-listed edge {importer} -> {imported} is gone: remove it from ALLOWED_EDGES"
        )


def unresolved_imports(module: str, path: Path, modules: set[str]) -> list[str]:
    """``green_chain`` modules named by ``module``'s imports that do not exist."""
    missing: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        missing += [n for n in names if n.split(".")[0] == PACKAGE and n not in modules]
    return missing


def test_every_internal_import_names_an_existing_module() -> None:
    """A lazy import of a moved module would otherwise fail only when its function runs."""
    files = module_names()
    missing = [
        f"{name}: {target}"
        for name, path in files.items()
        for target in unresolved_imports(name, path, set(files))
    ]
    assert missing == []


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles in green_chain:\n" + "\n".join(
        _describe(c, graph) for c in found
    )
