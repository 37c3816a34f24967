"""The MuJoCo locomotion families against envs/TASKS.md: rewards and observations by hand, physics step,
reset noise, termination, tasks, registration, presets, and the samplers."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import gymnasium.envs.mujoco
import mujoco
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the families)
from agents.maml import task_batched
from agents.policy import GaussianMLPPolicy
from envs.locomotion import DirectionTask, GoalPositionTask, GoalVelocityTask
from envs.tasks import Task, missing_task_methods
from meta_rl.config import load_config
from meta_rl.errors import NonFiniteError
from meta_rl.sampling import VectorSampler
from meta_rl.sampling.vector import MAX_VECTOR_ENVS, EpisodeSeeds

ASSETS = Path(gymnasium.envs.mujoco.__file__).parent / "assets"
CHEETAH_VEL, CHEETAH_DIR = "MetaRL/HalfCheetahVel-v0", "MetaRL/HalfCheetahDir-v0"
ANT_VEL, ANT_DIR, ANT_GOAL = "MetaRL/AntVel-v0", "MetaRL/AntDir-v0", "MetaRL/AntGoal-v0"
CHEETAHS, ANTS = [CHEETAH_VEL, CHEETAH_DIR], [ANT_VEL, ANT_DIR, ANT_GOAL]
FAMILIES = CHEETAHS + ANTS

# Gymnasium's check_env warns about unbounded observation boxes; MuJoCo observations are.
IGNORE_INF_BOX = pytest.mark.filterwarnings("ignore:.*Box observation space m.*:UserWarning")


@pytest.fixture(autouse=True)
def _mujoco_log_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MuJoCo appends its warnings to MUJOCO_LOG.TXT in the working directory: keep it in tmp."""
    monkeypatch.chdir(tmp_path)


def make(env_id: str) -> Any:
    """The unwrapped env of a family."""
    return gym.make(env_id).unwrapped


# --- States, actions and the envs/TASKS.md formulas, computed here from MuJoCo data of our own ---

# Actions with components outside [-1, 1]: the env must clip them before applying and costing.
CHEETAH_ACTION = np.array([0.5, -1.5, 0.2, 0.9, -0.3, 2.0])
ANT_ACTION = np.array([0.3, -0.7, 1.4, 0.1, -2.0, 0.5, -0.2, 0.9])


def cheetah_state() -> tuple[np.ndarray, np.ndarray]:
    qpos = np.array([0.3, 0.05, -0.1, 0.2, -0.3, 0.1, 0.4, -0.2, 0.1])
    qvel = np.array([1.0, -0.2, 0.3, 0.5, -1.0, 0.2, 0.8, -0.4, 0.1])
    return qpos, qvel


def ant_state() -> tuple[np.ndarray, np.ndarray]:
    # Legs bent down (Gymnasium's init_qpos numeric) and torso low: the feet touch the floor, so
    # the contact forces and their cost are not zero.
    qpos = np.array([0.1, -0.2, 0.55, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0])
    qvel = np.array([0.8, -0.1, 0.0, 0.0, 0.0, 0.2, 0.5, -0.5, 0.3, 0.0, -0.2, 0.1, 0.0, 0.4])
    return qpos, qvel


# rllab's ant.xml, behind the paper's Ant results, differs from Gymnasium's in its geom default:
# solimp=".8 .8 .01" (rllab/vendor/mujoco_models/ant.xml in cbfinn/maml_rl).
GYMNASIUM_GEOM_DEFAULT = '<geom conaffinity="0" condim="3" density="5.0"'
RLLAB_GEOM_DEFAULT = '<geom solimp=".8 .8 .01" conaffinity="0" condim="3" density="5.0"'


def reference_model(xml: str) -> mujoco.MjModel:
    """Gymnasium's model as MuJoCo compiles it; the Ant with rllab's contact ``solimp`` written
    into its XML (the env sets the compiled array instead)."""
    if xml != "ant.xml":
        return mujoco.MjModel.from_xml_path(str(ASSETS / xml))
    text = (ASSETS / xml).read_text()
    assert text.count(GYMNASIUM_GEOM_DEFAULT) == 1
    return mujoco.MjModel.from_xml_string(text.replace(GYMNASIUM_GEOM_DEFAULT, RLLAB_GEOM_DEFAULT))


def reference_step(
    xml: str, nstep: int, qpos: np.ndarray, qvel: np.ndarray, action: np.ndarray
) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """Steps a fresh copy of the model: envs/TASKS.md's physics for one env step."""
    model = reference_model(xml)
    assert model.opt.timestep == 0.01
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = qpos, qvel
    data.ctrl[:] = np.clip(action, -1.0, 1.0)
    mujoco.mj_step(model, data, nstep=nstep)
    mujoco.mj_forward(model, data)  # everything below is of the state after the step
    mujoco.mj_rnePostConstraint(model, data)  # fills cfrc_ext
    return model, data


def robot_com(model: mujoco.MjModel, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
    """The robot's centre of mass and its velocity from each body's mass and velocity: the
    mass-weighted mean of body velocities, as rllab's ``get_body_comvel`` computed it."""
    masses = model.body_mass[1:]
    com = masses @ data.xipos[1:] / masses.sum()
    momentum, velocity = np.zeros(3), np.zeros(6)
    for body in range(1, model.nbody):
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, body, velocity, 0)
        momentum += model.body_mass[body] * velocity[3:]
    return com, momentum / masses.sum()


def cheetah_expected(
    task: Task, qpos: np.ndarray, qvel: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Observation, reward and the post-step qpos by envs/TASKS.md, one physics step of 0.01 s."""
    model, data = reference_step("half_cheetah.xml", 1, qpos, qvel, action)
    com, velocity = robot_com(model, data)
    a = np.clip(action, -1.0, 1.0)
    obs = np.concatenate([data.qpos[1:], data.qvel, com])
    if isinstance(task, GoalVelocityTask):
        reward = -abs(velocity[0] - task.velocity) - 0.05 * np.sum(a**2)
    else:
        assert isinstance(task, DirectionTask)
        reward = task.direction * velocity[0] - 0.05 * np.sum(a**2)
    return obs, float(reward), data.qpos.copy()


def ant_expected(
    task: Task, qpos: np.ndarray, qvel: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Observation, reward and the post-step qpos by envs/TASKS.md, 0.02 s as two RK4 steps of 0.01."""
    model, data = reference_step("ant.xml", 2, qpos, qvel, action)
    com, velocity = robot_com(model, data)
    a_n = np.clip(action, -1.0, 1.0)  # ctrlrange is +-1: normalised = clipped
    contact = np.clip(data.cfrc_ext, -1.0, 1.0)
    assert np.any(contact != 0.0), "the test state should touch the floor"
    torso = model.body("torso").id
    obs = np.concatenate([data.qpos, data.qvel, contact.ravel(), data.xmat[torso], com])
    costs = 0.005 * np.sum(a_n**2) + 0.0005 * np.sum(contact**2)
    if isinstance(task, GoalVelocityTask):
        reward = -abs(velocity[0] - task.velocity) + 1.0 - costs + 0.05
    elif isinstance(task, DirectionTask):
        reward = task.direction * velocity[0] - costs + 0.05
    else:
        assert isinstance(task, GoalPositionTask)
        reward = -np.sum(np.abs(com[:2] - np.asarray(task.goal))) + 4.0 - costs + 0.05
    return obs, float(reward), data.qpos.copy()


Expected = Callable[[Task, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, float, np.ndarray]]
State = Callable[[], tuple[np.ndarray, np.ndarray]]
# Per family: two tasks, the envs/TASKS.md formula, a test state and an action.
CASES: dict[str, tuple[list[Task], Expected, State, np.ndarray]] = {
    CHEETAH_VEL: (
        [GoalVelocityTask(0.7), GoalVelocityTask(1.9)], cheetah_expected, cheetah_state, CHEETAH_ACTION
    ),
    CHEETAH_DIR: ([DirectionTask(1), DirectionTask(-1)], cheetah_expected, cheetah_state, CHEETAH_ACTION),
    ANT_VEL: ([GoalVelocityTask(2.2), GoalVelocityTask(0.4)], ant_expected, ant_state, ANT_ACTION),
    ANT_DIR: ([DirectionTask(-1), DirectionTask(1)], ant_expected, ant_state, ANT_ACTION),
    ANT_GOAL: (
        [GoalPositionTask((-2.0, 1.5)), GoalPositionTask((2.5, 0.5))], ant_expected, ant_state, ANT_ACTION
    ),
}  # fmt: skip


# --- Tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", FAMILIES)
def test_registration_and_physics_step(env_id: str) -> None:
    spec = gym.spec(env_id)
    assert spec.max_episode_steps == 200
    env = gym.make(env_id)
    unwrapped = env.unwrapped
    assert missing_task_methods(unwrapped) == []
    # The original's env step: cheetah one physics step of 0.01, ant 0.02 (two RK4 steps of 0.01).
    cheetah = env_id in CHEETAHS
    assert unwrapped.model.opt.timestep == 0.01
    assert unwrapped.frame_skip == (1 if cheetah else 2)
    assert unwrapped.dt == pytest.approx(0.01 if cheetah else 0.02)
    assert env.observation_space.shape == ((20,) if cheetah else (125,))
    assert env.action_space.shape == ((6,) if cheetah else (8,))
    np.testing.assert_array_equal(env.action_space.low, -1.0)
    np.testing.assert_array_equal(env.action_space.high, 1.0)
    if not cheetah:
        np.testing.assert_array_equal(unwrapped.model.actuator_gear[:, 0], 150.0)  # torques +-150


@pytest.mark.parametrize(("env_id", "xml"), [(CHEETAH_VEL, "half_cheetah.xml"), (ANT_VEL, "ant.xml")])
def test_model_is_gymnasiums_with_the_ants_contacts_and_compiles_without_warnings(env_id: str, xml: str, tmp_path: Path) -> None:
    """The cheetah's model is compiled without ``settotalmass`` (which warns on MuJoCo 3.3+ at
    every env) and rescaled by hand: it must equal Gymnasium's model as MuJoCo compiles it. The
    Ant's must equal Gymnasium's with rllab's contact ``solimp`` in the XML."""
    env = make(env_id)
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    ours, gymnasiums = env.model, reference_model(xml)
    arrays = [
        name for name in dir(gymnasiums)
        if not name.startswith("_") and isinstance(getattr(gymnasiums, name), np.ndarray)
    ]  # fmt: skip
    assert len(arrays) > 100
    for name in arrays:
        np.testing.assert_array_equal(getattr(ours, name), getattr(gymnasiums, name), err_msg=name)
    for name in ["meanmass", "meaninertia", "meansize", "extent", "center"]:
        # Summed in another order than Gymnasium's compile on MuJoCo 3.3 (Meta-World's pin): one ulp.
        np.testing.assert_allclose(getattr(ours.stat, name), getattr(gymnasiums.stat, name), rtol=1e-15, err_msg=name)
    assert ours.opt.timestep == gymnasiums.opt.timestep and ours.opt.integrator == gymnasiums.opt.integrator


@IGNORE_INF_BOX
@pytest.mark.parametrize("env_id", FAMILIES)
def test_check_env_fixed_and_sampled_tasks(env_id: str) -> None:
    env = make(env_id)
    check_env(env, skip_render_check=True)
    for task in env.sample_tasks(2, np.random.default_rng(0)):
        env.set_task(task)
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("env_id", FAMILIES)
def test_reward_and_observation_by_hand(env_id: str) -> None:
    tasks, expected, state, action = CASES[env_id]
    env = make(env_id)
    env.reset(seed=0)
    for task in tasks:
        env.set_task(task)
        qpos, qvel = state()
        env.set_state(qpos, qvel)
        obs, reward, terminated, truncated, info = env.step(action.astype(np.float32))
        want_obs, want_reward, want_qpos = expected(task, qpos, qvel, action.astype(np.float32))
        np.testing.assert_allclose(env.data.qpos, want_qpos, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(obs, want_obs, rtol=1e-6, atol=1e-8)
        assert reward == pytest.approx(want_reward, rel=1e-6, abs=1e-8)
        assert not terminated and not truncated and not info["unstable"]


@pytest.mark.parametrize("env_id", FAMILIES)
def test_changing_the_task_changes_the_reward(env_id: str) -> None:
    tasks, _, state, action = CASES[env_id]
    env = make(env_id)
    env.reset(seed=0)
    rewards = []
    for task in tasks:
        env.set_task(task)
        assert env.get_task() == task
        env.set_state(*state())
        rewards.append(env.step(action)[1])
    assert abs(rewards[0] - rewards[1]) > 0.1


@pytest.mark.parametrize("env_id", [CHEETAH_VEL, ANT_VEL])
def test_velocity_is_the_centre_of_mass_velocity(env_id: str) -> None:
    """``subtree_linvel`` (filled by ``mj_subtreeVel``) against a finite difference of
    ``subtree_com`` over one step, in flight so that no contact jolts the step."""
    env = make(env_id)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    height = 1 if env_id == CHEETAH_VEL else 2
    for _ in range(5):
        qpos = env.init_qpos + 0.05 * rng.standard_normal(env.model.nq)
        qpos[height] += 3.0
        env.set_state(qpos, 0.5 * rng.standard_normal(env.model.nv))
        com_before, vel_before = env.data.subtree_com[1].copy(), env.data.subtree_linvel[1].copy()
        _, _, _, _, info = env.step(rng.uniform(-1, 1, env.model.nu))
        com_after, vel_after = env.data.subtree_com[1].copy(), env.data.subtree_linvel[1].copy()
        assert info["x_velocity"] == vel_after[0]
        finite_difference = (com_after - com_before) / env.dt
        if env_id == CHEETAH_VEL:
            # Semi-implicit Euler moves the positions with the end-of-step velocity.
            np.testing.assert_allclose(finite_difference, vel_after, atol=0.02)
        else:
            # RK4 under constant acceleration (gravity only): the mean of the two ends.
            np.testing.assert_allclose(finite_difference, 0.5 * (vel_before + vel_after), atol=1e-3)


@pytest.mark.parametrize("env_id", [CHEETAH_DIR, ANT_GOAL])
def test_seeded_resets_are_deterministic(env_id: str) -> None:
    env = make(env_id)
    first, _ = env.reset(seed=3)
    env.sample_tasks(5, np.random.default_rng(0))  # task draws leave the episode stream alone
    env.step(env.action_space.sample())
    again, _ = env.reset(seed=3)
    other, _ = env.reset(seed=4)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


@pytest.mark.parametrize("env_id", [CHEETAH_VEL, ANT_VEL])
def test_reset_noise_has_the_tasks_md_scale(env_id: str) -> None:
    env = make(env_id)
    qpos_noise, qvel_noise = [], []
    for seed in range(300):
        env.reset(seed=seed)
        qpos_noise.append(env.data.qpos - env.init_qpos)
        qvel_noise.append(env.data.qvel - env.init_qvel)
    qpos_noise, qvel_noise = np.array(qpos_noise), np.array(qvel_noise)
    assert 0.009 < qpos_noise.std() < 0.011 and abs(qpos_noise.mean()) < 0.001
    assert 0.09 < qvel_noise.std() < 0.11 and abs(qvel_noise.mean()) < 0.01
    assert np.all(qpos_noise.std(axis=0) > 0.007)  # every coordinate gets noise


@pytest.mark.parametrize("env_id", ANTS)
def test_ant_starts_standing_with_rllabs_contacts(env_id: str) -> None:
    """rllab reset the Ant around ant.xml's ``init_qpos`` numeric, its feet on the floor and its
    ankles inside their ranges; Gymnasium's Ant (``standing_start=False``) starts from ``qpos0``,
    legs flat and ankles outside their ranges. ``contact_solimp=None`` keeps Gymnasium's contacts."""
    standing = np.array([0.0, 0.0, 0.55, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0])
    env = make(env_id)
    np.testing.assert_array_equal(env.init_qpos, standing)
    ankles = [env.model.joint(f"ankle_{leg}").id for leg in range(1, 5)]
    low, high = env.model.jnt_range[ankles].T
    angles = env.init_qpos[env.model.jnt_qposadr[ankles]]
    assert np.all((low < angles) & (angles < high))
    np.testing.assert_array_equal(env.model.geom_solimp[:, :3], np.tile([0.8, 0.8, 0.01], (env.model.ngeom, 1)))
    env.reset(seed=0)
    assert np.abs(env.data.qpos - standing).max() < 0.06  # N(0, 0.01^2) noise
    # Standing on its feet, the Ant touches the floor from the first observation on.
    assert np.any(env.contact_forces[1:] != 0.0)

    gymnasiums = gym.make(env_id, standing_start=False, contact_solimp=None).unwrapped
    np.testing.assert_array_equal(gymnasiums.init_qpos, gymnasiums.model.qpos0)
    assert gymnasiums.init_qpos[2] == 0.75 and not np.any(gymnasiums.init_qpos[7:])
    plain = mujoco.MjModel.from_xml_path(str(ASSETS / "ant.xml"))
    np.testing.assert_array_equal(gymnasiums.model.geom_solimp, plain.geom_solimp)
    copy = pickle.loads(pickle.dumps(gym.make(env_id, standing_start=False, contact_solimp=(0.7, 0.9, 0.02)).unwrapped))
    assert not copy.standing_start and copy.contact_solimp == (0.7, 0.9, 0.02)
    np.testing.assert_allclose(copy.model.geom_solimp[0, :3], [0.7, 0.9, 0.02])


@pytest.mark.parametrize(
    ("solimp", "message"),
    [((0.8, 0.8), "three numbers"), (0.8, "three numbers"), ("abc", "three numbers"),
     ((0.0, 0.8, 0.01), r"\(0, 1\)"), ((0.8, 1.0, 0.01), r"\(0, 1\)"), ((0.8, 0.8, 0.0), "positive width")],
)  # fmt: skip
def test_ant_contact_solimp_is_checked(solimp: Any, message: str) -> None:
    with pytest.raises(ValueError, match=f"contact_solimp.*{message}"):
        gym.make(ANT_VEL, contact_solimp=solimp)


def test_ant_standing_start_is_checked() -> None:
    with pytest.raises(TypeError, match="standing_start must be True or False, got 'False'"):
        gym.make(ANT_VEL, standing_start="False")


@pytest.mark.parametrize("env_id", ANTS)
@pytest.mark.parametrize(
    ("height", "ends"), [(0.05, True), (0.1, True), (0.3, False), (0.55, False), (1.5, True)]
)
def test_ant_terminates_outside_the_healthy_height(env_id: str, height: float, ends: bool) -> None:
    env = make(env_id)
    env.reset(seed=0)
    qpos = env.model.qpos0.copy()  # legs flat: standing legs would lift a low torso at once
    qpos[2] = height
    env.set_state(qpos, np.zeros(env.model.nv))
    *_, terminated, truncated, info = env.step(np.zeros(8, dtype=np.float32))
    assert terminated == ends == (not 0.2 <= env.data.qpos[2] <= 1.0)
    assert not truncated and not info["unstable"]


@pytest.mark.parametrize("env_id", ANTS)
def test_ant_terminates_on_a_non_finite_state(env_id: str) -> None:
    env = make(env_id)
    env.reset(seed=0)
    for field in ["qpos", "qvel"]:
        qpos, qvel = ant_state()
        {"qpos": qpos, "qvel": qvel}[field][4] = np.nan
        env.set_state(qpos, qvel)
        obs, _, terminated, _, info = env.step(np.zeros(8, dtype=np.float32))
        # MuJoCo resets a diverged simulation rather than return NaN; the env still ends it.
        assert terminated and info["unstable"], field
        assert np.all(np.isfinite(obs))
    env.reset(seed=0)
    *_, terminated, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert not terminated and not info["unstable"]


def test_cheetah_never_terminates_and_truncates_at_200() -> None:
    env = gym.make(CHEETAH_VEL)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for step in range(200):
        *_, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 6).astype(np.float32))
        assert not terminated
        assert truncated == (step == 199)


@pytest.mark.parametrize(
    "task",
    [GoalVelocityTask(1.25), DirectionTask(-1), DirectionTask(1), GoalPositionTask((-2.5, 0.75))],
)
def test_task_json_round_trip(task: Task) -> None:
    assert Task.from_json(task.to_json()) == task


def test_tasks_hold_plain_python_values() -> None:
    """NumPy scalars and lists become JSON-able Python values that compare equal."""
    direction = DirectionTask(np.int64(-1))  # type: ignore[arg-type]
    goal = GoalPositionTask(np.array([1.5, -2.0]))  # type: ignore[arg-type]
    velocity = GoalVelocityTask(np.float32(0.5))  # type: ignore[arg-type]
    assert (type(direction.direction), goal.goal, type(velocity.velocity)) == (int, (1.5, -2.0), float)
    for task in [direction, goal, velocity]:
        assert Task.from_json(task.to_json()) == task


def test_tasks_are_checked_and_travel_with_a_pickled_env() -> None:
    with pytest.raises(ValueError, match="direction"):
        DirectionTask(0)
    with pytest.raises(TypeError, match="GoalPositionTask"):
        make(ANT_GOAL).set_task(GoalVelocityTask(1.0))
    env = make(ANT_GOAL)
    env.set_task(GoalPositionTask((2.0, -1.0)))
    assert pickle.loads(pickle.dumps(env)).get_task() == GoalPositionTask((2.0, -1.0))


def test_reward_weights_and_task_ranges_are_constructor_arguments() -> None:
    """The paper's constants are defaults (as in Gymnasium's v5 envs); a pickled env keeps them,
    and a family refuses another family's arguments."""
    tasks, _, state, action = CASES[CHEETAH_VEL]
    infos = []
    for kwargs in [{}, {"ctrl_cost_weight": 0.1}]:
        env = gym.make(CHEETAH_VEL, **kwargs).unwrapped
        env.reset(seed=0)
        env.set_task(tasks[0])
        env.set_state(*state())
        infos.append(env.step(action)[4])
    assert infos[1]["reward_forward"] == infos[0]["reward_forward"]
    assert infos[1]["reward_ctrl"] == pytest.approx(2 * infos[0]["reward_ctrl"])

    env = gym.make(ANT_GOAL, goal_bonus=0.0, survive_reward=0.5, healthy_z_range=(0.0, 2.0)).unwrapped
    env.reset(seed=0)
    env.set_state(ant_state()[0], np.zeros(env.model.nv))
    info = env.step(np.zeros(8))[4]
    assert info["reward_survive"] == 0.5
    assert info["reward_forward"] == -np.sum(np.abs(env.com_position[:2] - np.array([1.0, 1.0])))
    qpos = env.init_qpos.copy()
    qpos[2] = 1.5  # outside the default healthy range, inside this one
    env.set_state(qpos, np.zeros(env.model.nv))
    assert not env.step(np.zeros(8))[2]

    fast = gym.make(ANT_VEL, velocity_range=(5.0, 6.0)).unwrapped
    assert all(5.0 <= task.velocity <= 6.0 for task in fast.sample_tasks(50, np.random.default_rng(0)))
    copy = pickle.loads(pickle.dumps(gym.make(ANT_GOAL, goal_range=(0.5, 0.6), goal_bonus=1.0).unwrapped))
    assert (copy.goal_range, copy.goal_bonus, copy.survive_reward) == ((0.5, 0.6), 1.0, 0.05)
    with pytest.raises(TypeError, match="velocity_bonus"):
        gym.make(ANT_DIR, velocity_bonus=1.0)


@pytest.mark.parametrize("env_id", FAMILIES)
def test_sample_tasks_draws_from_the_documented_ranges(env_id: str) -> None:
    env = make(env_id)
    np.random.seed(0)
    global_state = np.random.get_state()[1].copy()
    episode_state = env.np_random.bit_generator.state
    a = env.sample_tasks(5, np.random.default_rng(7))
    assert a == env.sample_tasks(5, np.random.default_rng(7))
    assert a != env.sample_tasks(5, np.random.default_rng(8))
    # Only the given generator is used: neither the global nor the episode stream moves.
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)
    assert env.np_random.bit_generator.state == episode_state
    tasks = env.sample_tasks(2000, np.random.default_rng(1))
    if env_id in (CHEETAH_VEL, ANT_VEL):
        high = 2.0 if env_id == CHEETAH_VEL else 3.0
        v = np.array([t.velocity for t in tasks])
        assert v.min() >= 0.0 and v.max() <= high and abs(v.mean() - high / 2) < 0.05 * high
    elif env_id in (CHEETAH_DIR, ANT_DIR):
        d = np.array([t.direction for t in tasks])
        assert set(d.tolist()) == {-1, 1} and abs((d == 1).mean() - 0.5) < 0.05
    else:
        g = np.array([t.goal for t in tasks])
        assert g.min() >= -3.0 and g.max() <= 3.0 and np.all(np.abs(g.mean(axis=0)) < 0.15)


PRESETS = {
    "halfcheetah-vel": (CHEETAH_VEL, 475, 20, 0.01, 0.5),
    "halfcheetah-dir": (CHEETAH_DIR, 100, 20, 0.02, 0.5),
    "ant-vel": (ANT_VEL, 375, 20, 0.01, 0.5),
    "ant-dir": (ANT_DIR, 575, 40, 0.01, 0.01),
    "ant-goal": (ANT_GOAL, 500, 20, 0.01, 0.5),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_load(name: str) -> None:
    env_id, iterations, episodes, max_kl, decay = PRESETS[name]
    config = load_config(name)
    assert (config.env_id, config.iterations, config.max_kl, config.eval_lr_decay) == (
        env_id, iterations, max_kl, decay,
    )  # fmt: skip
    assert config.support_episodes == config.query_episodes == config.eval_episodes == episodes
    assert (config.meta_batch_size, config.inner_lr, config.eval_steps, config.eval_tasks) == (40, 0.1, 3, 40)
    assert gym.spec(config.env_id).max_episode_steps == 200


def test_sampler_backends_give_identical_batches() -> None:
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(20, 6, (8,))
    batches = []
    for vectorization in ["auto", "async"]:
        sampler = VectorSampler(CHEETAH_DIR, vectorization=vectorization)
        assert (sampler.obs_dim, sampler.act_dim, sampler.horizon) == (20, 6, 200)
        # "auto" picks the family's batched vector_entry_point.
        expected = "vector_entry_point" if vectorization == "auto" else "async"
        assert sampler.vectorization == expected
        tasks = sampler.sample_tasks(2, np.random.default_rng(0))
        batches.append(sampler.sample(policy, task_batched(policy.initial_params(), len(tasks)), tasks, 2, 5, 1, 0))
        sampler.close()
    assert batches[0].observations.shape == (200, 2, 2, 20)
    assert bool(batches[0].mask.all())  # the cheetah never terminates
    for field in ["observations", "actions", "rewards", "mask"]:
        torch.testing.assert_close(getattr(batches[0], field), getattr(batches[1], field))



# --- Batches sampled to a number of steps (rllab's samplers; batch_by_steps) ----------------------


def _jumpy_ant(**kwargs: Any) -> VectorSampler:
    """Strong reset noise: Ant episodes end within steps, at different times."""
    return VectorSampler(ANT_VEL, env_kwargs={"qvel_noise_scale": 4.0}, **kwargs)


def test_topped_up_batches_reach_the_steps_with_the_fewest_episodes() -> None:
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(125, 8, (8,))
    sampler = _jumpy_ant()
    tasks = sampler.sample_tasks(3, np.random.default_rng(0))
    params = task_batched(policy.initial_params(), len(tasks))
    episodes, min_steps = 3, 3 * 200  # batch_by_steps: episodes x horizon
    fixed = sampler.sample(policy, params, tasks, episodes, seed=5, iteration=2, phase=0)
    assert (fixed.mask.sum((0, 2)) < min_steps).any(), "some task must be short for this test"
    topped = sampler.sample(policy, params, tasks, episodes, seed=5, iteration=2, phase=0, min_steps=min_steps)
    lengths = topped.mask.sum(0)  # [tasks, episodes]
    for i in range(len(tasks)):
        have = lengths[i][lengths[i] > 0]
        assert bool((lengths[i][: len(have)] > 0).all())  # real episodes first, padding after
        assert have.sum() >= min_steps
        if len(have) > episodes:  # the last one was needed
            assert have[:-1].sum() < min_steps
    # The first episodes are the fixed batch's.
    n = fixed.mask.shape[0]
    for field in ["observations", "actions", "rewards", "mask"]:
        torch.testing.assert_close(getattr(topped, field)[:n, :, :episodes], getattr(fixed, field))
    # Chunking changes no episode.
    other = _jumpy_ant(chunk_envs=2)
    again = other.sample(policy, params, tasks, episodes, seed=5, iteration=2, phase=0, min_steps=min_steps)
    for field in ["observations", "actions", "rewards", "mask"]:
        torch.testing.assert_close(getattr(again, field), getattr(topped, field))
    sampler.close()
    other.close()


def test_topping_up_changes_nothing_where_episodes_never_end_early() -> None:
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(20, 6, (8,))
    sampler = VectorSampler(CHEETAH_VEL)
    tasks = sampler.sample_tasks(2, np.random.default_rng(0))
    params = task_batched(policy.initial_params(), len(tasks))
    fixed = sampler.sample(policy, params, tasks, 2, seed=1, iteration=0, phase=0)
    topped = sampler.sample(policy, params, tasks, 2, seed=1, iteration=0, phase=0, min_steps=2 * 200)
    for field in ["observations", "actions", "rewards", "mask"]:
        torch.testing.assert_close(getattr(topped, field), getattr(fixed, field))
    sampler.close()


def test_topping_up_stops_at_its_cap_with_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    """Episodes that end at once cannot fill min_steps: the batch keeps 10 times its episodes and
    the sampler says so once, rather than stopping a run that its seeds would stop again."""
    sampler = VectorSampler(ANT_VEL, env_kwargs={"healthy_z_range": (0.0, 0.01)})  # ends at once
    policy = GaussianMLPPolicy(125, 8, (8,))
    tasks = sampler.sample_tasks(1, np.random.default_rng(0))
    params = task_batched(policy.initial_params(), 1)
    for iteration in range(2):
        batch = sampler.sample(policy, params, tasks, 2, seed=0, iteration=iteration, phase=0, min_steps=400)
        assert batch.mask.shape[2] == 20 and float(batch.mask.sum()) < 400
    err = capsys.readouterr().err
    assert err.count("meta-rl: warning:") == 1
    assert "1 task(s) short of 400 env steps after 20 episodes (10 times the batch's 2)" in err
    sampler.close()


def test_top_up_rounds_keep_a_bounded_number_of_vector_envs() -> None:
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(125, 8, (8,))
    sampler = _jumpy_ant()
    for n in range(1, 9):
        tasks = sampler.sample_tasks(n, np.random.default_rng(n))
        sampler.sample(policy, task_batched(policy.initial_params(), n), tasks, 2, 0, n, 0, min_steps=2 * 200)
    assert 1 <= len(sampler._vector_envs) <= MAX_VECTOR_ENVS
    sampler.close()


def test_a_non_finite_reward_in_a_top_up_round_names_the_meta_batch_task() -> None:
    """Top-up rounds sample only the short tasks (``task_ids``: their meta-batch indices), and
    their episodes from ``first_episode`` on: errors name both as in the whole batch."""
    policy = GaussianMLPPolicy(125, 8, (8,))
    sampler = _jumpy_ant()
    task = dataclasses.replace(sampler.sample_tasks(1, np.random.default_rng(0))[0], velocity=float("nan"))
    params = task_batched(policy.initial_params(), 1)
    seeds = EpisodeSeeds.of_batch(0, 3, 0, 8, 2).later([7], first_episode=4, episodes=2)
    with pytest.raises(NonFiniteError, match=r"at iteration 3, support episodes of inner step 0, task 7 \(episode 4, step 0\)"):
        sampler.sample_seeded(policy, params, [task], seeds)
    sampler.close()


def test_episode_seeds_of_later_episodes_continue_the_batchs() -> None:
    """Seeds of episodes 3.. of some tasks are those a bigger batch gives the same tasks."""
    big = EpisodeSeeds.of_batch(4, 2, 1000, 5, 6)
    later = EpisodeSeeds.of_batch(4, 2, 1000, 5, 3).later([1, 4], first_episode=3, episodes=3)
    np.testing.assert_array_equal(later.resets, big.resets[[1, 4], 3:])
    np.testing.assert_array_equal(later.noise, big.noise[[1, 4]])
    assert later.task_ids == (1, 4) and later.first_episode == 3
    part = later.rows(slice(1, 2))
    assert part.task_ids == (4,) and part.resets.shape == (1, 3)
