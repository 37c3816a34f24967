"""Batched MuJoCo locomotion families: every sub-env of a meta-batch stepped in one native call.

The registered ``vector_entry_point`` of the five families of ``envs.locomotion``
(``MetaRL/HalfCheetahVel-v0``, ``HalfCheetahDir-v0``, ``AntVel-v0``, ``AntDir-v0``, ``AntGoal-v0``).
A ``SyncVectorEnv`` of the plain env pays Gymnasium's per-env ``step`` (wrappers, checks, info
dicts, a Python call into MuJoCo per sub-env and per derived quantity) several times over the cost
of the physics. Here one env step of all sub-envs is:

* one ``mujoco.batch.Batch.step`` call (MuJoCo 4): the sub-envs' states are stepped on a
  native thread pool with the GIL released, and the quantities the observation and reward need
  are computed in the same call, at the state after the step, and copied into NumPy arrays that
  stay bound between calls (``subtree_com``, ``subtree_linvel``, ``xmat`` and, for the Ant,
  ``cfrc_ext``);
* a few NumPy operations on those arrays: the plain env's own array formulas
  (``observation_from``, ``forward_reward``, ``reward_from``, ``healthy_from``, ``info_from``)
  called once with a leading ``(num_envs,)`` axis instead of once per sub-env.

Two quantities are computed by MuJoCo only on demand, outside ``mj_forward``:
``subtree_linvel`` (``mj_subtreeVel``) and ``cfrc_ext`` (``mj_rnePostConstraint``), which the plain
env calls itself after each step. The batched model is the same XML with two sensors added that
make ``mj_forward`` call exactly those functions (a ``subtreelinvel`` sensor on the torso, and, for
the Ant, a ``framelinacc`` sensor on the torso, whose presence triggers ``mj_rnePostConstraint``).
Sensors and the functions they trigger write only derived quantities (``sensordata``,
``subtree_linvel``, ``cacc``, ``cfrc_int``, ``cfrc_ext``), never the state; the compiled model's
physics arrays equal the plain env's (a test checks). ``cfrc_ext`` has no sensor of its own; it is read from the bound
field, which the batch copies out after the call that computed it.

Why ``mujoco.batch`` and not ``mujoco.rollout``: a rollout starts from the states it is given and
records, after each physics step, the state and the sensors that ``mj_step`` computed *before*
integrating, so the post-step quantities the observation needs would take another pass per
sub-env, and the whole state would travel in and out of every call. A persistent batch keeps each
sub-env's ``MjData`` between calls and computes the post-step stages inside the same native call.

What runs after the physics steps of an env step mirrors the plain env:

* HalfCheetah reads positions and velocities only, so the batch computes the position and velocity
  stages at the new state (``mjSTAGE_VEL``); the batch is persistent (one ``MjData`` per
  sub-env), so the next step continues from those stages and they cost nothing extra.
* The Ant's contact forces depend on the constraint solution at the new state, so the batch runs
  ``mj_forward`` there (``mjSTAGE_ACC``), as the plain env does: one more evaluation of the
  dynamics besides the eight of two RK4 steps. Its batch keeps one ``MjData`` per thread.

Equivalence. For the same tasks, seeds and actions the observations, rewards, ``terminated``,
``truncated`` and ``info`` are *bit-identical* to those of ``gym.make_vec(..., "sync")`` (the tests
compare with ``assert_array_equal``): the physics is the same sequence of MuJoCo calls from the
same integration state (``mujoco.batch`` documents its results as bit-identical to a loop over one
``MjData`` per simulation, at any thread count), the derived quantities come from the same MuJoCo
functions, and the formulas are the plain env's, whose row-wise NumPy reductions sum in the same
order as the plain env's single-row ones. One difference had to be undone: ``mujoco.batch`` checks
the state for non-finite or huge values whenever it computes stages (after a step, after a reset),
where the plain env's ``mj_forward`` does not, so on a diverging simulation it would reset the data
one step early. Such a check raises an instability warning counter, so the sub-envs whose counters
rose in a call are replayed from their state before the call exactly as the plain env runs them;
this costs a copy of the state rows per step, and a replay only where a simulation diverges. Reset
noise is drawn from one ``np_random`` per sub-env, seeded as ``reset(seed=...)`` seeds a
``SyncVectorEnv``'s sub-envs, in the plain env's order (positions, then velocities). Episodes end
as under Gymnasium's ``TimeLimit`` (``truncated`` once ``max_episode_steps`` steps have run,
``terminated`` possibly as well), and a finished sub-env is reset at its next step
(``AutoresetMode.NEXT_STEP``): that step returns the reset observation, reward 0 and neither flag.

MuJoCo without ``mujoco.batch`` (before 4.0) gets a fallback that steps one ``MjData`` per sub-env
in a Python loop, making the same MuJoCo calls as the plain env: same transitions, about the
plain env's speed less Gymnasium's wrappers.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import mujoco
import numpy as np
from gymnasium.spaces import Box
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from envs.locomotion import (
    _INSTABILITY_WARNINGS,
    AntDirEnv,
    AntGoalEnv,
    AntVelEnv,
    HalfCheetahDirEnv,
    HalfCheetahVelEnv,
    _check_task,
    _LocomotionEnv,
    compile_spec,
)
from envs.tasks import Task

try:  # MuJoCo 4.0 and later
    from mujoco import batch as _mj_batch
except ImportError:  # pragma: no cover - exercised only with an older MuJoCo
    _mj_batch = None  # type: ignore[assignment]

BACKENDS = ("auto", "batch", "loop")
_BAD_IDS = sorted(int(w) for w in _INSTABILITY_WARNINGS)
# A slice where the warnings are adjacent (they are: BADQPOS, BADQVEL, BADQACC): a view, not a
# fancy-index copy, on every step.
_BAD: slice | list[int] = (
    slice(_BAD_IDS[0], _BAD_IDS[-1] + 1) if _BAD_IDS == list(range(_BAD_IDS[0], _BAD_IDS[-1] + 1)) else _BAD_IDS
)


def default_thread_count() -> int:
    """The CPUs this process may run on (a container's share, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def batch_model(template: _LocomotionEnv) -> mujoco.MjModel:
    """The plain env's model plus the sensors that make ``mj_forward`` compute what it reads.

    Args:
        template: A plain env of the family, built with the same constructor arguments.

    Returns:
        A model whose physics arrays equal ``template.model``'s, with a ``subtreelinvel`` sensor
        on the torso (``mj_subtreeVel``) and, where the family reads contact forces, a
        ``framelinacc`` sensor on the torso (``mj_rnePostConstraint``).
    """
    spec = mujoco.MjSpec.from_file(template.fullpath)
    body = mujoco.mjtObj.mjOBJ_BODY
    spec.add_sensor(
        name="meta_rl_torso_subtreelinvel", type=mujoco.mjtSensor.mjSENS_SUBTREELINVEL,
        objtype=body, objname="torso",
    )  # fmt: skip
    if template._needs_contact_forces:
        spec.add_sensor(
            name="meta_rl_torso_linacc", type=mujoco.mjtSensor.mjSENS_FRAMELINACC,
            objtype=body, objname="torso",
        )  # fmt: skip
    model = compile_spec(spec)
    # The plain env's constructor may have changed the timestep after compiling (``timestep=``).
    model.opt.timestep = template.model.opt.timestep
    return model


class _Simulation:
    """The sub-envs' physics: state and derived quantities as ``(num_envs, ...)`` arrays.

    ``qpos``, ``qvel`` (``(n, nq)``, ``(n, nv)``), ``com``, ``velocity`` (``(n, 3)``, the torso
    sub-tree's centre of mass and its velocity), ``torso_xmat`` (``(n, 9)``) and ``cfrc_ext``
    (``(n, nbody, 6)``, or ``None`` where the family reads no contact forces) are of the state
    after the last ``advance``.

    Args:
        template: A plain env of the family (model, torso id, contact needs).
        model: The model to simulate; physics equal to ``template.model``'s.
        num_envs: Number of sub-envs.
    """

    def __init__(self, template: _LocomotionEnv, model: mujoco.MjModel, num_envs: int) -> None:
        self._model = model
        self._contact = template._needs_contact_forces
        self._torso = template._torso_id
        n = num_envs
        self.com = np.zeros((n, 3))
        self.velocity = np.zeros((n, 3))
        self.torso_xmat = np.zeros((n, 9))
        self.cfrc_ext: NDArray[np.float64] | None = np.zeros((n, model.nbody, 6)) if self._contact else None
        self.qpos: NDArray[np.float64]
        self.qvel: NDArray[np.float64]

    def advance(
        self,
        reset: NDArray[np.bool_],
        qpos: NDArray[np.float64],
        qvel: NDArray[np.float64],
        step: NDArray[np.bool_],
        ctrl: NDArray[np.float64],
        nstep: int,
    ) -> NDArray[np.bool_]:
        """Resets the sub-envs in ``reset`` and steps those in ``step`` (disjoint masks).

        Args:
            reset: Sub-envs to reset (``mj_resetData``, then the state rows of ``qpos``, ``qvel``).
            qpos: ``(reset.sum(), nq)`` positions of the reset sub-envs, in order.
            qvel: ``(reset.sum(), nv)`` velocities of the reset sub-envs, in order.
            step: Sub-envs to step by ``nstep`` physics steps under their rows of ``ctrl``.
            ctrl: ``(num_envs, nu)`` controls.
            nstep: Physics steps per env step (``frame_skip``).

        Returns:
            Per sub-env, whether MuJoCo met a non-finite state in its step (and reset the data),
            as the plain env's ``info["unstable"]``.
        """
        raise NotImplementedError

    def _plain_step(self, data: mujoco.MjData, ctrl: NDArray[np.float64], nstep: int) -> bool:
        """The plain env's ``_step_mujoco_simulation`` on ``data``; returns its ``unstable``."""
        for warning in _INSTABILITY_WARNINGS:
            data.warning[warning].number = 0
        data.ctrl[:] = ctrl
        mujoco.mj_step(self._model, data, nstep=nstep)
        return any(data.warning[w].number > 0 for w in _INSTABILITY_WARNINGS)

    def _plain_reset(self, data: mujoco.MjData, qpos: NDArray[np.float64], qvel: NDArray[np.float64]) -> None:
        """The plain env's ``reset``, noise given: ``mj_resetData``, then the state."""
        mujoco.mj_resetData(self._model, data)
        data.qpos[:], data.qvel[:] = qpos, qvel

    def _plain_derive(self, data: mujoco.MjData, i: int) -> None:
        """The plain env's ``_compute_derived`` on ``data``, written into row ``i``."""
        model = self._model
        mujoco.mj_forward(model, data)
        if self._contact:
            mujoco.mj_rnePostConstraint(model, data)
            self.cfrc_ext[i] = data.cfrc_ext  # type: ignore[index]
        mujoco.mj_subtreeVel(model, data)
        self.com[i] = data.subtree_com[self._torso]
        self.velocity[i] = data.subtree_linvel[self._torso]
        self.torso_xmat[i] = data.xmat[self._torso]

    def close(self) -> None:
        """Frees what the simulation holds."""


class _BatchSimulation(_Simulation):
    """All sub-envs in one ``mujoco.batch.Batch``: native threads, bound arrays.

    ``mujoco.batch`` checks the state for non-finite or huge values (``mj_checkPos``,
    ``mj_checkVel``, ``mj_checkAcc``) whenever it computes stages, also after a step and after a
    reset, where the plain env's ``mj_forward`` does not: on a diverging simulation it would reset
    the data one step earlier than the plain env. Every check that fires raises a warning counter,
    and only then do the two differ; so a sub-env whose instability counters rose in a call is
    replayed from its state row before the call, exactly as the plain env runs it, on one spare
    ``MjData``, and its state row and derived quantities are overwritten with the replay's. This
    happens only on diverging states.

    Args:
        template: A plain env of the family (model, torso id, contact needs).
        num_envs: Number of sub-envs.
        nthread: Threads of the batch's pool, the caller's included.
    """

    def __init__(self, template: _LocomotionEnv, num_envs: int, nthread: int) -> None:
        super().__init__(template, batch_model(template), num_envs)
        # Contact forces need the constraint solution at the new state (mj_forward); positions and
        # velocities need only the first two stages, which a persistent batch's next step reuses.
        contact = self._contact
        self._stage = int(mujoco.mjtStage.mjSTAGE_ACC if contact else mujoco.mjtStage.mjSTAGE_VEL)
        # A persistent batch (one MjData per sub-env) lets the cheetah's next step continue from
        # the VEL stages (measured 1.7x faster per step); the Ant's RK4 step recomputes them
        # anyway, and one MjData per thread, which stays in cache, was ~5% faster there. The
        # results are the same either way.
        persistent = not contact
        self._batch = _mj_batch.Batch(self._model, num_envs, nthread=nthread, persistent=persistent)
        batch, torso = self._batch, self._torso
        self.qpos = batch.bind("qpos")  # views of the state rows
        self.qvel = batch.bind("qvel")
        self._ctrl = batch.bind("ctrl")
        self._warning = batch.warning
        # Outputs, refreshed in place by every call on a sub-env.
        self._outputs = [(self.com, batch.bind("subtree_com")[:, torso])]
        self._outputs.append((self.velocity, batch.bind("subtree_linvel")[:, torso]))
        self._outputs.append((self.torso_xmat, batch.bind("xmat")[:, torso]))
        if contact:
            self._outputs.append((self.cfrc_ext, batch.bind("cfrc_ext")))  # type: ignore[arg-type]
        self._before = np.empty_like(batch.state)  # state rows before the step, for replays
        self._spare = mujoco.MjData(self._model)
        self._state_spec = int(mujoco.mjtState.mjSTATE_INTEGRATION)

    def _unstable(self) -> NDArray[np.bool_]:
        counts = self._warning[:, _BAD, 1]
        if not counts.any():  # the common case, checked with one reduction
            return np.zeros(len(counts), dtype=bool)
        return (counts > 0).any(axis=1)

    def advance(
        self,
        reset: NDArray[np.bool_],
        qpos: NDArray[np.float64],
        qvel: NDArray[np.float64],
        step: NDArray[np.bool_],
        ctrl: NDArray[np.float64],
        nstep: int,
    ) -> NDArray[np.bool_]:
        """See ``_Simulation.advance``."""
        batch = self._batch
        reset_replays = np.zeros_like(reset)
        if reset.any():
            ids = None if reset.all() else reset
            # No forward pass before the state is written: it would be of the wrong state.
            batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
            self.qpos[reset] = qpos
            self.qvel[reset] = qvel
            batch.forward(ids, stage=self._stage)
            reset_replays = reset & self._unstable()
        step_replays = np.zeros_like(step)
        if step.any():
            ids = None if step.all() else step
            if ids is None:
                self._ctrl[:] = ctrl
            else:
                self._ctrl[step] = ctrl[step]
            np.copyto(self._before, batch.state)
            # As the plain env: count this step's instability warnings only.
            self._warning[:, _BAD, 1] = 0
            batch.step(ids, nstep=nstep, stage=self._stage)
            step_replays = step & self._unstable()
        for mine, bound in self._outputs:
            np.copyto(mine, bound)
        unstable = np.zeros_like(step)
        for k, i in enumerate(np.flatnonzero(reset)):
            if reset_replays[i]:
                self._plain_reset(self._spare, qpos[k], qvel[k])
                self._write_back(i)
        for i in np.flatnonzero(step_replays):
            mujoco.mj_setState(self._model, self._spare, self._before[i], self._state_spec)
            unstable[i] = self._plain_step(self._spare, ctrl[i], nstep)
            self._write_back(i)
        return unstable

    def _write_back(self, i: int) -> None:
        """Finishes a replay on the spare data: derived quantities, state row, warnings."""
        spare = self._spare
        self._plain_derive(spare, i)
        mujoco.mj_getState(self._model, spare, self._batch.state[i], self._state_spec)
        for w in range(len(self._warning[i])):
            self._warning[i, w] = (spare.warning[w].lastinfo, spare.warning[w].number)

    def close(self) -> None:
        """Frees the batch's threads and data."""
        self._batch = None  # type: ignore[assignment]


class _LoopSimulation(_Simulation):
    """One ``MjData`` per sub-env stepped in a Python loop: the fallback for MuJoCo before 4.0.

    It makes the plain env's MuJoCo calls on the plain env's own model.

    Args:
        template: A plain env of the family (model, torso id, contact needs).
        num_envs: Number of sub-envs.
    """

    def __init__(self, template: _LocomotionEnv, num_envs: int) -> None:
        super().__init__(template, template.model, num_envs)
        self._data = [mujoco.MjData(self._model) for _ in range(num_envs)]
        self.qpos = np.zeros((num_envs, self._model.nq))
        self.qvel = np.zeros((num_envs, self._model.nv))

    def advance(
        self,
        reset: NDArray[np.bool_],
        qpos: NDArray[np.float64],
        qvel: NDArray[np.float64],
        step: NDArray[np.bool_],
        ctrl: NDArray[np.float64],
        nstep: int,
    ) -> NDArray[np.bool_]:
        """See ``_Simulation.advance``."""
        for k, i in enumerate(np.flatnonzero(reset)):
            self._plain_reset(self._data[i], qpos[k], qvel[k])
            self._finish(i)
        unstable = np.zeros_like(step)
        for i in np.flatnonzero(step):
            unstable[i] = self._plain_step(self._data[i], ctrl[i], nstep)
            self._finish(i)
        return unstable

    def _finish(self, i: int) -> None:
        data = self._data[i]
        self._plain_derive(data, i)
        self.qpos[i], self.qvel[i] = data.qpos, data.qvel

    def close(self) -> None:
        """Drops the data."""
        self._data = []


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
            ``frame_skip``, ``timestep``, noise scales, ...), checked by building one plain env.
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    env_class: type[_LocomotionEnv]

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
        has_batch = _mj_batch is not None and hasattr(mujoco, "MjSpec")
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
        self._init_qpos, self._init_qvel = template.init_qpos.copy(), template.init_qvel.copy()
        self._qpos_noise, self._qvel_noise = template._qpos_noise_scale, template._qvel_noise_scale
        self._nq, self._nv = template.model.nq, template.model.nv
        self.nthread = default_thread_count() if nthread is None else int(nthread)
        if self.nthread < 1:
            raise ValueError(f"nthread must be positive, got {nthread}")
        self.backend = "batch" if backend == "batch" or (backend == "auto" and has_batch) else "loop"
        if self.backend == "batch":
            self._sim: _BatchSimulation | _LoopSimulation = _BatchSimulation(template, num_envs, self.nthread)
        else:
            self._sim = _LoopSimulation(template, num_envs)
        self._tasks: list[Task] = [template.get_task()] * num_envs
        self._task_values = np.tile(template._task_values, (num_envs, 1))
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
        checked = [_check_task(task, self.env_class._task_type) for task in tasks]
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
        qpos = self._init_qpos + self._qpos_noise * qpos_noise
        qvel = self._init_qvel + self._qvel_noise * qvel_noise
        return qpos, qvel


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
