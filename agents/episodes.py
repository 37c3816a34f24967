"""Padded episode batches and what is computed from them: returns, the baseline, advantages.

All tensors are laid out ``[T, tasks, episodes, ...]`` with a ``mask`` that is 1 on the valid
steps of each episode (a prefix) and 0 on the padding after it ends.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
from torch import Tensor


@dataclasses.dataclass(frozen=True)
class EpisodeBatch:
    """Episodes of several tasks, padded to a common length.

    Attributes:
        observations: ``[T, tasks, episodes, obs_dim]``.
        actions: ``[T, tasks, episodes, act_dim]``, the unclipped policy samples.
        rewards: ``[T, tasks, episodes]``, zero on padding.
        mask: ``[T, tasks, episodes]``, 1.0 on valid steps.
        advantages: ``[T, tasks, episodes]`` once computed (see :func:`compute_advantages`).
        success: ``[T, tasks, episodes]``, 1.0 on the steps whose ``info["success"]`` was true, for
            families that report it (Meta-World's convention); None otherwise.
    """

    observations: Tensor
    actions: Tensor
    rewards: Tensor
    mask: Tensor
    advantages: Tensor | None = None
    success: Tensor | None = None

    @property
    def num_tasks(self) -> int:
        """Number of tasks (dimension 1)."""
        return self.mask.shape[1]

    def episode_returns(self) -> Tensor:
        """Undiscounted return of every episode, ``[tasks, episodes]``."""
        return (self.rewards * self.mask).sum(0)

    def episode_success(self) -> Tensor | None:
        """Whether each episode succeeded at some step, ``[tasks, episodes]`` (None: not reported)."""
        if self.success is None:
            return None
        return (self.success * self.mask).amax(0)

    def real_episodes(self) -> Tensor:
        """1.0 for each episode with a step, 0.0 for padding, ``[tasks, episodes]``: tasks of a
        batch sampled to a number of steps hold different numbers of episodes."""
        return self.mask.amax(0)

    def task_mean(self, per_episode: Tensor) -> Tensor:
        """The mean of ``[tasks, episodes]`` values over each task's real episodes, ``[tasks]``."""
        real = self.real_episodes()
        if bool(real.all()):  # no padding: the plain mean, bit for bit what it always was
            return per_episode.mean(1)
        return (per_episode * real).sum(1) / real.sum(1).clamp_min(1.0)

    def batch_mean(self, per_episode: Tensor) -> Tensor:
        """The mean over tasks of :meth:`task_mean` (with no padding, the mean of all episodes)."""
        if bool(self.real_episodes().all()):
            return per_episode.mean()
        return self.task_mean(per_episode).mean()

    def select_tasks(self, tasks: Sequence[int]) -> "EpisodeBatch":
        """The episodes of ``tasks`` only, in that order."""
        index = torch.tensor(list(tasks), dtype=torch.long, device=self.mask.device)
        return dataclasses.replace(
            self,
            **{
                f.name: getattr(self, f.name).index_select(1, index)
                for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None
            },
        )

    def to(self, device: torch.device | str) -> "EpisodeBatch":
        """Moves every tensor to ``device``."""
        return dataclasses.replace(
            self,
            **{
                f.name: getattr(self, f.name).to(device)
                for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None
            },
        )


def discounted_returns(rewards: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """``R_t = r_t + gamma * R_{t+1}`` within each episode, zero on padding.

    Args:
        rewards: ``[T, ...]``.
        mask: ``[T, ...]``, a valid prefix of ones per episode.
        gamma: Discount factor.
    """
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = (rewards[t] + gamma * running) * mask[t]
        returns[t] = running
    return returns


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> Tensor:
    """Generalised advantage estimation over padded episodes.

    Every episode is treated as ending in a terminal state: the value after its last valid step
    is 0, as in the MAML code (rllab), whether it ended by termination or by the horizon.

    Args:
        rewards: ``[T, ...]``.
        values: Baseline values ``[T, ...]``.
        mask: ``[T, ...]``, a valid prefix of ones per episode.
        gamma: Discount factor.
        lam: GAE lambda; 1.0 gives discounted returns minus the baseline.

    Returns:
        Advantages ``[T, ...]``, zero on padding.
    """
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[0])
    next_advantage = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_value - values[t]
        next_advantage = (delta + gamma * lam * next_advantage) * mask[t]
        advantages[t] = next_advantage
        next_value = values[t] * mask[t]
    return advantages


def standardize_per_task(values: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """``(x - mean) / (std + eps)`` over the valid steps of each task (dimension 1).

    The standard deviation is the population one (NumPy's default, as in rllab).
    """
    dims = (0, 2)
    count = mask.sum(dims, keepdim=True).clamp_min(1.0)
    mean = (values * mask).sum(dims, keepdim=True) / count
    var = (((values - mean) * mask) ** 2).sum(dims, keepdim=True) / count
    return (values - mean) / (var.sqrt() + eps) * mask


def linear_baseline_features(observations: Tensor, mask: Tensor) -> Tensor:
    """rllab's features ``[o, o^2, t, t^2, t^3, 1]`` with ``o`` clipped to +-10, ``t = step/100``.

    Returns:
        ``[T, tasks, episodes, 2 * obs_dim + 4]``, zero on padding.
    """
    obs = observations.clamp(-10.0, 10.0)
    steps = torch.arange(obs.shape[0], device=obs.device, dtype=obs.dtype) / 100.0
    t = steps.view(-1, *([1] * (obs.dim() - 1))).expand(*obs.shape[:-1], 1)
    features = torch.cat([obs, obs**2, t, t**2, t**3, torch.ones_like(t)], dim=-1)
    return features * mask.unsqueeze(-1)


def linear_baseline_values(
    observations: Tensor,
    returns: Tensor,
    mask: Tensor,
    reg_coeff: float = 1e-5,
    max_tries: int = 5,
) -> Tensor:
    """Fits rllab's linear feature baseline per task and returns its values on the same steps.

    For each task, ridge regression of the discounted returns on the features of every valid
    step of its episodes: ``w = (X^T X + reg I)^-1 X^T R``, solved in float64. Where a solve is
    not finite, ``reg`` is raised tenfold and the solve repeated, up to ``max_tries`` times.

    Args:
        observations: ``[T, tasks, episodes, obs_dim]``.
        returns: Discounted returns ``[T, tasks, episodes]``.
        mask: ``[T, tasks, episodes]``.
        reg_coeff: Initial ridge coefficient.
        max_tries: Attempts before giving up (the last solution is used, as rllab does).

    Returns:
        Baseline values ``[T, tasks, episodes]`` in the dtype of ``returns``, zero on padding.
    """
    features = linear_baseline_features(observations, mask).double()
    num_tasks, dim = features.shape[1], features.shape[-1]
    x = features.transpose(0, 1).reshape(num_tasks, -1, dim)
    y = (returns * mask).double().transpose(0, 1).reshape(num_tasks, -1, 1)
    gram, target = x.transpose(1, 2) @ x, x.transpose(1, 2) @ y
    # The normal equations are tiny (dim x dim per task): solve them on the CPU, where lstsq
    # handles rank-deficient systems on every device's tensors alike. With the SVD driver, as
    # NumPy's lstsq that rllab called: the default QR driver (gelsy) gave different last bits
    # from one call to the next on the same input (measured on HalfCheetah batches).
    gram, target = gram.cpu(), target.cpu()
    eye = torch.eye(dim, dtype=torch.float64)
    reg = torch.full((num_tasks, 1, 1), reg_coeff, dtype=torch.float64)
    coeffs = torch.linalg.lstsq(gram + reg * eye, target, driver="gelsd").solution
    for _ in range(max_tries - 1):
        bad = ~torch.isfinite(coeffs).all(dim=2).all(dim=1)
        if not bool(bad.any()):
            break
        reg = torch.where(bad.view(-1, 1, 1), reg * 10.0, reg)
        coeffs = torch.linalg.lstsq(gram + reg * eye, target, driver="gelsd").solution
    coeffs = coeffs.to(features.device)
    values = torch.einsum("tnef,nf->tne", features, coeffs.squeeze(-1))
    return values.to(returns.dtype) * mask


def compute_advantages(
    batch: EpisodeBatch, gamma: float, gae_lambda: float, baseline_reg: float = 1e-5
) -> EpisodeBatch:
    """Fits the baseline per task, computes GAE, standardises per task; returns a new batch."""
    returns = discounted_returns(batch.rewards, batch.mask, gamma)
    values = linear_baseline_values(batch.observations, returns, batch.mask, baseline_reg)
    advantages = gae(batch.rewards, values, batch.mask, gamma, gae_lambda)
    return dataclasses.replace(batch, advantages=standardize_per_task(advantages, batch.mask))
