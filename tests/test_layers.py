"""The import structure: layers import only downwards (cli -> ui, eval -> rag -> index), and no two
modules import each other, even through others or inside functions."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

LAYERS = {"index": 0, "rag": 1, "ui": 2, "eval": 2, "cli": 3}


def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports anywhere in its file."""
    modules = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def test_layers_import_only_downwards():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if (a := module.split(".")[0]) != (b := target.split(".")[0]) and LAYERS[b] >= LAYERS[a]
    ]
    assert upward == []


def test_no_import_cycles():
    graph = import_graph()

    def reachable(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += graph[module]
        return seen

    assert sorted(module for module in graph if module in reachable(module)) == []
