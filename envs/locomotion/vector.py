"""Batched MuJoCo locomotion families: every sub-env of a meta-batch stepped in one native call.

The registered ``vector_entry_point`` of the five families of ``envs.locomotion``
(``MetaRL/HalfCheetahVel-v0``, ``HalfCheetahDir-v0``, ``AntVel-v0``, ``AntDir-v0``, ``AntGoal-v0``).
A ``SyncVectorEnv`` of the plain env pays Gymnasium's per-env ``step`` (wrappers, checks, info
dicts, a Python call into MuJoCo per sub-env and per derived quantity) several times over the cost
of the physics. Here one env step of all sub-envs is:

* one call into the simulation back end (``envs.locomotion.simulation``): with ``mujoco.batch``
  (MuJoCo 4), one native call that steps every sub-env on a thread pool with the GIL released and
  computes, at the state after the step, the quantities that the observation and reward read;
* a few NumPy operations on those arrays: the plain env's own array formulas
  (``observation_from``, ``forward_reward``, ``reward_from``, ``healthy_from``, ``info_from``,
  ``reset_state_from``) called once with a leading ``(num_envs,)`` axis instead of once per
  sub-env.

The vector env holds one plain env of the family (the *template*, built with the same constructor
arguments) and reads it through its public API only (``envs.locomotion.base.LocomotionEnv``).

Equivalence. For the same tasks, seeds and actions the observations, rewards, ``terminated``,
``truncated`` and ``info`` are *bit-identical* to those of ``gym.make_vec(..., "sync")`` (the tests
compare with ``assert_array_equal``): the physics is the same sequence of MuJoCo calls from the
same integration state (see ``envs.locomotion.simulation``, which also undoes the one place where
``mujoco.batch`` would differ, its extra state checks), the derived quantities come from the same
MuJoCo functions, and the formulas are the plain env's, whose row-wise NumPy reductions sum in the
same order as the plain env's single-row ones. Reset noise is drawn from one ``np_random`` per
sub-env, seeded as ``reset(seed=...)`` seeds a ``SyncVectorEnv``'s sub-envs, in the plain env's
order (positions, then velocities). Episodes end as under Gymnasium's ``TimeLimit`` (``truncated``
once ``max_episode_steps`` steps have run, ``terminated`` possibly as well), and a finished sub-env
is reset at its next step (``AutoresetMode.NEXT_STEP``): that step returns the reset observation,
reward 0 and neither flag.
"""

from __future__ import annotations

from typing import Any, Sequence

import mujoco
import numpy as np
from gymnasium.spaces import Box
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from envs.locomotion.ant import AntDirEnv, AntGoalEnv, AntVelEnv
from envs.locomotion.base import LocomotionEnv
from envs.locomotion.half_cheetah import HalfCheetahDirEnv, HalfCheetahVelEnv
from envs.locomotion.simulation import (
    BACKENDS,
    BatchSimulation,
    LoopSimulation,
    Simulation,
    batch_available,
    default_thread_count,
)
from envs.tasks import Task


class LocomotionVectorEnv(VectorEnv):
    """All sub-envs of a meta-batch of one locomotion family, stepped together.

    Subclasses name the plain env class in ``env_class``; see the module docstring for how a step
    runs and why its transitions equal a ``SyncVectorEnv`` of the plain env's, bit for bit. Each
    sub-env has its own task (``set_tasks(tasks)``, one per sub-env) and its own reset-noise
    generator. Rendering is not offered: render through the plain env.

    Args:
        num_envs: Number of sub-environments.
        max_episode_steps: Steps after which an episode is truncated (``gym.make_vec`` passes the
            registration's 200); ``None``: never.
        nthread: Threads that step the batch, the caller's included; ``None``: every CPU this
            process may use.
        backend: ``"batch"`` (``mujoco.batch``, MuJoCo 4+), ``"loop"`` (a Python loop over one
            ``MjData`` per sub-env, any MuJoCo) or ``"auto"`` (the first that this MuJoCo has).
        **kwargs: The plain env's constructor arguments (the initial task of every sub-env,
            ``frame_skip``, ``timestep``, noise scales, reward weights, ...), checked by building
            one plain env.
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    env_class: type[LocomotionEnv]

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int | None = None,
        nthread: int | None = None,
        backend: str = "auto",
        **kwargs: Any,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be positive or None, got {max_episode_steps}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if kwargs.get("render_mode") is not None:
            raise ValueError(
                f"{type(self).__name__} does not render; make the plain env "
                "(vectorization_mode='sync') to render"
            )
        has_batch = batch_available()
        if backend == "batch" and not has_batch:
            raise ValueError(f"backend 'batch' needs mujoco.batch (MuJoCo 4+), found {mujoco.__version__}")
        # One plain env: it checks the arguments, and lends its model, spaces and formulas.
        self._template = self.env_class(**kwargs)
        template = self._template
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.single_observation_space: Box = template.observation_space
        self.single_action_space: Box = template.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._frame_skip = int(template.frame_skip)
        self._nq, self._nv = template.model.nq, template.model.nv
        self.nthread = default_thread_count() if nthread is None else int(nthread)
        if self.nthread < 1:
            raise ValueError(f"nthread must be positive, got {nthread}")
        self.backend = "batch" if backend == "batch" or (backend == "auto" and has_batch) else "loop"
        if self.backend == "batch":
            self._sim: Simulation = BatchSimulation(template, num_envs, self.nthread)
        else:
            self._sim = LoopSimulation(template, num_envs)
        self._tasks: list[Task] = [template.get_task()] * num_envs
        self._task_values = np.tile(self.env_class.task_values(template.get_task()), (num_envs, 1))
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._elapsed = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._no_action = np.zeros((num_envs, template.model.nu))
        self._started = False

    # Task API ----------------------------------------------------------------------------

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[Task]:
        """Draws ``n`` tasks from the family's distribution with ``rng`` (the plain env's)."""
        return self._template.sample_tasks(n, rng)

    def set_tasks(self, tasks: Sequence[Task]) -> None:
        """Sets one task per sub-env; each takes effect from its next step, as ``set_task``."""
        if len(tasks) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} tasks, got {len(tasks)}")
        checked = [self.env_class.check_task(task) for task in tasks]
        self._task_values = np.stack([self.env_class.task_values(task) for task in checked])
        self._tasks = checked

    def get_tasks(self) -> list[Task]:
        """Returns the task of every sub-env."""
        return list(self._tasks)

    # Gymnasium API -----------------------------------------------------------------------

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[NDArray[np.float64], dict[str, Any]]:
        """Resets the sub-envs, as ``SyncVectorEnv.reset`` resets plain envs.

        Args:
            seed: ``None`` (fresh generators where a sub-env has none), an int ``s`` (sub-env
                ``i`` gets ``s + i``) or one seed (or ``None``) per sub-env.
            options: ``{"reset_mask": bool array}`` resets only those sub-envs; nothing else is
                read (the plain env reads no options either).

        Returns:
            The observations of all sub-envs and the reset infos (``x_position``, and for the Ant
            ``y_position``, with ``_key`` masks).
        """
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(n)]
            super().reset(seed=int(seed))  # the vector env's own np_random, as Gymnasium's
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"expected {n} seeds, got {len(seeds)}")
        mask = np.ones(n, dtype=bool)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.shape != (n,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({n},) with a True")
        for i in np.flatnonzero(mask):
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(seeds[i])
        nothing = np.zeros(n, dtype=bool)
        self._sim.advance(mask, *self._reset_noise(mask), nothing, self._no_action, self._frame_skip)
        self._elapsed[mask] = 0
        self._needs_reset[mask] = False
        self._started = True
        infos: dict[str, Any] = {}
        for key, value in self._template.reset_info_from(self._sim.com).items():
            infos[key] = np.where(mask, value, 0.0)
            infos[f"_{key}"] = mask.copy()
        return self._observations(), infos

    def step(self, actions: NDArray[np.floating]) -> tuple[
        NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_], dict[str, Any]
    ]:
        """Steps every sub-env once; those whose episode ended at the last step are reset instead.

        Args:
            actions: ``(num_envs, action_dim)``; clipped to the action box as the plain env does.

        Returns:
            Observations ``(num_envs, obs_dim)``, rewards, ``terminated``, ``truncated`` and the
            infos of a ``SyncVectorEnv`` of the plain env (each key with its ``_key`` mask).
        """
        if not self._started:
            raise RuntimeError("reset the env before stepping it")
        template, sim = self._template, self._sim
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != self.action_space.shape:
            raise ValueError(f"expected actions of shape {self.action_space.shape}, got {actions.shape}")
        action = np.clip(actions, self.single_action_space.low, self.single_action_space.high)
        resetting = self._needs_reset
        stepping = ~resetting
        qpos, qvel = self._reset_noise(resetting)
        unstable = sim.advance(resetting, qpos, qvel, stepping, action, self._frame_skip)

        forward = template.forward_reward(self._task_values, sim.com, sim.velocity)
        reward, terms = template.reward_from(forward, action, sim.cfrc_ext)
        healthy = template.healthy_from(sim.qpos, sim.qvel, unstable)
        self._elapsed = np.where(resetting, 0, self._elapsed + 1)
        terminated = stepping & ~healthy
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            # TimeLimit's rule: truncated at the limit, whether or not also terminated.
            truncated = stepping & (self._elapsed >= self.max_episode_steps)
        self._needs_reset = terminated | truncated
        rewards = np.where(stepping, reward, 0.0)

        infos: dict[str, Any] = {}
        any_reset = resetting.any()
        if stepping.any():
            step_info = {**template.info_from(sim.com, sim.velocity), **terms, "unstable": unstable}
            for key, value in step_info.items():
                # Fresh arrays (the values may view the simulation's, which the next step changes).
                infos[key] = (
                    np.where(stepping, value, np.zeros((), dtype=np.asarray(value).dtype))
                    if any_reset
                    else np.array(value)
                )
                infos[f"_{key}"] = stepping.copy()
        if any_reset:
            for key, value in template.reset_info_from(sim.com).items():
                infos[key] = np.where(resetting, value, infos.get(key, 0.0))
                infos[f"_{key}"] = infos.get(f"_{key}", False) | resetting
        return self._observations(), rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        """Frees the simulation and the template env."""
        self._sim.close()
        self._template.close()

    # Internals ---------------------------------------------------------------------------

    def _observations(self) -> NDArray[np.float64]:
        sim = self._sim
        return self._template.observation_from(sim.qpos, sim.qvel, sim.com, sim.torso_xmat, sim.cfrc_ext)

    def _reset_noise(self, mask: NDArray[np.bool_]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The reset states of the sub-envs in ``mask``, drawn from their own generators."""
        if not mask.any():
            return np.empty((0, self._nq)), np.empty((0, self._nv))
        ids = np.flatnonzero(mask)
        qpos_noise = np.empty((len(ids), self._nq))
        qvel_noise = np.empty((len(ids), self._nv))
        for k, i in enumerate(ids):
            rng = self._rngs[i]
            assert rng is not None
            # The plain env's order of draws: positions, then velocities.
            qpos_noise[k] = rng.standard_normal(self._nq)
            qvel_noise[k] = rng.standard_normal(self._nv)
        return self._template.reset_state_from(qpos_noise, qvel_noise)


class HalfCheetahVelVectorEnv(LocomotionVectorEnv):
    """``MetaRL/HalfCheetahVel-v0`` batched: :class:`~envs.locomotion.HalfCheetahVelEnv` sub-envs.

    See :class:`LocomotionVectorEnv` for the arguments and the module docstring for the design.
    """

    env_class = HalfCheetahVelEnv


class HalfCheetahDirVectorEnv(LocomotionVectorEnv):
    """``MetaRL/HalfCheetahDir-v0`` batched: :class:`~envs.locomotion.HalfCheetahDirEnv` sub-envs.

    See :class:`LocomotionVectorEnv` for the arguments and the module docstring for the design.
    """

    env_class = HalfCheetahDirEnv


class AntVelVectorEnv(LocomotionVectorEnv):
    """``MetaRL/AntVel-v0`` batched: :class:`~envs.locomotion.AntVelEnv` sub-envs.

    See :class:`LocomotionVectorEnv` for the arguments and the module docstring for the design.
    """

    env_class = AntVelEnv


class AntDirVectorEnv(LocomotionVectorEnv):
    """``MetaRL/AntDir-v0`` batched: :class:`~envs.locomotion.AntDirEnv` sub-envs.

    See :class:`LocomotionVectorEnv` for the arguments and the module docstring for the design.
    """

    env_class = AntDirEnv


class AntGoalVectorEnv(LocomotionVectorEnv):
    """``MetaRL/AntGoal-v0`` batched: :class:`~envs.locomotion.AntGoalEnv` sub-envs.

    See :class:`LocomotionVectorEnv` for the arguments and the module docstring for the design.
    """

    env_class = AntGoalEnv
