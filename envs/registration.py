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


# Meta-World's ML1 envs (version 3), each an ML1 family ``MetaRL/MetaWorld-ML1-<name>-v0``; with
# ML10 they need the metaworld extra (envs/metaworld.py), checked when one is made.
ML1_ENVS: tuple[str, ...] = (
    "assembly", "basketball", "bin-picking", "box-close", "button-press-topdown", "button-press-topdown-wall",
    "button-press", "button-press-wall", "coffee-button", "coffee-pull", "coffee-push", "dial-turn",
    "disassemble", "door-close", "door-lock", "door-open", "door-unlock", "hand-insert", "drawer-close",
    "drawer-open", "faucet-open", "faucet-close", "hammer", "handle-press-side", "handle-press",
    "handle-pull-side", "handle-pull", "lever-pull", "pick-place-wall", "pick-out-of-hole", "pick-place",
    "plate-slide", "plate-slide-side", "plate-slide-back", "plate-slide-back-side", "peg-insert-side",
    "peg-unplug-side", "soccer", "stick-push", "stick-pull", "push", "push-wall", "push-back", "reach",
    "reach-wall", "shelf-place", "sweep-into", "sweep", "window-open", "window-close",
)  # fmt: skip
METAWORLD_HORIZON = 500  # Meta-World's max_path_length
METAWORLD: dict[str, dict[str, object]] = {
    **{f"MetaRL/MetaWorld-ML1-{name}-v0": {"benchmark": "ML1", "env_name": f"{name}-v3"} for name in ML1_ENVS},
    "MetaRL/MetaWorld-ML10-v0": {"benchmark": "ML10", "env_name": None},
}


def register_families() -> None:
    """Registers every id of :data:`FAMILIES` and :data:`METAWORLD` not registered yet (so it may
    run twice)."""
    from gymnasium.envs.registration import register, registry

    for env_id, (entry_point, vector_entry_point, horizon) in FAMILIES.items():
        if env_id not in registry:
            register(
                id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point,
                max_episode_steps=horizon,
            )  # fmt: skip
    for env_id, kwargs in METAWORLD.items():
        if env_id not in registry:
            register(id=env_id, entry_point="envs.metaworld:MetaWorldEnv", max_episode_steps=METAWORLD_HORIZON, kwargs=kwargs)
