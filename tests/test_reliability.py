"""Runs that cannot be corrupted: kills at any moment, two processes, bad values, OS errors, edits.

Every case asserts the one line a user sees and that nothing was lost.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

from agents.trpo import TRPOStats
from meta_rl.cli import main
from meta_rl.training import RLTrainer
from meta_rl.training.checkpoint import load_checkpoint, previous_path
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[1]
BASE = [
    "--iterations", "4", "--set", "meta_batch_size=3", "--set", "support_episodes=2",
    "--set", "query_episodes=2", "--set", "hidden_sizes=[8]", "--set", "eval_tasks=3",
    "--set", "eval_episodes=2", "--set", "checkpoint_every=1",
]  # fmt: skip
TINY = [*BASE, "--set", "eval_every=2"]


def cli(*args: str, moment: str | None = None, n: int = 0) -> subprocess.CompletedProcess[str]:
    """``meta-rl ARGS`` in a fresh process, killed with SIGKILL at ``moment`` if given."""
    command = [sys.executable, "-m", "tests.kill_hooks", moment, str(n), "--"] if moment else [
        sys.executable, "-m", "meta_rl.cli",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in csv.DictReader(handle)]


def final(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoint.pt")["params"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("kill") / "full"
    done = cli("train", "--run-dir", str(run), "--no-progress", *TINY)
    assert done.returncode == 0, done.stderr
    return run


@pytest.mark.parametrize(
    ("moment", "n"),
    [("creating", 1), ("iteration", 2), ("evaluation", 2), ("evaluation", 0),
     ("checkpoint-write", 3), ("checkpoint-rename", 3)],
)  # fmt: skip
def test_a_run_killed_at_any_moment_ends_as_if_never_stopped(
    moment: str, n: int, uninterrupted: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    killed = cli("train", "--run-dir", str(run), "--no-progress", *TINY, moment=moment, n=n)
    assert killed.returncode == -9, killed.stderr
    if run.exists():  # resumable as it is, stray files and all
        again = cli("train", "--resume", str(run), "--no-progress")
    else:  # killed before the folder appeared: a fresh start is allowed
        assert moment == "creating"
        again = cli("train", "--run-dir", str(run), "--no-progress", *TINY)
    assert again.returncode == 0, again.stderr
    for name, value in final(uninterrupted).items():
        assert torch.equal(final(run)[name], value), name
    assert rows(run) == rows(uninterrupted)
    assert not list(run.glob(".*.tmp")) and not list(run.parent.glob(".run.creating-*"))


def test_a_second_process_on_one_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom tests.conftest import tiny_config\nfrom meta_rl.training import RLTrainer\n"
         f"trainer = RLTrainer.create(tiny_config(), __import__('pathlib').Path({str(run)!r}), False)\n"
         "print('holding', flush=True)\ntime.sleep(120)\n"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        message = f"meta-rl: error: run folder '{run}' is in use by process {holder.pid}"
        for args in (["train", "--resume", str(run)], ["evaluate", str(run), "--steps", "1"]):
            refused = cli(*args)
            assert refused.returncode == 2 and refused.stderr.strip() == message, refused.stderr
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the dead holder's lock: the folder is usable at once.
    assert cli("train", "--resume", str(run), "--no-progress", "--iterations", "1").returncode == 0


# ------------------------------------------------------------------------- non-finite values
class NaNRewardEnv(gym.Env):  # type: ignore[type-arg]
    """A user family whose reward is NaN on the third step of tasks with target > 0."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.target, self.t = 0.0, 0

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[float]:
        from envs.navigation import NavigationTask

        return [NavigationTask(goal=(float(g), 0.0)) for g in rng.uniform(-1, 1, n)]

    def set_task(self, task: object) -> None:
        self.target = task.goal[0]  # type: ignore[attr-defined]

    def get_task(self) -> object:
        from envs.navigation import NavigationTask

        return NavigationTask(goal=(self.target, 0.0))

    def reset(self, *, seed: int | None = None, options: dict | None = None):  # type: ignore[no-untyped-def]
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):  # type: ignore[no-untyped-def]
        self.t += 1
        reward = float("nan") if self.t == 3 and self.target > 0 else -abs(self.target)
        return np.zeros(1, np.float32), reward, False, False, {}


def test_a_nan_reward_stops_the_run_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gym.register(id="Test/NaNReward-v0", entry_point=NaNRewardEnv, max_episode_steps=5)
    try:
        run = tmp_path / "run"
        code = main(["train", "--env", "Test/NaNReward-v0", "--run-dir", str(run), "--no-progress",
                     "--set", "eval_every=0", *BASE])  # fmt: skip
    finally:
        gym.registry.pop("Test/NaNReward-v0")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(
        "meta-rl: error: non-finite reward from env 'Test/NaNReward-v0' at iteration 1, support "
        "episodes of inner step 0, task "
    )
    assert err.endswith("(episode 0, step 2); the run stopped at iteration 0, its checkpoint intact\n")
    assert load_checkpoint(run / "checkpoint.pt")["iteration"] == 0


def test_an_exploding_inner_step_stops_the_run_instead_of_finishing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code = main(["train", "--run-dir", str(run), "--no-progress", "--set", "inner_lr=1e4",
                 "--set", "eval_every=0", *BASE])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("meta-rl: error: non-finite "), err
    assert "at iteration 1" in err and "task" in err
    assert load_checkpoint(run / "checkpoint.pt")["iteration"] == 0


def test_a_run_that_stops_learning_warns_once_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import meta_rl.training.rl as rl

    def rejected(problem, params, **kwargs):  # type: ignore[no-untyped-def]
        return {k: v.detach() for k, v in params.items()}, TRPOStats(0.0, 0.0, 0.0, 15, False, 0.1, "KL exceeded")

    monkeypatch.setattr(rl, "trpo_step", rejected)
    assert RLTrainer.create(tiny_config(iterations=12, eval_every=0), tmp_path / "r", progress=False).train()
    err = capsys.readouterr().err
    assert err == (
        "meta-rl: warning: the outer step was rejected 10 iterations in a row (last: KL exceeded); "
        "the meta-parameters are not changing\n"
    )


# ------------------------------------------------------------------------- operating system
def test_a_run_folder_under_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a folder")
    code = main(["train", "--run-dir", str(tmp_path / "file" / "run"), *BASE])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"meta-rl: error: cannot create a run folder in '{tmp_path / 'file'}': Not a directory\n"


def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_the_old_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    trainer = RLTrainer.create(tiny_config(iterations=2, checkpoint_every=1, eval_every=0), run, progress=False)
    real_save = torch.save

    def full(obj, handle, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(Exception) as caught:
        trainer.train()
    monkeypatch.setattr(torch, "save", real_save)
    assert str(caught.value) == f"cannot write '{run / 'checkpoint.pt'}': No space left on device"
    assert load_checkpoint(run / "checkpoint.pt")["iteration"] == 0
    assert not list(run.glob(".*.tmp"))


# ----------------------------------------------------------------------- resuming and editing
@pytest.fixture
def finished(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    assert RLTrainer.create(tiny_config(iterations=2, eval_every=0), run, progress=False).train()
    return run


def test_an_edited_config_is_refused_and_left_alone(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = finished / "config.yaml"
    values = yaml.safe_load(path.read_text())
    values["inner_lr"], values["max_kl"] = 0.3, 0.02
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    edited = path.read_text()
    assert main(["train", "--resume", str(finished), "--iterations", "3"]) == 2
    assert capsys.readouterr().err == (
        f"meta-rl: error: '{path}' differs from the checkpoint's config in inner_lr, max_kl: a run "
        "continues with the config it started with; undo the edit, or change iterations, eval_every, "
        "checkpoint_every, device, vectorization, sampler_chunk_envs, sampler, ray_address, ray_workers with "
        "--set KEY=VALUE on --resume\n"
    )
    assert path.read_text() == edited and load_checkpoint(finished / "checkpoint.pt")["iteration"] == 2


def test_safe_keys_change_on_resume_and_are_recorded(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--resume", str(finished), "--set", "iterations=3", "--set", "eval_every=1",
                 "--no-progress"]) == 0  # fmt: skip
    assert yaml.safe_load((finished / "config.yaml").read_text())["iterations"] == 3
    state = load_checkpoint(finished / "checkpoint.pt")
    assert state["iteration"] == 3 and state["config"]["eval_every"] == 1
    record = json.loads((finished / "resumes.jsonl").read_text())
    assert record == {"iteration": 2, "changes": {"iterations": [2, 3], "eval_every": [0, 1]}}
    assert main(["train", "--resume", str(finished), "--set", "inner_lr=0.2"]) == 2
    assert capsys.readouterr().err.endswith(
        "config key inner_lr cannot change when a run resumes (it would not continue the same run); keys "
        "that can: iterations, eval_every, checkpoint_every, device, vectorization, sampler_chunk_envs, sampler, "
        "ray_address, ray_workers\n"
    )


def test_resuming_a_finished_run_writes_nothing(finished: Path) -> None:
    """A finished run resumed without changes (as scripts/reference_runs.sh does) keeps its files
    byte for byte and adds none (no TensorBoard file either), even with a config.yaml written
    before newer config keys existed."""
    path = finished / "config.yaml"
    values = yaml.safe_load(path.read_text())
    del values["ray_workers"], values["ray_address"]  # keys added after the run was made
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    before = {f.name: f.read_bytes() for f in finished.iterdir() if f.is_file()}
    assert main(["train", "--resume", str(finished), "--no-progress"]) == 0
    after = {f.name: f.read_bytes() for f in finished.iterdir() if f.is_file()}
    assert after.keys() == before.keys() and all(after[name] == before[name] for name in before), [
        name for name in before if after.get(name) != before[name]
    ]


def test_resume_cleans_stray_files_and_falls_back_to_the_previous_checkpoint(
    finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stray = finished / ".checkpoint.pt.abc123.tmp"
    stray.write_bytes(b"half a checkpoint")
    assert previous_path(finished / "checkpoint.pt").is_file()
    (finished / "checkpoint.pt").write_bytes(b"garbage")  # a disk error, a bad copy
    trainer = RLTrainer.resume(finished, {"iterations": 3}, progress=False)
    err = capsys.readouterr().err
    assert err.startswith(f"meta-rl: warning: cannot read checkpoint '{finished / 'checkpoint.pt'}'")
    assert f"resuming from the previous checkpoint '{finished / 'checkpoint.prev.pt'}' (iteration 1)" in err
    assert not stray.exists() and trainer.iteration == 1
    assert trainer.train() and load_checkpoint(finished / "checkpoint.pt")["iteration"] == 3
    assert [int(r["iteration"]) for r in rows(finished)] == [1, 2, 3]


def test_a_linear_policy_is_allowed(tmp_path: Path) -> None:
    assert RLTrainer.create(tiny_config(hidden_sizes=[], iterations=1, eval_every=0), tmp_path / "r", False).train()


def test_a_lock_that_cannot_be_made_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meta_rl.errors import MetaRLError
    from meta_rl.training.folder import RunLock

    (tmp_path / ".lock").mkdir()  # something in the way of the lock file
    with pytest.raises(MetaRLError, match=r"^cannot lock '.*\.lock': Is a directory$"):
        RunLock(tmp_path)
    import gc

    gc.collect()
    assert "Exception ignored" not in capsys.readouterr().err


def test_a_change_cut_short_between_checkpoint_and_config_is_recognised(finished: Path) -> None:
    """The record and the checkpoint of a resume's change were written, config.yaml not yet."""
    old_yaml = (finished / "config.yaml").read_text()
    trainer = RLTrainer.resume(finished, {"iterations": 3}, progress=False)
    trainer.lock.release()  # type: ignore[union-attr]
    (finished / "config.yaml").write_text(old_yaml)  # as if stopped before its rewrite
    resumed = RLTrainer.resume(finished, progress=False)
    assert resumed.config.iterations == 3 and resumed.train()
    assert yaml.safe_load((finished / "config.yaml").read_text())["iterations"] == 3


def test_after_a_fallback_the_bad_checkpoint_is_set_aside(finished: Path) -> None:
    (finished / "checkpoint.pt").write_bytes(b"garbage")
    RLTrainer.resume(finished, {"iterations": 3}, progress=False).train()
    assert (finished / "checkpoint.unreadable.pt").read_bytes() == b"garbage"
    assert load_checkpoint(finished / "checkpoint.prev.pt")["iteration"] in (1, 2)
    assert load_checkpoint(finished / "checkpoint.pt")["iteration"] == 3


def test_an_unknown_family_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "sinusoid", "--set", "family_kwargs={amplitude: 2}", "--iterations", "1"]) == 2
    assert capsys.readouterr().err == "meta-rl: error: few-shot family 'sinusoid' takes no option amplitude\n"
