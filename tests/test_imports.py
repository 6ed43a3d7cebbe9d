"""The project's import graph: no circle anywhere, and the edge runtime stays on its own.

Walks every module's imports with ``ast`` (module level and inside functions alike: a
function-level import that dodges a circle is still a circle) and lets the standard
library's ``graphlib`` find a cycle; no import is executed.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

from edge_runtime.contract import PROJECT_ROOT

PACKAGES = ("training", "export", "edge_runtime", "benchmarks")


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((PROJECT_ROOT / pkg).glob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``path`` imports (``from pkg import mod`` counts as pkg.mod)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    for name in graph:  # importing a.b runs a/__init__.py first
        if "." in name:
            graph[name].add(name.rsplit(".", 1)[0])
        graph[name].discard(name)
    return graph


def test_the_walk_sees_real_edges():
    graph = import_graph()
    assert "edge_runtime.classifier" in graph["export.verify"]
    assert "benchmarks.child" in graph["benchmarks.models_bench"]


def test_no_import_circle():
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_a_circle_is_found():
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("edge_runtime", ("training", "export", "benchmarks", "tensorflow", "tf_keras", "keras")),
        # training may use the runtime's one MNIST-style normaliser (the style edits re-centre
        # digits with it), but nothing of export or the benchmarks
        ("training", ("export", "benchmarks")),
        ("export", ("benchmarks",)),
    ],
)
def test_layers_import_only_downwards(package, forbidden):
    bad = []
    for path in sorted((PROJECT_ROOT / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert not bad, f"{package} imports from a layer above it: {bad}"
