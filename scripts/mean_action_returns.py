"""Held-out returns of a run's policy with sampled actions and with the mean action, after 0..K steps.

The test protocol (``meta-rl evaluate``) measures the return of the episodes it adapts on, which
sample the Gaussian policy. This diagnostic follows the same protocol through the Python API (the
run's held-out tasks, fresh sampled episodes at each step, alpha then alpha * eval_lr_decay) and
also plays each policy's mean action, to separate what the policy's mean does from what its noise
costs::

    python scripts/mean_action_returns.py runs/reference/halfcheetah-dir --steps 3 --episodes 20 --mean-episodes 5

It prints one row per step: the mean over tasks (and its standard error) of both returns, and the
mean standard deviation of the policy's Gaussian.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import meta_rl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the run folder")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=20, help="sampled episodes per task and step")
    parser.add_argument("--mean-episodes", type=int, default=5, help="mean-action episodes per task and step")
    parser.add_argument("--tasks", type=int, default=None, help="the first N held-out tasks (default all)")
    args = parser.parse_args()

    policy = meta_rl.load(args.run)
    tasks = policy.test_tasks[: args.tasks] if args.tasks else policy.test_tasks
    sampled = np.zeros((args.steps + 1, len(tasks)))
    mean_action = np.zeros_like(sampled)
    std = np.zeros_like(sampled)
    for i, task in enumerate(tasks):
        env = policy.make_env(task)
        current = policy
        for k in range(args.steps + 1):
            seed = 1_000_000 * (k + 1) + 1000 * i  # fresh episodes at every step and task
            episodes = current.collect(env, episodes=args.episodes, seed=seed)
            sampled[k, i] = episodes.mean_return()
            mean_action[k, i] = current.collect(env, args.mean_episodes, seed=seed + 500, deterministic=True).mean_return()
            std[k, i] = float(current.params["log_std"].exp().mean())
            if k < args.steps:
                current = current.adapt(episodes)
        env.close()
        print(f"task {i + 1}/{len(tasks)} {task}: sampled {sampled[:, i].round(1)} mean action {mean_action[:, i].round(1)}", flush=True)

    def cell(values: np.ndarray) -> str:
        return f"{values.mean():.1f} ± {values.std(ddof=1) / math.sqrt(len(values)):.1f}"

    print(f"\n{len(tasks)} held-out tasks, {args.episodes} sampled and {args.mean_episodes} mean-action episodes per step")
    print("| steps | sampled actions | mean action | policy std |")
    print("| --- | --- | --- | --- |")
    for k in range(args.steps + 1):
        print(f"| {k} | {cell(sampled[k])} | {cell(mean_action[k])} | {std[k].mean():.3f} |")


if __name__ == "__main__":
    main()
