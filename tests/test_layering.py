"""The three layers of DESIGN.md point one way: meta_rl -> (envs, agents); envs and agents apart."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "envs": {"torch", "agents", "meta_rl"},
    "agents": {"gymnasium", "envs", "meta_rl", "mujoco"},
    "meta_rl": set(),
}


def imported_top_modules(path: Path) -> set[str]:
    """Top-level package names imported anywhere in a file (absolute imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources found for {package}"
    bad = {
        str(f.relative_to(ROOT)): sorted(imported_top_modules(f) & FORBIDDEN[package])
        for f in files
    }
    assert {f: mods for f, mods in bad.items() if mods} == {}


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom torch.nn import Linear\ndef f():\n    import meta_rl.cli\n")
    assert {"torch", "meta_rl"} <= imported_top_modules(bad)


# ------------------------------------------------------------------ no cycles inside a package
def module_name(path: Path, root: Path = ROOT) -> str:
    """``meta_rl/training/rl.py -> meta_rl.training.rl``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = tuple(FORBIDDEN)) -> dict[str, set[str]]:
    """Module -> the project modules it imports, anywhere in the file (inside functions too).

    ``from package import name`` points at ``package.name`` if that is a module, else at the
    package (its ``__init__``, which runs); imports of other libraries are left out.
    """
    files = {module_name(f, root): f for package in packages for f in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the current package upwards
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a closed path of modules), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycles_anywhere_in_the_project() -> None:
    """Not across layers (above), nor inside a package: a module never imports itself back."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_sees_a_cycle_inside_a_package(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.a import f\n")
    (package / "a.py").write_text("def f():\n    from pkg import b\n")  # hidden in a function
    (package / "b.py").write_text("from pkg.a import f\n")
    (package / "c.py").write_text("import pkg.b\n")
    cycle = find_cycle(import_graph(tmp_path, ("pkg",)))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.b"}
