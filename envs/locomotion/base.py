"""What the locomotion families share: ``LocomotionEnv``, the MuJoCo env under all five.

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

About 400 lines, half of them documentation: the base documents the array formulas that the
batched vector env (``envs.locomotion.vector``) shares with the plain env.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import mujoco
import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.spaces import Box
from numpy.typing import NDArray

from envs.tasks import Task

# MuJoCo never leaves a non-finite state behind mj_step: it warns and resets the data instead.
INSTABILITY_WARNINGS: tuple[mujoco.mjtWarning, ...] = (
    mujoco.mjtWarning.mjWARN_BADQPOS,
    mujoco.mjtWarning.mjWARN_BADQVEL,
    mujoco.mjtWarning.mjWARN_BADQACC,
)

_RENDER_MODES = ["human", "rgb_array", "depth_array", "rgbd_tuple"]


def compile_spec(spec: mujoco.MjSpec) -> mujoco.MjModel:
    """Compiles ``spec`` to the model MuJoCo compiles from it, minus the ``settotalmass`` warning.

    Gymnasium's ``half_cheetah.xml`` sets ``<compiler settotalmass="14">``, which recent MuJoCo (4.0
    here) compiles with a deprecation warning on stderr and in ``MUJOCO_LOG.TXT`` in the working
    directory: once per env, so hundreds of times per meta-batch. The same model comes from
    compiling without the attribute and then applying what it did, as the warning advises:
    ``mj_setTotalmass`` and ``mj_setConst``, plus the two statistics the compiler derives from
    the masses (``meanmass``, and ``meaninertia``, which scales solver tolerances). A spec without
    the attribute is compiled as it is. ``envs.locomotion.simulation`` compiles its models (the
    same XML plus sensors) through here too, so that their physics is the plain env's.

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


def float_pair(value: Sequence[float], name: str) -> tuple[float, float]:
    """``value`` as a tuple of two floats, such as a range ``(low, high)``.

    Raises:
        ValueError: If ``value`` does not hold two numbers; the message names ``name``.
    """
    if len(value) != 2:
        raise ValueError(f"{name} must be two numbers, got {value!r}")
    return float(value[0]), float(value[1])


class LocomotionEnv(MujocoEnv, utils.EzPickle):
    """The base of the locomotion families: step pipeline, reset noise, termination bookkeeping.

    A family is a task mixin (``envs.locomotion.tasks``) and a robot base class
    (``HalfCheetahBaseEnv``, ``AntBaseEnv``) that subclasses this one; the family class only sets
    class-level defaults and its reward term. The layers:

    * The robot sets ``xml_file`` and ``needs_contact_forces``, has the one constructor (its
      settings: physics step, reset noise, reward weights, passed on as ``robot_settings``), and
      defines the array formulas ``observation_from``, ``reward_from``, ``healthy_from``,
      ``info_from`` and ``reset_info_from``.
    * The task mixin (or the family itself, as ``AntGoalEnv``) sets ``task_type`` and
      ``task_argument`` (the constructor keyword of the initial task, such as ``goal_velocity``)
      and defines ``sample_tasks``, ``task_values``, ``task_from_argument`` and
      ``task_argument_of``.
    * The family sets ``default_task`` and the defaults of its ``task_settings`` (further
      constructor keywords, such as ``velocity_range``: a class attribute of that name holds the
      default, and the constructor sets an instance attribute when given one), and defines
      ``forward_reward``.

    The array formulas take arrays with any leading batch shape and read no ``MjData``: the plain
    env calls them on one state, ``envs.locomotion.vector`` on all sub-envs at once, so that both
    compute every number with the same NumPy operations. The vector env reads the plain env
    through the public names here only.

    Args:
        frame_skip: Physics steps per env step.
        timestep: The physics timestep; ``None``: the XML's.
        qpos_noise_scale: Standard deviation of the reset noise on ``qpos``.
        qvel_noise_scale: Standard deviation of the reset noise on ``qvel``.
        robot_settings: The robot constructor's own arguments, already set as attributes, kept
            so that a pickled copy is rebuilt with them.
        **kwargs: The family's ``task_argument`` and ``task_settings``, each defaulting to the
            class's; the rest go to ``MujocoEnv``.
    """

    metadata: dict[str, Any] = {"render_modes": _RENDER_MODES}
    xml_file: ClassVar[str]
    needs_contact_forces: ClassVar[bool] = False  # only the Ant reads cfrc_ext
    task_type: ClassVar[type[Task]]
    task_argument: ClassVar[str]
    default_task: ClassVar[Task]
    task_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        frame_skip: int,
        timestep: float | None,
        qpos_noise_scale: float,
        qvel_noise_scale: float,
        robot_settings: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        task = self.default_task
        if self.task_argument in kwargs:
            task = self.task_from_argument(kwargs.pop(self.task_argument))
        settings: dict[str, Any] = {}
        for name in self.task_settings:
            if name in kwargs:
                # The class default says the kind: a tuple is a range (low, high), else a number.
                value, default = kwargs.pop(name), getattr(type(self), name)
                setattr(self, name, float_pair(value, name) if isinstance(default, tuple) else float(value))
            settings[name] = getattr(self, name)
        kwargs.setdefault("default_camera_config", {"distance": 4.0})  # Gymnasium's, both robots
        if kwargs.get("camera_id") is None and kwargs.get("camera_name") is None:
            # The models' "track" camera follows the centre of mass from the side; Gymnasium's
            # default free camera stays put while a running robot leaves the picture.
            kwargs["camera_name"] = "track"
        utils.EzPickle.__init__(
            self, **{self.task_argument: self.task_argument_of(task)}, frame_skip=frame_skip,
            timestep=timestep, qpos_noise_scale=qpos_noise_scale, qvel_noise_scale=qvel_noise_scale,
            **robot_settings, **settings, **kwargs,
        )  # fmt: skip
        if frame_skip < 1:
            raise ValueError(f"frame_skip must be at least 1, got {frame_skip}")
        if timestep is not None and not timestep > 0:
            raise ValueError(f"timestep must be positive, got {timestep}")
        self._timestep = None if timestep is None else float(timestep)
        self._task = self.check_task(task)
        self._task_values = self.task_values(self._task)
        self._qpos_noise_scale = float(qpos_noise_scale)
        self._qvel_noise_scale = float(qvel_noise_scale)
        self._unstable = False
        MujocoEnv.__init__(self, self.xml_file, frame_skip, observation_space=None, **kwargs)
        self.configure_model(self.model)
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
        self._task = self.check_task(task)
        self._task_values = self.task_values(self._task)
        # EzPickle rebuilds the env from its constructor arguments: keep those on the current
        # task so that a pickled copy comes back with it.
        self._ezpickle_kwargs[self.task_argument] = self.task_argument_of(self._task)

    def get_task(self) -> Any:
        """Returns the current task."""
        return self._task

    @classmethod
    def check_task(cls, task: Any) -> Any:
        """Returns ``task`` if it is a task of this family (a ``task_type``).

        Raises:
            TypeError: If it is not, naming both types.
        """
        if not isinstance(task, cls.task_type):
            raise TypeError(f"expected a {cls.task_type.__name__}, got {type(task).__name__}")
        return task

    @classmethod
    def task_values(cls, task: Any) -> NDArray[np.float64]:
        """The task's parameters as the float vector that ``forward_reward`` reads."""
        raise NotImplementedError

    @classmethod
    def task_from_argument(cls, value: Any) -> Task:
        """The task that the constructor argument ``task_argument=value`` sets."""
        raise NotImplementedError

    @classmethod
    def task_argument_of(cls, task: Any) -> Any:
        """The value of the constructor argument ``task_argument`` that gives ``task``."""
        raise NotImplementedError

    # Physics -----------------------------------------------------------------------------

    @property
    def torso_id(self) -> int:
        """The torso's body id: its sub-tree is the whole robot."""
        return self._torso_id

    @property
    def qpos_noise_scale(self) -> float:
        """Standard deviation of the reset noise on each ``qpos`` coordinate."""
        return self._qpos_noise_scale

    @property
    def qvel_noise_scale(self) -> float:
        """Standard deviation of the reset noise on each ``qvel`` coordinate."""
        return self._qvel_noise_scale

    def configure_model(self, model: mujoco.MjModel) -> None:
        """Applies the constructor's physics settings to a model compiled from ``xml_file``.

        The plain env applies them to its own model after compiling it, and
        ``envs.locomotion.simulation`` to the model it compiles for the batched sub-envs, so both
        simulate the same physics. Here: ``timestep``. A robot with settings of its own extends it.

        Args:
            model: A model compiled from ``xml_file`` (sensors may have been added); changed in
                place.
        """
        if self._timestep is not None:
            model.opt.timestep = self._timestep

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
        if self.needs_contact_forces:
            mujoco.mj_rnePostConstraint(self.model, self.data)
        mujoco.mj_subtreeVel(self.model, self.data)

    def _step_mujoco_simulation(self, ctrl: NDArray[np.float64], n_frames: int) -> None:
        # Replaces MujocoEnv's version (mj_step, then mj_rnePostConstraint on stale kinematics).
        for warning in INSTABILITY_WARNINGS:
            self.data.warning[warning].number = 0
        self.data.ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data, nstep=n_frames)
        self._unstable = any(self.data.warning[w].number > 0 for w in INSTABILITY_WARNINGS)
        self._compute_derived()

    def set_state(self, qpos: NDArray[np.float64], qvel: NDArray[np.float64]) -> None:
        """Sets ``qpos`` and ``qvel`` and recomputes everything the observation reads."""
        super().set_state(qpos, qvel)
        self._unstable = False
        self._compute_derived()

    def reset_model(self) -> NDArray[np.float64]:
        """Sets ``init_qpos + N(0, s_q^2)``, ``init_qvel + N(0, s_v^2)`` from ``np_random``."""
        # Positions first, then velocities: the vector env draws in the same order.
        qpos_noise = self.np_random.standard_normal(self.model.nq)
        qvel_noise = self.np_random.standard_normal(self.model.nv)
        self.set_state(*self.reset_state_from(qpos_noise, qvel_noise))
        return self._observation()

    def reset_state_from(
        self, qpos_noise: NDArray[np.float64], qvel_noise: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The reset state ``(qpos, qvel)`` from standard normal ``(..., nq)``, ``(..., nv)`` noise."""
        qpos = self.init_qpos + self._qpos_noise_scale * qpos_noise
        qvel = self.init_qvel + self._qvel_noise_scale * qvel_noise
        return qpos, qvel

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

    # Array formulas (robot- and family-specific) ------------------------------------------
    # Leading batch dimensions: none in this env, (num_envs,) in envs.locomotion.vector.

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
