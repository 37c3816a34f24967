"""MuJoCo locomotion families of the MAML paper: HalfCheetah and Ant with goal velocity, direction,
and (Ant) goal position, on Gymnasium's v5 models.

Five families, each a Gymnasium env with the task API of ``envs.tasks``:

* ``HalfCheetahVelEnv`` (``MetaRL/HalfCheetahVel-v0``) and ``HalfCheetahDirEnv``
  (``MetaRL/HalfCheetahDir-v0``),
* ``AntVelEnv`` (``MetaRL/AntVel-v0``), ``AntDirEnv`` (``MetaRL/AntDir-v0``) and ``AntGoalEnv``
  (``MetaRL/AntGoal-v0``).

They follow TASKS.md, which follows the code that produced the paper's figures (rllab's
``HalfCheetahEnvRand`` / ``AntEnvRand`` families of ``maml_rl``). Every class docstring lists where
it differs and why.

Why ``MujocoEnv`` and not ``HalfCheetahEnv`` / ``AntEnv``: these families replace everything those
classes define besides the model file (observation, reward, velocity estimate, reset noise,
termination, physics step), so subclassing them would inherit only a constructor whose arguments
(``ctrl_cost_weight``, ``reset_noise_scale`` with uniform position noise, ...) would then be
silently ignored. Subclassing Gymnasium's ``MujocoEnv`` with the same XML models
(``half_cheetah.xml``, ``ant.xml`` from ``gymnasium/envs/mujoco/assets``) keeps their physics and
rendering and leaves no dead arguments.

The state after a step is made consistent before anything is read from it. ``mj_step`` leaves
positions and velocities advanced but every derived quantity (body frames, sub-tree centres of
mass, contact forces) computed at the state *before* the step; rllab called ``model.forward()``
after stepping, so the original's observation and reward are functions of the new state. The
envs here do the same: ``mj_forward``, then ``mj_rnePostConstraint`` (which alone fills
``cfrc_ext`` since MuJoCo 2.0; Gymnasium's Ant v5 calls it too) and ``mj_subtreeVel`` (which alone
fills ``subtree_linvel``, the sub-tree centre-of-mass velocity).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import mujoco
import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.spaces import Box
from numpy.typing import NDArray

from envs.tasks import Task

# The original rllab reset: qpos0 + N(0, 0.01^2), qvel0 + N(0, 0.1^2).
QPOS_NOISE_SCALE = 0.01
QVEL_NOISE_SCALE = 0.1

CHEETAH_XML = "half_cheetah.xml"
CHEETAH_FRAME_SKIP = 1  # Gymnasium's model has timestep 0.01: one step = the original env step
CHEETAH_CTRL_COST = 0.05  # rllab: 0.5 * 1e-1 * ||a||^2
CHEETAH_VEL_RANGE = (0.0, 2.0)

ANT_XML = "ant.xml"
ANT_FRAME_SKIP = 2  # two RK4 steps of Gymnasium's 0.01 make the original 0.02 s env step
ANT_CTRL_COST = 0.005  # rllab: 0.5 * 1e-2 * ||a / scaling||^2
ANT_CONTACT_COST = 0.0005  # rllab: 0.5 * 1e-3 * ||clip(cfrc_ext, -1, 1)||^2
ANT_SURVIVE_REWARD = 0.05
ANT_VEL_BONUS = 1.0
ANT_GOAL_BONUS = 4.0
ANT_VEL_RANGE = (0.0, 3.0)
ANT_GOAL_RANGE = (-3.0, 3.0)
ANT_HEALTHY_Z = (0.2, 1.0)

# MuJoCo never leaves a non-finite state behind mj_step: it warns and resets the data instead.
_INSTABILITY_WARNINGS = (
    mujoco.mjtWarning.mjWARN_BADQPOS,
    mujoco.mjtWarning.mjWARN_BADQVEL,
    mujoco.mjtWarning.mjWARN_BADQACC,
)

_RENDER_MODES = ["human", "rgb_array", "depth_array", "rgbd_tuple"]


# --------------------------------------------------------------------------------------------
# Tasks


@dataclasses.dataclass(frozen=True)
class GoalVelocityTask(Task):
    """A target forward velocity ``velocity`` (m/s, along +x) for the torso's centre of mass."""

    velocity: float

    def __post_init__(self) -> None:
        # Plain Python numbers only, so that the task is JSON-able and compares by value.
        object.__setattr__(self, "velocity", float(self.velocity))


@dataclasses.dataclass(frozen=True)
class DirectionTask(Task):
    """A running direction along the x axis: ``direction`` is +1 (forward) or -1 (backward)."""

    direction: int

    def __post_init__(self) -> None:
        if self.direction not in (-1, 1) or isinstance(self.direction, bool):
            raise ValueError(f"direction must be +1 or -1, got {self.direction!r}")
        # A NumPy integer would not survive json.dumps.
        object.__setattr__(self, "direction", int(self.direction))


@dataclasses.dataclass(frozen=True)
class GoalPositionTask(Task):
    """A goal position ``(gx, gy)`` in the plane for the Ant's centre of mass."""

    goal: tuple[float, float]

    def __post_init__(self) -> None:
        if len(self.goal) != 2:
            raise ValueError(f"goal must be (gx, gy), got {self.goal!r}")
        # A tuple of floats whatever the caller passed (list, array), so that tasks compare equal.
        object.__setattr__(self, "goal", (float(self.goal[0]), float(self.goal[1])))


def _sample_velocities(n: int, rng: np.random.Generator, low: float, high: float) -> list[GoalVelocityTask]:
    return [GoalVelocityTask(velocity=float(v)) for v in rng.uniform(low, high, size=n)]


def _sample_directions(n: int, rng: np.random.Generator) -> list[DirectionTask]:
    # integers(0, 2) is a fair coin; 2k - 1 maps it onto {-1, +1}.
    return [DirectionTask(direction=int(2 * k - 1)) for k in rng.integers(0, 2, size=n)]


def _sample_goals(n: int, rng: np.random.Generator) -> list[GoalPositionTask]:
    goals = rng.uniform(*ANT_GOAL_RANGE, size=(n, 2))
    return [GoalPositionTask(goal=(float(x), float(y))) for x, y in goals]


def _check_task(task: Any, cls: type[Task]) -> Any:
    if not isinstance(task, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(task).__name__}")
    return task


def compile_spec(spec: mujoco.MjSpec) -> mujoco.MjModel:
    """Compiles ``spec`` to the model MuJoCo compiles from it, minus the ``settotalmass`` warning.

    Gymnasium's ``half_cheetah.xml`` sets ``<compiler settotalmass="14">``, which recent MuJoCo (4.0
    here) compiles with a deprecation warning on stderr and in ``MUJOCO_LOG.TXT`` in the working
    directory: once per env, so hundreds of times per meta-batch. The same model comes from
    compiling without the attribute and then applying what it did, as the warning advises:
    ``mj_setTotalmass`` and ``mj_setConst``, plus the two statistics the compiler derives from
    the masses (``meanmass``, and ``meaninertia``, which scales solver tolerances). A spec without
    the attribute is compiled as it is. ``envs.locomotion_vector`` compiles its models (the same
    XML plus sensors) through here too, so that their physics is the plain env's.

    Args:
        spec: The model's spec; its ``settotalmass`` is cleared.

    Returns:
        The compiled model.
    """
    total_mass = float(spec.compiler.settotalmass)
    if total_mass <= 0:
        return spec.compile()
    spec.compiler.settotalmass = -1.0
    model = spec.compile()
    mujoco.mj_setTotalmass(model, total_mass)
    mujoco.mj_setConst(model, mujoco.MjData(model))
    model.stat.meanmass = float(np.mean(model.body_mass[1:]))
    model.stat.meaninertia = float(np.mean(model.dof_M0))
    return model


# --------------------------------------------------------------------------------------------
# Shared machinery


class _LocomotionEnv(MujocoEnv, utils.EzPickle):
    """What the five families share: the step pipeline, reset noise, termination bookkeeping.

    Subclasses set ``_xml_file`` and ``_task_type``, and define ``sample_tasks``,
    ``task_values``, ``_task_kwargs`` and the array formulas (``observation_from``,
    ``forward_reward``, ``reward_from``, ``healthy_from``, ``info_from``, ``reset_info_from``).
    The formulas take arrays with any leading batch shape and read no ``MjData``: the plain env
    calls them on one state, ``envs.locomotion_vector`` on all sub-envs at once, so that both
    compute every number with the same NumPy operations.
    """

    metadata: dict[str, Any] = {"render_modes": _RENDER_MODES}
    _xml_file: str
    _task_type: type[Task]
    _needs_contact_forces = False  # only the Ant reads cfrc_ext; skip its cost for the cheetah

    def __init__(
        self,
        task: Task,
        frame_skip: int,
        timestep: float | None,
        qpos_noise_scale: float,
        qvel_noise_scale: float,
        ezpickle_kwargs: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        utils.EzPickle.__init__(self, **ezpickle_kwargs, **kwargs)
        if frame_skip < 1:
            raise ValueError(f"frame_skip must be at least 1, got {frame_skip}")
        self._task = _check_task(task, self._task_type)
        self._task_values = self.task_values(self._task)
        self._qpos_noise_scale = float(qpos_noise_scale)
        self._qvel_noise_scale = float(qvel_noise_scale)
        self._unstable = False
        MujocoEnv.__init__(self, self._xml_file, frame_skip, observation_space=None, **kwargs)
        if timestep is not None:
            if not timestep > 0:
                raise ValueError(f"timestep must be positive, got {timestep}")
            self.model.opt.timestep = float(timestep)
        # Set after MujocoEnv.__init__, as Gymnasium does, because dt depends on the model.
        self.metadata = {"render_modes": _RENDER_MODES, "render_fps": int(np.round(1.0 / self.dt))}
        self._torso_id = int(self.model.body("torso").id)
        ctrl_low, ctrl_high = self.model.actuator_ctrlrange.T.copy()
        self._ctrl_mid = 0.5 * (ctrl_high + ctrl_low)
        self._ctrl_half_range = 0.5 * (ctrl_high - ctrl_low)
        self._compute_derived()
        size = self._observation().size
        self.observation_space = Box(low=-np.inf, high=np.inf, shape=(size,), dtype=np.float64)

    # Task API ----------------------------------------------------------------------------

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[Any]:
        """Draws ``n`` tasks from the family's distribution using ``rng`` only."""
        raise NotImplementedError

    def set_task(self, task: Any) -> None:
        """Sets the task used from now on (the samplers set it before ``reset``)."""
        self._task = _check_task(task, self._task_type)
        self._task_values = self.task_values(self._task)
        # EzPickle rebuilds the env from its constructor arguments: keep those on the current
        # task so that a pickled copy comes back with it.
        self._ezpickle_kwargs.update(self._task_kwargs(self._task))

    def get_task(self) -> Any:
        """Returns the current task."""
        return self._task

    @classmethod
    def task_values(cls, task: Any) -> NDArray[np.float64]:
        """The task's parameters as the float vector that ``forward_reward`` reads."""
        raise NotImplementedError

    def _task_kwargs(self, task: Any) -> dict[str, Any]:
        raise NotImplementedError

    # Physics -----------------------------------------------------------------------------

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        """Compiles the model as ``MujocoEnv`` does, minus MuJoCo's ``settotalmass`` warning.

        See :func:`compile_spec`. A test checks that every array of the result equals Gymnasium's
        compiled model.
        """
        if not hasattr(mujoco, "MjSpec"):  # MuJoCo before 3.2: no spec API, and no warning
            return super()._initialize_simulation()
        spec = mujoco.MjSpec.from_file(self.fullpath)
        if float(spec.compiler.settotalmass) <= 0:
            return super()._initialize_simulation()
        model = compile_spec(spec)
        # What MujocoEnv does for offscreen rendering: grow the framebuffer, never shrink it.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    def _compute_derived(self) -> None:
        """Makes every quantity read by the observation and reward a function of the state now."""
        mujoco.mj_forward(self.model, self.data)
        if self._needs_contact_forces:
            mujoco.mj_rnePostConstraint(self.model, self.data)
        mujoco.mj_subtreeVel(self.model, self.data)

    def _step_mujoco_simulation(self, ctrl: NDArray[np.float64], n_frames: int) -> None:
        # Replaces MujocoEnv's version (mj_step, then mj_rnePostConstraint on stale kinematics).
        for warning in _INSTABILITY_WARNINGS:
            self.data.warning[warning].number = 0
        self.data.ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data, nstep=n_frames)
        self._unstable = any(self.data.warning[w].number > 0 for w in _INSTABILITY_WARNINGS)
        self._compute_derived()

    def set_state(self, qpos: NDArray[np.float64], qvel: NDArray[np.float64]) -> None:
        """Sets ``qpos`` and ``qvel`` and recomputes everything the observation reads."""
        super().set_state(qpos, qvel)
        self._unstable = False
        self._compute_derived()

    def reset_model(self) -> NDArray[np.float64]:
        """Sets ``qpos0 + N(0, s_q^2)``, ``qvel0 + N(0, s_v^2)`` (0.01, 0.1) from ``np_random``."""
        qpos = self.init_qpos + self._qpos_noise_scale * self.np_random.standard_normal(self.model.nq)
        qvel = self.init_qvel + self._qvel_noise_scale * self.np_random.standard_normal(self.model.nv)
        self.set_state(qpos, qvel)
        return self._observation()

    @property
    def com_position(self) -> NDArray[np.float64]:
        """Centre of mass of the torso's sub-tree (the whole robot), world frame."""
        return self.data.subtree_com[self._torso_id].copy()

    @property
    def com_velocity(self) -> NDArray[np.float64]:
        """Linear velocity of the torso sub-tree's centre of mass, world frame."""
        return self.data.subtree_linvel[self._torso_id].copy()

    def _normalized_action(self, action: NDArray[np.float64]) -> NDArray[np.float64]:
        """The action mapped onto [-1, 1] per dimension (the identity for ctrlrange +-1)."""
        return (action - self._ctrl_mid) / self._ctrl_half_range

    # Gymnasium API -----------------------------------------------------------------------

    def step(
        self, action: NDArray[np.float32]
    ) -> tuple[NDArray[np.float64], float, bool, bool, dict[str, Any]]:
        """Applies the (clipped) action for one env step; see the family's docstring."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(f"expected an action of shape {self.action_space.shape}, got {action.shape}")
        # The cost is on the applied action: MuJoCo clamps ctrl to ctrlrange anyway.
        action = np.clip(action, self.action_space.low, self.action_space.high)
        self.do_simulation(action, self.frame_skip)
        observation = self._observation()
        reward, info = self._reward(action)
        terminated = not self._is_healthy()
        info["unstable"] = self._unstable
        if self.render_mode == "human":
            self.render()
        # Truncation is the TimeLimit wrapper's job (max_episode_steps in the registration).
        return observation, reward, terminated, False, info

    def _get_obs(self) -> NDArray[np.float64]:
        return self._observation()

    def _get_reset_info(self) -> dict[str, Any]:
        return {key: float(value) for key, value in self.reset_info_from(self.com_position).items()}

    def _observation(self) -> NDArray[np.float64]:
        torso = self._torso_id
        return self.observation_from(
            self.data.qpos, self.data.qvel, self.data.subtree_com[torso], self.data.xmat[torso],
            self.data.cfrc_ext,
        )  # fmt: skip

    def _reward(self, action: NDArray[np.float64]) -> tuple[float, dict[str, Any]]:
        com, velocity = self.com_position, self.com_velocity
        forward = self.forward_reward(self._task_values, com, velocity)
        reward, terms = self.reward_from(forward, action, self.data.cfrc_ext)
        info = {**self.info_from(com, velocity), **terms}
        return float(reward), {key: float(value) for key, value in info.items()}

    def _is_healthy(self) -> bool:
        return bool(self.healthy_from(self.data.qpos, self.data.qvel, np.asarray(self._unstable)))

    # Array formulas (family-specific) ----------------------------------------------------
    # Leading batch dimensions: none in this env, (num_envs,) in envs.locomotion_vector.

    def observation_from(
        self,
        qpos: NDArray[np.float64],
        qvel: NDArray[np.float64],
        com: NDArray[np.float64],
        torso_xmat: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        """The observation from the state after a step or reset.

        Args:
            qpos: ``(..., nq)`` positions.
            qvel: ``(..., nv)`` velocities.
            com: ``(..., 3)`` the torso sub-tree's centre of mass (``subtree_com[torso]``).
            torso_xmat: ``(..., 9)`` the torso's rotation matrix, row-major (``xmat[torso]``).
            cfrc_ext: ``(..., nbody, 6)`` external contact forces; only the Ant reads them.

        Returns:
            ``(..., obs_dim)`` observations.
        """
        raise NotImplementedError

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The task's reward term (bonus included) from ``(..., p)`` task values (``task_values``),
        ``(..., 3)`` centre of mass and ``(..., 3)`` centre-of-mass velocity."""
        raise NotImplementedError

    def reward_from(
        self,
        forward: NDArray[np.float64],
        action: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
        """The reward and its ``info`` terms from the task term, the clipped ``(..., nu)`` action
        and (Ant) the ``(..., nbody, 6)`` contact forces."""
        raise NotImplementedError

    def healthy_from(
        self, qpos: NDArray[np.float64], qvel: NDArray[np.float64], unstable: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Whether the state after a step goes on (not terminated); ``unstable``: whether MuJoCo
        met a non-finite state in the step."""
        raise NotImplementedError

    def info_from(
        self, com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]]:
        """The ``info`` entries of a step besides the reward terms and ``unstable``."""
        raise NotImplementedError

    def reset_info_from(self, com: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """The ``info`` of a reset."""
        return {"x_position": com[..., 0]}


# --------------------------------------------------------------------------------------------
# Documentation: Gymnasium's section order, shared text written once


def _doc(**sections: str) -> str:
    """Joins ``## Title`` sections (keyword order; ``_`` in a key becomes a space) into a docstring."""
    parts = []
    for key, text in sections.items():
        # A keyword cannot hold the dot of "TASKS.md".
        title = key.replace("_md", ".md").replace("_", " ")
        parts.append(f"## {title}\n\n{text.strip()}\n")
    return "\n".join(parts)


_CHEETAH_ACTION = """
``Box(-1, 1, (6,), float32)``: torques of the back thigh, shin, foot and front thigh, shin, foot
(gears 120, 90, 60, 120, 60, 30 in Gymnasium's ``half_cheetah.xml``, as in rllab's). Actions
outside the box are clipped before they are applied and costed (the original clips for the cost
too).
"""

_CHEETAH_OBSERVATION = """
``Box(-inf, inf, (20,), float64)``: ``qpos[1:]`` (8: root z, root angle, six joint angles),
``qvel`` (9), and the torso sub-tree's centre of mass (3: ``data.subtree_com[torso]``, the whole
robot's centre of mass, which is what rllab's ``get_body_com`` returned), all of the state after
the step.
"""

_CHEETAH_STARTING_STATE = """
``qpos0 + N(0, 0.01^2)`` and ``qvel0 + N(0, 0.1^2)`` per coordinate (rllab's reset; Gymnasium's
uses uniform position noise of 0.1), drawn from the env's ``np_random``. ``qpos0`` is all zeros.
"""

_CHEETAH_EPISODE_END = """
Never terminates; truncated after 200 steps by the registration's ``max_episode_steps``.
"""

_CHEETAH_PHYSICS = """
Gymnasium's ``half_cheetah.xml`` (Euler, timestep 0.01) with ``frame_skip=1``: one physics step of
0.01 s per env step, as in the original. After stepping, ``mj_forward`` and ``mj_subtreeVel`` make
the observation and the velocity functions of the new state. The class builds on Gymnasium's
``MujocoEnv`` with that model rather than on ``HalfCheetahEnv``, whose observation, reward, reset
and velocity it would all replace (see the module docstring). The model is compiled without its
``settotalmass`` attribute, which recent MuJoCo warns about at every load, and rescaled to the same
total mass after: the result equals Gymnasium's compiled model array for array.
"""

_CHEETAH_DEVIATIONS = """
* The model is Gymnasium's ``half_cheetah.xml`` run by MuJoCo 3+, not rllab's file run by MuJoCo
  1.31: same bodies, joints, gears and timestep, but a different contact solver, so returns are
  close to, not identical with, the paper's.
* A non-finite state cannot be observed: MuJoCo detects one in ``mj_step``, warns, and resets the
  data to ``qpos0``. The cheetah never terminates, so the episode goes on from there;
  ``info["unstable"]`` reports it.
"""

_CHEETAH_ARGUMENTS = """
``frame_skip`` (default 1) and ``timestep`` (default None: the XML's 0.01) set the physics step;
``qpos_noise_scale`` (0.01) and ``qvel_noise_scale`` (0.1) the reset noise. Other keyword
arguments (``render_mode``, ``width``, ``height``, ``camera_name``, ...) go to ``MujocoEnv``.
"""

_ANT_ACTION = """
``Box(-1, 1, (8,), float32)``: hip and ankle torques of the four legs. Gymnasium's ``ant.xml`` has
``gear=150`` with ``ctrlrange`` +-1, so the torques span +-150, as the original's ``ctrlrange``
+-150 with gear 1 did. Actions outside the box are clipped before they are applied and costed.
"""

_ANT_OBSERVATION = """
``Box(-inf, inf, (125,), float64)``: ``qpos`` (15: torso position, torso quaternion, eight joint
angles), ``qvel`` (14), ``clip(cfrc_ext, -1, 1)`` of all 14 bodies, world included, flattened (84),
the torso's rotation matrix ``xmat`` row-major (9), and the torso sub-tree's centre of mass (3:
``data.subtree_com[torso]``, the whole robot's, which is what rllab's ``get_body_com`` returned).
All are of the state after the step, contact forces included (``mj_rnePostConstraint`` after
``mj_forward``). Gymnasium's Ant v5 returns zero contact forces at reset; these envs compute them
there too, as the original's ``forward()`` did.
"""

_ANT_COSTS = """
``costs = 0.005 * ||a_n||^2 + 0.0005 * ||clip(cfrc_ext, -1, 1)||^2``, where ``a_n`` is the action
normalised to [-1, 1]: with Gymnasium's ``ctrlrange`` of +-1 it is the clipped action itself. The
survival bonus of 0.05 is paid on every step, the terminal one included. ``info`` has
``x_velocity``, ``y_velocity``, ``x_position``, ``y_position`` (centre of mass),
``reward_forward`` (the task term, bonus included), ``reward_ctrl``, ``reward_contact``,
``reward_survive`` and ``unstable``.
"""

_ANT_STARTING_STATE = """
``qpos0 + N(0, 0.01^2)`` and ``qvel0 + N(0, 0.1^2)`` per coordinate (rllab's reset; Gymnasium's
uses uniform position noise of 0.1), drawn from the env's ``np_random``. ``qpos0`` has the torso
at height 0.75, upright, with all joint angles 0. The quaternion gets noise too and is not
renormalised, as in the original; MuJoCo normalises it where it uses it.
"""

_ANT_EPISODE_END = """
Terminates when the state ``(qpos, qvel)`` is not finite, or the torso height ``qpos[2]`` is
outside ``[0.2, 1.0]``, after the step; truncated after 200 steps by the registration's
``max_episode_steps``.
"""

_ANT_PHYSICS = """
Gymnasium's ``ant.xml`` (RK4, timestep 0.01) with ``frame_skip=2``: one env step lasts 0.02 s, the
original's control period, made of two RK4 steps of 0.01 s rather than the original's one of
0.02 s. ``timestep=0.02, frame_skip=1`` would copy the original's integration step, but MuJoCo
clamps every constraint's time constant to at least twice the timestep, so the contacts and joint
limits of Gymnasium's model (``solref`` 0.02) would become twice as soft as it was tuned for; the
default keeps the model as Gymnasium validated it. The class builds on Gymnasium's ``MujocoEnv``
with that model rather than on ``AntEnv``, whose observation, reward, reset and velocity it would
all replace (see the module docstring).
"""

_ANT_DEVIATIONS = """
* Physics step: two RK4 steps of 0.01 s per env step, not one of 0.02 s (see Physics), on
  Gymnasium's ``ant.xml`` run by MuJoCo 3+ rather than rllab's run by MuJoCo 1.31 (same bodies,
  joints and torque range, a different contact solver). Returns are close to, not identical with,
  the paper's.
* "State not finite": MuJoCo 2+ never leaves a non-finite state after ``mj_step``; it warns
  (``mjWARN_BADQPOS``, ``mjWARN_BADQVEL``, ``mjWARN_BADQACC``) and resets the data to ``qpos0``.
  The env counts those warnings during the step and terminates when one fired, where the
  original's ``isfinite`` check would have; ``info["unstable"]`` says so. The ``isfinite`` check
  is kept as well.
* The original costs the raw action; here the action is clipped to the box first. Actions inside
  the box (all that this project's sampler sends) cost the same.
"""

_ANT_ARGUMENTS = """
``frame_skip`` (default 2) and ``timestep`` (default None: the XML's 0.01) set the physics step;
``qpos_noise_scale`` (0.01) and ``qvel_noise_scale`` (0.1) the reset noise. Other keyword
arguments (``render_mode``, ``width``, ``height``, ``camera_name``, ...) go to ``MujocoEnv``.
"""


# --------------------------------------------------------------------------------------------
# HalfCheetah


class _HalfCheetahEnv(_LocomotionEnv):
    """HalfCheetah observation, control cost and (absent) termination."""

    _xml_file = CHEETAH_XML

    def __init__(
        self,
        task: Task,
        frame_skip: int,
        timestep: float | None,
        qpos_noise_scale: float,
        qvel_noise_scale: float,
        ezpickle_kwargs: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("default_camera_config", {"distance": 4.0})  # Gymnasium's
        super().__init__(
            task, frame_skip, timestep, qpos_noise_scale, qvel_noise_scale, ezpickle_kwargs, **kwargs
        )

    def observation_from(
        self,
        qpos: NDArray[np.float64],
        qvel: NDArray[np.float64],
        com: NDArray[np.float64],
        torso_xmat: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        """``qpos[1:]``, ``qvel`` and the centre of mass; see ``_LocomotionEnv.observation_from``."""
        return np.concatenate([qpos[..., 1:], qvel, com], axis=-1)

    def reward_from(
        self,
        forward: NDArray[np.float64],
        action: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
        """``forward - 0.05 * ||a||^2``; see ``_LocomotionEnv.reward_from``."""
        ctrl_cost = CHEETAH_CTRL_COST * np.sum(np.square(action), axis=-1)
        return forward - ctrl_cost, {"reward_forward": forward, "reward_ctrl": -ctrl_cost}

    def healthy_from(
        self, qpos: NDArray[np.float64], qvel: NDArray[np.float64], unstable: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Always true: the cheetah never terminates."""
        return np.ones(qpos.shape[:-1], dtype=bool)

    def info_from(
        self, com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]]:
        """``x_position`` and ``x_velocity`` of the centre of mass."""
        return {"x_position": com[..., 0], "x_velocity": velocity[..., 0]}


class _DirectionTasks:
    """The direction task of the cheetah and the ant: reward ``d * v_x``, d = +-1."""

    _task_type = DirectionTask

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[DirectionTask]:
        """Draws ``n`` directions, +1 or -1 with probability 0.5 each, with ``rng``."""
        return _sample_directions(n, rng)

    def _task_kwargs(self, task: DirectionTask) -> dict[str, Any]:
        return {"direction": task.direction}

    @classmethod
    def task_values(cls, task: DirectionTask) -> NDArray[np.float64]:
        """``[d]``."""
        return np.array([float(task.direction)])

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``d * v_x``."""
        return task_values[..., 0] * velocity[..., 0]


class _VelocityTasks:
    """The goal-velocity task of the cheetah and the ant (their ranges and rewards differ)."""

    _task_type = GoalVelocityTask

    def _task_kwargs(self, task: GoalVelocityTask) -> dict[str, Any]:
        return {"goal_velocity": task.velocity}

    @classmethod
    def task_values(cls, task: GoalVelocityTask) -> NDArray[np.float64]:
        """``[v_goal]``."""
        return np.array([task.velocity])


class HalfCheetahVelEnv(_VelocityTasks, _HalfCheetahEnv):
    __doc__ = _doc(
        Description="""
HalfCheetah goal velocity (MAML paper, section 5.3; ``MetaRL/HalfCheetahVel-v0``): the planar
cheetah must run forward at a target velocity that it does not observe; each task is one target
velocity.
""",
        Action_Space=_CHEETAH_ACTION,
        Observation_Space=_CHEETAH_OBSERVATION,
        Rewards="""
``-|v_x - v_goal| - 0.05 * ||a||^2``, with ``v_x`` the x velocity of the torso sub-tree's centre
of mass after the step (``data.subtree_linvel[torso][0]``, not a finite difference) and ``a`` the
clipped action. ``info`` has ``x_velocity``, ``x_position`` (centre of mass), ``reward_forward``
(the first term), ``reward_ctrl`` and ``unstable``.
""",
        Starting_State=_CHEETAH_STARTING_STATE,
        Episode_End=_CHEETAH_EPISODE_END,
        Tasks="""
``GoalVelocityTask(velocity=v_goal)`` with ``v_goal ~ U[0, 2]`` (``sample_tasks``); ``set_task``
accepts any velocity. A task takes effect from the next step; the samplers set it before
``reset``.
""",
        Physics=_CHEETAH_PHYSICS,
        Deviations_from_TASKS_md=_CHEETAH_DEVIATIONS,
        Arguments="``goal_velocity``: the initial task's target velocity, 1.0 unless given.\n"
        + _CHEETAH_ARGUMENTS,
    )

    def __init__(
        self,
        goal_velocity: float = 1.0,
        frame_skip: int = CHEETAH_FRAME_SKIP,
        timestep: float | None = None,
        qpos_noise_scale: float = QPOS_NOISE_SCALE,
        qvel_noise_scale: float = QVEL_NOISE_SCALE,
        **kwargs: Any,
    ) -> None:
        ezpickle = {
            "goal_velocity": goal_velocity, "frame_skip": frame_skip, "timestep": timestep,
            "qpos_noise_scale": qpos_noise_scale, "qvel_noise_scale": qvel_noise_scale,
        }  # fmt: skip
        super().__init__(
            GoalVelocityTask(velocity=float(goal_velocity)),
            frame_skip, timestep, qpos_noise_scale, qvel_noise_scale, ezpickle, **kwargs,
        )  # fmt: skip

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[GoalVelocityTask]:
        """Draws ``n`` target velocities uniformly from ``[0, 2]`` with ``rng``."""
        return _sample_velocities(n, rng, *CHEETAH_VEL_RANGE)

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``-|v_x - v_goal|``."""
        return -np.abs(velocity[..., 0] - task_values[..., 0])


class HalfCheetahDirEnv(_DirectionTasks, _HalfCheetahEnv):
    __doc__ = _doc(
        Description="""
HalfCheetah direction (MAML paper, section 5.3; ``MetaRL/HalfCheetahDir-v0``): the planar cheetah
must run as fast as it can forward or backward; each task is one direction, which it does not
observe.
""",
        Action_Space=_CHEETAH_ACTION,
        Observation_Space=_CHEETAH_OBSERVATION,
        Rewards="""
``d * v_x - 0.05 * ||a||^2``, with ``v_x`` the x velocity of the torso sub-tree's centre of mass
after the step (``data.subtree_linvel[torso][0]``, not a finite difference) and ``a`` the clipped
action. ``info`` has ``x_velocity``, ``x_position`` (centre of mass), ``reward_forward`` (the
first term), ``reward_ctrl`` and ``unstable``.
""",
        Starting_State=_CHEETAH_STARTING_STATE,
        Episode_End=_CHEETAH_EPISODE_END,
        Tasks="""
``DirectionTask(direction=d)`` with ``d = +1`` or ``-1``, each with probability 0.5
(``sample_tasks``). A task takes effect from the next step; the samplers set it before
``reset``.
""",
        Physics=_CHEETAH_PHYSICS,
        Deviations_from_TASKS_md=_CHEETAH_DEVIATIONS,
        Arguments="``direction``: the initial task's direction, +1 unless given.\n"
        + _CHEETAH_ARGUMENTS,
    )

    def __init__(
        self,
        direction: int = 1,
        frame_skip: int = CHEETAH_FRAME_SKIP,
        timestep: float | None = None,
        qpos_noise_scale: float = QPOS_NOISE_SCALE,
        qvel_noise_scale: float = QVEL_NOISE_SCALE,
        **kwargs: Any,
    ) -> None:
        ezpickle = {
            "direction": direction, "frame_skip": frame_skip, "timestep": timestep,
            "qpos_noise_scale": qpos_noise_scale, "qvel_noise_scale": qvel_noise_scale,
        }  # fmt: skip
        super().__init__(
            DirectionTask(direction=direction),
            frame_skip, timestep, qpos_noise_scale, qvel_noise_scale, ezpickle, **kwargs,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Ant


class _AntEnv(_LocomotionEnv):
    """Ant observation, costs and termination."""

    _xml_file = ANT_XML
    _needs_contact_forces = True

    def __init__(
        self,
        task: Task,
        frame_skip: int,
        timestep: float | None,
        qpos_noise_scale: float,
        qvel_noise_scale: float,
        ezpickle_kwargs: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("default_camera_config", {"distance": 4.0})  # Gymnasium's
        super().__init__(
            task, frame_skip, timestep, qpos_noise_scale, qvel_noise_scale, ezpickle_kwargs, **kwargs
        )

    @property
    def contact_forces(self) -> NDArray[np.float64]:
        """``clip(cfrc_ext, -1, 1)`` of every body (world included): shape ``(14, 6)``."""
        return np.clip(self.data.cfrc_ext, -1.0, 1.0)

    def observation_from(
        self,
        qpos: NDArray[np.float64],
        qvel: NDArray[np.float64],
        com: NDArray[np.float64],
        torso_xmat: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        """``qpos``, ``qvel``, ``clip(cfrc_ext, -1, 1)`` flattened, the torso's ``xmat`` and the
        centre of mass; see ``_LocomotionEnv.observation_from``."""
        assert cfrc_ext is not None
        contact = np.clip(cfrc_ext, -1.0, 1.0).reshape(*cfrc_ext.shape[:-2], -1)
        return np.concatenate([qpos, qvel, contact, torso_xmat, com], axis=-1)

    def reward_from(
        self,
        forward: NDArray[np.float64],
        action: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
        """``forward - costs + 0.05``; see ``_LocomotionEnv.reward_from``."""
        assert cfrc_ext is not None
        ctrl_cost = ANT_CTRL_COST * np.sum(np.square(self._normalized_action(action)), axis=-1)
        contact = np.square(np.clip(cfrc_ext, -1.0, 1.0))
        contact_cost = ANT_CONTACT_COST * np.sum(contact, axis=(-2, -1))
        reward = forward - ctrl_cost - contact_cost + ANT_SURVIVE_REWARD
        terms = {
            "reward_forward": forward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
            "reward_survive": np.full(np.shape(forward), ANT_SURVIVE_REWARD),
        }
        return reward, terms

    def healthy_from(
        self, qpos: NDArray[np.float64], qvel: NDArray[np.float64], unstable: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """A finite state with the torso height ``qpos[2]`` in ``[0.2, 1.0]``, and no MuJoCo
        instability warning in the step (MuJoCo resets a non-finite state rather than keep it)."""
        low, high = ANT_HEALTHY_Z
        finite = np.isfinite(qpos).all(axis=-1) & np.isfinite(qvel).all(axis=-1)
        height = qpos[..., 2]
        return ~unstable & finite & (low <= height) & (height <= high)

    def info_from(
        self, com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]]:
        """Position and velocity of the centre of mass in the plane."""
        return {
            "x_position": com[..., 0],
            "y_position": com[..., 1],
            "x_velocity": velocity[..., 0],
            "y_velocity": velocity[..., 1],
        }

    def reset_info_from(self, com: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Position of the centre of mass in the plane."""
        return {"x_position": com[..., 0], "y_position": com[..., 1]}


class AntVelEnv(_VelocityTasks, _AntEnv):
    __doc__ = _doc(
        Description="""
Ant goal velocity (MAML paper, section 5.3; ``MetaRL/AntVel-v0``): the quadruped must walk forward
at a target velocity that it does not observe; each task is one target velocity.
""",
        Action_Space=_ANT_ACTION,
        Observation_Space=_ANT_OBSERVATION,
        Rewards="""
``-|v_x - v_goal| + 1.0 - costs + 0.05``, with ``v_x`` the x velocity of the torso sub-tree's
centre of mass after the step (``data.subtree_linvel[torso][0]``, not a finite difference).
"""
        + _ANT_COSTS,
        Starting_State=_ANT_STARTING_STATE,
        Episode_End=_ANT_EPISODE_END,
        Tasks="""
``GoalVelocityTask(velocity=v_goal)`` with ``v_goal ~ U[0, 3]`` (``sample_tasks``); ``set_task``
accepts any velocity. A task takes effect from the next step; the samplers set it before
``reset``.
""",
        Physics=_ANT_PHYSICS,
        Deviations_from_TASKS_md=_ANT_DEVIATIONS,
        Arguments="``goal_velocity``: the initial task's target velocity, 1.5 unless given.\n"
        + _ANT_ARGUMENTS,
    )

    def __init__(
        self,
        goal_velocity: float = 1.5,
        frame_skip: int = ANT_FRAME_SKIP,
        timestep: float | None = None,
        qpos_noise_scale: float = QPOS_NOISE_SCALE,
        qvel_noise_scale: float = QVEL_NOISE_SCALE,
        **kwargs: Any,
    ) -> None:
        ezpickle = {
            "goal_velocity": goal_velocity, "frame_skip": frame_skip, "timestep": timestep,
            "qpos_noise_scale": qpos_noise_scale, "qvel_noise_scale": qvel_noise_scale,
        }  # fmt: skip
        super().__init__(
            GoalVelocityTask(velocity=float(goal_velocity)),
            frame_skip, timestep, qpos_noise_scale, qvel_noise_scale, ezpickle, **kwargs,
        )  # fmt: skip

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[GoalVelocityTask]:
        """Draws ``n`` target velocities uniformly from ``[0, 3]`` with ``rng``."""
        return _sample_velocities(n, rng, *ANT_VEL_RANGE)

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``-|v_x - v_goal| + 1.0``."""
        return -np.abs(velocity[..., 0] - task_values[..., 0]) + ANT_VEL_BONUS


class AntDirEnv(_DirectionTasks, _AntEnv):
    __doc__ = _doc(
        Description="""
Ant direction (MAML paper, section 5.3; ``MetaRL/AntDir-v0``): the quadruped must walk as fast as
it can forward or backward along x; each task is one direction, which it does not observe. The
paper trains it with 40 episodes per task (the ``ant-dir`` preset).
""",
        Action_Space=_ANT_ACTION,
        Observation_Space=_ANT_OBSERVATION,
        Rewards="""
``d * v_x - costs + 0.05`` (no +1.0 bonus), with ``v_x`` the x velocity of the torso sub-tree's
centre of mass after the step (``data.subtree_linvel[torso][0]``, not a finite difference).
"""
        + _ANT_COSTS,
        Starting_State=_ANT_STARTING_STATE,
        Episode_End=_ANT_EPISODE_END,
        Tasks="""
``DirectionTask(direction=d)`` with ``d = +1`` or ``-1``, each with probability 0.5
(``sample_tasks``). A task takes effect from the next step; the samplers set it before
``reset``.
""",
        Physics=_ANT_PHYSICS,
        Deviations_from_TASKS_md=_ANT_DEVIATIONS,
        Arguments="``direction``: the initial task's direction, +1 unless given.\n" + _ANT_ARGUMENTS,
    )

    def __init__(
        self,
        direction: int = 1,
        frame_skip: int = ANT_FRAME_SKIP,
        timestep: float | None = None,
        qpos_noise_scale: float = QPOS_NOISE_SCALE,
        qvel_noise_scale: float = QVEL_NOISE_SCALE,
        **kwargs: Any,
    ) -> None:
        ezpickle = {
            "direction": direction, "frame_skip": frame_skip, "timestep": timestep,
            "qpos_noise_scale": qpos_noise_scale, "qvel_noise_scale": qvel_noise_scale,
        }  # fmt: skip
        super().__init__(
            DirectionTask(direction=direction),
            frame_skip, timestep, qpos_noise_scale, qvel_noise_scale, ezpickle, **kwargs,
        )  # fmt: skip


class AntGoalEnv(_AntEnv):
    __doc__ = _doc(
        Description="""
Ant goal position (``MetaRL/AntGoal-v0``; in the code published with the MAML paper, not in its
figures): the quadruped must walk to a goal position in the plane that it does not observe; each
task is one goal.
""",
        Action_Space=_ANT_ACTION,
        Observation_Space=_ANT_OBSERVATION,
        Rewards="""
``-||com_xy - g||_1 + 4.0 - costs + 0.05``, with ``com_xy`` the x and y of the torso sub-tree's
centre of mass after the step (``data.subtree_com[torso][:2]``).
"""
        + _ANT_COSTS,
        Starting_State=_ANT_STARTING_STATE,
        Episode_End=_ANT_EPISODE_END,
        Tasks="""
``GoalPositionTask(goal=(gx, gy))`` with ``g ~ U([-3, 3]^2)`` (``sample_tasks``). A task takes
effect from the next step; the samplers set it before ``reset``.
""",
        Physics=_ANT_PHYSICS,
        Deviations_from_TASKS_md=_ANT_DEVIATIONS,
        Arguments="``goal``: the initial task's goal, ``(1.0, 1.0)`` unless given.\n" + _ANT_ARGUMENTS,
    )

    _task_type = GoalPositionTask

    def __init__(
        self,
        goal: Sequence[float] = (1.0, 1.0),
        frame_skip: int = ANT_FRAME_SKIP,
        timestep: float | None = None,
        qpos_noise_scale: float = QPOS_NOISE_SCALE,
        qvel_noise_scale: float = QVEL_NOISE_SCALE,
        **kwargs: Any,
    ) -> None:
        task = GoalPositionTask(goal=(float(goal[0]), float(goal[1])))
        ezpickle = {
            "goal": task.goal, "frame_skip": frame_skip, "timestep": timestep,
            "qpos_noise_scale": qpos_noise_scale, "qvel_noise_scale": qvel_noise_scale,
        }  # fmt: skip
        super().__init__(
            task, frame_skip, timestep, qpos_noise_scale, qvel_noise_scale, ezpickle, **kwargs
        )

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[GoalPositionTask]:
        """Draws ``n`` goals uniformly from ``[-3, 3]^2`` with ``rng``."""
        return _sample_goals(n, rng)

    def _task_kwargs(self, task: GoalPositionTask) -> dict[str, Any]:
        return {"goal": task.goal}

    @classmethod
    def task_values(cls, task: GoalPositionTask) -> NDArray[np.float64]:
        """``[gx, gy]``."""
        return np.array(task.goal)

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``-||com_xy - g||_1 + 4.0``."""
        return -np.sum(np.abs(com[..., :2] - task_values), axis=-1) + ANT_GOAL_BONUS
