"""The 2D navigation family against envs/TASKS.md, and its batched env against the plain one."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401
from envs.navigation import Navigation2DEnv, Navigation2DVectorEnv, NavigationTask
from envs.tasks import Task, missing_task_methods

ENV_ID = "MetaRL/Navigation2D-v0"


def test_registration() -> None:
    spec = gym.spec(ENV_ID)
    assert spec.max_episode_steps == 100
    assert spec.vector_entry_point is not None
    env = gym.make(ENV_ID)
    assert missing_task_methods(env.unwrapped) == []


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_check_env_fixed_and_sampled_tasks() -> None:
    env = Navigation2DEnv()
    check_env(env, skip_render_check=True)
    for task in env.sample_tasks(3, np.random.default_rng(0)):
        env.set_task(task)
        check_env(env, skip_render_check=True)


def test_reward_and_observation_by_hand() -> None:
    env = Navigation2DEnv()
    env.set_task(NavigationTask(goal=(0.3, -0.2)))
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    obs, reward, terminated, truncated, _ = env.step(np.array([0.05, -0.1]))
    np.testing.assert_allclose(obs, [0.05, -0.1], rtol=1e-6)
    assert reward == pytest.approx(-np.hypot(0.3 - 0.05, -0.2 + 0.1))
    assert not terminated and not truncated
    # Moves are clipped to +-0.1 per axis, as in the original env.
    obs, reward, *_ = env.step(np.array([5.0, -5.0]))
    np.testing.assert_allclose(obs, [0.15, -0.2], rtol=1e-6)
    assert reward == pytest.approx(-np.hypot(0.15, 0.0))


def test_termination_within_tolerance() -> None:
    env = Navigation2DEnv()
    env.set_task(NavigationTask(goal=(0.1, 0.0)))
    env.reset(seed=0)
    *_, terminated, _, _ = env.step(np.array([0.095, 0.005]))  # |dx| = 0.005, |dy| = 0.005
    assert terminated
    env.reset(seed=0)
    *_, terminated, _, _ = env.step(np.array([0.085, 0.0]))  # |dx| = 0.015
    assert not terminated


def test_horizon_truncates() -> None:
    env = gym.make(ENV_ID)
    env.unwrapped.set_task(NavigationTask(goal=(0.5, 0.5)))
    env.reset(seed=0)
    for step in range(100):
        _, _, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
        assert not terminated
        assert truncated == (step == 99)


def test_tasks_come_from_the_given_rng_only() -> None:
    env = Navigation2DEnv()
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    a = env.sample_tasks(5, np.random.default_rng(7))
    b = env.sample_tasks(5, np.random.default_rng(7))
    assert a == b
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    goals = np.array([t.goal for t in env.sample_tasks(2000, np.random.default_rng(1))])
    assert goals.min() >= -0.5 and goals.max() <= 0.5
    assert abs(goals.mean()) < 0.02


def test_task_json_round_trip() -> None:
    task = NavigationTask(goal=(0.25, -0.125))
    assert Task.from_json(task.to_json()) == task
    assert json.loads(task.to_json())["params"] == {"goal": [0.25, -0.125]}


def test_set_task_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="NavigationTask"):
        Navigation2DEnv().set_task((0.1, 0.2))  # type: ignore[arg-type]


def test_vector_env_equals_sync_vector_env() -> None:
    """Same tasks, seeds and actions give the same transitions, autoresets included."""
    n = 6
    rng = np.random.default_rng(3)
    tasks = [NavigationTask(goal=(0.05 * i, -0.03 * i)) for i in range(n)]
    batched = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point")
    plain = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="sync")
    assert isinstance(batched, Navigation2DVectorEnv)
    batched.set_tasks(tasks)
    for env, task in zip(plain.envs, tasks):
        env.unwrapped.set_task(task)
    seeds = list(range(n))
    obs_b, _ = batched.reset(seed=seeds)
    obs_p, _ = plain.reset(seed=seeds)
    np.testing.assert_array_equal(obs_b, obs_p)
    terminations = 0
    for _ in range(230):  # past the horizon: truncations and autoresets happen
        actions = rng.uniform(-0.12, 0.12, size=(n, 2)).astype(np.float32)
        actions[:3] = np.array([0.05, -0.03], dtype=np.float32)  # heads straight to the goals
        out_b = batched.step(actions)
        out_p = plain.step(actions)
        for x, y in zip(out_b[:4], out_p[:4]):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
        terminations += int(out_b[2].sum())
    assert terminations > 0


def test_task_sampling_leaves_the_episode_generator_alone() -> None:
    env = Navigation2DEnv()
    env.reset(seed=1)
    before = env.np_random.bit_generator.state
    env.sample_tasks(10, np.random.default_rng(2))
    assert env.np_random.bit_generator.state == before


def test_vector_env_terminating_at_the_horizon_is_also_truncated() -> None:
    """Gymnasium's TimeLimit reports both flags when the last step reaches the goal."""
    goal = NavigationTask(goal=(0.0, 0.0))
    batched = gym.make_vec(ENV_ID, num_envs=1, vectorization_mode="vector_entry_point", max_episode_steps=2)
    plain = gym.make_vec(ENV_ID, num_envs=1, vectorization_mode="sync", max_episode_steps=2)
    batched.set_tasks([goal])
    plain.envs[0].unwrapped.set_task(goal)
    batched.reset(seed=[0])
    plain.reset(seed=[0])
    for action in ([0.05, 0.0], [-0.05, 0.0]):  # away, then back onto the goal at step 2
        out_b = batched.step(np.array([action], dtype=np.float32))
        out_p = plain.step(np.array([action], dtype=np.float32))
        for x, y in zip(out_b[:4], out_p[:4]):
            np.testing.assert_allclose(x, y, rtol=1e-6)
    assert out_b[2][0] and out_b[3][0]
