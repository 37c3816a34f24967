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
