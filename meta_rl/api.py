"""The Python API: load a trained meta-policy, adapt it to a task, act; train from Python.

The conventions of Stable-Baselines3 (``load``, ``predict(obs, deterministic=...)``) and of
learn2learn (adapt, then act with the adapted copy; the original is unchanged)::

    policy = meta_rl.load("runs/reference/navigation2d-s0")   # the meta-policy
    env = policy.make_env(task)                                # any task of the family
    episodes = policy.collect(env, episodes=20, seed=0)       # or episodes you collected
    adapted = policy.adapt(episodes)                           # one inner step, the run's alpha
    action, _ = adapted.predict(obs, deterministic=True)

Every policy here acts in the env's action space; ``act`` also returns the policy's own action
(before clipping and scaling to the env's bounds), which is what adaptation needs: episodes a user
collects must record those.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch

from agents.episodes import EpisodeBatch, compute_advantages
from agents.maml import adapt, task_batched
from agents.policy import GaussianMLPPolicy, Params, task_mean_std
from envs.tasks import Task
from meta_rl.config import TrainConfig, load_config, make_config
from meta_rl.errors import MetaRLError
from meta_rl.evaluation import eval_step_sizes
from meta_rl.sampling import make_env


@dataclasses.dataclass(frozen=True)
class Episodes:
    """Episodes of one task: per episode, its observations, the policy's actions and the rewards.

    Attributes:
        observations: One ``[T_e, obs_dim]`` array per episode (the observation each action saw).
        actions: One ``[T_e, act_dim]`` array per episode: the policy's actions before clipping and
            scaling (``act`` returns them; a SB3 ``predict`` does not).
        rewards: One ``[T_e]`` array per episode.
    """

    observations: Sequence[np.ndarray]
    actions: Sequence[np.ndarray]
    rewards: Sequence[np.ndarray]

    def __post_init__(self) -> None:
        sizes = {len(self.observations), len(self.actions), len(self.rewards)}
        if len(sizes) != 1 or not self.observations:
            raise ValueError(f"episodes need as many observation, action and reward arrays, at least one; got {sizes}")
        for i, (o, a, r) in enumerate(zip(self.observations, self.actions, self.rewards)):
            if not len(o) == len(a) == len(r) or len(o) == 0:
                raise ValueError(f"episode {i} has {len(o)} observations, {len(a)} actions and {len(r)} rewards")

    def returns(self) -> np.ndarray:
        """The undiscounted return of every episode."""
        return np.array([float(np.sum(r)) for r in self.rewards])

    def mean_return(self) -> float:
        """The mean undiscounted return over the episodes."""
        return float(self.returns().mean())

    def to_batch(self, device: torch.device | str = "cpu") -> EpisodeBatch:
        """The episodes as one task's padded batch ``[T, 1, episodes, ...]``."""
        horizon, count = max(len(r) for r in self.rewards), len(self.rewards)
        obs_dim, act_dim = np.shape(self.observations[0])[-1], np.shape(self.actions[0])[-1]
        obs = np.zeros((horizon, 1, count, obs_dim), np.float32)
        actions = np.zeros((horizon, 1, count, act_dim), np.float32)
        rewards = np.zeros((horizon, 1, count), np.float32)
        mask = np.zeros((horizon, 1, count), np.float32)
        for j, (o, a, r) in enumerate(zip(self.observations, self.actions, self.rewards)):
            n = len(r)
            obs[:n, 0, j], actions[:n, 0, j], rewards[:n, 0, j], mask[:n, 0, j] = o, a, r, 1.0
        tensors = [torch.from_numpy(x).to(device) for x in (obs, actions, rewards, mask)]
        return EpisodeBatch(*tensors)


class MetaPolicy:
    """A (meta-)policy of a run after some inner steps: act, collect episodes, adapt further.

    ``meta_rl.load`` gives the meta-policy (0 steps); :meth:`adapt` returns the policy after one
    more inner step, with the run's step size for that step (alpha, then alpha times the run's
    ``eval_lr_decay``, as the test protocol), and leaves this one unchanged.

    Args:
        config: The run's config (inner step, baseline, action bounds come from it).
        policy: The policy module (its structure).
        params: This policy's parameter values (module shapes).
        steps: Inner steps taken to get here.
        seed: Seed of the generator of stochastic actions.
        action_space: The env's action space (default: made from the config's env).
        test_tasks: The run's held-out test tasks (``tasks.json``), carried to adapted copies.
    """

    def __init__(
        self,
        config: TrainConfig,
        policy: GaussianMLPPolicy,
        params: Params,
        steps: int = 0,
        seed: int = 0,
        action_space: gym.spaces.Box | None = None,
        test_tasks: Sequence[Task] = (),
    ) -> None:
        self.config = config
        self.test_tasks: list[Task] = list(test_tasks)
        self.policy = policy
        self.params = {k: v.detach() for k, v in params.items()}
        self.steps = steps
        self.device = next(iter(self.params.values())).device
        self._rng = np.random.default_rng(seed)
        if action_space is None:
            env = make_env(config.env_id, config.env_kwargs)
            action_space = env.action_space  # type: ignore[assignment]
            env.close()
        space: gym.spaces.Box = action_space  # type: ignore[assignment]
        self.action_space = space
        low, high = np.asarray(space.low, np.float64).reshape(-1), np.asarray(space.high, np.float64).reshape(-1)
        self._bounds = (low, high) if np.all(np.isfinite(low)) and np.all(np.isfinite(high)) else None

    # ------------------------------------------------------------------------------- acting
    @torch.no_grad()
    def act(self, observation: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Actions for one observation or a batch: ``(env actions, the policy's own actions)``."""
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        rows = torch.from_numpy(obs.reshape(1, -1, obs.shape[-1])).to(self.device)
        one_task = {k: v.unsqueeze(0) for k, v in self.params.items()}
        mean, std = task_mean_std(self.policy, one_task, rows)
        actions = mean[0].cpu().numpy().astype(np.float64)
        if not deterministic:
            actions = actions + std[0].cpu().numpy() * self._rng.standard_normal(actions.shape)
        env_actions = self._to_env(actions).astype(self.action_space.dtype)
        env_actions = env_actions.reshape(-1, *self.action_space.shape)
        return (env_actions[0], actions[0]) if single else (env_actions, actions)

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Stable-Baselines3's ``predict``: env actions, and ``state`` unchanged (no recurrence)."""
        return self.act(observation, deterministic)[0], state

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        """Policy actions in [-1, 1] (clipped) onto the env's bounds, as the sampler does."""
        if self._bounds is None:
            return actions
        low, high = self._bounds
        return low + (np.clip(actions, -1.0, 1.0) + 1.0) * 0.5 * (high - low)

    # --------------------------------------------------------------------- envs and episodes
    def make_env(self, task: Task | None = None, **kwargs: Any) -> gym.Env:
        """The run's family as a plain Gymnasium env (its registered time limit), set to ``task``."""
        env = make_env(self.config.env_id, {**self.config.env_kwargs, **kwargs})
        if task is not None:
            env.unwrapped.set_task(task)  # type: ignore[attr-defined]
        return env

    def collect(
        self, env: gym.Env, episodes: int, seed: int = 0, deterministic: bool = False, min_steps: int | None = None
    ) -> Episodes:
        """Runs ``episodes`` episodes in ``env`` (resets seeded ``seed, seed + 1, ...``), and more
        while they hold fewer than ``min_steps`` env steps.

        Args:
            env: An env of the run's family (:meth:`make_env`).
            episodes: Episodes to run at least.
            seed: The first episode's reset seed.
            deterministic: Play the mean action instead of sampling.
            min_steps: Env steps to reach with whole episodes. Default: the run's batches,
                ``episodes`` x the env's time limit if the run samples ``batch_by_steps`` (as the
                Ant presets and the paper do), else none.
        """
        if episodes < 1:
            raise MetaRLError(f"episodes must be at least 1, got {episodes}")
        if min_steps is None:
            horizon = env.spec.max_episode_steps if env.spec is not None else None
            min_steps = episodes * horizon if self.config.batch_by_steps and horizon else 0
        observations, actions, rewards = [], [], []
        steps, e = 0, 0
        while e < episodes or steps < min_steps:
            obs, _ = env.reset(seed=seed + e)
            o_list, a_list, r_list = [], [], []
            done = False
            while not done:
                env_action, action = self.act(obs, deterministic)
                next_obs, reward, terminated, truncated, _ = env.step(env_action)
                o_list.append(np.asarray(obs, np.float32).reshape(-1))
                a_list.append(action.astype(np.float32))
                r_list.append(float(reward))
                done = bool(terminated or truncated)
                obs = next_obs
            observations.append(np.stack(o_list))
            actions.append(np.stack(a_list))
            rewards.append(np.array(r_list, np.float32))
            steps, e = steps + len(r_list), e + 1
        return Episodes(observations, actions, rewards)

    # ----------------------------------------------------------------------------- adapting
    def adapt(self, episodes: Episodes, step_size: float | None = None) -> "MetaPolicy":
        """One inner step on ``episodes`` of one task, as the run's training and test protocol do.

        The run's baseline is fitted to the episodes, advantages computed with its ``gamma`` and
        ``gae_lambda`` and standardised, and one SGD step taken on the REINFORCE loss.

        Args:
            episodes: Episodes of the task, collected with this policy.
            step_size: The step size (default: the test protocol's for this step: alpha for the
                first, alpha times ``eval_lr_decay`` after).

        Returns:
            The adapted policy (this one is unchanged).
        """
        c = self.config
        size = step_size if step_size is not None else eval_step_sizes(c.inner_lr, c.eval_lr_decay, self.steps + 1)[-1]
        batch = compute_advantages(episodes.to_batch(self.device), c.gamma, c.gae_lambda, c.baseline_reg)
        with torch.enable_grad():
            adapted = adapt(
                self.policy, task_batched(self.params, 1), [batch], [size], first_order=c.first_order,
                create_graph=False,
            )  # fmt: skip
        params = {k: v[0] for k, v in adapted.items()}
        return MetaPolicy(
            c, self.policy, params, self.steps + 1, action_space=self.action_space, test_tasks=self.test_tasks
        )


def load(run_dir: str | Path, device: str | None = None) -> MetaPolicy:
    """The meta-policy of an RL run's checkpoint (``runs/<name>`` or a path).

    Its ``test_tasks`` are the run's held-out tasks, the ones ``meta-rl evaluate`` adapts to.

    Raises:
        MetaRLError: No such run, no readable checkpoint, or a supervised run.
    """
    from meta_rl.training import open_run

    trainer = open_run(Path(run_dir), device)
    try:
        if not isinstance(trainer.config, TrainConfig):
            raise MetaRLError(f"'{run_dir}' is a {trainer.config.kind} run: meta_rl.load takes RL runs")
        return MetaPolicy(
            trainer.config, trainer.policy, trainer.params, test_tasks=trainer.test_tasks  # type: ignore[attr-defined]
        )
    finally:
        trainer.close()


def train(
    config: Any = "default", run_dir: str | Path | None = None, progress: bool = True, **changes: Any
) -> Path:
    """Trains a run as ``meta-rl train`` does; returns its folder.

    Args:
        config: A config object, a shipped preset's name or a YAML file's path.
        run_dir: The run folder (default: ``runs/<preset>-s<seed>-<time>``).
        progress: Show a progress bar.
        **changes: Config keys to change (``iterations=5``, ``seed=1``).
    """
    import datetime

    from meta_rl.training import create_run

    resolved = load_config(config) if isinstance(config, str) else config
    resolved = make_config(changes, resolved)
    if run_dir is None:
        label = Path(config).stem if isinstance(config, str) else "run"
        run_dir = Path("runs") / f"{label}-s{resolved.seed}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    trainer = create_run(resolved, Path(run_dir), progress)
    if not trainer.train():
        raise KeyboardInterrupt
    return Path(run_dir)
