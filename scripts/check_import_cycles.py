"""Fail when the modules of a package import each other in a cycle (``make lint`` runs it on airflow_zaloni).

A cycle ties together code that the layout says is separate, and works only as long as the modules happen to be
imported in the right order. Every import that runs counts: at module level (also under ``try`` or an ``if``) and
inside functions, since an import deferred into a function hides a cycle but does not remove the dependency. Only
imports under ``if TYPE_CHECKING:`` are left out: they never run. ``from pkg import name`` is an import of
``pkg.name`` when that is a module, else of ``pkg`` (its ``__init__``).

Usage: ``python scripts/check_import_cycles.py [PACKAGE_DIR]`` (default ``airflow_zaloni``); exit 1 on a cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

#: Cycles known and being removed by work in progress (issue #20), each as the set of modules it joins. A cycle
#: is accepted while all its modules are in one entry; an entry that no longer holds a cycle is an error, so the
#: entry goes as soon as the cycle does. Empty since the lake cycle was broken (lake/storage_open.py, lake/journal.py).
EXPECTED_TO_BE_FIXED: list[frozenset[str]] = []


def modules(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its ``__init__.py``)."""
    root = package_dir.resolve().parent
    found = {}
    for path in sorted(package_dir.resolve().rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements under ``node`` that can run: all but those under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from _runtime_imports(ast.Module(body=child.orelse, type_ignores=[]))
        else:
            yield from _runtime_imports(child)


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that importing ``name`` imports directly."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
            continue
        base = node.module or ""
        if node.level:
            anchor = name.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            if f"{base}.{alias.name}" in known:
                found.add(f"{base}.{alias.name}")
            elif base in known:
                found.add(base)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: no recursion limit on deep import chains
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def witness(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One import path around the cycle, from its first module back to it (breadth first: a shortest one)."""
    members = set(component)
    start = component[0]
    paths = {child: [start, child] for child in sorted(graph[start] & members)}
    queue = list(paths)
    while queue:
        node = queue.pop(0)
        if node == start:
            return paths[node]
        for child in sorted(graph[node] & members):
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return component


def check(package_dir: Path, expected: list[frozenset[str]]) -> list[str]:
    """The problems: cycles not expected, and expected entries that hold no cycle any more."""
    known = modules(package_dir)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    problems = []
    used: set[frozenset[str]] = set()
    for component in cycles(graph):
        entry = next((e for e in expected if set(component) <= e), None)
        if entry is not None:
            used.add(entry)
            continue
        problems.append(
            f"import cycle among {len(component)} modules: {', '.join(component)}\n"
            f"  e.g. {' -> '.join(witness(component, graph))}"
        )
    for entry in expected:
        if entry not in used:
            problems.append(
                f"EXPECTED_TO_BE_FIXED lists a cycle that is gone ({', '.join(sorted(entry))}): remove the entry"
            )
    return problems


def main(argv: list[str]) -> int:
    package_dir = Path(argv[1] if len(argv) > 1 else "airflow_zaloni")
    package = package_dir.resolve().name
    expected = [entry for entry in EXPECTED_TO_BE_FIXED if all(m.split(".")[0] == package for m in entry)]
    problems = check(package_dir, expected)
    for problem in problems:
        print(f"{package_dir}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{package_dir}: no import cycles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
