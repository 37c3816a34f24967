"""The batched locomotion vector envs against a ``SyncVectorEnv`` of the plain env: same
observations, rewards, terminations, truncations and infos, bit for bit, for the same tasks, seeds
and actions, autoresets included; the task API; the sampler on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers the families)
from agents.maml import task_batched
from agents.policy import GaussianMLPPolicy
from envs.locomotion import (
    AntDirVectorEnv,
    AntGoalVectorEnv,
    AntVelVectorEnv,
    DirectionTask,
    GoalVelocityTask,
    HalfCheetahDirVectorEnv,
    HalfCheetahVelVectorEnv,
    LocomotionVectorEnv,
)
from envs.locomotion.simulation import batch_model
from meta_rl.sampling import VectorSampler

CHEETAH_VEL, CHEETAH_DIR = "MetaRL/HalfCheetahVel-v0", "MetaRL/HalfCheetahDir-v0"
ANT_VEL, ANT_DIR, ANT_GOAL = "MetaRL/AntVel-v0", "MetaRL/AntDir-v0", "MetaRL/AntGoal-v0"
VECTOR_CLASSES = {
    CHEETAH_VEL: HalfCheetahVelVectorEnv,
    CHEETAH_DIR: HalfCheetahDirVectorEnv,
    ANT_VEL: AntVelVectorEnv,
    ANT_DIR: AntDirVectorEnv,
    ANT_GOAL: AntGoalVectorEnv,
}
FAMILIES = list(VECTOR_CLASSES)
# MuJoCo 4 (mujoco.batch) steps the batch bit for bit as the plain env. On older MuJoCo (3.3, the
# version Meta-World pins) the loop fallback agrees with the plain env to the last few bits only
# (README, "Meta-World"): there the comparisons allow 1e-9.
EXACT = hasattr(mujoco, "batch")


def assert_same(x: Any, y: Any, err_msg: str = "") -> None:
    """Equal arrays: bit for bit on MuJoCo 4, to 1e-9 before."""
    if EXACT or not np.issubdtype(np.asarray(y).dtype, np.floating):
        np.testing.assert_array_equal(x, y, err_msg=err_msg)
    else:
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9, err_msg=err_msg)
HORIZON = 30  # short, so that truncations and autoresets happen within a test


@pytest.fixture(autouse=True)
def _mujoco_log_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MuJoCo appends its instability warnings to MUJOCO_LOG.TXT in the working directory."""
    monkeypatch.chdir(tmp_path)


def make_pair(
    env_id: str, n: int, task_seed: int, vector_kwargs: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[LocomotionVectorEnv, gym.vector.SyncVectorEnv]:
    """The batched env and a SyncVectorEnv of the plain env, with the same sampled tasks."""
    batched = gym.make_vec(
        env_id, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=HORIZON,
        **kwargs, **(vector_kwargs or {}),
    )  # fmt: skip
    plain = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", max_episode_steps=HORIZON, **kwargs)
    assert isinstance(batched, VECTOR_CLASSES[env_id])
    tasks = batched.sample_tasks(n, np.random.default_rng(task_seed))
    batched.set_tasks(tasks)
    for env, task in zip(plain.envs, tasks):
        env.unwrapped.set_task(task)
    return batched, plain


def assert_same_infos(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        assert_same(got[key], want[key], err_msg=key)


def assert_same_transition(got: tuple[Any, ...], want: tuple[Any, ...]) -> None:
    """Bit-identical observations, rewards, terminated, truncated (dtypes too) and infos."""
    for name, x, y in zip(["observation", "reward", "terminated", "truncated"], got[:4], want[:4]):
        assert x.dtype == y.dtype, name
        assert_same(x, y, err_msg=name)
    assert_same_infos(got[4], want[4])


def run_pair(
    batched: LocomotionVectorEnv,
    plain: gym.vector.SyncVectorEnv,
    seeds: Any,
    steps: int,
    action_seed: int = 0,
) -> dict[str, int]:
    """Resets both with ``seeds``, steps both with the same random actions (some outside the
    box), checks every transition, and counts what happened."""
    obs_b, info_b = batched.reset(seed=seeds)
    obs_p, info_p = plain.reset(seed=seeds)
    assert_same(obs_b, obs_p)
    assert_same_infos(info_b, info_p)
    rng = np.random.default_rng(action_seed)
    counts = {"terminated": 0, "truncated": 0, "unstable": 0}
    for _ in range(steps):
        actions = rng.uniform(-1.3, 1.3, size=batched.action_space.shape).astype(np.float32)
        out_b, out_p = batched.step(actions), plain.step(actions)
        assert_same_transition(out_b, out_p)
        counts["terminated"] += int(out_b[2].sum())
        counts["truncated"] += int(out_b[3].sum())
        counts["unstable"] += int(out_b[4].get("unstable", np.zeros(1, dtype=bool)).sum())
    return counts


# --- Equivalence with the plain env ----------------------------------------------------------


@pytest.mark.parametrize("env_id", FAMILIES)
def test_vector_env_equals_sync_vector_env(env_id: str) -> None:
    """Sampled tasks, per-sub-env seeds, 2+ episodes each: truncation and next-step autoreset."""
    batched, plain = make_pair(env_id, n=5, task_seed=1)
    counts = run_pair(batched, plain, seeds=[3, 17, 4, 250, 9], steps=2 * HORIZON + 5)
    assert counts["truncated"] == 2 * 5  # every sub-env truncated twice, then reset


@pytest.mark.parametrize("env_id", [ANT_VEL, ANT_DIR, ANT_GOAL])
def test_ant_terminations_and_their_autoresets(env_id: str) -> None:
    """Strong reset noise (qvel 5.0) throws the Ants out of the healthy height within steps."""
    batched, plain = make_pair(env_id, n=4, task_seed=2, qvel_noise_scale=5.0)
    counts = run_pair(batched, plain, seeds=7, steps=60)  # int seed: sub-env i gets 7 + i
    assert counts["terminated"] >= 8


@pytest.mark.skipif(not EXACT, reason="a diverging (chaotic) trajectory is compared bit for bit: MuJoCo 4 only")
@pytest.mark.parametrize(("env_id", "scale"), [(ANT_DIR, 300.0), (CHEETAH_VEL, 1e3), (ANT_GOAL, 1e11)])
def test_diverging_simulations(env_id: str, scale: float) -> None:
    """Velocities so large that MuJoCo meets non-finite or huge states, warns and resets the data
    (``info["unstable"]``): in the step, after it, and (1e11) already at reset. mujoco.batch
    checks states where the plain env's mj_forward does not; the batched env replays those
    sub-envs as the plain env runs them, so the transitions still match bit for bit."""
    batched, plain = make_pair(env_id, n=6, task_seed=3, qvel_noise_scale=scale)
    counts = run_pair(batched, plain, seeds=list(range(6)), steps=2 * HORIZON + 3)
    assert counts["unstable"] > 0


def test_loop_backend_equals_sync_vector_env() -> None:
    """The fallback for MuJoCo without mujoco.batch (a Python loop over MjData)."""
    batched, plain = make_pair(
        ANT_GOAL, n=4, task_seed=4, vector_kwargs={"backend": "loop"}, qvel_noise_scale=5.0
    )
    assert batched.backend == "loop"
    counts = run_pair(batched, plain, seeds=[1, 2, 3, 4], steps=HORIZON + 5)
    assert counts["terminated"] > 0


def test_constructor_arguments_reach_every_sub_env() -> None:
    """The plain env's arguments (initial task, physics step, noise, reward weights, healthy
    height) are the batched env's."""
    kwargs = {
        "direction": -1, "frame_skip": 1, "timestep": 0.02, "qpos_noise_scale": 0.05,
        "contact_cost_weight": 1e-3, "survive_reward": 0.1, "healthy_z_range": (0.3, 1.0),
        "standing_start": False, "contact_solimp": (0.7, 0.9, 0.02),
    }  # fmt: skip
    batched = gym.make_vec(
        ANT_DIR, num_envs=3, vectorization_mode="vector_entry_point", max_episode_steps=HORIZON, **kwargs
    )
    plain = gym.make_vec(ANT_DIR, num_envs=3, vectorization_mode="sync", max_episode_steps=HORIZON, **kwargs)
    assert batched.get_tasks() == [DirectionTask(-1)] * 3
    first, _ = batched.reset(seed=5)
    assert np.abs(first[:, 7:15]).max() < 0.25  # joints near qpos0's 0, not the standing +-1
    run_pair(batched, plain, seeds=[5, 6, 7], steps=HORIZON + 3)


def test_thread_count_does_not_change_results() -> None:
    outputs = []
    for nthread in [1, 3]:
        env = gym.make_vec(CHEETAH_DIR, num_envs=5, vectorization_mode="vector_entry_point", nthread=nthread)
        assert env.nthread == nthread
        obs, _ = env.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(20):
            obs, reward, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape))
        outputs.append((obs, reward))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_partial_reset_with_reset_mask() -> None:
    batched, plain = make_pair(CHEETAH_VEL, n=4, task_seed=5)
    run_pair(batched, plain, seeds=[0, 1, 2, 3], steps=3)
    mask = np.array([False, True, False, True])
    got = batched.reset(seed=[10, 11, 12, 13], options={"reset_mask": mask})
    want = plain.reset(seed=[10, 11, 12, 13], options={"reset_mask": mask.copy()})
    np.testing.assert_array_equal(got[0], want[0])
    assert_same_infos(got[1], want[1])
    rng = np.random.default_rng(1)
    for _ in range(HORIZON + 2):
        actions = rng.uniform(-1, 1, batched.action_space.shape).astype(np.float32)
        assert_same_transition(batched.step(actions), plain.step(actions))


def test_batch_model_has_the_plain_models_physics() -> None:
    """Only the added sensors (and the names table) differ from the plain env's model."""
    for env_id in [CHEETAH_VEL, ANT_VEL]:
        template = gym.make(env_id).unwrapped
        ours, plains = batch_model(template), template.model
        assert ours.nsensor == plains.nsensor + (1 if env_id == CHEETAH_VEL else 2)
        for name in dir(plains):
            value = getattr(plains, name)
            if name.startswith(("_", "sensor", "name")) or not isinstance(value, np.ndarray):
                continue
            np.testing.assert_array_equal(getattr(ours, name), value, err_msg=name)
        assert ours.opt.timestep == plains.opt.timestep and ours.opt.integrator == plains.opt.integrator
        assert ours.stat.meaninertia == plains.stat.meaninertia


# --- Task API, registration, arguments -------------------------------------------------------


def test_set_tasks_and_get_tasks() -> None:
    env = gym.make_vec(CHEETAH_VEL, num_envs=3, vectorization_mode="vector_entry_point")
    assert env.get_tasks() == [GoalVelocityTask(1.0)] * 3  # the plain env's default task
    tasks = env.sample_tasks(3, np.random.default_rng(0))
    assert tasks == gym.make(CHEETAH_VEL).unwrapped.sample_tasks(3, np.random.default_rng(0))
    env.set_tasks(tasks)
    assert env.get_tasks() == tasks
    with pytest.raises(ValueError, match="expected 3 tasks"):
        env.set_tasks(tasks[:2])
    with pytest.raises(TypeError, match="GoalVelocityTask"):
        env.set_tasks([DirectionTask(1)] * 3)
    assert env.get_tasks() == tasks  # a refused list changes nothing


@pytest.mark.parametrize("env_id", FAMILIES)
def test_registration_and_spaces(env_id: str) -> None:
    spec = gym.spec(env_id)
    assert spec.vector_entry_point == f"envs.locomotion.vector:{VECTOR_CLASSES[env_id].__name__}"
    batched = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    plain = gym.make(env_id)
    assert batched.max_episode_steps == spec.max_episode_steps == 200
    assert batched.single_observation_space == plain.observation_space
    assert batched.single_action_space == plain.action_space
    assert batched.observation_space.shape == (2, *plain.observation_space.shape)
    assert batched.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="does not render"):
        AntDirVectorEnv(num_envs=2, render_mode="rgb_array")
    with pytest.raises(ValueError, match="backend"):
        AntDirVectorEnv(num_envs=2, backend="gpu")
    with pytest.raises(ValueError, match="num_envs"):
        AntDirVectorEnv(num_envs=0)
    with pytest.raises(TypeError):
        AntDirVectorEnv(num_envs=2, goal_velocity=1.0)  # the plain AntDirEnv's arguments only
    env = AntDirVectorEnv(num_envs=2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((2, 8)))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((3, 8)))


# --- The sampler ---------------------------------------------------------------------------


@pytest.mark.skipif(not EXACT, reason="Ant episodes with early ends are compared bit for bit: MuJoCo 4 only")
def test_sampler_backends_give_identical_batches() -> None:
    """The sampler's episodes through the batched env equal those through SyncVectorEnv, Ant
    terminations (masks) included."""
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(125, 8, (8,))
    batches = []
    for vectorization in ["vector_entry_point", "sync"]:
        sampler = VectorSampler(ANT_DIR, vectorization=vectorization)
        tasks = sampler.sample_tasks(2, np.random.default_rng(0))
        batches.append(sampler.sample(policy, task_batched(policy.initial_params(), len(tasks)), tasks, 2, 5, 1, 0))
        sampler.close()
    assert not bool(batches[0].mask.all())  # some Ant episodes ended early
    for field in ["observations", "actions", "rewards", "mask"]:
        assert_same(getattr(batches[0], field).numpy(), getattr(batches[1], field).numpy(), err_msg=field)


def test_mujoco_version_has_the_batch_api() -> None:
    """The fast path needs mujoco.batch (MuJoCo 4); older MuJoCo falls back to the loop."""
    env = AntDirVectorEnv(num_envs=2)
    assert env.backend == ("batch" if hasattr(mujoco, "batch") else "loop")
