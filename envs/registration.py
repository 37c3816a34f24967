"""The ``MetaRL/`` ids: one table, registered with Gymnasium by string entry points.

``import envs`` registers them, and so does the startup hook of an installed meta-rl
(``_meta_rl_gymnasium.py``), which loads this file on its own, by path, when Gymnasium is
imported. So this module imports nothing but Gymnasium's registry, and that only when called:
the env modules themselves load on the first ``gymnasium.make``.
"""

from __future__ import annotations

# id: (entry point, batched vector entry point, horizon). Horizons follow envs/TASKS.md.
FAMILIES: dict[str, tuple[str, str, int]] = {
    "MetaRL/Navigation2D-v0": ("envs.navigation:Navigation2DEnv", "envs.navigation:Navigation2DVectorEnv", 100),
    "MetaRL/HalfCheetahVel-v0": (
        "envs.locomotion.half_cheetah:HalfCheetahVelEnv", "envs.locomotion.vector:HalfCheetahVelVectorEnv", 200,
    ),
    "MetaRL/HalfCheetahDir-v0": (
        "envs.locomotion.half_cheetah:HalfCheetahDirEnv", "envs.locomotion.vector:HalfCheetahDirVectorEnv", 200,
    ),
    "MetaRL/AntVel-v0": ("envs.locomotion.ant:AntVelEnv", "envs.locomotion.vector:AntVelVectorEnv", 200),
    "MetaRL/AntDir-v0": ("envs.locomotion.ant:AntDirEnv", "envs.locomotion.vector:AntDirVectorEnv", 200),
    "MetaRL/AntGoal-v0": ("envs.locomotion.ant:AntGoalEnv", "envs.locomotion.vector:AntGoalVectorEnv", 200),
}


def register_families() -> None:
    """Registers every id of :data:`FAMILIES` not registered yet (so it may run twice)."""
    from gymnasium.envs.registration import register, registry

    for env_id, (entry_point, vector_entry_point, horizon) in FAMILIES.items():
        if env_id not in registry:
            register(
                id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point,
                max_episode_steps=horizon,
            )  # fmt: skip
