"""The physics of the batched locomotion envs: all sub-envs' states as ``(num_envs, ...)`` arrays.

``envs.locomotion.vector`` steps a meta-batch through one of two back ends, both making the plain
env's MuJoCo calls on the plain env's physics:

* ``BatchSimulation``: one ``mujoco.batch.Batch`` (MuJoCo 4). One env step of all sub-envs is one
  ``Batch.step`` call: the sub-envs' states are stepped on a native thread pool with the GIL
  released, and the quantities the observation and reward need are computed in the same call, at
  the state after the step, and copied into NumPy arrays that stay bound between calls
  (``subtree_com``, ``subtree_linvel``, ``xmat`` and, for the Ant, ``cfrc_ext``).
* ``LoopSimulation``: the fallback for MuJoCo without ``mujoco.batch`` (before 4.0), one ``MjData``
  per sub-env stepped in a Python loop with the plain env's MuJoCo calls: same transitions, about
  the plain env's speed less Gymnasium's wrappers.

Two quantities are computed by MuJoCo only on demand, outside ``mj_forward``:
``subtree_linvel`` (``mj_subtreeVel``) and ``cfrc_ext`` (``mj_rnePostConstraint``), which the plain
env calls itself after each step. The batched model (``batch_model``) is the same XML with two
sensors added that make ``mj_forward`` call exactly those functions (a ``subtreelinvel`` sensor on
the torso, and, for the Ant, a ``framelinacc`` sensor on the torso, whose presence triggers
``mj_rnePostConstraint``). Sensors and the functions they trigger write only derived quantities
(``sensordata``, ``subtree_linvel``, ``cacc``, ``cfrc_int``, ``cfrc_ext``), never the state; the
compiled model's physics arrays equal the plain env's (a test checks). ``cfrc_ext`` has no sensor
of its own; it is read from the bound field, which the batch copies out after the call that
computed it.

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

``mujoco.batch`` documents its results as bit-identical to a loop over one ``MjData`` per
simulation, at any thread count. One difference had to be undone: it checks the state for
non-finite or huge values whenever it computes stages (after a step, after a reset), where the
plain env's ``mj_forward`` does not, so on a diverging simulation it would reset the data one step
early. Such a check raises an instability warning counter, so the sub-envs whose counters rose in a
call are replayed from their state before the call exactly as the plain env runs them; this costs
a copy of the state rows per step, and a replay only where a simulation diverges.
"""

from __future__ import annotations

import os

import mujoco
import numpy as np
from numpy.typing import NDArray

from envs.locomotion.base import INSTABILITY_WARNINGS, LocomotionEnv, compile_spec

try:  # MuJoCo 4.0 and later
    from mujoco import batch as _mj_batch
except ImportError:  # pragma: no cover - exercised only with an older MuJoCo
    _mj_batch = None  # type: ignore[assignment]

# The back ends that LocomotionVectorEnv(backend=...) accepts; "auto": the first this MuJoCo has.
BACKENDS = ("auto", "batch", "loop")
_BAD_IDS = sorted(int(w) for w in INSTABILITY_WARNINGS)
# A slice where the warnings are adjacent (they are: BADQPOS, BADQVEL, BADQACC): a view, not a
# fancy-index copy, on every step.
_BAD: slice | list[int] = (
    slice(_BAD_IDS[0], _BAD_IDS[-1] + 1) if _BAD_IDS == list(range(_BAD_IDS[0], _BAD_IDS[-1] + 1)) else _BAD_IDS
)


def batch_available() -> bool:
    """Whether this MuJoCo has ``mujoco.batch`` (4.0+) and the spec API that ``batch_model`` uses."""
    return _mj_batch is not None and hasattr(mujoco, "MjSpec")


def default_thread_count() -> int:
    """The CPUs this process may run on (a container's share, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def batch_model(template: LocomotionEnv) -> mujoco.MjModel:
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
    if template.needs_contact_forces:
        spec.add_sensor(
            name="meta_rl_torso_linacc", type=mujoco.mjtSensor.mjSENS_FRAMELINACC,
            objtype=body, objname="torso",
        )  # fmt: skip
    model = compile_spec(spec)
    # What the plain env's constructor changed after compiling (``timestep``, the Ant's contacts).
    template.configure_model(model)
    # The compiler's model statistics feed the solver (``meaninertia`` scales its tolerance and
    # its cost). MuJoCo 3.3 sums them in an order that the added sensors change in the last bit;
    # the plain env's own values keep the transitions identical on every version.
    for name in ("meanmass", "meaninertia", "meansize", "extent", "center"):
        setattr(model.stat, name, getattr(template.model.stat, name))
    return model


class Simulation:
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

    def __init__(self, template: LocomotionEnv, model: mujoco.MjModel, num_envs: int) -> None:
        self._model = model
        self._contact = template.needs_contact_forces
        self._torso = template.torso_id
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
        for warning in INSTABILITY_WARNINGS:
            data.warning[warning].number = 0
        data.ctrl[:] = ctrl
        mujoco.mj_step(self._model, data, nstep=nstep)
        return any(data.warning[w].number > 0 for w in INSTABILITY_WARNINGS)

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


class BatchSimulation(Simulation):
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

    def __init__(self, template: LocomotionEnv, num_envs: int, nthread: int) -> None:
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
        """See ``Simulation.advance``."""
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


class LoopSimulation(Simulation):
    """One ``MjData`` per sub-env stepped in a Python loop: the fallback for MuJoCo before 4.0.

    It makes the plain env's MuJoCo calls on the plain env's own model.

    Args:
        template: A plain env of the family (model, torso id, contact needs).
        num_envs: Number of sub-envs.
    """

    def __init__(self, template: LocomotionEnv, num_envs: int) -> None:
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
        """See ``Simulation.advance``."""
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
