"""One task's (adapted) policy behind Stable-Baselines3's ``predict`` interface."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from agents.policy import Params, task_mean_std


class AdaptedPolicy:
    """One task's (adapted) policy with Stable-Baselines3's ``predict`` interface.

    ``stable_baselines3.common.evaluation.evaluate_policy(AdaptedPolicy(...), env)`` works: the
    returned actions are in the env's action space, clipped and scaled as during sampling (here
    in float64 from ``VectorSampler.scale_actions``; the sampler does the same in float32).

    Args:
        policy: The policy module (forward only).
        params: This task's parameter values, with the module's shapes.
        scale_actions: Maps actions in [-1, 1] to the env's bounds (``VectorSampler.scale_actions``).
        seed: Seed of the generator for stochastic actions.
    """

    def __init__(
        self,
        policy: nn.Module,
        params: Params,
        scale_actions: Callable[[np.ndarray], np.ndarray],
        seed: int = 0,
    ) -> None:
        self.policy = policy
        self.params = {k: v.detach().unsqueeze(0) for k, v in params.items()}  # one task
        self.scale_actions = scale_actions
        self.device = next(iter(params.values())).device
        self._rng = np.random.default_rng(seed)

    @torch.no_grad()
    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Returns env actions for a batch of observations (or one), and ``state`` unchanged."""
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        rows = torch.from_numpy(obs.reshape(1, -1, obs.shape[-1])).to(self.device)
        mean, std = task_mean_std(self.policy, self.params, rows)  # one task: [1, rows, act]
        actions = mean[0].cpu().numpy().astype(np.float64)
        if not deterministic:
            actions = actions + std[0].cpu().numpy() * self._rng.standard_normal(actions.shape)
        env_actions = self.scale_actions(actions).astype(np.float32)
        return (env_actions[0] if single else env_actions), state


