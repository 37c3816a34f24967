"""The README's worked example of a user's own family: registered, listed, trained."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import gymnasium as gym
import pytest

from meta_rl.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example(name: str = "my_families.py") -> str:
    """The python block that follows the README's ``example: <name>`` marker."""
    text = README.read_text()
    match = re.search(r"<!-- example: " + re.escape(name) + r".*?-->\s*```python\n(.*?)```", text, re.S)
    assert match, f"the README lost its worked example {name}"
    return match.group(1)


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "my_families.py").write_text(readme_example())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # main() appends the working folder
    yield tmp_path
    sys.modules.pop("my_families", None)
    gym.registry.pop("MyFamilies/LineTarget-v0", None)


def test_readme_family_is_listed(user_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs", "--import", "my_families"]) == 0
    out = capsys.readouterr().out
    assert "MyFamilies/LineTarget-v0" in out and "A point on a line moves towards a target" in out


def test_readme_family_trains_with_no_other_change(
    user_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = user_folder / "run"
    args = ["train", "--env", "my_families:MyFamilies/LineTarget-v0", "--run-dir", str(run),
            "--no-progress", "--iterations", "3", "--set", "meta_batch_size=4",
            "--set", "support_episodes=3", "--set", "query_episodes=3", "--set", "hidden_sizes=[8]",
            "--set", "eval_tasks=3", "--set", "eval_episodes=2", "--set", "inner_lr=0.1"]  # fmt: skip
    assert main(args) == 0
    assert "done: 3 iterations" in capsys.readouterr().out
    assert (run / "checkpoint.pt").is_file()
    assert main(["train", "--resume", str(run), "--iterations", "4", "--no-progress"]) == 0


def test_tasks_that_are_not_dataclasses_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = readme_example().replace(
        "return [TargetTask(target=float(t)) for t in rng.uniform(-1.0, 1.0, size=n)]",
        "return [float(t) for t in rng.uniform(-1.0, 1.0, size=n)]",
    ).replace("MyFamilies/LineTarget-v0", "MyFamilies/BadTasks-v0")
    (tmp_path / "bad_families.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["train", "--env", "bad_families:MyFamilies/BadTasks-v0", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "tasks must be frozen dataclasses" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()
    sys.modules.pop("bad_families", None)
    gym.registry.pop("MyFamilies/BadTasks-v0", None)


def test_readme_fewshot_family_trains_and_evaluates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's few-shot family: registered in its module, named as module:name, nothing else."""
    (tmp_path / "my_fewshot.py").write_text(readme_example("my_fewshot.py"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    run = tmp_path / "run"
    try:
        args = ["train", "sinusoid", "--set", "family=my_fewshot:lines", "--set", "inner_lr=0.05",
                "--iterations", "300", "--set", "eval_every=300", "--set", "eval_tasks=50",
                "--set", "eval_inner_lr=0.05", "--run-dir", str(run), "--no-progress"]  # fmt: skip
        assert main(args) == 0
        assert main(["evaluate", str(run), "--steps", "2"]) == 0
    finally:
        sys.modules.pop("my_fewshot", None)
        from envs.fewshot import registry

        registry._REGISTRY.pop("lines", None)
    from meta_rl.evaluation import EvaluationResult

    result = EvaluationResult.read(run)
    assert result.metric == "loss"
    # Adapting on five points of a line lowers the query loss of every step.
    assert result.values[1].mean() < result.values[0].mean()


def test_an_unknown_fewshot_family_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "sinusoid", "--set", "family=no_such_family", "--iterations", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "meta-rl: error: no few-shot family named 'no_such_family' (registered: digits, omniglot, sinusoid)"
