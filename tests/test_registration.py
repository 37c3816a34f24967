"""``gymnasium.make("MetaRL/...")`` in a fresh interpreter, without importing the project first."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import _meta_rl_gymnasium
import envs
from envs.registration import FAMILIES, METAWORLD

ROOT = Path(__file__).resolve().parents[1]


def fresh_python(code: str, cwd: Path) -> str:
    """Runs ``code`` in a new interpreter of this environment (its site-packages, its .pth files)."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(autouse=True)
def installed() -> None:
    pth = Path(sysconfig.get_paths()["purelib"]) / "meta_rl_gymnasium.pth"
    if not pth.exists():
        pytest.fail(f"{pth} is missing: this environment's meta-rl predates it; reinstall: pip install -e .")


def test_make_works_in_a_fresh_interpreter_without_importing_the_project(tmp_path: Path) -> None:
    out = fresh_python(
        "import sys, gymnasium as gym\n"
        "print('envs' in sys.modules)\n"  # registering imported nothing of ours
        "print(sorted(i for i in gym.registry if i.startswith('MetaRL/')))\n"
        "env = gym.make('MetaRL/HalfCheetahVel-v0')\n"
        "print(type(env.unwrapped).__name__, env.spec.max_episode_steps)\n",
        tmp_path,
    )
    lines = out.splitlines()
    assert lines[0] == "False"
    assert lines[1] == str(sorted([*FAMILIES, *METAWORLD]))
    assert lines[2] == "HalfCheetahVelEnv 200"


def test_a_users_own_envs_folder_is_not_displaced(tmp_path: Path) -> None:
    # A user's project with its own `envs` package: registering must not import ours over it.
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "__init__.py").write_text("MINE = True\n")
    out = fresh_python(
        "import gymnasium as gym, envs\n"
        "print(getattr(envs, 'MINE', False), 'MetaRL/AntVel-v0' in gym.registry)\n",
        tmp_path,
    )
    assert out.split() == ["True", "True"]


def test_the_table_is_what_import_envs_registers() -> None:
    import gymnasium as gym

    for env_id, (entry_point, vector_entry_point, horizon) in FAMILIES.items():
        spec = gym.spec(env_id)
        assert (spec.entry_point, spec.vector_entry_point, spec.max_episode_steps) == (
            entry_point, vector_entry_point, horizon,
        )  # fmt: skip
    assert envs.FAMILIES is FAMILIES


def test_the_hook_never_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _meta_rl_gymnasium.register() is True  # idempotent: everything is registered already
    monkeypatch.setattr(_meta_rl_gymnasium, "_REGISTRATION", str(tmp_path / "missing.py"))
    assert _meta_rl_gymnasium.register() is False
    assert _meta_rl_gymnasium.GymnasiumWatcher.find_spec("numpy") is None
    assert importlib.util.find_spec("_meta_rl_gymnasium") is not None
