"""No import cycles between the modules of ``sourceflow``.

The graph is read from the source (every ``import`` and ``from … import``, including those under
``if TYPE_CHECKING:`` and inside functions), not from what a run happens to import: a cycle that
only type hints or a deferred import close is still two modules that cannot be understood, or
moved, one without the other. When two modules need each other, the shared part moves to a
module below both (or the upper one is passed in, typed by a Protocol of what is used).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import sourceflow

ROOT = Path(sourceflow.__file__).parent


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            for alias in node.names:
                # ``from a.b import c`` imports module a.b.c when there is one, else a.b.
                target = f"{base}.{alias.name}"
                if target in known:
                    found.add(target)
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    """The import graph of the package: module → modules of the package it imports."""
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> Iterator[frozenset[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(v: str) -> Iterator[frozenset[str]]:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                yield from visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                yield frozenset(component)

    for v in sorted(edges):
        if v not in index:
            yield from visit(v)


def _show(component: frozenset[str], edges: dict[str, set[str]]) -> str:
    return "\n".join(
        f"  {m} -> {', '.join(sorted(edges[m] & component))}" for m in sorted(component)
    )


def test_the_graph_sees_the_platform() -> None:
    """The scan finds the modules and the edges it is meant to check (it is not vacuous)."""
    edges = graph()
    assert "sourceflow.platform.runs.scheduler" in edges
    assert "sourceflow.platform.runs.records" in edges["sourceflow.platform.runs.scheduler"]
    # A TYPE_CHECKING import counts: the routes name the Platform only for type hints.
    assert "sourceflow.platform.core" in edges["sourceflow.platform.runs.routes"]
    assert "sourceflow.client.tokens" in edges["sourceflow.client.transport"]
    # So does an import inside a function (the CLI defers its imports).
    assert "sourceflow.relay.stores" in edges["sourceflow.cli.relay_cmd"]


def test_a_cycle_is_found() -> None:
    """The cycle finder reports a cycle closed through a third module, and nothing else."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert list(cycles(edges)) == [frozenset({"a", "b", "c"})]


def test_no_import_cycle() -> None:
    """No module of the package is in an import cycle, however long."""
    edges = graph()
    found = list(cycles(edges))
    assert not found, "import cycles:\n" + "\n\n".join(_show(c, edges) for c in found)
