r"""How a locomotion run's episodes end, per task: length, return, forward velocity and end cause.

A return can be high because the robot tracks its task or because its episodes are short (an Ant
family pays a survival bonus per step, and a target it cannot reach makes each step cost). This
diagnostic plays a run's policy on tasks given by their constructor argument, before and after one
inner step on fresh episodes (the test protocol's first step), and says how each episode ended::

    python scripts/episode_ends.py runs/reference/ant-vel --tasks 0.3 1.0 1.5 2.0 2.5 3.0

Each task argument is YAML, read as the family's task argument (``goal_velocity`` for AntVel, so a
number; ``[x, y]`` for AntGoal). ``--env-kwargs`` rebuilds an env other than the run's, for a run
made before a family's defaults changed, e.g. ``--env-kwargs "{standing_start: false,
contact_solimp: null}"`` for the Gymnasium-model Ant run of ``runs/reference/``. End causes:
``truncated`` (the horizon), ``above`` and ``below`` (the torso left ``healthy_z_range``),
``unstable`` (MuJoCo's instability warnings), ``other``.

``--oracle DIR`` plays a finished oracle (``meta-rl oracle``'s result folder) instead, on the
run's env with the task appended to the observation, as it was trained; an oracle does not adapt,
so it gets one row per task::

    python scripts/episode_ends.py runs/reference/ant-vel --oracle runs/reference/ant-vel/oracle-11M \
        --tasks 0.25 0.75 1.25 1.75 2.25 2.75
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

import meta_rl
from meta_rl.evaluation.oracle import ALGORITHMS, algorithm_class, oracle_env


def play(env: gym.Env, player: Any, episodes: int) -> str:
    """Plays episodes with sampled actions and sums them up.

    Args:
        env: A locomotion family's env (its ``info`` has ``x_velocity``).
        player: Anything with SB3's ``predict(observation, deterministic=...)``: a ``MetaPolicy``
            or an SB3 model.
        episodes: How many episodes, seeded 10,000 onwards.

    Returns:
        Mean length, return and x velocity, and how many episodes ended in each way.
    """
    plain = env.unwrapped
    low, high = getattr(plain, "healthy_z_range", (-np.inf, np.inf))
    lengths, returns, velocities, ends = [], [], [], Counter()
    for episode in range(episodes):
        observation, _ = env.reset(seed=10_000 + episode)
        total, steps = 0.0, 0
        while True:
            action, _ = player.predict(observation, deterministic=False)
            observation, reward, terminated, truncated, info = env.step(action)
            total, steps = total + float(reward), steps + 1
            velocities.append(float(info.get("x_velocity", np.nan)))
            if terminated or truncated:
                break
        height = float(plain.data.qpos[2])
        if info.get("unstable"):
            ends["unstable"] += 1
        elif terminated:
            ends["above" if height > high else "below" if height < low else "other"] += 1
        else:
            ends["truncated"] += 1
        lengths.append(steps)
        returns.append(total)
    causes = ", ".join(f"{cause} {count}" for cause, count in sorted(ends.items()))
    return f"{np.mean(lengths):7.0f} {np.mean(returns):8.1f} {np.nanmean(velocities):10.2f}  {causes}"


def main(argv: list[str] | None = None) -> None:
    """Prints one line per task and policy: mean length, return, x velocity and end causes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the run folder")
    parser.add_argument("--tasks", nargs="+", required=True, help="task arguments (YAML), e.g. 0.5 1.5")
    parser.add_argument("--episodes", type=int, default=10, help="played episodes per task and policy")
    parser.add_argument("--adapt-episodes", type=int, default=20, help="episodes of the inner step (not with --oracle)")
    parser.add_argument("--env-kwargs", default="{}", help="YAML mapping of env constructor arguments")
    parser.add_argument("--oracle", type=Path, default=None, help="play this finished oracle (its folder) instead")
    args = parser.parse_args(argv)
    env_kwargs = yaml.safe_load(args.env_kwargs)
    if not isinstance(env_kwargs, dict):
        parser.error(f"--env-kwargs must be a YAML mapping, got {args.env_kwargs!r}")

    policy = meta_rl.load(args.run)
    oracle = None
    if args.oracle is not None:
        if not (args.oracle / "oracle.zip").is_file() or not (args.oracle / "result.json").is_file():
            parser.error(f"--oracle: '{args.oracle}' holds no finished oracle (oracle.zip and result.json)")
        protocol = json.loads((args.oracle / "result.json").read_text()).get("protocol", {})
        if protocol.get("algo") not in ALGORITHMS:
            parser.error(f"--oracle: '{args.oracle}' holds no oracle result (its result.json names no algo)")
        oracle = algorithm_class(protocol["algo"]).load(args.oracle / "oracle.zip", device="cpu")
    config = replace(policy.config, env_kwargs={**policy.config.env_kwargs, **env_kwargs})
    if oracle is not None:
        # The oracle plays the env it was trained on (results before env_kwargs were recorded: its id).
        trained = (protocol["env_id"], protocol.get("env_kwargs", config.env_kwargs))
        if trained != (config.env_id, config.env_kwargs):
            parser.error(f"--oracle: trained on {trained[0]} with {trained[1]}, not {config.env_id} with {config.env_kwargs}")
    print(f"{'task':>10} {'policy':>8} {'length':>7} {'return':>8} {'x velocity':>10}  ends")
    for argument in args.tasks:
        env = policy.make_env(**env_kwargs)
        task = env.unwrapped.task_from_argument(yaml.safe_load(argument))
        env.close()
        if oracle is not None:
            env = oracle_env(config, None, task)
            print(f"{argument:>10} {'oracle':>8} {play(env, oracle, args.episodes)}")
            env.close()
            continue
        env = policy.make_env(task, **env_kwargs)
        adapted = policy.adapt(policy.collect(env, args.adapt_episodes, seed=1))
        for name, player in (("meta", policy), ("adapted", adapted)):
            print(f"{argument:>10} {name:>8} {play(env, player, args.episodes)}")
        env.close()


if __name__ == "__main__":
    main()
