"""The package's import structure: every module imports on its own, no cycles, layers respected."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "pipeline"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__main__.py"}


def _imports(path: Path) -> set[str]:
    """The pipeline modules a file imports, at its top or inside functions ('from a import b' is a.b
    when a.b is a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("pipeline")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
    return {m for m in out if m in MODULES}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    assert find_cycle(GRAPH) is None



@pytest.mark.parametrize("layer,allowed", [
    ("pipeline.core", ("pipeline.core",)),
    ("pipeline.ecg.digitizer", ("pipeline.core", "pipeline.ecg.layout", "pipeline.ecg.digitizer")),
    ("pipeline.ecg.formats", ("pipeline.core", "pipeline.ecg.layout", "pipeline.ecg.formats",
                              "pipeline.ecg.digitizer.result")),
    ("pipeline.ecg.synth", ("pipeline.core", "pipeline.ecg.layout", "pipeline.ecg.synth")),
])
def test_layers_import_only_below(layer: str, allowed: tuple[str, ...]) -> None:
    bad = [f"{m} -> {dep}" for m in MODULES if m == layer or m.startswith(layer + ".")
           for dep in GRAPH[m] if not any(dep == a or dep.startswith(a + ".") for a in allowed)]
    assert bad == []


def test_nothing_imports_the_app_layer_from_below() -> None:
    app = "pipeline.ecg.app"
    bad = [f"{m} -> {dep}" for m in MODULES if not m.startswith(app)
           for dep in GRAPH[m] if dep.startswith(app)]
    assert bad == []


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    code = ("import importlib, sys\nbad = []\n"
            f"for name in {sorted(MODULES)!r}:\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except Exception as err:\n        bad.append(f'{name}: {err!r}')\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
