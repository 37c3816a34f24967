"""Meta-World's ML1 and ML10 as task families (skipped without the ``metaworld`` extra).

``.ci/run`` runs the suite a second time in an environment with the extra (Meta-World pins
mujoco 3.3.0), where these run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the families)
import meta_rl
from envs.registration import METAWORLD, ML1_ENVS
from envs.tasks import Task
from meta_rl.cli import main
from meta_rl.evaluation import EvaluationResult

pytest.importorskip("metaworld", reason="the metaworld extra")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Meta-World's infinite Box bounds

FAMILIES = ["MetaRL/MetaWorld-ML1-reach-v0", "MetaRL/MetaWorld-ML1-push-v0", "MetaRL/MetaWorld-ML1-pick-place-v0",
            "MetaRL/MetaWorld-ML10-v0"]  # fmt: skip


@pytest.mark.parametrize("env_id", FAMILIES)
def test_the_families_pass_gymnasiums_checker(env_id: str) -> None:
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == 500
    assert env.observation_space.shape == (39,) and env.action_space.shape == (4,)


def test_every_ml1_env_is_a_family() -> None:
    assert len(ML1_ENVS) == 50 and len(METAWORLD) == 51
    import metaworld

    assert sorted(f"{name}-v3" for name in ML1_ENVS) == sorted(metaworld.ML1.ENV_NAMES)


@pytest.mark.parametrize("env_id", FAMILIES)
def test_tasks_round_trip_and_the_split_is_kept(env_id: str) -> None:
    family = gym.make(env_id).unwrapped
    train, test = family.train_tasks, family.test_tasks
    for task in [*train[:5], *test[:5]]:
        assert Task.from_json(task.to_json()) == task
    assert not set(train) & set(test)
    if "ML10" in env_id:  # ML10 holds out whole envs
        assert not {t.env_name for t in train} & {t.env_name for t in test}
        assert len({t.env_name for t in train}) == 10 and len({t.env_name for t in test}) == 5
    rng = np.random.default_rng(0)
    assert set(family.sample_tasks(20, rng)) <= set(train)
    assert set(family.sample_test_tasks(20, rng)) <= set(test)


def test_a_task_sets_metaworlds_env_and_success_is_reported() -> None:
    env = gym.make("MetaRL/MetaWorld-ML1-reach-v0")
    family = env.unwrapped
    first, second = family.train_tasks[0], family.train_tasks[1]
    goals = []
    for task in (first, second, first):
        family.set_task(task)
        env.reset(seed=0)
        _, _, _, _, info = env.step(np.zeros(4, dtype=np.float32))
        assert "success" in info
        goals.append(np.array(family._env._target_pos))  # Meta-World's goal: the task's last 3 numbers
    assert np.allclose(goals[0], first.rand_vec[-3:]) and np.allclose(goals[1], second.rand_vec[-3:])
    assert np.array_equal(goals[0], goals[2])
    with pytest.raises(ValueError, match="not a task of this ML1 family"):
        family.set_task(envs.DirectionTask(direction=1))


def test_a_run_holds_out_the_test_tasks_and_logs_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = meta_rl.train(
        "navigation2d", run_dir=tmp_path / "run", progress=False, env_id="MetaRL/MetaWorld-ML1-reach-v0",
        iterations=1, meta_batch_size=2, support_episodes=2, query_episodes=2, eval_tasks=2, eval_episodes=2,
        eval_every=1, eval_steps=1, hidden_sizes=[16],
    )  # fmt: skip
    family = gym.make("MetaRL/MetaWorld-ML1-reach-v0").unwrapped
    recorded = json.loads((run / "tasks.json").read_text())["test"]["tasks"]
    assert {Task.from_dict(t) for t in recorded} <= set(family.test_tasks)
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert rows[-1]["train/success_step_1"] != "" and rows[-1]["eval/success_step_1"] != ""
    capsys.readouterr()
    assert main(["evaluate", str(run), "--steps", "1", "--episodes", "2", "--no-progress"]) == 0
    assert "success rate" in capsys.readouterr().out
    assert "success" in EvaluationResult.read(run).extra
