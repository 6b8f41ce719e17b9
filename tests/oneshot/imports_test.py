"""The weight-sharing modules import each other at module top, without a cycle.

`symbolic_automl.oneshot` once had two cycles dodged by imports inside
functions (base ↔ backend_*, supernet ↔ define_by_run); this parses every
module's imports with `ast` (no module is imported) so neither can come back.
"""

import ast
import importlib.util
import pathlib

import pytest


def _package_dir(name):
    return pathlib.Path(importlib.util.find_spec(name).submodule_search_locations[0])


def _module_name(package, path):
    return package if path.name == "__init__.py" else f"{package}.{path.stem}"


def import_graph(package, directory):
    """{module: {(imported module of the package, line, at module top)}} of a package dir."""
    modules = {_module_name(package, p): p for p in sorted(directory.glob("*.py"))}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        top = {id(node) for node in tree.body}
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
                    for _ in range(node.level - 1):
                        parent = parent.rsplit(".", 1)[0]
                    base = f"{parent}.{base}" if base else parent
                # `from pkg import submodule` imports the submodule; `from pkg
                # import name` runs pkg/__init__.py.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            for target in targets:
                if target in modules and target != name:
                    edges.add((target, node.lineno, id(node) in top))
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or None."""
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target, _, _ in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


PACKAGES = ["symbolic_automl.oneshot", "symbolic_automl.algorithms.weight_sharing"]


@pytest.mark.parametrize("package", PACKAGES)
def test_import_graph_is_acyclic_with_every_import_at_module_top(package):
    graph = import_graph(package, _package_dir(package))
    assert len(graph) > 3 and any(graph.values())
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"
    inner = [f"{module}:{line} imports {target}" for module, edges in graph.items()
             for target, line, at_top in edges if not at_top]
    assert not inner, f"imports inside functions (a cycle being dodged?): {inner}"


def test_the_checks_see_a_cycle_and_an_import_inside_a_function(tmp_path):
    (tmp_path / "__init__.py").write_text("from pkg.a import f\n")
    (tmp_path / "a.py").write_text("from pkg import b\n\ndef f():\n    return b\n")
    (tmp_path / "b.py").write_text(
        "def g():\n    from . import c\n    return c\n\nfrom pkg.c import h\n")
    (tmp_path / "c.py").write_text("from .a import f\n\nh = f\n")
    graph = import_graph("pkg", tmp_path)
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert ("pkg.c", 2, False) in graph["pkg.b"] and ("pkg.c", 5, True) in graph["pkg.b"]
    (tmp_path / "c.py").write_text("h = 1\n")
    assert find_cycle(import_graph("pkg", tmp_path)) is None
