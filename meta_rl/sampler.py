"""Runs all tasks x episodes of a meta-batch at once in one Gymnasium vector env.

Sub-env ``i * episodes + j`` runs episode ``j`` of task ``i`` (one task per sub-env). Each step
runs the policy once for all sub-envs, each task with its own parameters, and keeps observations
and rewards in arrays. Every sub-env runs exactly one episode; steps after its end are masked.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

import envs as _registered_envs  # noqa: F401  (registers the MetaRL/ families)
from agents.episodes import EpisodeBatch
from agents.policy import Params, policy_distribution
from envs.tasks import Task, missing_task_methods
from meta_rl.errors import MetaRLError
from meta_rl.seeding import episode_seeds


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> gym.Env:
    """``gym.make`` with user mistakes (unknown id, missing module, no task API) as one line."""
    try:
        env = gym.make(env_id, **(env_kwargs or {}))
    except gym.error.Error as exc:
        raise MetaRLError(f"cannot make env '{env_id}': {exc}") from None
    except ModuleNotFoundError as exc:
        raise MetaRLError(f"cannot make env '{env_id}': {exc}") from None
    except (TypeError, ValueError) as exc:
        raise MetaRLError(f"cannot make env '{env_id}' with {env_kwargs}: {exc}") from None
    missing = missing_task_methods(env.unwrapped)
    if missing:
        env.close()
        raise MetaRLError(
            f"env '{env_id}' ({type(env.unwrapped).__name__}) lacks the task API methods "
            f"{', '.join(missing)}: a task family must define sample_tasks(n, rng), set_task(task) "
            "and get_task()"
        )
    return env


def _set_tasks(vector_env: gym.vector.VectorEnv, tasks: Sequence[Task]) -> None:
    """Gives each sub-env its task: batched families take a list, others one task each."""
    if callable(getattr(vector_env, "set_tasks", None)):
        vector_env.set_tasks(tasks)  # type: ignore[attr-defined]
    elif isinstance(vector_env, gym.vector.SyncVectorEnv):
        for env, task in zip(vector_env.envs, tasks):
            env.unwrapped.set_task(task)  # type: ignore[attr-defined]
    elif isinstance(vector_env, gym.vector.AsyncVectorEnv):
        # Each worker's env sets its own task; call() would pass one task to all.
        vector_env.set_attr("_meta_rl_task", list(tasks))
        vector_env.call("_meta_rl_apply_task")
    else:
        raise MetaRLError(f"cannot set per-sub-env tasks on {type(vector_env).__name__}")


class _ApplyTask(gym.Wrapper):
    """Lets an async vector env give each worker its own task through ``set_attr``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._meta_rl_task: Task | None = None

    def _meta_rl_apply_task(self) -> None:
        self.env.unwrapped.set_task(self._meta_rl_task)  # type: ignore[attr-defined]


class VectorSampler:
    """Samples padded episode batches of many tasks with one vector env per batch size.

    Args:
        env_id: The family's Gymnasium id.
        env_kwargs: Constructor keyword arguments.
        vectorization: ``auto``, ``vector_entry_point``, ``sync`` or ``async``.
        device: Where the returned tensors (and the policy) live.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None = None,
        vectorization: str = "auto",
        device: torch.device | str = "cpu",
    ) -> None:
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.device = torch.device(device)
        self.env = make_env(env_id, self.env_kwargs)  # draws tasks; checks the task API
        spec = self.env.spec
        assert spec is not None
        if spec.max_episode_steps is None:
            raise MetaRLError(f"env '{env_id}' must be registered with max_episode_steps")
        self.horizon: int = spec.max_episode_steps
        if not isinstance(self.env.observation_space, spaces.Box):
            raise MetaRLError(f"env '{env_id}' needs a Box observation space")
        if not isinstance(self.env.action_space, spaces.Box):
            raise MetaRLError(f"env '{env_id}' needs a Box action space")
        self.obs_dim = int(np.prod(self.env.observation_space.shape))
        self.act_dim = int(np.prod(self.env.action_space.shape))
        low, high = self.env.action_space.low.reshape(-1), self.env.action_space.high.reshape(-1)
        self._bounded = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
        self._low, self._high = low.astype(np.float64), high.astype(np.float64)
        if vectorization == "auto":
            vectorization = "vector_entry_point" if spec.vector_entry_point else "sync"
        if vectorization == "vector_entry_point" and not spec.vector_entry_point:
            raise MetaRLError(f"env '{env_id}' registers no vector_entry_point")
        self.vectorization = vectorization
        self._vector_envs: dict[int, gym.vector.VectorEnv] = {}

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[Task]:
        """Draws ``n`` tasks from the family's distribution with ``rng``."""
        tasks = list(self.env.unwrapped.sample_tasks(n, rng))  # type: ignore[attr-defined]
        if len(tasks) != n:
            raise MetaRLError(f"env '{self.env_id}': sample_tasks({n}, rng) returned {len(tasks)} tasks")
        for task in tasks:
            if not dataclasses.is_dataclass(task) or isinstance(task, type):
                raise MetaRLError(
                    f"env '{self.env_id}': sample_tasks returned a {type(task).__name__}; tasks must "
                    "be frozen dataclasses (for example subclasses of envs.tasks.Task)"
                )
        return tasks

    def _vector_env(self, num_envs: int) -> gym.vector.VectorEnv:
        if num_envs not in self._vector_envs:
            spec_id = self.env.spec.id if self.env.spec else self.env_id  # type: ignore[union-attr]
            kwargs: dict[str, Any] = {}
            if self.vectorization == "async":
                kwargs["wrappers"] = [_ApplyTask]
            self._vector_envs[num_envs] = gym.make_vec(
                spec_id,
                num_envs=num_envs,
                vectorization_mode=self.vectorization,
                **kwargs,
                **self.env_kwargs,
            )
        return self._vector_envs[num_envs]

    def scale_actions(self, actions: np.ndarray) -> np.ndarray:
        """Maps policy actions in [-1, 1] (clipped) onto the env's bounds."""
        if not self._bounded:
            return actions
        clipped = np.clip(actions, -1.0, 1.0)
        return self._low + (clipped + 1.0) * 0.5 * (self._high - self._low)

    @torch.no_grad()
    def sample(
        self,
        policy: nn.Module,
        params: Params,
        batched: bool,
        tasks: Sequence[Task],
        episodes: int,
        seed: int,
        iteration: int,
        phase: int,
    ) -> EpisodeBatch:
        """Runs ``episodes`` episodes of every task and returns them padded.

        Args:
            policy: The policy module (its forward only).
            params: Meta-parameters, or per-task parameters if ``batched``.
            batched: Whether ``params`` carry a leading task dimension.
            tasks: One task per row of the batch.
            episodes: Episodes per task.
            seed, iteration, phase: Where the episodes' seeds derive from (``meta_rl.seeding``).

        Returns:
            An :class:`EpisodeBatch` on the sampler's device, ``T`` up to the horizon.
        """
        num_tasks = len(tasks)
        n = num_tasks * episodes
        env = self._vector_env(n)
        _set_tasks(env, [task for task in tasks for _ in range(episodes)])
        seeds = episode_seeds(seed, iteration, phase, num_tasks, episodes).reshape(n, 2)
        # Action noise per episode from its own generator: independent of batching and workers.
        noise_np = np.stack(
            [np.random.default_rng(int(s)).standard_normal((self.horizon, self.act_dim)) for s in seeds[:, 1]],
            axis=1,
        ).astype(np.float32)
        noise = torch.from_numpy(noise_np).to(self.device)
        obs_buf = np.zeros((self.horizon, n, self.obs_dim), dtype=np.float32)
        act_buf = np.zeros((self.horizon, n, self.act_dim), dtype=np.float32)
        rew_buf = np.zeros((self.horizon, n), dtype=np.float32)
        mask_buf = np.zeros((self.horizon, n), dtype=np.float32)
        obs, _ = env.reset(seed=[int(s) for s in seeds[:, 0]])
        alive = np.ones(n, dtype=bool)
        length = 0
        for t in range(self.horizon):
            flat_obs = np.asarray(obs, dtype=np.float32).reshape(n, self.obs_dim)
            obs_t = torch.from_numpy(flat_obs).to(self.device).view(1, num_tasks, episodes, -1)
            dist = policy_distribution(policy, params, obs_t, batched)
            actions = (dist.mean + dist.stddev * noise[t].view(1, num_tasks, episodes, -1)).view(n, -1)
            actions_np = actions.cpu().numpy()
            env_actions = self.scale_actions(actions_np.astype(np.float64))
            next_obs, rewards, terminated, truncated, _ = env.step(
                env_actions.reshape((n, *self.env.action_space.shape)).astype(
                    self.env.action_space.dtype
                )
            )
            obs_buf[t], act_buf[t] = flat_obs, actions_np
            rew_buf[t] = np.where(alive, rewards, 0.0)
            mask_buf[t] = alive
            length = t + 1
            alive = alive & ~(np.asarray(terminated) | np.asarray(truncated))
            if not alive.any():
                break
            obs = next_obs

        def to_tensor(buf: np.ndarray) -> torch.Tensor:
            arr = buf[:length].reshape(length, num_tasks, episodes, *buf.shape[2:])
            return torch.from_numpy(arr).to(self.device)

        return EpisodeBatch(
            observations=to_tensor(obs_buf),
            actions=to_tensor(act_buf),
            rewards=to_tensor(rew_buf),
            mask=to_tensor(mask_buf),
        )

    def close(self) -> None:
        """Closes every env the sampler made."""
        for env in self._vector_envs.values():
            try:
                env.close()
            except (BrokenPipeError, EOFError, ConnectionError):
                # Ctrl-C reaches async workers too; they are gone already, nothing to close.
                pass
        self._vector_envs.clear()
        self.env.close()
