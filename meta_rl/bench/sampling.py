"""Sampling benchmark: the project's sampler against plain Gymnasium vector envs and the floor.

``python -m meta_rl.bench.sampling [--env ID] [--tasks N] [--episodes N] [--repeats N] [--modes ...]``
samples one meta-batch (tasks x episodes sub-envs, the policy run once per step) with each
vectorization mode the family offers, and steps the family's own vector env with random actions
drawn beforehand and no policy (the env alone). For a MuJoCo family it also measures the physics
floor (DESIGN.md, "Speed"): ``mujoco.rollout`` stepping the family's model for the same number of
env steps (tasks x episodes x horizon, ``frame_skip`` physics steps each) on every CPU the process
may use, with nothing else: no observation, reward, reset or policy. It prints env steps per second
and the ratio of every row to the floor (the physics floor for MuJoCo families, the env alone
otherwise) and to the sampler on Gymnasium's ``SyncVectorEnv``, all measured side by side in one
run: absolute numbers vary with the machine, ratios much less.
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import mujoco
import numpy as np
import torch
from mujoco import rollout

from agents.maml import task_batched
from agents.policy import GaussianMLPPolicy
from meta_rl.sampling import VectorSampler

MODES = ("vector_entry_point", "sync", "async")


def cpu_count() -> int:
    """The CPUs this process may run on (a container's share, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _floor_steps_per_s(env_id: str, num_envs: int, horizon: int, repeats: int) -> float:
    """Env steps per second of the family's fastest vector env stepping alone, no policy.

    The actions are drawn uniformly from the action box before the clock starts: a MuJoCo body
    driven at random meets contacts as under a fresh policy, where zero torques would let it rest.
    """
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point else "sync"
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    space = env.single_action_space
    rng = np.random.default_rng(0)
    low, high = np.broadcast_to(space.low, space.shape), np.broadcast_to(space.high, space.shape)
    if np.all(np.isfinite(low)) and np.all(np.isfinite(high)):
        actions = rng.uniform(low, high, (horizon, *env.action_space.shape)).astype(space.dtype)
    else:  # an unbounded box has no uniform distribution
        actions = np.zeros((horizon, *env.action_space.shape), dtype=space.dtype)
    best = 0.0
    for _ in range(repeats):
        env.reset(seed=0)
        start = time.perf_counter()
        for t in range(horizon):
            env.step(actions[t])
        best = max(best, num_envs * horizon / (time.perf_counter() - start))
    env.close()
    return best


def physics_floor_steps_per_s(
    env_id: str, num_envs: int, horizon: int, repeats: int, nthread: int
) -> float | None:
    """Env steps per second of ``mujoco.rollout`` stepping the family's model alone.

    The rollouts start from the plain env's reset states (seeds ``0 .. num_envs - 1``) and apply
    random controls in the actuators' range, each held for ``frame_skip`` physics steps as an env
    action is; the timed call is the one native rollout of all ``num_envs x horizon`` env steps.

    Args:
        env_id: The family's Gymnasium id.
        num_envs: Rollouts (the meta-batch's sub-envs).
        horizon: Env steps per rollout.
        repeats: Timed calls; the best counts.
        nthread: Threads of the rollout pool.

    Returns:
        Env steps per second, or ``None`` if the family is not a MuJoCo env.
    """
    env = gym.make(env_id).unwrapped
    model, data = getattr(env, "model", None), getattr(env, "data", None)
    if not isinstance(model, mujoco.MjModel) or not isinstance(data, mujoco.MjData):
        env.close()
        return None
    frame_skip = int(getattr(env, "frame_skip", 1))
    spec = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
    initial = np.empty((num_envs, mujoco.mj_stateSize(model, spec)))
    for i in range(num_envs):
        env.reset(seed=i)
        mujoco.mj_getState(model, data, initial[i], spec)
    low, high = model.actuator_ctrlrange.T
    rng = np.random.default_rng(0)
    control = np.repeat(rng.uniform(low, high, (num_envs, horizon, model.nu)), frame_skip, axis=1)
    # Output buffers allocated once, outside the timed call.
    state = np.empty((num_envs, horizon * frame_skip, initial.shape[1]))
    sensordata = np.empty((num_envs, horizon * frame_skip, model.nsensordata))
    datas = [mujoco.MjData(model) for _ in range(nthread)]
    best = 0.0
    # nthread=0 runs on the calling thread: the pool would only add hand-offs.
    with rollout.Rollout(nthread=nthread if nthread > 1 else 0) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            pool.rollout(model, datas, initial, control, state=state, sensordata=sensordata)
            best = max(best, num_envs * horizon / (time.perf_counter() - start))
    env.close()
    return best


def run(
    env_id: str, tasks: int, episodes: int, repeats: int, modes: tuple[str, ...] = MODES
) -> list[tuple[str, float]]:
    """Returns ``(name, env steps per second)`` rows, best of ``repeats`` each.

    The rows are the sampler with each of ``modes`` the family offers, the family's fastest vector
    env alone, and for a MuJoCo family the physics floor last.
    """
    rows = []
    spec = gym.spec(env_id)
    for mode in modes:
        if mode == "vector_entry_point" and not spec.vector_entry_point:
            continue
        sampler = VectorSampler(env_id, vectorization=mode)
        try:
            torch.manual_seed(0)
            policy = GaussianMLPPolicy(sampler.obs_dim, sampler.act_dim)
            task_list = sampler.sample_tasks(tasks, np.random.default_rng(0))
            params = task_batched(policy.initial_params(), tasks)
            sampler.sample(policy, params, task_list, episodes=episodes, seed=0, iteration=0, phase=0)  # warm-up
            best = 0.0
            for r in range(repeats):
                start = time.perf_counter()
                batch = sampler.sample(policy, params, task_list, episodes=episodes, seed=0, iteration=r + 1, phase=0)
                # Every sub-env is stepped until the last episode ends: count those steps.
                stepped = batch.mask.shape[0] * tasks * episodes
                best = max(best, stepped / (time.perf_counter() - start))
        finally:
            sampler.close()
        rows.append((f"sampler, {mode}", best))
    horizon = spec.max_episode_steps or 100
    num_envs = tasks * episodes
    alone = _floor_steps_per_s(env_id, num_envs, horizon, repeats)
    nthread = cpu_count()
    physics = physics_floor_steps_per_s(env_id, num_envs, horizon, repeats, nthread)
    if physics is None:
        rows.append(("env alone (floor)", alone))
    else:
        rows.append(("env alone, no policy", alone))
        rows.append((f"physics floor, mujoco.rollout x{nthread}", physics))
    return rows


def main() -> None:
    """Prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MetaRL/Navigation2D-v0")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="comma-separated sampler modes to time (async starts one process per sub-env)",
    )
    args = parser.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {', '.join(unknown)}; choose from {', '.join(MODES)}")
    rows = run(args.env, args.tasks, args.episodes, args.repeats, modes)
    floor = rows[-1][1]
    sync = dict(rows).get("sampler, sync")
    print(f"{args.env}: {args.tasks} tasks x {args.episodes} episodes, best of {args.repeats}")
    print(f"{'what':36s} {'env steps/s':>12s} {'vs floor':>9s} {'vs sync':>8s}")
    for name, rate in rows:
        vs_sync = f"{rate / sync:8.2f}" if sync else f"{'-':>8s}"
        print(f"{name:36s} {rate:12.0f} {rate / floor:9.3f} {vs_sync}")


if __name__ == "__main__":
    main()
