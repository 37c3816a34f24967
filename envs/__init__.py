"""Task families: Gymnasium envs with the task API (see ``envs.tasks``).

Importing this package registers every family under the ``MetaRL/`` namespace. This layer
imports gymnasium, mujoco and numpy only: never torch, ``agents`` or ``meta_rl``.
"""

from gymnasium.envs.registration import register, registry

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
]

if "MetaRL/Navigation2D-v0" not in registry:
    register(
        id="MetaRL/Navigation2D-v0",
        entry_point="envs.navigation:Navigation2DEnv",
        vector_entry_point="envs.navigation:Navigation2DVectorEnv",
        max_episode_steps=100,
    )

# The MuJoCo locomotion families: horizon 200 for all (envs/TASKS.md); each with its batched vector env.
_LOCOMOTION = {
    "MetaRL/HalfCheetahVel-v0": "envs.locomotion.half_cheetah:HalfCheetahVelEnv",
    "MetaRL/HalfCheetahDir-v0": "envs.locomotion.half_cheetah:HalfCheetahDirEnv",
    "MetaRL/AntVel-v0": "envs.locomotion.ant:AntVelEnv",
    "MetaRL/AntDir-v0": "envs.locomotion.ant:AntDirEnv",
    "MetaRL/AntGoal-v0": "envs.locomotion.ant:AntGoalEnv",
}
_LOCOMOTION_VECTOR = {
    "MetaRL/HalfCheetahVel-v0": "envs.locomotion.vector:HalfCheetahVelVectorEnv",
    "MetaRL/HalfCheetahDir-v0": "envs.locomotion.vector:HalfCheetahDirVectorEnv",
    "MetaRL/AntVel-v0": "envs.locomotion.vector:AntVelVectorEnv",
    "MetaRL/AntDir-v0": "envs.locomotion.vector:AntDirVectorEnv",
    "MetaRL/AntGoal-v0": "envs.locomotion.vector:AntGoalVectorEnv",
}
for _id, _entry_point in _LOCOMOTION.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point=_entry_point,
            vector_entry_point=_LOCOMOTION_VECTOR[_id],
            max_episode_steps=200,
        )
