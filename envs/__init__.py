"""Task families: Gymnasium envs with the task API (see ``envs.tasks``).

Importing this package registers every family under the ``MetaRL/`` namespace (the table is
``envs.registration``; an installed meta-rl also registers them whenever Gymnasium is imported).
This layer imports gymnasium, mujoco and numpy only: never torch, ``agents`` or ``meta_rl``.
"""

from envs.locomotion import (
    AntDirEnv,
    AntDirVectorEnv,
    AntGoalEnv,
    AntGoalVectorEnv,
    AntVelEnv,
    AntVelVectorEnv,
    DirectionTask,
    GoalPositionTask,
    GoalVelocityTask,
    HalfCheetahDirEnv,
    HalfCheetahDirVectorEnv,
    HalfCheetahVelEnv,
    HalfCheetahVelVectorEnv,
    LocomotionVectorEnv,
)
from envs.navigation import Navigation2DEnv, Navigation2DVectorEnv, NavigationTask
from envs.registration import FAMILIES, register_families
from envs.tasks import TASK_API_METHODS, Task, TaskEnv, missing_task_methods

__all__ = [
    "TASK_API_METHODS",
    "AntDirEnv",
    "AntDirVectorEnv",
    "AntGoalEnv",
    "AntGoalVectorEnv",
    "AntVelEnv",
    "AntVelVectorEnv",
    "DirectionTask",
    "FAMILIES",
    "GoalPositionTask",
    "GoalVelocityTask",
    "HalfCheetahDirEnv",
    "HalfCheetahDirVectorEnv",
    "HalfCheetahVelEnv",
    "HalfCheetahVelVectorEnv",
    "LocomotionVectorEnv",
    "Navigation2DEnv",
    "Navigation2DVectorEnv",
    "NavigationTask",
    "Task",
    "TaskEnv",
    "missing_task_methods",
    "register_families",
]

register_families()
