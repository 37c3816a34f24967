"""MuJoCo locomotion families of the MAML paper: HalfCheetah and Ant with goal velocity, direction,
and (Ant) goal position, on Gymnasium's v5 models.

Five families, each a Gymnasium env with the task API of ``envs.tasks``:

* ``HalfCheetahVelEnv`` (``MetaRL/HalfCheetahVel-v0``) and ``HalfCheetahDirEnv``
  (``MetaRL/HalfCheetahDir-v0``),
* ``AntVelEnv`` (``MetaRL/AntVel-v0``), ``AntDirEnv`` (``MetaRL/AntDir-v0``) and ``AntGoalEnv``
  (``MetaRL/AntGoal-v0``),

each with a batched vector env (``HalfCheetahVelVectorEnv``, ...) registered as its
``vector_entry_point``. They follow envs/TASKS.md, which follows the code that produced the paper's
figures (rllab's ``HalfCheetahEnvRand`` / ``AntEnvRand`` families of ``maml_rl``). Every class
docstring lists where it differs and why.

The modules, in reading order:

* ``tasks``: the task dataclasses, their samplers, and the task code that the cheetah and the ant
  share (``GoalVelocityTaskMixin``, ``DirectionTaskMixin``).
* ``base``: ``LocomotionEnv``, the MuJoCo env under every family (step pipeline, reset noise,
  termination bookkeeping), and how a family is put together.
* ``robots``: ``HalfCheetahBaseEnv`` and ``AntBaseEnv``, each robot's observation, costs,
  termination and its one constructor (physics step, reset noise, reward weights).
* ``half_cheetah``, ``ant``: the registered families.
* ``vector``: ``LocomotionVectorEnv``, all sub-envs of a meta-batch stepped together, bit-identical
  to a ``SyncVectorEnv`` of the plain env; ``simulation``: its physics back ends.
"""

from envs.locomotion.ant import AntDirEnv, AntGoalEnv, AntVelEnv
from envs.locomotion.base import LocomotionEnv
from envs.locomotion.half_cheetah import HalfCheetahDirEnv, HalfCheetahVelEnv
from envs.locomotion.robots import AntBaseEnv, HalfCheetahBaseEnv
from envs.locomotion.tasks import (
    DirectionTask,
    DirectionTaskMixin,
    GoalPositionTask,
    GoalVelocityTask,
    GoalVelocityTaskMixin,
)
from envs.locomotion.vector import (
    AntDirVectorEnv,
    AntGoalVectorEnv,
    AntVelVectorEnv,
    HalfCheetahDirVectorEnv,
    HalfCheetahVelVectorEnv,
    LocomotionVectorEnv,
)

__all__ = [
    "AntBaseEnv",
    "AntDirEnv",
    "AntDirVectorEnv",
    "AntGoalEnv",
    "AntGoalVectorEnv",
    "AntVelEnv",
    "AntVelVectorEnv",
    "DirectionTask",
    "DirectionTaskMixin",
    "GoalPositionTask",
    "GoalVelocityTask",
    "GoalVelocityTaskMixin",
    "HalfCheetahBaseEnv",
    "HalfCheetahDirEnv",
    "HalfCheetahDirVectorEnv",
    "HalfCheetahVelEnv",
    "HalfCheetahVelVectorEnv",
    "LocomotionEnv",
    "LocomotionVectorEnv",
]
