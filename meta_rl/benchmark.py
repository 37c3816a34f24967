"""Sampling benchmark: the project's sampler against plain Gymnasium vector envs and the floor.

``python -m meta_rl.benchmark [--env ID] [--tasks N] [--episodes N] [--repeats N]`` samples one
meta-batch (tasks x episodes sub-envs, the policy run once per step) with each vectorization mode
the family offers, and steps the family's own vector env with fixed actions and no policy (the
floor: the cost of the environment alone). It prints env steps per second and ratios, all
measured side by side in one run: absolute numbers vary with the machine, ratios much less.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

from agents.policy import GaussianMLPPolicy
from meta_rl.sampler import VectorSampler


def _floor_steps_per_s(env_id: str, num_envs: int, horizon: int, repeats: int) -> float:
    """Env steps per second of the family's fastest vector env stepping alone, no policy."""
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point else "sync"
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    actions = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)
    best = 0.0
    for _ in range(repeats):
        env.reset(seed=0)
        start = time.perf_counter()
        for _ in range(horizon):
            env.step(actions)
        best = max(best, num_envs * horizon / (time.perf_counter() - start))
    env.close()
    return best


def run(env_id: str, tasks: int, episodes: int, repeats: int) -> list[tuple[str, float]]:
    """Returns ``(name, env steps per second)`` rows, best of ``repeats`` each."""
    rows = []
    spec = gym.spec(env_id)
    modes = (["vector_entry_point"] if spec.vector_entry_point else []) + ["sync", "async"]
    for mode in modes:
        sampler = VectorSampler(env_id, vectorization=mode)
        torch.manual_seed(0)
        policy = GaussianMLPPolicy(sampler.obs_dim, sampler.act_dim)
        params = policy.initial_params()
        task_list = sampler.sample_tasks(tasks, np.random.default_rng(0))
        sampler.sample(policy, params, False, task_list, episodes, 0, 0, 0)  # warm-up
        best = 0.0
        for r in range(repeats):
            start = time.perf_counter()
            batch = sampler.sample(policy, params, False, task_list, episodes, 0, r + 1, 0)
            # Every sub-env is stepped until the last episode ends: count those steps.
            stepped = batch.mask.shape[0] * tasks * episodes
            best = max(best, stepped / (time.perf_counter() - start))
        sampler.close()
        rows.append((f"sampler, {mode}", best))
    horizon = gym.spec(env_id).max_episode_steps or 100
    rows.append(("env alone (floor)", _floor_steps_per_s(env_id, tasks * episodes, horizon, repeats)))
    return rows


def main() -> None:
    """Prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MetaRL/Navigation2D-v0")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = run(args.env, args.tasks, args.episodes, args.repeats)
    floor = rows[-1][1]
    sync = dict(rows)["sampler, sync"]
    print(f"{args.env}: {args.tasks} tasks x {args.episodes} episodes, best of {args.repeats}")
    print(f"{'what':28s} {'env steps/s':>12s} {'vs floor':>9s} {'vs sync':>8s}")
    for name, rate in rows:
        print(f"{name:28s} {rate:12.0f} {rate / floor:9.3f} {rate / sync:8.2f}")


if __name__ == "__main__":
    main()
