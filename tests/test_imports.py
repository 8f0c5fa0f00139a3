"""The import structure: no module of the backend or of the add-on imports one that imports
it back (directly or through others), the errors and ``portable`` stay at the bottom, and
the add-on's Blender-free modules import without bpy.

The graph is read from the source with ``ast`` (every import statement, also those inside
functions or under ``TYPE_CHECKING``), so a cycle is found even where a late import would
hide it at run time.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "backend" / "humancrafter"
ADDON = ROOT / "addon"

ADDON_WITHOUT_BPY = (
    "axes",
    "bones",
    "client",
    "colour",
    "gltf_splat",
    "jobs",
    "portable.config",
    "portable.mesh_convert",
    "portable.parts",
    "portable.placement",
    "portable.splatfile",
)
"""Add-on modules that must import (and so be testable) without Blender."""


def modules(package_dir: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``package_dir`` (links followed,
    so the add-on's ``portable`` link counts as part of the add-on)."""
    found = {}
    for folder, dirs, files in os.walk(package_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = Path(folder).relative_to(package_dir).parts
        for name in sorted(files):
            if name.endswith(".py"):
                parts = [package, *rel] + ([] if name == "__init__.py" else [name[:-3]])
                found[".".join(parts)] = Path(folder) / name
    return found


def import_graph(package_dir: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    mods = modules(package_dir, package)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    for candidate in (f"{target}.{alias.name}", target):
                        if candidate in graph:
                            graph[mod].add(candidate)
                            break
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in graph:
                        graph[mod].add(alias.name)
        graph[mod].discard(mod)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(graph: dict[str, set[str]], component: list[str]) -> str:
    inside = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & inside)]
    return "modules that import each other: " + "; ".join(edges)


@pytest.mark.parametrize(("folder", "package"), [(BACKEND, "humancrafter"), (ADDON, "addon")])
def test_no_import_cycles(folder: Path, package: str) -> None:
    graph = import_graph(folder, package)
    assert len(graph) > 10
    found = cycles(graph)
    assert not found, "\n".join(_describe(graph, c) for c in found)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\nfrom . import c\n")
    (pkg / "c.py").write_text("def f():\n    from .a import x\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from ..c import f\nimport pkg.a\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b", "pkg.c"}
    assert graph["pkg.sub.b"] == {"pkg.c", "pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_errors_and_portable_stay_at_the_bottom() -> None:
    graph = import_graph(BACKEND, "humancrafter")
    assert graph["humancrafter.errors"] == set()
    for mod, deps in graph.items():
        if mod.startswith("humancrafter.portable"):
            outside = {d for d in deps if not d.startswith("humancrafter.portable")}
            assert not outside, f"{mod} imports {outside}; portable/ is shared with the add-on"


def test_addon_helpers_import_without_bpy() -> None:
    """In a fresh process with bpy made unimportable, each Blender-free module of the
    add-on imports (as a submodule of a stand-in package, so that the add-on's
    ``__init__``, which registers with Blender, does not run)."""
    script = textwrap.dedent(
        f"""
        import importlib, sys, types
        for name in ("bpy", "bpy_extras", "mathutils", "bmesh"):
            sys.modules[name] = None  # "import bpy" now raises ImportError
        package = types.ModuleType("hc_addon")
        package.__path__ = [{str(ADDON)!r}]
        sys.modules["hc_addon"] = package
        for name in {ADDON_WITHOUT_BPY!r}:
            importlib.import_module("hc_addon." + name)
        assert "torch" not in sys.modules, "an add-on module imported torch"
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_addon_helpers_do_not_import_bpy_modules() -> None:
    """The same list read from the source: none of them imports a module that needs bpy."""
    graph = import_graph(ADDON, "addon")
    pure = {f"addon.{m}" for m in ADDON_WITHOUT_BPY}
    for mod in sorted(pure):
        assert graph[mod] <= pure, f"{mod} imports {graph[mod] - pure}, which need bpy"
