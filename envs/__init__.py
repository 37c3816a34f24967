"""Task families: Gymnasium envs with the task API (see ``envs.tasks``).

Importing this package registers every family under the ``MetaRL/`` namespace. This layer
imports gymnasium, mujoco and numpy only: never torch, ``agents`` or ``meta_rl``.
"""

from gymnasium.envs.registration import register, registry

from envs.navigation import Navigation2DEnv, Navigation2DVectorEnv, NavigationTask
from envs.tasks import TASK_API_METHODS, Task, TaskEnv, missing_task_methods

__all__ = [
    "TASK_API_METHODS",
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
